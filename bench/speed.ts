// Benchmark: where a run's time goes, and the old execution order against the new one,
// measured in one invocation on the same machine. Prints figures; asserts nothing (speed
// targets live here, not in timed tests).
//
//   vfio-conform bench --speed [--no-record] [--kernel SPEC]... [--smp] [--against DIR]
//   npx tsx bench/speed.ts [...]
// The figures are written into docs/measurements.md unless --no-record.
//
// Runs `vfio-conform run` (default: the main job's kernel) once per variant:
//   one-at-a-time  VFIO_CONFORM_CONCURRENCY=1: one guest runs tests at a time (the order before
//                  guests ran concurrently)
//   at-once        the default: guests run their tests at the same time
//   at-once-smp2   with --smp: the same with two vCPUs per guest (VFIO_CONFORM_GUEST_CPUS=2;
//                  the default is one: harness/guest/guest.ts guestCpus)
// and prints, per variant: wall time (the whole CLI: kernel lookup, boots, tests, reports),
// per guest its boot and the share of the test phase it was busy, per test file the fixture
// setup, the test bodies and the teardown, and the harness's waits by kind; then the ratios
// against the first variant, and whether every variant gave every test the same verdict.
// --against DIR also compares verdicts with a kept run (e.g. one made by an older commit).
import { execa } from 'execa'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandSpec, kernelOption, opt, parseOptions } from '../harness/cli/options.js'
import { compareVerdicts, identical, readVerdicts, renderComparison } from '../harness/report/compare-verdicts.js'
import type { TestVerdict } from '../harness/report/verdict.js'
import { printAndRecord } from '../harness/report/measurements-file.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Variant {
  name: string
  env: Record<string, string>
}

interface TargetRow {
  key: string
  status: string
  times?: { ssh: number }
}

export interface RunFigures {
  variant: string
  exitCode: number | undefined
  wallMs: number
  /** From the first test's start to the last test's end. */
  testPhaseMs: number
  guests: Array<{ key: string; bootMs?: number; tests: number; busyMs: number; busyShare: number }>
  files: Array<{ file: string; tests: number; setupMs: number; bodyMs: number; teardownMs: number }>
  waits: Record<string, number>
  verdicts: TestVerdict[]
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Figures of one finished run (its results directory). Exported for the unit test. */
export function figures(variant: string, wallMs: number, exitCode: number | undefined, verdicts: TestVerdict[], targets: TargetRow[]): RunFigures {
  const timed = verdicts.filter((v) => v.startedAt !== undefined && v.durationMs !== undefined)
  // A test's span: its fixture setup ran before vitest's start time and its teardown after
  // the duration ended only if the timings say so; vitest's duration covers fixture and body.
  const span = (v: TestVerdict) => [v.startedAt!, v.startedAt! + v.durationMs!] as const
  const start = Math.min(...timed.map((v) => span(v)[0]))
  const end = Math.max(...timed.map((v) => span(v)[1]))
  const testPhaseMs = timed.length ? end - start : 0
  const keyOf = (v: TestVerdict) => v.name.split(' > ')[0]!
  const guests = targets.map((t) => {
    const mine = timed.filter((v) => keyOf(v) === t.key).map(span).sort((a, b) => a[0] - b[0])
    // Union of the guest's test spans: how long it was doing something for a test.
    let busy = 0
    let until = -Infinity
    for (const [a, b] of mine) {
      if (b <= until) continue
      busy += b - Math.max(a, until)
      until = b
    }
    return { key: t.key, bootMs: t.times?.ssh, tests: verdicts.filter((v) => keyOf(v) === t.key && v.durationMs !== undefined).length, busyMs: busy, busyShare: testPhaseMs ? busy / testPhaseMs : 0 }
  })
  const files = new Map<string, RunFigures['files'][number]>()
  const waits: Record<string, number> = {}
  for (const v of verdicts) {
    if (v.durationMs === undefined) continue // a program's subtest: no time of its own
    const f = files.get(v.file) ?? { file: v.file, tests: 0, setupMs: 0, bodyMs: 0, teardownMs: 0 }
    f.tests++
    const setup = v.timings?.setupMs ?? 0
    const teardown = v.timings?.teardownMs ?? 0
    f.setupMs += setup
    f.teardownMs += teardown
    f.bodyMs += Math.max(0, v.durationMs - setup - teardown)
    files.set(v.file, f)
    for (const [k, ms] of Object.entries(v.timings?.waits ?? {})) waits[k] = (waits[k] ?? 0) + ms
  }
  return { variant, exitCode, wallMs, testPhaseMs, guests, files: [...files.values()], waits, verdicts }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')
}

export function render(runs: RunFigures[]): string {
  const out: string[] = []
  for (const r of runs) {
    out.push(`== ${r.variant}: wall ${s(r.wallMs)} (exit ${r.exitCode}), test phase ${s(r.testPhaseMs)}`)
    out.push(table([['guest', 'boot', 'tests', 'busy', 'busy share'], ...r.guests.map((g) => [g.key, g.bootMs === undefined ? '-' : s(g.bootMs), String(g.tests), s(g.busyMs), `${Math.round(g.busyShare * 100)}%`])]))
    out.push(table([['file', 'tests', 'setup', 'bodies', 'teardown'], ...r.files.map((f) => [f.file, String(f.tests), s(f.setupMs), s(f.bodyMs), s(f.teardownMs)])]))
    out.push(`waits: ${Object.entries(r.waits).map(([k, ms]) => `${k} ${s(ms)}`).join(', ') || 'none'}`)
    out.push('')
  }
  const [first, ...rest] = runs
  for (const r of rest) {
    const c = compareVerdicts(first!.verdicts, r.verdicts)
    out.push(`${r.variant} vs ${first!.variant}: wall ${(first!.wallMs / r.wallMs).toFixed(2)}x faster, test phase ${(first!.testPhaseMs / Math.max(1, r.testPhaseMs)).toFixed(2)}x; verdicts ${identical(c) ? 'identical' : 'DIFFER'} (${c.same} tests)`)
    if (!identical(c)) out.push(renderComparison(c, { old: first!.variant, new: r.variant }))
  }
  return out.join('\n')
}

async function runVariant(v: Variant, kernels: string[]): Promise<RunFigures> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-bench-'))
  const args = [path.join(ROOT, 'bin/vfio-conform.mjs'), 'run', '--results', dir, ...kernels.flatMap((k) => ['--kernel', k])]
  console.error(`bench: ${v.name}: vfio-conform ${args.slice(1).join(' ')} ${Object.entries(v.env).map(([k, x]) => `${k}=${x}`).join(' ')}`)
  const t0 = Date.now()
  const r = await execa('node', args, { reject: false, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...v.env, VFIO_CONFORM_QUIET: '1' } })
  const wall = Date.now() - t0
  const verdicts = await readVerdicts(dir).catch(() => [] as TestVerdict[])
  const targets = JSON.parse(await readFile(path.join(dir, 'targets.json'), 'utf8').catch(() => '[]')) as TargetRow[]
  // The figures are printed; a run that did not end cleanly keeps its logs for a look.
  if (r.exitCode === 0) await rm(dir, { recursive: true, force: true })
  else console.error(`bench: ${v.name}: vfio-conform run exited ${r.exitCode}; results kept in ${dir}`)
  return figures(v.name, wall, r.exitCode, verdicts, targets)
}

export const BENCH_SPEED_SPEC = commandSpec('bench --speed', { kernel: opt.many(kernelOption()), smp: opt.flag(), against: opt.path(), 'no-record': opt.flag() })

export async function benchSpeed(argv: string[], command = `vfio-conform bench --speed ${argv.join(' ')}`.trim()): Promise<number> {
  const { values } = parseOptions(BENCH_SPEED_SPEC, argv)
  const variants: Variant[] = [
    { name: 'one-at-a-time', env: { VFIO_CONFORM_CONCURRENCY: '1' } },
    { name: 'at-once', env: {} },
  ]
  if (values.smp) variants.push({ name: 'at-once-smp2', env: { VFIO_CONFORM_GUEST_CPUS: '2' } })
  const runs: RunFigures[] = []
  for (const v of variants) runs.push(await runVariant(v, values.kernel ?? []))
  const lines = render(runs).split('\n')
  if (values.against) {
    const kept = await readVerdicts(values.against)
    const c = compareVerdicts(kept, runs[runs.length - 1]!.verdicts)
    lines.push('', `against the kept run ${values.against} (sum of its test durations ${s(kept.reduce((a, v) => a + (v.durationMs ?? 0), 0))}):`)
    lines.push(...renderComparison(c, { old: 'kept', new: runs[runs.length - 1]!.variant }).split('\n'))
  }
  const exitCode = runs.every((r) => r.exitCode === 0) ? 0 : 1
  return printAndRecord({ id: 'bench-speed', title: 'Where a run\'s time goes: one guest at a time against guests at once', command, lines }, { record: !values['no-record'], exitCode })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchSpeed(process.argv.slice(2), `npx tsx bench/speed.ts ${process.argv.slice(2).join(' ')}`.trim())
}
