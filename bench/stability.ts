// Benchmark: how stable are the verdicts? The main job (or the kernels given) N times over on
// fresh guests (`vfio-conform run --repeat N --repeat-boot`): per test how many times each
// verdict came out, the FLAKY ones by name, and the run-to-run spread of the wall time.
// Prints figures and writes them into docs/measurements.md (--no-record: print only); the
// target (0 FLAKY in 10 runs) is read from them, not asserted.
//   vfio-conform bench --stability [--no-record] [N] [-- run args...]   (default N=10, the main job)
//   npx tsx bench/stability.ts [--no-record] [N] [-- run args...]
import { execa } from 'execa'
import { mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestVerdict } from '../harness/report/verdict.js'
import { countsText } from '../harness/report/repeat.js'
import { printAndRecord } from '../harness/report/measurements-file.js'
import { commandSpec, opt, parseOptions } from '../harness/cli/options.js'
import { RUN_SPEC } from '../harness/cli/run-options.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Merged {
  verdicts: TestVerdict[]
  runErrors: string[]
  rounds: Array<{ round: number; dir: string; wallMs: number }>
}

export function stabilityFigures(m: Merged): string[] {
  const out: string[] = []
  const walls = m.rounds.map((r) => r.wallMs / 1000).sort((a, b) => a - b)
  const n = walls.length
  const mean = walls.reduce((a, w) => a + w, 0) / n
  const sd = Math.sqrt(walls.reduce((a, w) => a + (w - mean) ** 2, 0) / n)
  const median = n % 2 ? walls[(n - 1) / 2]! : (walls[n / 2 - 1]! + walls[n / 2]!) / 2
  out.push(`runs: ${n} (fresh guests each)`)
  out.push(`wall per run: min ${walls[0]!.toFixed(0)} s, median ${median.toFixed(0)} s, max ${walls[n - 1]!.toFixed(0)} s, spread ${(walls[n - 1]! - walls[0]!).toFixed(0)} s, sd ${sd.toFixed(1)} s`)
  out.push(`  each: ${m.rounds.map((r) => `${(r.wallMs / 1000).toFixed(0)}`).join(' ')} s`)
  const kinds = new Map<string, number>()
  for (const v of m.verdicts) {
    const k = v.verdict === 'FLAKY' ? 'FLAKY' : `${v.verdict} x${Object.values(v.rounds ?? {}).reduce((a, c) => a + (c ?? 0), 0) || 1}`
    kinds.set(k, (kinds.get(k) ?? 0) + 1)
  }
  out.push(`tests: ${m.verdicts.length}: ${[...kinds].map(([k, c]) => `${c} ${k}`).join(', ')}`)
  const flaky = m.verdicts.filter((v) => v.verdict === 'FLAKY')
  out.push(`FLAKY: ${flaky.length}`)
  for (const v of flaky) out.push(`  ${v.name}: ${countsText(v.rounds)}`)
  for (const e of m.runErrors) out.push(`run error: ${e.split('\n')[0]}`)
  return out
}

/** N runs (at least two, to compare); what follows `--` is checked as `run`'s options. */
export const BENCH_STABILITY_SPEC = commandSpec('bench --stability', { 'no-record': opt.flag() }, { name: 'N', check: { kind: 'int', min: 2, max: 100 }, min: 0, max: 1 })

export async function benchStability(args: string[], command = `vfio-conform bench --stability ${args.join(' ')}`.trim()): Promise<number> {
  const sep = args.indexOf('--')
  // Everything checked before the first run: N, and the run options after "--".
  const { values, positionals } = parseOptions(BENCH_STABILITY_SPEC, sep < 0 ? args : args.slice(0, sep))
  const record = !values['no-record']
  const runArgs = sep < 0 ? [] : args.slice(sep + 1)
  const n = Number(positionals[0] ?? 10)
  parseOptions(RUN_SPEC, runArgs)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-stability-'))
  const t0 = Date.now()
  const r = await execa('node', [path.join(ROOT, 'bin/vfio-conform.mjs'), 'run', '--repeat', String(n), '--repeat-boot', '--results', dir, ...runArgs], {
    reject: false, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VFIO_CONFORM_QUIET: '1' },
  })
  const merged = JSON.parse(await readFile(path.join(dir, 'verdicts.json'), 'utf8').catch(() => 'null')) as Merged | null
  if (!merged) {
    console.error(`bench --stability: the runs left no merged verdicts (exit ${r.exitCode}); results in ${dir}`)
    return 125
  }
  console.error(`bench --stability: results in ${dir}`)
  const lines = [`${runArgs.join(' ') || 'the main job'}, ${((Date.now() - t0) / 60000).toFixed(1)} min in all`, ...stabilityFigures(merged)]
  return printAndRecord({ id: 'bench-stability', title: 'Verdict stability and wall-time spread', command, lines }, { record, exitCode: 0 })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchStability(process.argv.slice(2), `npx tsx bench/stability.ts ${process.argv.slice(2).join(' ')}`.trim())
}
