// `vfio-conform gate`: does a patch series break a VFIO rule? Applies the series on a base
// revision in a worktree kept under the cache, builds base and base + series with the
// source: provider, runs the same selection on both and compares verdicts test by test.
//
// Exit: 0 no new failure on head; 1 a new FAIL or a new kernel splat on head; 125 an ERROR
// kept a head test from being compared (head did not build or boot, a head ERROR, a FAIL
// with no base verdict), or the series does not apply; 2 bad usage (via main's handler).
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  compareRuns,
  gateExitCode,
  renderGateReport,
  selectedVerdicts,
  selectionPattern,
  type GateSideInfo,
  type RunSide,
} from '../gate/compare.js'
import {
  applySeries,
  checkoutWorktree,
  gateWorktreePath,
  openRepo,
  resolveCommit,
  switchWorktree,
} from '../gate/worktree.js'
import { ensureBuildPackages, ensureHostPackages } from '../host/packages.js'
import { resolveKernel } from '../kernel/resolve.js'
import { parseQemuSpec, qemuFor } from '../qemu/qemu-spec.js'
import { EXIT } from '../report/verdict.js'
import { exists, withLock } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { checkPatterns, checkTargets, runSuitesInChild, TREE_RUN_OPTIONS } from './bisect-run.js'
import { applyConfirmation, confirmPattern, DEFAULT_CONFIRM } from '../gate/confirm.js'
import { commandSpec, opt, parseOptions } from './options.js'
import { judgeSites, renderCoverageSection, seriesSites } from '../gate/coverage.js'
import { buildCoverage, gcovKernelOf } from '../coverage/gcov.js'

export const GATE_HELP = `  vfio-conform gate --tree DIR --base REV --series FILE.mbox [--test PATTERN]... [--topology NAME]...
                    [--iommu MODEL]... [--qemu SPEC] [--compat] [--results DIR] [--confirm K] [--coverage]
      Does a patch series break a VFIO rule? Applies the series (git am) on REV in a worktree of
      DIR kept under the cache, builds REV and REV + series (source: builds, cached by tree
      identity, incremental in that worktree), runs the tests matching a --test pattern (default:
      all) on both and compares them per test: new failures, new kernel splats, fixed tests, new
      SKIPs. A new failure is confirmed before it is blamed (--confirm K, default 3; 0: no): run
      K more times on head and on base, it is a regression only if it FAILs every time on head
      and never on base; otherwise it is listed as flaky, with its counts, and not blamed.
      Prints the report and writes it as gate.md in --results DIR (default
      vfio-conform-results/gate-<time>/, with the runs in base/ and head/). Exit 0 no new failure,
      1 a new FAIL or splat on head, 125 an ERROR kept a head test from being compared or the
      series does not apply (the patch is named), 2 bad usage. The worktree stays registered in
      DIR's repository for the next gate (git worktree remove --force <path> drops it).
      --coverage: both sides on the coverage build (",gcov", see vfio-conform coverage); gate.md
      then lists the error returns the series adds, removes or changes and whether a test
      reaches each (added and changed: on head; removed: on base), and which; an added or
      changed check that no test reaches is a warning (the exit code stays the comparison's).`

interface GateOptions {
  tree: string
  base: string
  series: string
  tests: string[]
  topologies: string[]
  iommus: string[]
  /** The QEMU every run of it uses (harness/qemu/qemu-spec.ts; default host). */
  qemu: string
  compat: boolean
  results?: string
  /** Confirmation rounds of a new failure on head and on base (0: none). */
  confirm: number
  /** Run both sides on the coverage build and report the touched enforcement sites. */
  coverage: boolean
}

export const GATE_SPEC = commandSpec('gate', {
  ...TREE_RUN_OPTIONS,
  base: opt.text('a git revision, resolved in --tree before anything is built'),
  series: opt.path(),
  coverage: opt.flag(),
})

function parseGateArgs(args: string[]): GateOptions {
  const { values } = parseOptions(GATE_SPEC, args)
  const missing = (['tree', 'base', 'series'] as const).filter((k) => !values[k])
  if (missing.length) throw new UsageError(`gate needs ${missing.map((k) => '--' + k).join(', ')} (try --help)`)
  return {
    tree: values.tree!,
    base: values.base!,
    series: values.series!,
    tests: values.test ?? [],
    topologies: values.topology ?? [],
    iommus: values.iommu ?? [],
    qemu: values.qemu ?? 'host',
    compat: values.compat ?? false,
    results: values.results,
    confirm: values.confirm ?? DEFAULT_CONFIRM,
    coverage: values.coverage ?? false,
  }
}

const seconds = (t0: number) => Math.round((Date.now() - t0) / 1000)

export async function gateCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(GATE_HELP)
    return EXIT.ok
  }
  const opts = parseGateArgs(args)
  checkTargets(opts.topologies, opts.iommus)
  const select = checkPatterns(opts.tests)
  const filter = selectionPattern(opts.tests)
  const seriesFile = path.resolve(opts.series)
  if (!(await exists(seriesFile))) throw new UsageError(`--series ${seriesFile} does not exist`)
  const repo = await openRepo(path.resolve(opts.tree))
  const baseCommit = await resolveCommit(repo, opts.base)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const resultsDir = path.resolve(opts.results ?? path.join('vfio-conform-results', `gate-${stamp}`))
  await mkdir(resultsDir, { recursive: true })
  await ensureHostPackages()
  await ensureBuildPackages()
  parseQemuSpec(opts.qemu)
  await qemuFor(opts.qemu)

  const wt = gateWorktreePath(repo)
  await mkdir(path.dirname(wt), { recursive: true })
  const spec = `source:${wt}${opts.compat ? ',compat' : ''}${opts.coverage ? ',gcov' : ''}`
  const short = (c: string) => c.slice(0, 12)
  const baseInfo: GateSideInfo = { revision: `${opts.base} (${short(baseCommit)})` }

  // One gate per repository at a time: both would move the same worktree.
  return withLock(
    wt + '.lock',
    async () => {
      progress(`gate: worktree ${wt} at ${opts.base} (${short(baseCommit)})`)
      await checkoutWorktree(repo, wt, baseCommit)
      const series = await applySeries(wt, seriesFile)
      if (!series.applied) {
        // git am --abort put the worktree back at the base, clean: nothing half-applied stays.
        // The worktree itself stays, like the kernel object dir it keeps warm: removing it
        // (67 s measured on the 6.12 tree) and adding it back next time (49 s) would also
        // give every file a new mtime, i.e. a full (ccache) rebuild instead of an incremental one.
        const report = [
          '# vfio-conform gate',
          '',
          `- tree: ${repo.top}`,
          `- series: ${seriesFile}`,
          `- base: ${baseInfo.revision}`,
          '',
          `**Result: ERROR (exit 125)**: patch ${series.index} "${series.subject}" does not apply to ${opts.base}`,
          '',
          '```',
          ...series.output.split('\n').slice(-15),
          '```',
          '',
          `The worktree ${wt} is back at ${opts.base}, clean (git am --abort).`,
          '',
        ].join('\n')
        await writeFile(path.join(resultsDir, 'gate.md'), report)
        process.stdout.write(report)
        console.error(`vfio-conform gate: ERROR: patch ${series.index} "${series.subject}" does not apply to ${opts.base} (git am aborted; report ${path.join(resultsDir, 'gate.md')})`)
        return EXIT.error
      }
      const headInfo: GateSideInfo = { revision: `${opts.base} + ${series.subjects.length} patch(es) (${short(series.head)})` }

      // Base first, then head: the same worktree, so head rebuilds only what the series touches.
      const runSide = async (name: 'base' | 'head', commit: string, info: GateSideInfo): Promise<RunSide> => {
        await switchWorktree(wt, commit)
        progress(`gate: ${name}: ${info.revision}: build`)
        const t0 = Date.now()
        try {
          const kernel = await resolveKernel(spec)
          info.release = kernel.release
          info.built = 'built' in kernel && kernel.built === true
          info.buildSeconds = seconds(t0)
        } catch (e) {
          if (!(e instanceof HarnessError)) throw e
          console.error(`vfio-conform gate: ${name}: ${e.message.replace('[harness-error] ', '')}${e.detail ? '\n' + e.detail : ''}`)
          return { verdicts: [], runErrors: [], unavailable: `kernel build failed: ${e.message.replace('[harness-error] ', '').split('\n')[0]}` }
        }
        progress(`gate: ${name}: boot and tests`)
        const t1 = Date.now()
        info.resultsDir = path.join(resultsDir, name)
        const run = await runSuitesInChild({ kernel: spec, filter, topologies: opts.topologies, iommus: opts.iommus, qemu: opts.qemu, resultsDir: info.resultsDir })
        info.runSeconds = seconds(t1)
        if (run.signal) throw new HarnessError(`gate: the ${name} run was interrupted (${run.signal})`)
        if (!run.results) return { verdicts: [], runErrors: [], unavailable: `the run wrote no verdicts (vfio-conform run exit ${run.exitCode}; see ${info.resultsDir})` }
        return { verdicts: selectedVerdicts(run.results.verdicts, select), runErrors: run.results.runErrors }
      }
      const base = await runSide('base', baseCommit, baseInfo)
      const head = await runSide('head', series.head, headInfo)

      const comparison = compareRuns(base, head)
      // Confirm before blaming: every new failure K more times on head, then on base.
      const suspects = [...comparison.newFailures, ...comparison.newSplats]
      if (opts.confirm > 0 && suspects.length) {
        const confirmFilter = confirmPattern(suspects.map((ch) => ch.test))
        const confirmSide = async (name: 'base' | 'head', commit: string) => {
          await switchWorktree(wt, commit)
          await resolveKernel(spec) // the build of that tree is cached: no rebuild
          progress(`gate: ${name}: confirming ${suspects.length} new failure(s), ${opts.confirm} round(s)`)
          const dir = path.join(resultsDir, `${name}-confirm`)
          const run = await runSuitesInChild({ kernel: spec, filter: confirmFilter, topologies: opts.topologies, iommus: opts.iommus, qemu: opts.qemu, resultsDir: dir, repeat: opts.confirm })
          if (run.signal) throw new HarnessError(`gate: the ${name} confirmation was interrupted (${run.signal})`)
          return run.results?.verdicts ?? []
        }
        const headRounds = await confirmSide('head', series.head)
        const baseRounds = await confirmSide('base', baseCommit)
        applyConfirmation(comparison, headRounds, baseRounds, opts.confirm)
      }
      const coverageSection = opts.coverage ? await gateCoverage(wt, baseCommit, series.head, baseInfo, headInfo) : ''
      const report = renderGateReport(comparison, {
        tree: repo.top,
        worktree: wt,
        series: seriesFile,
        subjects: series.subjects,
        selection: filter,
        topologies: opts.topologies,
        iommus: opts.iommus,
        base: baseInfo,
        head: headInfo,
      })
      const full = coverageSection ? `${report.trimEnd()}\n\n${coverageSection}` : report
      await writeFile(path.join(resultsDir, 'gate.md'), full)
      process.stdout.write(full)
      console.error(`vfio-conform gate: report ${path.join(resultsDir, 'gate.md')}`)
      return gateExitCode(comparison)
    },
    () => progress(`gate: waiting for another gate of ${repo.top} (${wt}.lock)`),
  )
}


/**
 * gate --coverage: the sites the series touches and whether a test reaches them, from the
 * two runs' gcov snapshots (each side's coverage.json is written into its results).
 */
async function gateCoverage(wt: string, baseCommit: string, headCommit: string, base: GateSideInfo, head: GateSideInfo): Promise<string> {
  const touched = await seriesSites(wt, baseCommit, headCommit)
  const load = async (info: GateSideInfo) => {
    if (!info.resultsDir) return undefined
    try {
      return await buildCoverage(info.resultsDir, await gcovKernelOf(info.resultsDir))
    } catch (e) {
      progress(`gate --coverage: no coverage for ${info.revision}: ${(e as Error).message}`)
      return undefined
    }
  }
  const headData = touched.some((t) => t.change !== 'removed') ? await load(head) : undefined
  const baseData = touched.some((t) => t.change === 'removed') ? await load(base) : undefined
  return renderCoverageSection(judgeSites(touched, headData, baseData))
}
