// `vfio-conform bisect-run`: one step of `git bisect run` in a kernel tree. Builds the tree
// as it is checked out (source: provider, cached by tree identity, incremental in the
// tree's own object dir), boots it, runs the selected tests and turns the result into the
// exit code git bisect acts on.
//
// Exit contract (git help bisect, "Bisect run"): 0 marks the commit good, 125 skips it,
// any other code from 1 to 127 marks it bad, and anything else (>= 128) aborts the bisect.
//   0    good: the selected tests ran and none FAILed
//   1    bad: a selected test FAILed (or XPASSed: a known issue no longer reproduces)
//   125  skip: this commit cannot be judged: the kernel does not build, the guest does not
//        boot, a selected test is ERROR, or none of the selected tests ran (all SKIP)
//   128  abort: bad usage (unknown option, no such --tree, a --test pattern that matches no
//        test at all, no QEMU). Such a mistake is the same on every commit: exit 2, like
//        `vfio-conform run`, would mark every commit bad and git would name a wrong first
//        bad commit without complaint; 125 would skip every commit, each after a build.
//        128 is the lowest code git bisect run stops on (and git's own die() code), and
//        the bisect state stays, so the user fixes the command and runs it again.
// Nothing else (no 2, no 255): every error is caught here.
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONFIRM_MAX, confirmPattern, DEFAULT_CONFIRM, failedEveryRound, ownName, roundsText } from '../gate/confirm.js'
import { commandSpec, iommuOption, opt, parseOptions, qemuOption, topologyOption } from './options.js'
import { IOMMU_MODELS, isIommuModel, TOPOLOGIES } from '../../guests/topologies/index.js'
import { selectedVerdicts, selectionPattern, testId } from '../gate/compare.js'
import { ensureBuildPackages, ensureHostPackages } from '../host/packages.js'
import { resolveKernel } from '../kernel/resolve.js'
import { parseQemuSpec, qemuFor } from '../qemu/qemu-spec.js'
import type { TestVerdict } from '../report/verdict.js'
import { exists } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { git } from '../gate/worktree.js'

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url))

export const BISECT_EXIT = { good: 0, bad: 1, skip: 125, abort: 128 } as const

export const BISECT_RUN_HELP = `  vfio-conform bisect-run [--tree DIR] [--test PATTERN]... [--topology NAME]... [--iommu MODEL]...
                          [--qemu SPEC] [--compat] [--results DIR] [--confirm K]
      One step of \`git bisect run\` in a kernel tree (default: the current directory):
        git bisect start BAD GOOD
        git bisect run node /path/to/vfio-conform/bin/vfio-conform.mjs bisect-run --test 'a group opens once'
      Builds the checked-out tree (source:DIR[,compat], cached per commit, incremental), boots it,
      runs the tests whose name matches a --test pattern (default: all) and exits 0 good (none
      FAILed), 1 bad (a FAIL or XPASS), 125 skip (build or boot failed, an ERROR, or no selected
      test ran) or 128 abort (bad usage, or a --test pattern that matches no test: the same on
      every commit, so git bisect must stop rather than mark commits bad). A FAIL is confirmed
      first (--confirm K, default 3; 0: no): the failing tests run K more times, and a commit is
      bad only if one of them FAILs every time; a FAIL that does not come back is 125 (flaky:
      git bisect skips the commit rather than being misled). Results of each step:
      --results DIR (default <vfio-conform>/vfio-conform-results/bisect/<time>-<commit>).`

// ---------------------------------------------------------------------------------------
// The outcome of a step (pure; unit-tested)

export type BisectStep =
  /** The command line or the host is unusable: the same on every commit. */
  | { stage: 'usage'; reason: string }
  /** The kernel of this commit did not build. */
  | { stage: 'build-failed'; reason: string }
  /** The harness failed before any verdict (no verdicts.json, an internal error). */
  | { stage: 'harness-error'; reason: string }
  /** The run finished: all its verdicts, and the selection (undefined: every test). */
  | { stage: 'ran'; verdicts: TestVerdict[]; runErrors: string[]; select?: RegExp; notSelected?: number }

export interface BisectOutcome {
  outcome: 'good' | 'bad' | 'skip' | 'abort'
  exitCode: (typeof BISECT_EXIT)[keyof typeof BISECT_EXIT]
  why: string
}

const firstLine = (s: string) => s.split('\n')[0]!.replace('[harness-error] ', '').slice(0, 200)

export function bisectOutcome(step: BisectStep): BisectOutcome {
  const abort = (why: string): BisectOutcome => ({ outcome: 'abort', exitCode: BISECT_EXIT.abort, why })
  const skip = (why: string): BisectOutcome => ({ outcome: 'skip', exitCode: BISECT_EXIT.skip, why })
  switch (step.stage) {
    case 'usage':
      return abort(`bad usage: ${firstLine(step.reason)}`)
    case 'build-failed': {
      const reason = firstLine(step.reason)
      return skip(reason.startsWith('kernel build failed') ? reason : `kernel build failed: ${reason}`)
    }
    case 'harness-error':
      return skip(`ERROR: ${firstLine(step.reason)}`)
    case 'ran':
      break
  }
  const selected = selectedVerdicts(step.verdicts, step.select)
  // A pattern that names no test of the suites is a typo, not a property of this commit
  // (test names do not depend on the kernel). Unless tests are missing because of run errors.
  // The run's tests are its verdicts plus those the filter left out (not reported).
  if (step.select && (step.verdicts.length || step.notSelected) && !selected.length && !step.runErrors.length) {
    return abort(`bad usage: --test ${step.select.source} matches no test name (see \`vfio-conform run\`'s verdict table for names)`)
  }
  const count = (...vs: string[]) => selected.filter((v) => vs.includes(v.verdict)).length
  const fails = selected.filter((v) => v.verdict === 'FAIL' || v.verdict === 'XPASS')
  if (fails.length) {
    const f = fails[0]!
    return {
      outcome: 'bad',
      exitCode: BISECT_EXIT.bad,
      why: `${fails.length} of ${selected.length} selected FAILed; first: ${f.name}${f.reason ? ': ' + firstLine(f.reason) : ''}`,
    }
  }
  const errors = selected.filter((v) => v.verdict === 'ERROR')
  if (errors.length) return skip(`${errors.length} selected test(s) ERROR: ${errors[0]!.name}: ${firstLine(errors[0]!.reason ?? 'error')}`)
  if (step.runErrors.length) return skip(`run error: ${firstLine(step.runErrors[0]!)}`)
  const ran = count('PASS', 'XFAIL')
  if (!ran) {
    const skipped = selected.find((v) => v.verdict === 'SKIP')
    return skip(
      selected.length
        ? `no selected test ran: ${selected.length} SKIP (${firstLine(skipped?.reason ?? 'skipped')})`
        : 'no test ran (the run has no verdicts)',
    )
  }
  const xfail = count('XFAIL')
  const skips = count('SKIP')
  return {
    outcome: 'good',
    exitCode: BISECT_EXIT.good,
    why: `${ran} of ${selected.length} selected passed${xfail ? ` (${xfail} XFAIL)` : ''}${skips ? `, ${skips} SKIP` : ''}, none FAILed`,
  }
}

/**
 * A bad step after its confirmation rounds: still bad when a test that FAILed FAILs in every
 * one of the K rounds; skip (125) when none does (flaky: the commit cannot be judged).
 */
export function confirmBisectOutcome(first: BisectOutcome, failed: readonly TestVerdict[], rounds: readonly TestVerdict[], k: number): BisectOutcome {
  const byId = new Map(rounds.map((v) => [testId(v.name), v]))
  const seen = failed.map((f) => ({ f, r: byId.get(testId(f.name)) }))
  const solid = seen.filter(({ r }) => failedEveryRound(r, k))
  if (solid.length) return { ...first, why: `${first.why}; confirmed: ${solid.length} of ${failed.length} FAILed in all ${k} more round(s)` }
  const { f, r } = seen[0]!
  return {
    outcome: 'skip',
    exitCode: BISECT_EXIT.skip,
    why: `flaky: ${failed.length} FAIL(s), none reproduced in all ${k} more round(s) (first: ${ownName(f.name)}: ${roundsText(r, k)})`,
  }
}

export function bisectExitCode(step: BisectStep): number {
  return bisectOutcome(step).exitCode
}

// ---------------------------------------------------------------------------------------
// Running the selected tests on a kernel (shared with gate)

export interface SuiteRun {
  /** Exit code of `vfio-conform run` (null when a signal ended it). */
  exitCode: number | null
  signal: NodeJS.Signals | null
  resultsDir: string
  /** verdicts.json of the run, when it wrote one. */
  results?: { verdicts: TestVerdict[]; runErrors: string[]; selection?: { selected: number; notSelected: number } }
}

export interface SuiteRunRequest {
  kernel: string
  filter?: string
  topologies?: string[]
  iommus?: string[]
  /** --qemu of the run (default: the host's). */
  qemu?: string
  resultsDir: string
  /** `run --repeat N`: the selection N times over on the same guests. */
  repeat?: number
}

/**
 * `vfio-conform run` in a child process with the project root as cwd: vitest, its global
 * setup and the verdict reporter work through process-wide state (environment, signal
 * handlers), which a second run in one process (gate) would share. Its output goes to our
 * stderr, so that our stdout carries only the step's line (bisect-run) or the report (gate).
 */
export async function runSuitesInChild(req: SuiteRunRequest): Promise<SuiteRun> {
  const args = [path.join(PROJECT_ROOT, 'bin/vfio-conform.mjs'), 'run', '--kernel', req.kernel, '--results', req.resultsDir]
  if (req.filter !== undefined) args.push('--filter', req.filter)
  for (const t of req.topologies ?? []) args.push('--topology', t)
  for (const m of req.iommus ?? []) args.push('--iommu', m)
  if (req.qemu && req.qemu !== 'host') args.push('--qemu', req.qemu)
  if (req.repeat && req.repeat > 1) args.push('--repeat', String(req.repeat))
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 2, 2] })
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c, s) => resolve({ code: c, signal: s }))
  })
  const results = (await readFile(path.join(req.resultsDir, 'verdicts.json'), 'utf8').then(JSON.parse, () => undefined)) as SuiteRun['results']
  return { exitCode: code, signal, resultsDir: req.resultsDir, results }
}

/** Topology and vIOMMU names as `run` knows them; a UsageError otherwise. */
export function checkTargets(topologies: string[], iommus: string[]): void {
  for (const t of topologies) if (!TOPOLOGIES[t]) throw new UsageError(`unknown topology "${t}" (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
  for (const m of iommus) if (!isIommuModel(m)) throw new UsageError(`unknown vIOMMU model "${m}" (known: ${IOMMU_MODELS.join(', ')})`)
}

/** Each --test pattern must be a RegExp (vitest compiles the joined filter). */
export function checkPatterns(tests: string[]): RegExp | undefined {
  for (const t of tests) {
    try {
      new RegExp(t)
    } catch (e) {
      throw new UsageError(`--test ${t} is not a regular expression: ${(e as Error).message}`)
    }
  }
  const p = selectionPattern(tests)
  return p === undefined ? undefined : new RegExp(p)
}

// ---------------------------------------------------------------------------------------
// The command

interface BisectRunOptions {
  tree: string
  tests: string[]
  topologies: string[]
  iommus: string[]
  /** The QEMU every run of it uses (harness/qemu/qemu-spec.ts; default host). */
  qemu: string
  compat: boolean
  results?: string
  /** Confirmation rounds of a FAIL before the commit is called bad (0: none). */
  confirm: number
  help: boolean
}

/** What bisect-run and gate both take: a kernel tree, the tests and targets, confirmation. */
export const TREE_RUN_OPTIONS = {
  tree: opt.path(),
  test: opt.many(opt.regex()),
  topology: topologyOption(),
  iommu: iommuOption(),
  qemu: qemuOption(),
  compat: opt.flag(),
  results: opt.path(),
  confirm: opt.int(0, CONFIRM_MAX),
}

export const BISECT_RUN_SPEC = commandSpec('bisect-run', { ...TREE_RUN_OPTIONS, help: { ...opt.flag(), short: 'h' } })

function parseBisectRunArgs(args: string[]): BisectRunOptions {
  const { values } = parseOptions(BISECT_RUN_SPEC, args)
  return {
    tree: values.tree ?? process.cwd(),
    tests: values.test ?? [],
    topologies: values.topology ?? [],
    iommus: values.iommu ?? [],
    qemu: values.qemu ?? 'host',
    compat: values.compat ?? false,
    results: values.results,
    confirm: values.confirm ?? DEFAULT_CONFIRM,
    help: values.help ?? false,
  }
}

/** What the step ran on, for the last line: `git describe`, else the commit, else the path. */
async function describeTree(tree: string): Promise<string> {
  const d = await git(tree, ['describe', '--always', '--dirty', '--tags'])
  return d.code === 0 && d.out ? d.out : tree
}

/** --tree given: that directory; default: the top of the git work tree around the cwd (git bisect runs us there). */
async function treeDir(opts: BisectRunOptions, explicit: boolean): Promise<string> {
  const dir = path.resolve(opts.tree)
  if (!(await exists(dir))) throw new UsageError(`--tree ${dir} does not exist`)
  if (explicit) return dir
  const top = await git(dir, ['rev-parse', '--show-toplevel'])
  return top.code === 0 && top.out ? top.out : dir
}

function isUsage(e: unknown): boolean {
  return e instanceof UsageError || String((e as { code?: string })?.code ?? '').startsWith('ERR_PARSE_ARGS')
}

export async function bisectRunCommand(args: string[]): Promise<number> {
  let at = path.resolve('.')
  const finish = (o: BisectOutcome): number => {
    console.log(`vfio-conform bisect-run: ${o.outcome} (${o.why}) at ${at}`)
    return o.exitCode
  }
  try {
    const opts = parseBisectRunArgs(args)
    if (opts.help) {
      console.log(BISECT_RUN_HELP)
      return BISECT_EXIT.good
    }
    const tree = await treeDir(opts, args.some((a) => a === '--tree' || a.startsWith('--tree=')))
    at = await describeTree(tree)
    checkTargets(opts.topologies, opts.iommus)
    const select = checkPatterns(opts.tests)
    // The host's problems are the same on every commit: usage (abort), checked before a build.
    await ensureHostPackages()
    await ensureBuildPackages()
    parseQemuSpec(opts.qemu)
    await qemuFor(opts.qemu)

    const spec = `source:${tree}${opts.compat ? ',compat' : ''}`
    const t0 = Date.now()
    let built: boolean
    try {
      const kernel = await resolveKernel(spec)
      built = 'built' in kernel && kernel.built === true
      progress(`bisect-run: kernel ${kernel.release} ${built ? 'built' : 'from the cache'} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    } catch (e) {
      if (e instanceof HarnessError) {
        console.error(`vfio-conform bisect-run: ${e.message.replace('[harness-error] ', '')}${e.detail ? '\n' + e.detail : ''}`)
        return finish(bisectOutcome({ stage: 'build-failed', reason: e.message }))
      }
      throw e
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const short = at.replace(/[^A-Za-z0-9.+_-]/g, '_').slice(0, 40)
    const resultsDir = path.resolve(opts.results ?? path.join(PROJECT_ROOT, 'vfio-conform-results', 'bisect'), `${stamp}-${short}`)
    const t1 = Date.now()
    const run = await runSuitesInChild({
      kernel: spec,
      filter: selectionPattern(opts.tests),
      topologies: opts.topologies,
      iommus: opts.iommus,
      qemu: opts.qemu,
      resultsDir,
    })
    progress(`bisect-run: boot and tests ${((Date.now() - t1) / 1000).toFixed(0)} s (results: ${resultsDir})`)
    if (run.exitCode === 2) return finish(bisectOutcome({ stage: 'usage', reason: 'vfio-conform run refused the command line (see above)' }))
    if (run.signal || (run.exitCode !== null && run.exitCode >= 128)) {
      // Interrupted (Ctrl-C, killed): stop the bisect rather than judge the commit.
      return finish({ outcome: 'abort', exitCode: BISECT_EXIT.abort, why: `the run was interrupted (${run.signal ?? 'exit ' + run.exitCode})` })
    }
    if (!run.results) return finish(bisectOutcome({ stage: 'harness-error', reason: `the run wrote no verdicts (exit ${run.exitCode}; see ${resultsDir})` }))
    const step: BisectStep = { stage: 'ran', verdicts: run.results.verdicts, runErrors: run.results.runErrors, select, notSelected: run.results.selection?.notSelected }
    const outcome = bisectOutcome(step)
    if (outcome.outcome !== 'bad' || opts.confirm === 0) return finish(outcome)
    // Confirm before marking the commit bad: the failing tests K more times on this kernel.
    const failed = selectedVerdicts(step.verdicts, select).filter((v) => v.verdict === 'FAIL' || v.verdict === 'XPASS')
    progress(`bisect-run: confirming ${failed.length} FAIL(s), ${opts.confirm} round(s)`)
    const confirm = await runSuitesInChild({
      kernel: spec,
      filter: confirmPattern(failed.map((v) => v.name)),
      topologies: opts.topologies,
      iommus: opts.iommus,
      qemu: opts.qemu,
      resultsDir: resultsDir + '-confirm',
      repeat: opts.confirm,
    })
    if (confirm.signal || (confirm.exitCode !== null && confirm.exitCode >= 128)) {
      return finish({ outcome: 'abort', exitCode: BISECT_EXIT.abort, why: `the confirmation run was interrupted (${confirm.signal ?? 'exit ' + confirm.exitCode})` })
    }
    return finish(confirmBisectOutcome(outcome, failed, confirm.results?.verdicts ?? [], opts.confirm))
  } catch (e) {
    if (isUsage(e)) {
      console.error(`vfio-conform ${(e as Error).message.startsWith('bisect-run: ') ? '' : 'bisect-run: '}${(e as Error).message}`)
      return finish(bisectOutcome({ stage: 'usage', reason: (e as Error).message }))
    }
    if (e instanceof HarnessError) {
      console.error(`vfio-conform bisect-run: ERROR: ${e.message.replace('[harness-error] ', '')}${e.detail ? '\n' + e.detail : ''}`)
      return finish(bisectOutcome({ stage: 'harness-error', reason: e.message }))
    }
    // A bug of the harness is not a property of the commit: skip it, never mark it bad.
    console.error(`vfio-conform bisect-run: ERROR (internal): ${(e as Error)?.stack ?? e}`)
    return finish(bisectOutcome({ stage: 'harness-error', reason: `internal: ${(e as Error)?.message ?? e}` }))
  }
}
