// Benchmark: per kernel, time to QEMU start, to init, to SSH ready, and the suites' time.
// Prints figures and writes them into docs/measurements.md (--no-record: print only);
// asserts nothing (speed targets live here, not in timed tests).
//   vfio-conform bench [--no-record] [KERNEL_SPEC ...]   (default: debian:bookworm debian:trixie)
//   npx tsx bench/boot.ts [--no-record] [KERNEL_SPEC ...]
import { execa } from 'execa'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printAndRecord, recordFlag } from '../harness/report/measurements-file.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export const DEFAULT_BOOT_KERNELS = ['debian:bookworm', 'debian:trixie']

export async function benchBoot(args: string[], command = `vfio-conform bench ${args.join(' ')}`.trim()): Promise<number> {
  const { record, rest } = recordFlag(args)
  const kernels = rest.length ? rest : DEFAULT_BOOT_KERNELS
  const rows: string[][] = [['kernel', 'accel', 'QEMU start', 'init', 'SSH ready', 'suites', 'tests', 'wall']]
  for (const k of kernels) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-bench-'))
    const t0 = Date.now()
    const r = await execa('node', [path.join(ROOT, 'bin/vfio-conform.mjs'), 'run', '--kernel', k, '--results', dir], {
      reject: false, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VFIO_CONFORM_QUIET: '1' },
    })
    const wall = Date.now() - t0
    const targets = JSON.parse(await readFile(path.join(dir, 'targets.json'), 'utf8').catch(() => '[]'))
    const verdicts = JSON.parse(await readFile(path.join(dir, 'verdicts.json'), 'utf8').catch(() => '{"verdicts":[]}'))
    const suiteMs = verdicts.verdicts.reduce((a: number, v: { durationMs?: number }) => a + (v.durationMs ?? 0), 0)
    for (const t of targets) {
      const s = (n?: number) => (n === undefined ? '-' : `${(n / 1000).toFixed(1)} s`)
      rows.push([t.kernel.id, t.accel ?? '-', s(t.times?.qemuStart), s(t.times?.init), s(t.times?.ssh), s(suiteMs), String(verdicts.verdicts.length), s(wall)])
    }
    if (!targets.length) rows.push([k, '-', '-', '-', '-', '-', '0', `exit ${r.exitCode}`])
    // The figures are printed; a run that did not end cleanly keeps its logs for a look.
    if (r.exitCode === 0) await rm(dir, { recursive: true, force: true })
    else console.error(`bench: ${k}: vfio-conform run exited ${r.exitCode}; results kept in ${dir}`)
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
  return printAndRecord({ id: 'bench-boot', title: 'Boot and suites per kernel', command, lines }, { record, exitCode: 0 })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchBoot(process.argv.slice(2), `npx tsx bench/boot.ts ${process.argv.slice(2).join(' ')}`.trim())
}
