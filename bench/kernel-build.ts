// Benchmark of kernel builds from source. Prints figures; asserts nothing.
//   npx tsx bench/kernel-build.ts [SPEC] [--cold] [--no-ccache] [--no-record]
//     SPEC         source:<dir>[,...] or debian-source:<version>[,compat]  (default debian-source:6.12)
//     --cold       also time a cold build: a fresh, empty object dir (minutes)
//     --no-ccache  build without ccache (a cold build with a warm ccache is not cold)
// Always prints: the cache-hit time (resolving an entry that is already built; built
// first if needed) and the rebuild time after touching one file in drivers/vfio (same
// object dir, forced past the cache entry). The figures are written into
// docs/measurements.md unless --no-record.
import { utimes } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildFromSource } from '../harness/kernel/source-build.js'
import { sourceBuildRequest } from '../harness/kernel/source-provider.js'
import { printAndRecord, recordFlag } from '../harness/report/measurements-file.js'

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`

export async function benchKernelBuild(argv: string[], command = `npx tsx bench/kernel-build.ts ${argv.join(' ')}`.trim()): Promise<number> {
  const { record, rest: args } = recordFlag(argv)
  const cold = args.includes('--cold')
  const noCcache = args.includes('--no-ccache')
  const spec = args.find((a) => !a.startsWith('--')) ?? 'debian-source:6.12'
  const rows: Array<[string, string]> = []

  if (cold) {
    const req = await sourceBuildRequest(spec)
    // Only the cold build goes without ccache: the shared obj dir was built with the usual
    // compiler command, and changing CC there would recompile everything.
    const saved = process.env.VFIO_CONFORM_NO_CCACHE
    if (noCcache) process.env.VFIO_CONFORM_NO_CCACHE = '1'
    const t0 = Date.now()
    const k = await buildFromSource({ ...req, freshObj: true, force: true }).finally(() => {
      if (saved === undefined) delete process.env.VFIO_CONFORM_NO_CCACHE
      else process.env.VFIO_CONFORM_NO_CCACHE = saved
    })
    rows.push([`cold build (fresh obj dir, ${noCcache ? 'no ccache' : 'ccache if present'})`, secs(Date.now() - t0)])
    rows.push(['release', k.release])
  }

  // Make sure the entry exists, then time a resolve that finds it.
  let req = await sourceBuildRequest(spec)
  const first = await buildFromSource(req)
  const t1 = Date.now()
  req = await sourceBuildRequest(spec)
  const hit = await buildFromSource(req)
  rows.push(['cache hit (resolve of a built entry)', secs(Date.now() - t1)])
  if (hit.built) rows.push(['  (warning)', 'the second resolve built again: the cache key is not stable'])
  rows.push(['entry', first.entry])

  // One edited file: touch it, rebuild into the same obj dir.
  const file = path.join(req.tree, 'drivers/vfio/vfio_main.c')
  const now = new Date()
  await utimes(file, now, now)
  const t2 = Date.now()
  await buildFromSource({ ...req, force: true })
  rows.push(['rebuild after touching drivers/vfio/vfio_main.c', secs(Date.now() - t2)])

  const w = Math.max(...rows.map((r) => r[0].length))
  const lines = [`kernel build benchmark: ${spec}`, ...rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`)]
  return printAndRecord({ id: `bench-kernel-build${cold ? '-cold' : ''}`, title: `Kernel builds from source${cold ? ' (cold)' : ''}`, command, lines }, { record, exitCode: 0 })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchKernelBuild(process.argv.slice(2))
}
