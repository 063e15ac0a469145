// `vfio-conform coverage [run options]`: the run on the coverage variant of its kernel
// (`,gcov`: harness/coverage/profile.ts), the guests' gcov counters per test merged into
// coverage.json, and the report: per file and per function, lines, branches and error
// returns reached (by which tests), printed and as HTML.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { exists } from '../util/cache.js'
import { UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { MAIN_JOB_KERNELS, splitKernelEntry } from '../kernel/resolve.js'
import { MAIN_JOB_MODEL_RUNS } from '../model/run.js'
import { buildCoverage, gcovKernelOf, readCoverage } from '../coverage/gcov.js'
import { coverageReport, pageName, renderHtmlFile, renderHtmlIndex, renderText, type CoverageReport } from '../coverage/report.js'
import type { CoverageData } from '../coverage/data.js'
import { EXIT } from '../report/verdict.js'
import { commandSpec, opt, parseOptions } from './options.js'
import { RUN_OPTIONS } from './run-options.js'
import { recordMeasurement } from '../report/measurements-file.js'
import { unexplained, unreachedFile } from '../coverage/unreached.js'
import { renderRuleTable } from '../coverage/rule-table.js'
import type { Registries } from '../registries.js'

export const COVERAGE_HELP = `  vfio-conform coverage [--from DIR] [--functions] [--sites] [--unreached FILE] [--rule-table FILE]
                        [--record] [run options]
      Kernel coverage of the suites: runs them (run options as for run; default kernel
      ${MAIN_JOB_KERNELS.join(' ')}) on the coverage variant of the kernel (",gcov": gcov for
      drivers/vfio/{,pci,mdev}, drivers/iommu/iommufd and drivers/iommu/iommu.c), takes each
      guest's counters per test, merges them with the host's gcov into
      <results>/coverage/coverage.json (docs/coverage.md), prints per file (--functions: and
      per function) lines, branches, functions and error returns reached (--sites: each error
      return, and the tests that reach it), and writes <results>/coverage/report.txt and
      html/index.html. --from DIR: report an earlier coverage run's results without running.
      --unreached FILE: write the error returns no test reaches, each with a reason (the
      reasons already in FILE are kept; ci/coverage/unreached.yaml is the main job's).
      --rule-table FILE: write the rule x path table (suites/rule-paths.ts filled with the
      tests that reach each path's check; docs/rule-paths.md is the main job's).
      --record: write the per-file figures into docs/measurements.md (section "coverage").
      Exit: the run's (0, 1, 125); 2 bad usage.`

/** "debian-source:stable@intel-iommu" -> "debian-source:stable,gcov@intel-iommu". Exported for unit tests. */
export function gcovSpec(entry: string): string {
  const { spec, iommus } = splitKernelEntry(entry)
  if (!/^(source|debian-source):/.test(spec)) {
    throw new UsageError(`coverage needs a kernel built from source (source:<dir> or debian-source:<version|suite>), not "${spec}": only a build can be profiled`)
  }
  const withGcov = spec.split(',').includes('gcov') ? spec : `${spec},gcov`
  return withGcov + (iommus ? '@' + iommus.join('+') : '')
}

/** Runs the suites as `run` does; `model` overrides the ownership model's budget (the main job's share without --kernel). */
type RunFn = (args: string[], registries: Registries, model?: { runs?: number }) => Promise<number>

const { matrix: _m, repeat: _r, 'repeat-boot': _rb, 'allow-flaky': _af, ...RUN_OPTIONS_FOR_COVERAGE } = RUN_OPTIONS
export const COVERAGE_SPEC = commandSpec('coverage', {
  ...RUN_OPTIONS_FOR_COVERAGE,
  from: opt.path(),
  functions: opt.flag(),
  sites: opt.flag(),
  unreached: opt.path(),
  'rule-table': opt.path(),
  record: opt.flag(),
})

export async function coverageCommand(args: string[], registries: Registries, run: RunFn): Promise<number> {
  // Every value checked before anything runs; the run's options then go to run as given.
  parseOptions(COVERAGE_SPEC, args)
  const rest: string[] = []
  let from: string | undefined
  const opts = { functions: false, sites: false }
  let unreached: string | undefined
  let ruleTable: string | undefined
  let record = false
  const kernels: string[] = []
  let results: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i]
      if (v === undefined || v === '') throw new UsageError(`coverage: ${a.split('=')[0]} needs a value`)
      return v
    }
    if (a === '--from' || a.startsWith('--from=')) from = value()
    else if (a === '--functions') opts.functions = true
    else if (a === '--sites') opts.sites = true
    else if (a === '--record') record = true
    else if (a === '--unreached' || a.startsWith('--unreached=')) unreached = value()
    else if (a === '--rule-table' || a.startsWith('--rule-table=')) ruleTable = value()
    else if (a === '--kernel' || a.startsWith('--kernel=')) kernels.push(value())
    else if (a === '--results' || a.startsWith('--results=')) results = value()
    else rest.push(a)
  }
  if (from && (kernels.length || rest.length)) throw new UsageError('coverage: --from reports an earlier run; it takes no run options')
  let runDir: string
  let code: number = EXIT.ok
  const t0 = Date.now()
  if (from) {
    runDir = path.resolve(from)
    if (!(await exists(runDir))) throw new UsageError(`coverage: --from ${from}: no such directory`)
  } else {
    const specs = (kernels.length ? kernels : MAIN_JOB_KERNELS).map(gcovSpec)
    if (specs.length !== 1) throw new UsageError('coverage: one --kernel at a time (the counters of two kernels do not add up)')
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    runDir = path.resolve(results ?? path.join('vfio-conform-results', `coverage-${stamp}`))
    // Without --kernel this is the main job's run, with the main job's model budget.
    code = await run([...rest, '--kernel', specs[0]!, '--results', runDir], registries, kernels.length ? {} : { runs: MAIN_JOB_MODEL_RUNS })
  }
  // The run's own command, for the files made from it (also when reported again with --from).
  const runCommand = ['vfio-conform coverage', ...rest, ...kernels.flatMap((k) => ['--kernel', k])].join(' ')
  const data = (await exists(path.join(runDir, 'coverage', 'coverage.json'))) && from
    ? await readCoverage(runDir)
    : await buildCoverage(runDir, await gcovKernelOf(runDir), from ? undefined : runCommand)
  const madeBy = (option: string) => `${data.command ?? `vfio-conform coverage --from ${from ?? runDir}`} ${option}`.trim()
  const rep = await reportFor(data)
  const text = renderText(rep, opts)
  console.log(text)
  if (record) {
    const wall = from ? '' : `; run and merge ${Math.round((Date.now() - t0) / 60_000)} min`
    const lines = [...renderText(rep).split('\n'), '', `${new Set(data.tests.map((t) => t.guest)).size} guests, ${data.tests.filter((t) => t.name !== '(boot)').length} tests with a snapshot${wall}`]
    const file = await recordMeasurement({ id: 'coverage', title: "Kernel coverage of the main job's suites (lines, branches, functions, error returns reached)", command: madeBy('--record'), lines, date: new Date(data.generated) })
    console.error(`coverage: figures written to ${path.relative(process.cwd(), file) || file}`)
  }
  const out = await writeReport(runDir, rep)
  console.log(`coverage data and report: ${path.join(runDir, 'coverage')} (${path.relative(process.cwd(), out) || out})`)
  if (unreached) {
    const file = path.resolve(unreached)
    const previous = await readFile(file, 'utf8').catch(() => undefined)
    const command = madeBy(`--unreached ${path.relative(process.cwd(), file)}`)
    const text = unreachedFile(rep.files.flatMap((f) => f.sites), { kernel: `${data.kernel.id} (${data.kernel.release})`, command, date: data.generated.slice(0, 10) }, previous)
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, text)
    console.log(`unreached error returns: ${file}`)
    const todo = unexplained(text)
    if (todo.length) {
      console.error(`coverage: ${todo.length} unreached error return${todo.length === 1 ? '' : 's'} in ${path.relative(process.cwd(), file) || file} without a reason (class unclassified or reason TODO); write one for each (the unit test on ci/coverage/unreached.yaml fails until then):`)
      for (const e of todo.slice(0, 20)) console.error(`  ${e.site} (line ${e.line}): ${e.check}`)
      if (todo.length > 20) console.error(`  ... and ${todo.length - 20} more`)
    }
  }
  if (ruleTable) {
    const file = path.resolve(ruleTable)
    const sources = new Map<string, string>()
    for (const f of Object.keys(data.files)) {
      const t = await readFile(path.join(data.kernel.tree, f), 'utf8').catch(() => undefined)
      if (t !== undefined) sources.set(f, t)
    }
    const command = madeBy(`--rule-table ${path.relative(process.cwd(), file)}`)
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, renderRuleTable(registries.pathRules.rules, registries.pathRules.paths, data, sources, { command, date: data.generated.slice(0, 10) }))
    console.log(`rule x path table: ${file}`)
  }
  return code
}

/** The report, with the profiled sources read from the kernel's tree. */
export async function reportFor(data: CoverageData): Promise<CoverageReport> {
  const sources = new Map<string, string>()
  const files = new Set(Object.keys(data.files))
  for (const f of files) {
    if (!f.endsWith('.c')) continue
    const text = await readFile(path.join(data.kernel.tree, f), 'utf8').catch(() => undefined)
    if (text !== undefined) sources.set(f, text)
    else progress(`coverage: ${f} is not in ${data.kernel.tree} any more: left out of the report`)
  }
  return coverageReport(data, sources)
}

async function writeReport(runDir: string, rep: CoverageReport): Promise<string> {
  const dir = path.join(runDir, 'coverage')
  await mkdir(path.join(dir, 'html'), { recursive: true })
  await writeFile(path.join(dir, 'report.txt'), renderText(rep, { functions: true, sites: true }) + '\n')
  await writeFile(path.join(dir, 'html', 'index.html'), renderHtmlIndex(rep))
  for (const f of rep.files) {
    const text = await readFile(path.join(rep.data.kernel.tree, f.file), 'utf8')
    await writeFile(path.join(dir, 'html', pageName(f.file)), renderHtmlFile(rep, f, text))
  }
  return path.join(dir, 'html', 'index.html')
}
