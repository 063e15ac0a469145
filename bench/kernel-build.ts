// Benchmark of kernel builds from source. Prints figures; asserts nothing.
//   npx tsx bench/kernel-build.ts [SPEC] [--cold] [--no-ccache] [--nearby [--no-shim]] [--no-record]
//     SPEC         source:<dir>[,...] or debian-source:<version>[,compat]  (default debian-source:6.12)
//     --cold       also time a cold build: a fresh, empty object dir (minutes)
//     --no-ccache  build without ccache (a cold build with a warm ccache is not cold)
//     --nearby     instead: a copy of the tree at another path with one file of drivers/vfio
//                  edited, built after the original (what gate, bisect-run and mutate make);
//                  see benchNearby()
//     --no-shim    (with --nearby) without harness/kernel/ccache-shim: how ccache fared before it
// Always prints (without --nearby): the cache-hit time (resolving an entry that is already built; built
// first if needed) and the rebuild time after touching one file in drivers/vfio (same
// object dir, forced past the cache entry). --nearby prints each build's wall time, the CPU
// seconds of its processes (comparable on a busy machine) and ccache's hits and misses.
// The figures are written into docs/measurements.md unless --no-record.
import { execa } from 'execa'
import { appendFile, readFile, rm, utimes } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildFromSource, toolchain, type SourceBuildResult } from '../harness/kernel/source-build.js'
import { sourceBuildRequest } from '../harness/kernel/source-provider.js'
import { cachePath } from '../harness/util/cache.js'
import { printAndRecord, recordFlag } from '../harness/report/measurements-file.js'

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`

export async function benchKernelBuild(argv: string[], command = `npx tsx bench/kernel-build.ts ${argv.join(' ')}`.trim()): Promise<number> {
  const { record, rest: args } = recordFlag(argv)
  const cold = args.includes('--cold')
  const noCcache = args.includes('--no-ccache')
  const spec = args.find((a) => !a.startsWith('--')) ?? 'debian-source:6.12'
  if (args.includes('--nearby')) return benchNearby(spec, args.includes('--no-shim'), record, command)
  if (args.includes('--no-shim')) throw new Error('--no-shim goes with --nearby')
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

  const lines = [`kernel build benchmark: ${spec}`, ...table(rows)]
  return printAndRecord({ id: `bench-kernel-build${cold ? '-cold' : ''}`, title: `Kernel builds from source${cold ? ' (cold)' : ''}`, command, lines }, { record, exitCode: 0 })
}

function table(rows: Array<[string, string]>): string[] {
  const w = Math.max(...rows.map((r) => r[0].length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`)
}

type CcacheCounts = { hit: number; miss: number }

/** The project ccache's hit and miss counters (ccache --print-stats). */
async function ccacheCounts(env: Record<string, string>): Promise<CcacheCounts> {
  const r = await execa('ccache', ['--print-stats'], { env: { ...process.env, ...env } })
  const n = (k: string) => Number(new RegExp(`^${k}\\t(\\d+)$`, 'm').exec(r.stdout)?.[1] ?? 0)
  return { hit: n('direct_cache_hit') + n('preprocessed_cache_hit'), miss: n('cache_miss') }
}

/**
 * CPU seconds of this process's finished children (make and everything under it, once
 * reaped): /proc/self/stat's cutime + cstime. What a build costs whatever else the machine runs.
 */
async function childCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  // Fields after the command name (in parentheses, which may hold spaces): cutime and cstime are the 16th and 17th fields.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[13]) + Number(f[14])) / 100
}

function ccacheDelta(a: CcacheCounts, b: CcacheCounts): string {
  const hit = b.hit - a.hit
  const miss = b.miss - a.miss
  return `ccache ${hit} hits, ${miss} misses (${hit + miss ? Math.round((100 * hit) / (hit + miss)) : 0}% hits)`
}

/**
 * A nearby tree: (1) the original tree built into a fresh object dir (under a throw-away cache
 * key, so the shared entry stays usable), which leaves its objects in ccache; (2) a copy of
 * the tree (cp -a) at another path with one line added to drivers/vfio/vfio_main.c, built as
 * source:<copy>: a new object dir, as gate's worktree, bisect-run's checkout or a second clone
 * get. Each build's wall time and ccache hits (counter deltas: another build running at the
 * same time would count too). The copy, its object dir and both entries are removed after.
 */
async function benchNearby(spec: string, noShim: boolean, record: boolean, command: string): Promise<number> {
  const saved = process.env.VFIO_CONFORM_CCACHE_SHIM
  if (noShim) process.env.VFIO_CONFORM_CCACHE_SHIM = '0'
  const tc = await toolchain()
  if (!tc.ccache) throw new Error('--nearby measures ccache, and ccache is not in use here')
  const rows: Array<[string, string]> = [['ccache-shim', tc.shim ? 'on' : 'off (VFIO_CONFORM_CCACHE_SHIM=0)']]
  const req = await sourceBuildRequest(spec)
  const copy = cachePath('bench', `nearby-${process.pid}`, path.basename(req.tree))
  const built: SourceBuildResult[] = []
  try {
    const timed = async (what: string, build: () => Promise<SourceBuildResult>) => {
      const c0 = await ccacheCounts(tc.env)
      const cpu0 = await childCpuSeconds()
      const load0 = os.loadavg()[0]!
      const t0 = Date.now()
      const k = await build()
      built.push(k)
      const cpu = (await childCpuSeconds()) - cpu0
      rows.push([what, `${secs(Date.now() - t0)} wall, ${cpu.toFixed(0)} s CPU, ${ccacheDelta(c0, await ccacheCounts(tc.env))}`])
      rows.push(['  load average (1 min) before, after', `${load0.toFixed(1)}, ${os.loadavg()[0]!.toFixed(1)}`])
      return k
    }
    await timed('original tree, fresh object dir', () =>
      buildFromSource({ ...req, identity: `${req.identity ?? req.tree}+bench-nearby-${process.pid}`, freshObj: true }),
    )
    const t0 = Date.now()
    await rm(path.dirname(copy), { recursive: true, force: true })
    await execa('mkdir', ['-p', path.dirname(copy)])
    await execa('cp', ['-a', '--reflink=auto', req.tree, copy])
    const edited = path.join(copy, 'drivers/vfio/vfio_main.c')
    await appendFile(edited, `\nstatic int __maybe_unused vfio_conform_bench_edit = ${process.pid};\n`)
    rows.push(['copy of the tree (cp -a) + one edit', secs(Date.now() - t0)])
    rows.push(['  at', copy])
    const copyReq = await sourceBuildRequest(`source:${copy}`)
    await timed('copy, drivers/vfio/vfio_main.c edited, new object dir', () => buildFromSource({ ...copyReq, fragments: req.fragments }))
  } finally {
    if (noShim) {
      if (saved === undefined) delete process.env.VFIO_CONFORM_CCACHE_SHIM
      else process.env.VFIO_CONFORM_CCACHE_SHIM = saved
    }
    for (const k of built) {
      await rm(k.entry, { recursive: true, force: true })
      if (!k.objDir.includes('/fresh-')) await rm(k.objDir, { recursive: true, force: true })
    }
    await rm(path.dirname(copy), { recursive: true, force: true })
  }
  const lines = [`nearby-tree build benchmark: ${spec}`, ...table(rows)]
  return printAndRecord(
    { id: `bench-kernel-build-nearby${noShim ? '-no-shim' : ''}`, title: `Kernel build of a nearby tree${noShim ? ' (without ccache-shim)' : ''}`, command, lines },
    { record, exitCode: 0 },
  )
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchKernelBuild(process.argv.slice(2))
}
