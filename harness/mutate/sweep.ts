// The generated mutation sweep: for each enforcement site (./sites.ts), apply its mutant to
// the private tree (./workspace.ts), rebuild incrementally, boot one intel-iommu guest of the
// default topology (or, for a site only the noiommu topology's tests reach, that guest) with
// the tests that reach the site (./select.ts), and record the outcome:
//
//   killed           a test that PASSes on the unmutated kernel FAILs (or a known issue XPASSes)
//   killed-by-crash  no test failed, but the guest did not boot, hung, oopsed or the run ERRORed
//                    (twice, when the kernel left no splat to show for it: runTwiceIfUnproven)
//   survived         every selected test still passes: the check is gone and nobody noticed
//   no-test          no test can reach the site (needs a fault injection, or coverage says so)
//   unbuildable      the mutant does not compile (neither killed nor survived)
//
// Results are cached per kernel (the workspace: pristine tree identity, fragment, compiler)
// and mutant (file content, span, replacement): a stopped sweep continues where it stopped.
import { execa } from 'execa'
import { mkdir, readFile, rm, writeFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sha256 } from '../util/cache.js'
import { HarnessError } from '../util/errors.js'
import type { TestVerdict } from '../report/verdict.js'
import { findSites, type Site } from './sites.js'
import { applyMutant, applySchemata, mutantDiff, mutantFor, SCHEMATA_PARAM, type Mutant } from './mutants.js'
import { applyToTree, makeKernel, readTreeFile, snapshotKernel, type Workspace } from './workspace.js'
import { INTEL_GUEST, SWEEP_EXCLUDED_TESTS, guestFor, suitesFor, type SweepGuest } from './select.js'
import { testsPattern, type CoverageIndex, type SiteTests } from './coverage.js'
import { selectedVerdicts, vitestMatchName } from '../gate/compare.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export type Outcome = 'killed' | 'killed-by-crash' | 'survived' | 'no-test' | 'unbuildable'

export interface MutantResult {
  kernelId: string
  kernelKey: string
  key: string
  site: Omit<Site, 'span'>
  operator: string
  diff: string
  outcome: Outcome
  /** Why: the failing tests, the crash, the static reason, the compiler error. */
  reason: string
  /** Tests whose verdict made the outcome (FAIL / XPASS / ERROR). */
  by: string[]
  suites: string[]
  /** Tests that ran and passed (survived: these reach the site's file and did not notice). */
  passed: number
  buildMs?: number
  runMs?: number
  /** schemata: the mutant ran in the sweep's one kernel, switched on at boot; patch: built on its own. */
  mode?: 'schemata' | 'patch'
  /** How the tests were chosen: coverage data (the tests that reach the site), the site file's suites, or no run needed (static). */
  selection?: 'coverage' | 'probe' | 'suite-file' | 'static'
  /** The guest the tests ran on ("noiommu/none"); absent: the default topology's intel-iommu guest. */
  guest?: string
  date: string
}

export function resultPath(ws: Workspace, key: string): string {
  return path.join(ws.dir, 'results', `${key}.json`)
}

export async function cachedResult(ws: Workspace, key: string): Promise<MutantResult | undefined> {
  return readFile(resultPath(ws, key), 'utf8').then((t) => JSON.parse(t) as MutantResult, () => undefined)
}

async function saveResult(ws: Workspace, r: MutantResult): Promise<void> {
  await mkdir(path.join(ws.dir, 'results'), { recursive: true })
  const p = resultPath(ws, r.key)
  await writeFile(p + '.tmp', JSON.stringify(r, null, 2) + '\n')
  await import('node:fs/promises').then((fs) => fs.rename(p + '.tmp', p))
}

/** The sites of the given files, read from the pristine tree (the private copy may hold a mutant). */
export async function sitesOf(ws: Workspace, files: string[]): Promise<Array<{ site: Site; mutant: Mutant }>> {
  const out: Array<{ site: Site; mutant: Mutant }> = []
  for (const f of files) {
    const src = await readFile(path.join(ws.pristine, f), 'utf8')
    for (const site of findSites(f, src)) out.push({ site, mutant: mutantFor(site, src) })
  }
  return out
}

/** Every .c file under the given directories of `tree`, relative to it. */
export async function listCFiles(tree: string, dirs: string[]): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(tree, rel), { withFileTypes: true }).catch(() => [])) {
      const r = `${rel}/${e.name}`
      if (e.isDirectory()) await walk(r)
      else if (e.name.endsWith('.c')) out.push(r)
    }
  }
  for (const d of dirs) await walk(d)
  return out.sort()
}

export interface RunSpec {
  suites: string[]
  /** The run's results dir. */
  results: string
  kernel: string
  kernelArgs: string[]
  /** vitest testNamePattern: only these tests of the suites. */
  filter?: string
  bail: boolean
  timeoutMs: number
  signal?: AbortSignal
  log: string
  /** The guest (default: the default topology's intel-iommu guest). */
  guest?: SweepGuest
}

export interface RunOutcome {
  verdicts: TestVerdict[]
  runErrors: string[]
  exitCode: number | undefined
  timedOut: boolean
  ms: number
  /** Kernel splats seen on the guest console. */
  splats: string[]
}

/** Environment for every run of a sweep: the ownership model's budget and seed fixed, so baseline and mutants see the same sequences. */
export const SWEEP_ENV = { VFIO_CONFORM_MODEL_RUNS: '10', VFIO_CONFORM_MODEL_SEED: '20261207' }

/** `vfio-conform run` on one guest (default: intel-iommu of the default topology) with the given suites. */
export async function runSuites(s: RunSpec): Promise<RunOutcome> {
  await rm(s.results, { recursive: true, force: true })
  const guest = s.guest ?? INTEL_GUEST
  const args = [
    path.join(ROOT, 'bin/vfio-conform.mjs'), 'run', '--kernel', s.kernel, '--topology', guest.topology, '--iommu', guest.iommu,
    ...s.suites.flatMap((x) => ['--suite', x]), ...(s.bail ? ['--bail'] : []), ...s.kernelArgs.flatMap((a) => ['--kernel-arg', a]),
    ...(s.filter ? ['--filter', s.filter] : []),
    '--results', s.results,
  ]
  const t0 = Date.now()
  const sub = execa(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...SWEEP_ENV, VFIO_CONFORM_QUIET: '1' },
    reject: false,
    all: true,
    timeout: Math.min(s.timeoutMs, 15 * 60_000),
    killSignal: 'SIGTERM',
    forceKillAfterDelay: 15_000,
    cancelSignal: s.signal,
    stdin: 'ignore',
  })
  // The verdicts are written when the tests end; a run that has not exited a minute later is
  // stuck in its teardown (seen: a guest the harness rebooted after a mutant's oops): stop it.
  const watch = setInterval(async () => {
    const st = await stat(path.join(s.results, 'verdicts.json')).catch(() => undefined)
    if (st && Date.now() - st.mtimeMs > 60_000) sub.kill('SIGTERM')
  }, 5000)
  const r = await sub.finally(() => clearInterval(watch))
  await writeFile(s.log, String(r.all ?? ''))
  const out = await readFile(path.join(s.results, 'verdicts.json'), 'utf8').then(JSON.parse, () => undefined) as
    | { verdicts: TestVerdict[]; runErrors: string[] }
    | undefined
  return {
    // Tests a --filter left out are reported as skipped: not part of the outcome.
    verdicts: selectedVerdicts(out?.verdicts ?? [], s.filter ? new RegExp(s.filter) : undefined),
    runErrors: out ? out.runErrors : [`no verdicts.json (exit ${r.exitCode ?? r.signal}): ${String(r.all ?? '').split('\n').filter(Boolean).slice(-3).join(' | ')}`],
    exitCode: r.exitCode,
    timedOut: !!r.timedOut,
    ms: Date.now() - t0,
    splats: await consoleSplats(s.results),
  }
}

const SPLAT = /(WARNING: CPU: \d+ PID: \d+ at \S+|BUG: [^\r\n]*|Oops[^\r\n]*|general protection fault[^\r\n]*|Kernel panic[^\r\n]*)/g

async function consoleSplats(dir: string): Promise<string[]> {
  const found = new Set<string>()
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.name === 'console.log') for (const m of (await readFile(p, 'utf8').catch(() => '')).matchAll(SPLAT)) found.add(m[1]!)
    }
  }
  await walk(dir)
  return [...found]
}

const own = (name: string) => name.replace(/^[^>]*> /, '')

/**
 * Which sites' error paths ran during which test, from a schemata kernel's console logs: the
 * probe's lines between the harness's "begin test <task id>" markers.
 */
export function takenFromConsole(text: string, names: Map<string, string>): Record<string, string[]> {
  const out: Record<string, Set<string>> = {}
  let current = '(boot)'
  for (const line of text.split('\n')) {
    const b = /vfio-conform: begin test (\S+)/.exec(line)
    if (b) {
      current = names.get(b[1]!) ?? `(task ${b[1]})`
      continue
    }
    const t = /vfio-conform: mutant site (\d+) taken/.exec(line)
    if (t) (out[t[1]!] ??= new Set()).add(current)
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]))
}

async function takenSites(dir: string, verdicts: TestVerdict[]): Promise<Record<string, string[]>> {
  const names = new Map(verdicts.filter((v) => v.taskId).map((v) => [v.taskId!, own(v.name)]))
  const merged: Record<string, Set<string>> = {}
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.name === 'console.log') {
        for (const [k, v] of Object.entries(takenFromConsole(await readFile(p, 'utf8').catch(() => ''), names))) for (const t of v) (merged[k] ??= new Set()).add(t)
      }
    }
  }
  await walk(dir)
  return Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, [...v].sort()]))
}

/** Baseline verdicts per suite set: every selected test must PASS, SKIP (with a reason) or XFAIL on the unmutated kernel. */
export interface Baseline {
  suites: string[]
  verdicts: Record<string, string>
  /** Tests that failed on the unmutated kernel and passed when run again: not run on mutants. */
  flaky?: string[]
  /**
   * Schemata kernels: site number -> the tests (own names; "(boot)" before the first) during
   * which the site's error path (or release call) ran on the unmutated kernel (the probe).
   */
  taken?: Record<string, string[]>
  /** Suite file of each test (own name -> "legacy-group"). */
  suiteOf?: Record<string, string>
  ms: number
  date: string
}

export function baselineProblems(o: RunOutcome): string[] {
  const bad = o.verdicts.filter((v) => v.verdict === 'FAIL' || v.verdict === 'ERROR' || v.verdict === 'XPASS' || v.verdict === 'FLAKY')
  return [
    ...bad.map((v) => `${v.verdict} ${own(v.name)}${v.reason ? ': ' + v.reason.split('\n')[0] : ''}`),
    ...o.runErrors.map((e) => `run error: ${e.split('\n')[0]}`),
    ...(o.timedOut ? ['timed out'] : []),
    ...(o.verdicts.length === 0 ? ['no test ran'] : []),
  ]
}

/** What a mutant's run says, against the baseline. */
export function classify(o: RunOutcome, baseline: Baseline): { outcome: Outcome; reason: string; by: string[]; passed: number } {
  const failed = o.verdicts.filter((v) => v.verdict === 'FAIL' || (v.verdict === 'XPASS' && baseline.verdicts[own(v.name)] === 'XFAIL'))
  const passed = o.verdicts.filter((v) => v.verdict === 'PASS').length
  if (failed.length) {
    const first = failed[0]!
    // A FAIL because the kernel died or splatted is a kill by crash, said so.
    const crashed = failed.every((v) => /kernel died|kernel splat|BUG: |Oops|panic/.test(v.reason ?? ''))
    return {
      outcome: crashed ? 'killed-by-crash' : 'killed',
      reason: `${first.verdict} ${own(first.name)}${first.reason ? ': ' + first.reason.split('\n')[0]!.slice(0, 200) : ''}${o.splats.length ? ` (console: ${o.splats[0]})` : ''}`,
      by: failed.map((v) => own(v.name)),
      passed,
    }
  }
  const errors = o.verdicts.filter((v) => v.verdict === 'ERROR')
  // The selected tests do not exist on this guest (e.g. the noiommu topology's): nothing ran
  // and nothing broke, so nothing checked the site.
  if (o.verdicts.length === 0 && !o.timedOut && !o.runErrors.length && !o.splats.length) {
    return { outcome: 'no-test', reason: 'none of the selected tests runs on the sweep\'s guest (they need another topology or vIOMMU)', by: [], passed: 0 }
  }
  if (o.timedOut || errors.length || o.runErrors.length || o.verdicts.length === 0) {
    const why = o.timedOut
      ? `the run hung (killed after ${Math.round(o.ms / 1000)} s)`
      : errors.length
        ? `ERROR ${own(errors[0]!.name)}: ${(errors[0]!.reason ?? '').split('\n')[0]!.slice(0, 200)}`
        : o.runErrors.length
          ? `run error: ${o.runErrors[0]!.split('\n')[0]!.slice(0, 200)}`
          : 'no test ran'
    return { outcome: 'killed-by-crash', reason: why + (o.splats.length ? ` (console: ${o.splats.slice(0, 2).join('; ')})` : ''), by: errors.map((v) => own(v.name)), passed }
  }
  // A splat with every test passing is still the kernel noticing: killed by crash, said so.
  if (o.splats.length) return { outcome: 'killed-by-crash', reason: `tests passed but the kernel splatted: ${o.splats.slice(0, 2).join('; ')}`, by: [], passed }
  const changed = o.verdicts.filter((v) => baseline.verdicts[own(v.name)] === 'PASS' && v.verdict !== 'PASS').map((v) => `${own(v.name)} PASS->${v.verdict}`)
  // No selected test passed (all SKIPped or XFAILed here): nothing checked the site.
  if (passed === 0) return { outcome: 'no-test', reason: `none of the ${o.verdicts.length} selected tests ran to a PASS here (${[...new Set(o.verdicts.map((v) => v.verdict))].join(', ')})`, by: [], passed }
  return { outcome: 'survived', reason: changed.length ? `no FAIL; changed: ${changed.slice(0, 3).join(', ')}` : `all ${passed} selected tests passed`, by: [], passed }
}

/**
 * A kill by crash with nothing from the kernel to show for it: no splat on the console and no
 * test saying the kernel died, only an ERROR, a run error or a hang. That is also what a host
 * too loaded to reach the guest's SSH in time looks like, so the sweep runs such a mutant once
 * more before it counts (runTwiceIfUnproven).
 */
export function crashWithoutKernelEvidence(o: RunOutcome, c: { outcome: Outcome }): boolean {
  if (c.outcome !== 'killed-by-crash' || o.splats.length) return false
  const kernelSaid = /kernel died|kernel splat|kernel BUG|BUG: |Oops|panic|Call Trace/
  return ![...o.verdicts.map((v) => v.reason ?? ''), ...o.runErrors].some((r) => kernelSaid.test(r))
}

/**
 * Runs a mutant and classifies it; a kill by crash without kernel evidence runs again, and the
 * second run decides (its reason says so): a mutant that stops the guest every time is still
 * killed by crash, one that was only unlucky with the host is whatever its second run shows.
 */
export async function runTwiceIfUnproven(
  run: () => Promise<RunOutcome>,
  baseline: Baseline,
): Promise<{ run: RunOutcome; c: ReturnType<typeof classify> }> {
  const first = await run()
  const c1 = classify(first, baseline)
  if (!crashWithoutKernelEvidence(first, c1)) return { run: first, c: c1 }
  const second = await run()
  const c2 = classify(second, baseline)
  const again = c2.outcome === 'killed-by-crash' ? 'the same on a second run' : `a second run (the first: ${c1.reason.slice(0, 160)})`
  return { run: second, c: { ...c2, reason: `${c2.reason}; ${again}` } }
}

export type SweepMode = 'schemata' | 'patch'

export interface SweepOptions {
  ws: Workspace
  targets: Array<{ site: Site; mutant: Mutant }>
  /** schemata (default): one kernel with every mutant behind a boot parameter; patch: one incremental build per mutant. */
  mode: SweepMode
  budgetMs?: number
  fresh: boolean
  /** Run the survivors again (after new tests), keeping the other cached results. */
  rerunSurvivors?: boolean
  /** Sites whose cached results are run again (--rerun GLOB). */
  rerun?: (site: Site) => boolean
  /** The guest most sites run on (default: the default topology's intel-iommu guest). */
  main?: SweepGuest
  signal: AbortSignal
  /** Per-test coverage: sites no test reaches are no-test without a build; the others run only the tests that reach them. */
  coverage?: CoverageIndex
  onResult?: (r: MutantResult, index: number, cached: boolean) => void
  log: (msg: string) => void
  /** Sites run before the others (the schemata kernel's numbering does not depend on it). */
  first?: (site: Site) => boolean
}

export interface SweepSummary {
  results: MutantResult[]
  stoppedBy?: 'budget' | 'signal'
  remaining: number
}

/** A kernel to run tests on: `--kernel` spec plus boot parameters. */
interface TestKernel {
  /** What it is, for the baseline's key. */
  key: string
  /** A schemata kernel: it says on the console which sites' error paths ran (mutants.ts). */
  probe?: boolean
  /** How many mutants a schemata kernel has. */
  mutants?: number
  spec: string
  args: string[]
}

async function baselineKey(suites: string[], kernel: TestKernel, guest: SweepGuest): Promise<string> {
  // The suites' own text is in the key: a changed test gets a new baseline.
  const texts = await Promise.all(suites.map((x) => readFile(path.join(ROOT, 'suites', `${x}.test.ts`), 'utf8').catch(() => '')))
  // The intel-iommu guest's keys are those of the sweeps before there were other guests.
  const on = guest === INTEL_GUEST ? [] : ['\0', guest.key]
  return sha256([kernel.key, '\0', suites.join(','), '\0', JSON.stringify(SWEEP_ENV), '\0', ...texts, ...on]).slice(0, 12)
}

async function baselineCached(o: SweepOptions, suites: string[], kernel: TestKernel, guest: SweepGuest = INTEL_GUEST): Promise<boolean> {
  if (o.fresh) return false
  return stat(path.join(o.ws.dir, 'baseline', `${await baselineKey(suites, kernel, guest)}.json`)).then(() => true, () => false)
}

/** The baseline for a suite set on a kernel and guest (cached per workspace, kernel, guest and suite set). */
async function baselineFor(o: SweepOptions, suites: string[], kernel: TestKernel, guest: SweepGuest = INTEL_GUEST): Promise<Baseline> {
  const { ws } = o
  const key = await baselineKey(suites, kernel, guest)
  const file = path.join(ws.dir, 'baseline', `${key}.json`)
  const cached = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Baseline, () => undefined)
  if (cached && !o.fresh) return cached
  o.log(`baseline: the unmutated kernel (${kernel.key}) with ${suites.join(', ')}: every test must pass`)
  const r = await runSuites({
    suites, kernel: kernel.spec, kernelArgs: kernel.args, bail: false, timeoutMs: 20 * 60_000, signal: o.signal, guest,
    results: path.join(ws.dir, 'baseline', key), log: path.join(ws.dir, 'baseline', `${key}.log`),
  })
  if (o.signal.aborted) throw new HarnessError('stopped by a signal during the baseline run')
  let problems = baselineProblems(r)
  // A test that FAILs on the unmutated kernel and PASSes when run again is flaky here (a busy
  // host's timing): left out of every mutant's run, and said so, rather than a false kill.
  const failed = r.verdicts.filter((v) => v.verdict === 'FAIL')
  const flaky: string[] = []
  if (failed.length && failed.length === problems.length) {
    o.log(`baseline: ${failed.length} test(s) failed on the unmutated kernel; running them again to tell flaky from broken`)
    const again = await runSuites({
      suites, kernel: kernel.spec, kernelArgs: kernel.args, filter: testsPattern(failed.map((v) => own(v.name))), bail: false, timeoutMs: 20 * 60_000, signal: o.signal, guest,
      results: path.join(ws.dir, 'baseline', `${key}-again`), log: path.join(ws.dir, 'baseline', `${key}-again.log`),
    })
    const passedAgain = new Set(again.verdicts.filter((v) => v.verdict === 'PASS').map((v) => own(v.name)))
    for (const v of failed) if (passedAgain.has(own(v.name))) flaky.push(own(v.name))
    problems = problems.filter((p) => !flaky.some((f) => p.startsWith(`FAIL ${f}`)))
    if (flaky.length) o.log(`baseline: flaky on the unmutated kernel, left out of the mutants' runs: ${flaky.join('; ')}`)
  }
  if (problems.length) {
    throw new HarnessError(`the unmutated kernel does not pass ${suites.join(', ')}: a killed mutant would mean nothing (results: ${path.join(ws.dir, 'baseline', key)})`, problems.slice(0, 10).join('\n'))
  }
  const verdicts = Object.fromEntries(r.verdicts.map((v) => [own(v.name), flaky.includes(own(v.name)) ? 'FLAKY' : v.verdict]))
  const out: Baseline = { suites, verdicts, flaky, ms: r.ms, date: new Date().toISOString() }
  if (kernel.probe) {
    out.taken = await takenSites(path.join(ws.dir, 'baseline', key), r.verdicts)
    out.suiteOf = Object.fromEntries(r.verdicts.map((v) => [own(v.name), /suites\/(.+)\.test\.ts$/.exec(v.file)?.[1] ?? '']))
    o.log(`baseline: the error paths of ${Object.keys(out.taken).length} sites ran`)
    // A few mutants may all be off this guest's paths (a --sites selection); a whole sweep's never are.
    if (!Object.keys(out.taken).length && (kernel.mutants ?? 0) >= 20) throw new HarnessError(`the schemata kernel's probe reported no site at all (boot and every suite run error paths): the kernel or the console log is not what the sweep expects (results: ${path.join(ws.dir, 'baseline', key)})`)
  }
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, JSON.stringify(out, null, 2) + '\n')
  o.log(`baseline: ${r.verdicts.length} tests, ${Object.values(out.verdicts).filter((v) => v === 'PASS').length} PASS, ${Math.round(r.ms / 1000)} s`)
  return out
}

function record(o: SweepOptions, m: Mutant, outcome: Outcome, reason: string, extra: Partial<MutantResult> = {}): MutantResult {
  const { span: _span, ...site } = m.site
  return {
    kernelId: o.ws.kernelId,
    kernelKey: o.ws.kernelKey,
    key: m.key,
    site,
    operator: m.operator,
    diff: mutantDiff(m),
    outcome,
    reason,
    by: [],
    suites: [],
    passed: 0,
    date: new Date().toISOString(),
    ...extra,
  }
}

function staticNoTest(site: Site): string | undefined {
  if (site.staticReason === 'allocation-failure') return 'an allocation failure: reachable only with fault injection'
  if (site.staticReason === 'warn-on') return 'a WARN_ON: reachable only through a kernel bug'
  return undefined
}

const compileErrorFiles = (log: string) => [...new Set([...log.matchAll(/^(?:\S*\/)?((?:drivers|include)\/[^\s:]+\.c):\d+:\d+: error/gm)].map((m) => m[1]!))]

/**
 * The schemata kernel of the sweep: every mutant that needs a guest, numbered in target order
 * (so the same selection gives the same kernel, cached), compiled in. Files whose schemata do
 * not compile are left out: their mutants are built one by one (patch mode).
 */
async function schemataKernel(o: SweepOptions, runnable: Array<{ site: Site; mutant: Mutant }>): Promise<{ kernel: TestKernel; numbers: Map<string, number>; buildMs: number } | undefined> {
  const { ws } = o
  const numbers = new Map<string, number>()
  runnable.forEach((t, i) => numbers.set(t.mutant.key, i + 1))
  let files = [...new Set(runnable.map((t) => t.site.file))]
  const excluded = new Set<string>()
  for (;;) {
    const inKernel = runnable.filter((t) => files.includes(t.site.file))
    if (!inKernel.length) return undefined
    // The guards' text is in the key (applySchemata of an empty file): a new probe is a new kernel.
    const key = sha256([applySchemata('', []), ...inKernel.map((t) => `${t.mutant.key}=${numbers.get(t.mutant.key)}`)].join('\n')).slice(0, 16)
    const dir = path.join(ws.dir, 'schemata', key)
    const spec = () => `path:${path.join(dir, 'bzImage')},modules=${ws.modules},config=${path.join(dir, 'config')}`
    if (await readFile(path.join(dir, 'numbers.json'), 'utf8').then(() => true, () => false)) {
      const kept = new Map(inKernel.map((t) => [t.mutant.key, numbers.get(t.mutant.key)!]))
      return { kernel: { key: `schemata-${key}`, spec: spec(), args: [`${SCHEMATA_PARAM}=0`], probe: true, mutants: kept.size }, numbers: kept, buildMs: 0 }
    }
    o.log(`schemata: building one kernel with ${inKernel.length} mutants in ${files.length} files`)
    const restores: Array<() => Promise<void>> = []
    let b
    try {
      for (const f of files) {
        const original = await readTreeFile(ws, f)
        const ms = inKernel.filter((t) => t.site.file === f).map((t) => ({ mutant: t.mutant, n: numbers.get(t.mutant.key)! }))
        restores.push(await applyToTree(ws, f, applySchemata(original, ms)))
      }
      await mkdir(dir, { recursive: true })
      b = await makeKernel(ws, ['bzImage'], path.join(dir, 'build.log'), o.signal)
      if (b.ok) await snapshotKernel(ws, dir)
    } finally {
      for (const r of restores.reverse()) await r()
    }
    if (o.signal.aborted) return undefined
    if (b.ok) {
      const kept = new Map(inKernel.map((t) => [t.mutant.key, numbers.get(t.mutant.key)!]))
      await writeFile(path.join(dir, 'numbers.json'), JSON.stringify(Object.fromEntries(inKernel.map((t) => [t.site.id, numbers.get(t.mutant.key)])), null, 2) + '\n')
      o.log(`schemata: built in ${Math.round(b.ms / 1000)} s (${b.compiled.length} files compiled)`)
      return { kernel: { key: `schemata-${key}`, spec: spec(), args: [`${SCHEMATA_PARAM}=0`], probe: true, mutants: kept.size }, numbers: kept, buildMs: b.ms }
    }
    const log = await readFile(path.join(dir, 'build.log'), 'utf8').catch(() => b.tail)
    const bad = compileErrorFiles(log).filter((f) => files.includes(f))
    if (!bad.length) throw new HarnessError(`the schemata kernel does not build, and no mutated file is named in the errors (log: ${path.join(dir, 'build.log')})`, b.tail)
    for (const f of bad) excluded.add(f)
    o.log(`schemata: ${bad.join(', ')} do not compile with their mutants guarded: their mutants are built one by one`)
    files = files.filter((f) => !excluded.has(f))
  }
}

/** The unmutated kernel of the private tree (patch mode's baseline). */
async function pristineKernel(o: SweepOptions): Promise<TestKernel> {
  const { ws } = o
  const b = await makeKernel(ws, ['bzImage'], path.join(ws.dir, 'build.log'), o.signal)
  if (!b.ok) throw new HarnessError('the unmutated tree does not build', b.tail)
  return { key: 'pristine', spec: await snapshotKernel(ws, path.join(ws.dir, 'kernel-baseline')), args: [] }
}

/** The tests a mutant runs: the coverage's (or all of the suites), without the baseline's flaky ones. */
export function mutantFilter(only: string[] | undefined, baseline: Baseline): string | undefined {
  const flaky = [...(baseline.flaky ?? []), ...SWEEP_EXCLUDED_TESTS]
  const keep = only?.filter((t) => !flaky.includes(t))
  if (!flaky.length) return only ? testsPattern(only) : undefined
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const without = `^(?!.*(?:${flaky.map((t) => esc(vitestMatchName(t))).join('|')})$)`
  return keep ? `${without}.*${testsPattern(keep)}` : without
}

export async function sweep(o: SweepOptions): Promise<SweepSummary> {
  const { ws } = o
  const t0 = Date.now()
  const results: MutantResult[] = []
  const durations: number[] = []
  const estimate = () => (durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : 90_000)

  // Cached results and sites that need no guest first.
  const reach = new Map<string, SiteTests>()
  const todo: Array<{ site: Site; mutant: Mutant; index: number }> = []
  let i = 0
  for (const { site, mutant } of o.targets) {
    i++
    const cached = o.fresh ? undefined : await cachedResult(ws, mutant.key)
    // A no-test decided without coverage (the probe of one guest) is decided again when
    // coverage is given: the coverage of every guest may show tests that take the site.
    const stale = cached?.outcome === 'no-test' && !!o.coverage && cached.selection === 'probe'
    if (cached && !stale && !(o.rerunSurvivors && cached.outcome === 'survived') && !o.rerun?.(site)) {
      results.push(cached)
      o.onResult?.(cached, i, true)
      continue
    }
    const cov = o.coverage ? await o.coverage.siteTests(site) : undefined
    if (cov) reach.set(site.id, cov)
    const unreached = staticNoTest(site) ?? (cov?.status === 'not reached' ? cov.why : undefined)
    if (unreached) {
      const r = record(o, mutant, 'no-test', unreached, { selection: cov ? 'coverage' : 'static' })
      await saveResult(ws, r)
      results.push(r)
      o.onResult?.(r, i, false)
      continue
    }
    todo.push({ site, mutant, index: i })
  }
  if (!todo.length) return { results, remaining: 0 }

  let schemata: Awaited<ReturnType<typeof schemataKernel>>
  if (o.mode === 'schemata') {
    // Every target that needs a guest, cached or not: the same selection, the same kernel.
    const runnable: typeof o.targets = []
    for (const t of o.targets) {
      if (staticNoTest(t.site)) continue
      if (o.coverage && (reach.get(t.site.id) ?? (await o.coverage.siteTests(t.site))).status === 'not reached') continue
      runnable.push(t)
    }
    schemata = await schemataKernel(o, runnable)
    if (o.signal.aborted) return { results, stoppedBy: 'signal', remaining: todo.length }
  }
  let pristine: TestKernel | undefined

  if (o.first) todo.sort((a, b) => Number(o.first!(b.site)) - Number(o.first!(a.site)))
  let skipped = 0
  for (const [k, { site, mutant, index }] of todo.entries()) {
    const remaining = todo.length - k
    if (o.signal.aborted) return { results, stoppedBy: 'signal', remaining }
    const cov = reach.get(site.id)
    const byCoverage = cov?.status === 'reached' && cov.suites.length > 0
    // The guest the reaching tests ran on (noiommu-only sites: the noiommu topology's), and its tests.
    const main = o.main ?? INTEL_GUEST
    const guest = byCoverage ? guestFor(cov.byGuest, main) : main
    // Over budget: no more guests, but sites the probe already rules out are still recorded.
    const over = o.budgetMs !== undefined && Date.now() - t0 + estimate() > o.budgetMs
    if (over && !(schemata && (await baselineCached(o, guest.suites, schemata.kernel, guest)))) return { results, stoppedBy: 'budget', remaining: todo.length - k + skipped }
    const onGuest = byCoverage ? (cov.byGuest[guest.key] ?? cov) : undefined
    const suites = onGuest ? onGuest.suites : suitesFor(site.file)
    const only = onGuest?.tests
    const n = schemata?.numbers.get(mutant.key)
    const started = Date.now()
    const logDir = path.join(ws.dir, 'runs', mutant.key)
    await mkdir(logDir, { recursive: true })
    let r: MutantResult
    if (schemata && n !== undefined) {
      // One baseline of every suite of the guest: its probe says which tests take each site's error path.
      const baseline = await baselineFor(o, guest.suites, schemata.kernel, guest)
      const takers = baseline.taken?.[String(n)]
      if (baseline.taken && !takers && !byCoverage) {
        r = record(o, mutant, 'no-test', `its ${mutant.operator === 'skip-release' ? 'call' : 'error path'} never runs in ${guest.suites.length} suites on the unmutated kernel (the schemata kernel's probe): dropping it changes nothing they run`, { suites: guest.suites, mode: 'schemata', selection: 'probe' })
        await saveResult(ws, r)
        results.push(r)
        o.onResult?.(r, index, false)
        continue
      }
      if (over) {
        skipped++
        continue
      }
      let suitesHere = suites
      let onlyHere = only
      if (takers && !byCoverage) {
        const tests = takers.filter((t) => baseline.suiteOf?.[t])
        // Taken at boot, or by no test we can name: every suite; else exactly the tests that took it.
        if (takers.includes('(boot)') || !tests.length) {
          suitesHere = guest.suites
          onlyHere = undefined
        } else {
          suitesHere = [...new Set(tests.map((t) => baseline.suiteOf![t]!))].sort()
          onlyHere = tests
        }
      }
      const runMutant = (suitesRun: string[], only: string[] | undefined) =>
        runTwiceIfUnproven(
          () =>
            runSuites({
              suites: suitesRun, kernel: schemata.kernel.spec, kernelArgs: [`${SCHEMATA_PARAM}=${n}`], filter: mutantFilter(only, baseline), bail: true, timeoutMs: 8 * 60_000, signal: o.signal, guest,
              results: path.join(logDir, 'results'), log: path.join(logDir, 'run.log'),
            }),
          baseline,
        )
      let { run, c } = await runMutant(suitesHere, onlyHere)
      // The probe names only the first test that took a site (the kernel prints "taken" once per
      // boot): a later test may take it in a way the first does not tell apart. A survivor of
      // the probe's tests runs again with every suite of the guest before it counts.
      if (c.outcome === 'survived' && takers && !byCoverage && onlyHere && !o.signal.aborted) {
        const first = c
        ;({ run, c } = await runMutant(guest.suites, undefined))
        suitesHere = guest.suites
        c = { ...c, reason: `${c.reason} (every suite of the guest: the probe's ${first.passed} test${first.passed === 1 ? '' : 's'} passed)` }
      }
      if (o.signal.aborted) return { results, stoppedBy: 'signal', remaining }
      r = record(o, mutant, c.outcome, c.reason, { by: c.by, passed: c.passed, suites: suitesHere, runMs: run.ms, mode: 'schemata', selection: byCoverage ? 'coverage' : takers ? 'probe' : 'suite-file', ...(guest === INTEL_GUEST ? {} : { guest: guest.key }) })
      if (c.outcome === 'survived') await rm(path.join(logDir, 'results'), { recursive: true, force: true })
    } else {
      if (over) return { results, stoppedBy: 'budget', remaining: todo.length - k + skipped }
      pristine ??= await pristineKernel(o)
      const baseline = await baselineFor(o, suites, pristine, guest)
      const filter = mutantFilter(only, baseline)
      const original = await readTreeFile(ws, site.file)
      const restore = await applyToTree(ws, site.file, applyMutant(mutant, original))
      try {
        const b = await makeKernel(ws, ['bzImage'], path.join(logDir, 'build.log'), o.signal)
        if (o.signal.aborted) return { results, stoppedBy: 'signal', remaining }
        if (!b.ok) {
          r = record(o, mutant, 'unbuildable', b.tail.split('\n').filter((l) => /error|Error/.test(l)).slice(0, 2).join(' | ').slice(0, 300) || 'make failed', { buildMs: b.ms, suites, mode: 'patch' })
        } else {
          const kernel = await snapshotKernel(ws, path.join(ws.dir, 'kernel-mutant'))
          await restore()
          const { run, c } = await runTwiceIfUnproven(
            () =>
              runSuites({
                suites, kernel, kernelArgs: [], filter, bail: true, timeoutMs: 8 * 60_000, signal: o.signal, guest,
                results: path.join(logDir, 'results'), log: path.join(logDir, 'run.log'),
              }),
            baseline,
          )
          if (o.signal.aborted) return { results, stoppedBy: 'signal', remaining }
          r = record(o, mutant, c.outcome, c.reason, { by: c.by, passed: c.passed, suites, buildMs: b.ms, runMs: run.ms, mode: 'patch', selection: byCoverage ? 'coverage' : 'suite-file', ...(guest === INTEL_GUEST ? {} : { guest: guest.key }) })
          if (c.outcome === 'survived') await rm(path.join(logDir, 'results'), { recursive: true, force: true })
        }
      } finally {
        await restore()
      }
    }
    durations.push(Date.now() - started)
    await saveResult(ws, r)
    results.push(r)
    o.onResult?.(r, index, false)
  }
  return skipped ? { results, stoppedBy: 'budget', remaining: skipped } : { results, remaining: 0 }
}
