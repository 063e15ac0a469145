// vfio-conform command line. See `vfio-conform --help` and harness/report/verdict.ts for the
// exit contract (0 ok, 1 FAIL, 125 ERROR only, 2 bad usage; never 255); `bisect-run` has its
// own, for git bisect run (harness/cli/bisect-run.ts: 0 good, 1 bad, 125 skip, 128 abort).
import { readFile } from 'node:fs/promises'
import { constants } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_TOPOLOGIES, IOMMU_MODELS, isIommuModel, TOPOLOGIES } from '../../guests/topologies/index.js'
import { ensureBuildPackages, ensureHostPackages } from '../host/packages.js'
import { MAIN_JOB_MODEL_RUNS, NPM_TEST_MODEL_RUNS, FULL_MODEL_BUDGET } from '../model/run.js'
import { DEFAULT_KERNELS, isSourceSpec, MATRIX_KERNELS, joinKernelEntry, MAIN_JOB_KERNELS, KERNEL_SPEC_HELP, kernelSpecsFromEnv, resolveKernel, splitKernelEntry } from '../kernel/resolve.js'
import { killAllGuestsNow } from '../guest/guest.js'
import { useTcgOnly } from '../qemu/qemu-binary.js'
import { availableQemus, QEMU_SPEC_HELP, qemuFor, qemuInfo } from '../qemu/qemu-spec.js'
import { countVerdicts, EXIT, exitCodeFor, type TestVerdict } from '../report/verdict.js'
import { defaultRunDir, modelBudgetFromEnv, type RunOptions } from '../vitest/run-options.js'
import { mergeRunRounds, type MergedRuns, type RoundRun } from '../report/repeat-runs.js'
import { progress } from '../util/log.js'
import { signalChildren } from '../util/children.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { projectApt } from '../debian/apt.js'
import type { Registries } from '../registries.js'
import { behavioursCommand, behavioursHelp } from './behaviours.js'
import { claimsCommand, claimsHelp } from './claims.js'
import { REPORT_HELP, reportCommand } from './report.js'
import { BISECT_RUN_HELP, bisectRunCommand } from './bisect-run.js'
import { GATE_HELP, gateCommand } from './gate.js'
import { LIST_HELP, listCommand } from './list.js'
import { commandSpec, parseOptions, type OptionValues } from './options.js'
import { MODEL_SPEC, RUN_OPTIONS, RUN_SPEC } from './run-options.js'
import { MUTATE_HELP, mutateCommand } from './mutate.js'
import { COVERAGE_HELP, coverageCommand } from './coverage.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export const help = (reg: Registries) => `vfio-conform: VFIO / iommufd conformance on real kernels in QEMU guests

Usage:
  vfio-conform run [--kernel SPEC]... [--topology NAME]... [--iommu MODEL]... [--qemu SPEC]...
                   [--matrix] [--filter PATTERN] [--suite NAME]... [--bail] [--kernel-arg ARG]...
                   [--results DIR] [--tcg]
                   [--repeat N [--repeat-boot]] [--allow-flaky PATTERN]...
      Boot one guest per kernel x topology x vIOMMU, run the conformance suites, print
      a verdict table. --suite NAME: only suites/NAME.test.ts; --bail: stop at the first
      failing test; --kernel-arg ARG: one more kernel parameter for every guest. --repeat N: every test N times over on the same guests (with
      --repeat-boot: N whole runs on fresh guests, in round-K/ of the results); a test whose
      verdict varies is FLAKY (with its counts) and fails the run (exit 1) unless an
      --allow-flaky pattern matches its name. Default kernel: ${MAIN_JOB_KERNELS.join(' ')} (a conform build of Debian's current kernel source);
      --matrix: the test set npm test runs (${DEFAULT_KERNELS.join(' ')})
      and the wider product of QEMUs x vIOMMU models and modes that CI shards (${MATRIX_KERNELS.slice(DEFAULT_KERNELS.length).join(' ')}).
      The main job runs the ownership model with ${MAIN_JOB_MODEL_RUNS} sequences, npm test with ${NPM_TEST_MODEL_RUNS}, everything else with ${FULL_MODEL_BUDGET.runs}.
      Default topologies: ${DEFAULT_TOPOLOGIES.join(", ")}. --qemu: the QEMU(s) every kernel runs on
      (default host; a kernel entry's own "@qemu=SPEC" wins); a guest on another QEMU than the
      host's is named "<topology>/<model>@qemu-<version>".
  vfio-conform qemus          list the QEMUs a run can use: the host's and Debian's (fetched on first use)
  vfio-conform setup          install the host packages the harness needs (as root)
  vfio-conform kernels        list the Debian kernels available by name
  vfio-conform bench          boot each kernel and print time to QEMU start, init, SSH, suite
  vfio-conform bench --speed  the main job one guest at a time and guests at once, in one
                              run: wall, per guest, per file, waits, and the ratios
  vfio-conform bench --stability [N] [-- RUN-ARGS]
                              the main job (or RUN-ARGS) N times (default 10) on fresh guests:
                              per-test verdict counts, FLAKY tests, wall-time spread
  vfio-conform bench --first-run [--keep] [--dir DIR]
                              \`npm ci && npx vfio-conform run\` in a fresh clone with empty
                              npm, kernel and ccache caches: wall times and verdicts
                              (every bench writes its figures into docs/measurements.md;
                              --no-record: print only)
  vfio-conform model [--seed S] [--runs N] [--steps N] [run options...]
      the ownership model alone: N random two-process sequences (default 60 of up to 64
      steps) on each kernel's multi-device group, checked against harness/model/ownership.ts;
      a divergence is shrunk and printed with its seed (--seed S replays it)
  vfio-conform compare OLD NEW
      two runs' verdicts (results dirs or verdicts.json), test by test: exit 0 when every
      test has the same verdict, 1 otherwise (a change to the harness must not change one)
${claimsHelp(reg)}
${behavioursHelp(reg)}
${REPORT_HELP}
${BISECT_RUN_HELP}
${GATE_HELP}
${LIST_HELP}
${MUTATE_HELP}
${COVERAGE_HELP}

Kernel specs: ${KERNEL_SPEC_HELP}; append @MODEL+MODEL and/or @qemu=QEMUSPEC
QEMU specs: ${QEMU_SPEC_HELP}
Topologies: ${Object.keys(TOPOLOGIES).join(', ')}   vIOMMU models: ${IOMMU_MODELS.join(', ')}

Exit codes: 0 nothing failed; 1 a test FAILed; 125 no FAIL but an ERROR (harness, boot)
kept tests from running (git bisect "skip"); 2 bad usage.
bisect-run: 0 good, 1 bad, 125 skip, 128 abort (bad usage stops git bisect).
Environment: VFIO_CONFORM_CACHE (cache dir, default $XDG_CACHE_HOME/vfio-conform),
VFIO_CONFORM_QEMU (QEMU binary), VFIO_CONFORM_ACCEL=tcg (never use KVM).`

const SETUP_SPEC = commandSpec('setup', {})
const KERNELS_SPEC = commandSpec('kernels', {})
const QEMUS_SPEC = commandSpec('qemus', {})

/**
 * The command line; `registries` are the suites' (suites/registries.ts, passed in by
 * bin/vfio-conform.mjs): the harness does not import suites/.
 */
export async function main(argv: string[], registries: Registries): Promise<number> {
  try {
    const [cmd, ...rest] = argv
    switch (cmd) {
      case 'run':
        return await runCommand(rest, registries)
      case 'setup':
        parseOptions(SETUP_SPEC, rest)
        // Everything the default set needs, kernel builds included (npm test builds one).
        await ensureHostPackages()
        if (kernelSpecsFromEnv(DEFAULT_KERNELS).some(isSourceSpec)) await ensureBuildPackages()
        await qemuInfo()
        console.log('vfio-conform: host ready')
        return EXIT.ok
      case 'kernels':
        parseOptions(KERNELS_SPEC, rest)
        return await kernelsCommand()
      case 'qemus':
        parseOptions(QEMUS_SPEC, rest)
        return await qemusCommand()
      case 'claims':
        return await claimsCommand(rest, registries)
      case 'behaviours':
        return await behavioursCommand(rest, registries)
      case 'report':
        return await reportCommand(rest, registries)
      case 'bisect-run':
        // Own exit contract for git bisect run (0/1/125/128); it catches all its errors, so
        // the exit 2 of a usage error (git would read it as "bad") never applies.
        return await bisectRunCommand(rest)
      case 'list':
        return await listCommand(rest, registries)
      case 'gate':
        return await gateCommand(rest)
      case 'coverage':
        return await coverageCommand(rest, registries, runCommand)
      case 'compare':
        return await compareCommand(rest)
      case 'mutate':
        return await mutateCommand(rest)
      case 'model':
        return await modelCommand(rest, registries)
      case 'bench': {
        const { benchCommand } = await import('./bench.js')
        return await benchCommand(rest)
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(help(registries))
        return cmd === undefined ? EXIT.usage : EXIT.ok
      default:
        throw new UsageError(`unknown command "${cmd}" (try --help)`)
    }
  } catch (e) {
    return reportTopLevel(e)
  }
}

function reportTopLevel(e: unknown): number {
  // node:util parseArgs: unknown option, missing value, ... are bad usage too.
  if (String((e as { code?: string })?.code ?? '').startsWith('ERR_PARSE_ARGS')) {
    console.error(`vfio-conform: ${(e as Error).message} (try --help)`)
    return EXIT.usage
  }
  if (e instanceof UsageError) {
    console.error(`vfio-conform: ${e.message}`)
    return EXIT.usage
  }
  if (e instanceof HarnessError) {
    console.error(`vfio-conform: ERROR: ${e.message.replace('[harness-error] ', '')}${e.detail ? '\n' + e.detail : ''}`)
    return EXIT.error
  }
  // Anything unexpected is the harness's fault: ERROR, never 255.
  console.error(`vfio-conform: ERROR (internal): ${(e as Error)?.stack ?? e}`)
  return EXIT.error
}

async function runCommand(args: string[], registries: Registries, model: ModelOverride = {}): Promise<number> {
  return runWith(parseOptions(RUN_SPEC, args).values, registries, model)
}

/** The ownership model's budget `model` sets for the run (over the main job's share and the environment). */
type ModelOverride = Partial<RunOptions['model']>

async function runWith(values: OptionValues<typeof RUN_OPTIONS>, registries: Registries, model: ModelOverride = {}): Promise<number> {
  const repeat = values.repeat ?? 1
  if (values['repeat-boot'] && values.repeat === undefined) throw new UsageError('--repeat-boot needs --repeat N (the number of runs)')
  if (values.matrix && values.kernel?.length) throw new UsageError('--matrix and --kernel exclude each other (--matrix is the test set and the QEMU x vIOMMU product)')
  stopEverythingOnSignal()
  const mainJob = !values.kernel?.length && !values.matrix
  const kernels = values.kernel?.length ? values.kernel : values.matrix ? MATRIX_KERNELS : MAIN_JOB_KERNELS
  if (values.tcg) useTcgOnly()
  const suiteFiles = await suiteFilesFor(values.suite ?? [])
  for (const a of values['kernel-arg'] ?? []) if (!/^[\w.-]+(=\S+)?$/.test(a)) throw new UsageError(`--kernel-arg "${a}": one kernel parameter (name or name=value, no spaces)`)

  // Validate everything the user gave before anything boots: bad input is exit 2 with one line.
  await ensureHostPackages()
  if (kernels.some(isSourceSpec)) await ensureBuildPackages()
  // Every kernel entry on every --qemu (an entry's own @qemu= wins); each QEMU fetched and probed now.
  const qemus = values.qemu?.length ? [...new Set(values.qemu)] : ['host']
  const entries = kernels.flatMap((k) => (splitKernelEntry(k).qemu ? [k] : qemus.map((q) => joinKernelEntry({ ...splitKernelEntry(k), qemu: q }))))
  for (const q of new Set(entries.map((e) => splitKernelEntry(e).qemu ?? 'host'))) {
    const info = await qemuFor(q)
    if (q !== 'host') progress(`QEMU ${q}: ${info.version} (${info.binary})`)
  }
  const resolved = []
  for (const k of entries) resolved.push(await resolveKernel(k))

  const runDir = values.results ? path.resolve(values.results) : defaultRunDir()
  // The run's options reach global setup and the suites as one object (vitest's provide:
  // harness/vitest/run-options.ts), never through the environment.
  const options: RunOptions = {
    // Resolved ids (exact versions), keeping each entry's vIOMMU restriction ("@intel-iommu") and QEMU.
    kernels: resolved.map((k, i) => {
      const e = splitKernelEntry(entries[i]!)
      return joinKernelEntry({ spec: k.id, iommus: e.iommus, qemu: e.qemu === 'host' ? undefined : e.qemu, topologies: e.topologies })
    }),
    topologies: values.topology ?? [...DEFAULT_TOPOLOGIES],
    iommus: values.iommu as RunOptions['iommus'],
    kernelArgs: values['kernel-arg'] ?? [],
    runDir,
    // --repeat N on the same guests: every guest runs its tests N times over (fixtures.ts).
    repeat: values['repeat-boot'] ? 1 : repeat,
    allowFlaky: values['allow-flaky'] ?? [],
    // The main job runs a shorter ownership-model budget (see MAIN_JOB_MODEL_RUNS); the
    // environment's VFIO_CONFORM_MODEL_* and then `model`'s options override it.
    model: { ...FULL_MODEL_BUDGET, ...(mainJob ? { runs: MAIN_JOB_MODEL_RUNS } : {}), ...modelBudgetFromEnv(), ...model },
    mainJob,
    vfTokenModel: true,
  }

  const { startVitest } = await import('vitest/node')
  const runOnce = async (dir: string) => {
    const vitest = await startVitest(
      'test',
      suiteFiles,
      {
        root: ROOT,
        config: path.join(ROOT, 'vitest.config.ts'),
        project: ['conformance'],
        run: true,
        watch: false,
        testNamePattern: values.filter,
        ...(values.bail ? { bail: 1 } : {}),
        reporters: [[path.join(ROOT, 'harness/report/verdict-reporter.ts'), { registries }]],
        provide: { vfioConformOptions: { ...options, runDir: dir } },
      },
    )
    await vitest.close()
  }
  if (values['repeat-boot'] && repeat > 1) {
    // Whole runs, fresh guests each time; merged into runDir (harness/report/repeat-runs.ts).
    const rounds: RoundRun[] = []
    for (let k = 1; k <= repeat; k++) {
      const dir = path.join(runDir, `round-${k}`)
      progress(`--repeat-boot: round ${k} of ${repeat} (${dir})`)
      const t0 = Date.now()
      await runOnce(dir)
      rounds.push({ dir, wallMs: Date.now() - t0 })
    }
    const merged = await mergeRunRounds(runDir, rounds, options.allowFlaky.map((p) => new RegExp(p)), registries)
    printMergedRounds(merged, rounds)
    console.log(`results and console logs: ${runDir} (rounds in round-1 .. round-${repeat})`)
    return merged.exitCode
  }
  await runOnce(runDir)
  const out = await readFile(path.join(runDir, 'verdicts.json'), 'utf8').then(JSON.parse, () => undefined) as
    | { verdicts: TestVerdict[]; runErrors: string[] }
    | undefined
  if (!out) {
    console.error(`vfio-conform: ERROR: the run produced no verdicts (see ${runDir})`)
    return EXIT.error
  }
  console.log(`results and console logs: ${runDir}`)
  return exitCodeFor(out.verdicts, out.runErrors)
}

/** --suite NAME -> suites/NAME.test.ts (checked to exist: a misspelt suite is bad usage, not an empty run). */
async function suiteFilesFor(names: string[]): Promise<string[]> {
  const files: string[] = []
  for (const n of names) {
    const f = path.join(ROOT, 'suites', `${n.replace(/\.test\.ts$/, '')}.test.ts`)
    if (!(await readFile(f).then(() => true, () => false))) throw new UsageError(`--suite ${n}: no such suite (suites/${n}.test.ts)`)
    files.push(f)
  }
  return files
}

/**
 * Ctrl-C / SIGTERM during a run (downloads, builds, boots, suites): exit 128+signal number
 * (130, 143) with nothing left running. Everything here is synchronous because Node, and
 * vitest's own handler right after ours (process.exit a millisecond later), leave no time
 * for async work: guests are SIGKILLed with their QMP directories removed, and every child
 * (vitest's fork workers, make, apt, QEMU) gets the same signal. `process.on`, not `once`:
 * execa's signal-exit re-raises the signal (the CLI then dies by it, never exiting 130) when
 * it finds itself the only listener left.
 */
function stopEverythingOnSignal(): void {
  let seen = false
  const onSignal = (sig: NodeJS.Signals) => {
    const code = 128 + constants.signals[sig]
    process.exitCode = code
    if (seen) return
    seen = true
    console.error(`vfio-conform: ${sig}: stopping guests and workers, exit ${code}`)
    killAllGuestsNow()
    signalChildren('SIGTERM')
    setTimeout(() => process.exit(code), 20)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

export const COMPARE_SPEC = commandSpec('compare', {}, { name: 'OLD NEW (results directories or verdicts.json files)', check: { kind: 'path' }, min: 2, max: 2 })

async function compareCommand(args: string[]): Promise<number> {
  const { positionals } = parseOptions(COMPARE_SPEC, args)
  const { compareVerdicts, identical, readVerdicts, renderComparison } = await import('../report/compare-verdicts.js')
  const [a, b] = await Promise.all(positionals.map((p) => readVerdicts(p).catch((e: Error) => Promise.reject(new UsageError(e.message)))))
  const c = compareVerdicts(a!, b!)
  console.log(renderComparison(c))
  return identical(c) ? EXIT.ok : EXIT.fail
}

async function kernelsCommand(): Promise<number> {
  const apt = projectApt()
  const versions = await apt.versions('linux-image-amd64')
  console.log('Debian kernels (use --kernel debian:<version> or debian:<suite>):')
  for (const v of versions) console.log(`  ${v.version.padEnd(20)} ${v.suites.join(', ')}`)
  return EXIT.ok
}

async function qemusCommand(): Promise<number> {
  const { host, hostError, debian } = await availableQemus()
  console.log('QEMUs for --qemu SPEC:')
  console.log(`  ${'host'.padEnd(16)} ${host ? `${host.version.padEnd(22)} ${host.binary}` : `unavailable: ${hostError}`}`)
  for (const d of debian) {
    console.log(`  ${d.spec.padEnd(16)} ${d.version.padEnd(22)} ${d.suites.join(', ')}; ${d.cached ? `cached: ${d.cached}` : 'fetched through the project apt on first use'}`)
  }
  console.log('  path:<binary>    a QEMU of your own; a version prefix works too (debian:10.0, debian:11.1.3)')
  return EXIT.ok
}

/** What a --repeat-boot run prints after its rounds: the tests that varied, the counts, the rounds' wall times. */
function printMergedRounds(m: MergedRuns, rounds: RoundRun[]): void {
  const c = countVerdicts(m.verdicts)
  console.log('')
  console.log(`vfio-conform: ${rounds.length} runs, fresh guests each (--repeat-boot)`)
  for (const v of m.verdicts.filter((x) => x.verdict === 'FLAKY')) console.log(`FLAKY ${v.name}${v.flakyAllowed ? ' (allowed)' : ''}  -- ${v.reason}`)
  for (const e of m.runErrors) console.log(`ERROR ${e.split('\n')[0]}`)
  console.log(`rounds' wall time: ${rounds.map((r) => `${(r.wallMs / 1000).toFixed(0)} s`).join(', ')}`)
  console.log(`PASS ${c.PASS}  FAIL ${c.FAIL}  SKIP ${c.SKIP}  ERROR ${c.ERROR + m.runErrors.length}  XFAIL ${c.XFAIL}  XPASS ${c.XPASS}  FLAKY ${c.FLAKY}`)
}

/**
 * `vfio-conform model [--seed S] [--runs N] [--steps N] [run options]`: the ownership-model
 * test alone (suites/ownership-model.test.ts) with that budget; a seed replays a run.
 */
async function modelCommand(args: string[], registries: Registries): Promise<number> {
  if (args.some((a) => a === '--filter' || a.startsWith('--filter='))) throw new UsageError('model: --filter is the model test itself; use run --filter for other tests')
  const { values } = parseOptions(MODEL_SPEC, args)
  const { seed, runs, steps, ...run } = values
  const given = Object.fromEntries(Object.entries({ seed, runs, steps }).filter(([, v]) => v !== undefined)) as ModelOverride
  // The whole budget (not the main job's share) unless the environment or an option says otherwise.
  return runWith({ ...run, filter: 'ownership model' }, registries, { runs: FULL_MODEL_BUDGET.runs, ...modelBudgetFromEnv(), ...given })
}
