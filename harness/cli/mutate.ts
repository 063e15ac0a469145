// `vfio-conform mutate`: the generated mutation sweep (harness/mutate/).
import { writeFile, mkdir, readFile } from 'node:fs/promises'
import { CoverageIndex, loadCoverage, mergeCoverage } from '../mutate/coverage.js'
import path from 'node:path'
import { constants } from 'node:os'
import { ensureBuildPackages, ensureHostPackages } from '../host/packages.js'
import { qemuInfo } from '../qemu/qemu-spec.js'
import { EXIT } from '../report/verdict.js'
import { UsageError } from '../util/errors.js'
import { commandSpec, kernelOption, opt, parseOptions } from './options.js'
import { progress } from '../util/log.js'
import { MAIN_JOB_KERNELS } from '../kernel/resolve.js'
import { IOMMU_MODELS } from '../../guests/viommus/index.js'
import { CORE_FILES, DEFAULT_SAMPLES, NOT_PRODUCT, fileGlobs, mainGuest, parseSampleSpec, sample, siteMatches } from '../mutate/select.js'
import { cachedResult, listCFiles, sitesOf, sweep, type MutantResult, type SweepMode } from '../mutate/sweep.js'
import { openWorkspace, prepareWorkspace, withWorkspaceLock, type Workspace } from '../mutate/workspace.js'
import { parseExplanations, renderReport, resultLine } from '../mutate/report.js'
import { fileURLToPath } from 'node:url'

/** Survivors explained from the kernel source (equivalent, unreachable): counted apart in the score. */
export const EXPLAINED_SURVIVORS = fileURLToPath(new URL('../../ci/mutations/explained-survivors.yaml', import.meta.url))
import { recordMeasurement } from '../report/measurements-file.js'
import type { Site } from '../mutate/sites.js'
import type { Mutant } from '../mutate/mutants.js'

export const MUTATE_HELP = `  vfio-conform mutate [--kernel SPEC] [--sites GLOB]... [--sample GLOB=N]... [--seed S]
                      [--budget MIN] [--coverage FILE]... [--mode schemata|patch] [--fresh]
                      [--rerun-survivors] [--rerun GLOB]... [--iommu MODEL] [--list] [--report-only]
                      [--report FILE] [--record]
      The generated mutation sweep: one mutant per enforcement site of the kernel source (a
      check that returns an errno dropped, or a release/unblock/uncharge skipped), compiled
      into a private copy of the tree, booted on one intel-iommu guest with the tests that
      reach the site (sites only the noiommu topology's tests reach: on its guest); prints killed / killed by crash / survived / no-test / unbuildable per
      file and the survivors. Results are cached per kernel and mutant: the same command
      again continues where the last one stopped. Default kernel ${MAIN_JOB_KERNELS[0]};
      default sites: all of ${CORE_FILES.map((f) => path.basename(f)).join(', ')},
      and a seeded sample: ${DEFAULT_SAMPLES.join(', ')}.
      --sites GLOB        files or sites: drivers/vfio/group.c, 'drivers/vfio/*.c', drivers/vfio/group.c:417
      --sample GLOB=N     N sites of the files matching GLOB, chosen with --seed S (default 1)
      --budget MIN        start no mutant that would end after MIN minutes, then stop cleanly
      --coverage FILE     a coverage.json of the same kernel (vfio-conform coverage): a site whose
                          error path no test takes is no-test without a boot; the others run only
                          the tests that take it, on the guest they ran on (else: the suites of the
                          site's file); given twice or more, the runs are merged (the main job's and
                          a run of one topology with new tests)
      --mode schemata     (default) every mutant in one kernel, vfio_conform_mutant=N at boot
                          turns mutant N on; one build for the sweep
      --mode patch        one incremental build per mutant (make rebuilds the mutated file)
      --rerun-survivors   run the survivors again (after new tests); --fresh: ignore the cache
      --rerun GLOB        run the sites matching GLOB again whatever their cached result (a result
                          the sweep has since learnt to decide differently)
      --iommu MODEL       the main guest's vIOMMU (default intel-iommu): for sites only a model's
                          tests reach (virtio-iommu has no domain_alloc_user); results stay per site
      --list              the sites and their mutants, nothing built
      --report FILE, --record   the score as Markdown to FILE / into docs/measurements.md
      --report-only       the score from the cache, nothing run`

/** The sites of a selection: globs (all their sites) plus seeded samples. */
async function selectTargets(ws: Workspace, globs: string[], samples: string[], seed: number): Promise<Array<{ site: Site; mutant: Mutant }>> {
  const all = (await listCFiles(ws.pristine, ['drivers/vfio', 'drivers/iommu/iommufd'])).filter((f) => !NOT_PRODUCT.includes(f))
  const wanted = new Set<string>()
  const fileRes = fileGlobs([...globs, ...samples.map((s) => parseSampleSpec(s).glob)])
  const files = all.filter((f) => fileRes.some((re) => re.test(f)))
  for (const g of [...globs, ...samples.map((s) => parseSampleSpec(s).glob)]) {
    if (!all.some((f) => fileGlobs([g])[0]!.test(f))) throw new UsageError(`--sites/--sample ${g}: matches no C file under drivers/vfio or drivers/iommu/iommufd of ${ws.kernelId}`)
  }
  const candidates = await sitesOf(ws, files)
  const out: Array<{ site: Site; mutant: Mutant }> = []
  for (const c of candidates) if (globs.some((g) => siteMatches(c.site, g))) wanted.add(c.site.id)
  for (const spec of samples) {
    const { glob, n } = parseSampleSpec(spec)
    const pool = candidates.filter((c) => siteMatches(c.site, glob) && !wanted.has(c.site.id))
    for (const c of sample(pool, n, seed)) wanted.add(c.site.id)
  }
  for (const c of candidates) if (wanted.has(c.site.id)) out.push(c)
  return out
}

export const MUTATE_SPEC = commandSpec('mutate', {
  kernel: kernelOption(),
  sites: opt.many(opt.text('a glob of kernel C files, matched against the tree (no match: exit 2 before a build)')),
  sample: opt.many(opt.text('GLOB=N, checked by parseSampleSpec before anything runs')),
  seed: opt.int(-(2 ** 31), 2 ** 31 - 1),
  budget: opt.number(0.1, 100_000),
  fresh: opt.flag(),
  'rerun-survivors': opt.flag(),
  rerun: opt.many(opt.text('a site or file glob, as --sites')),
  iommu: opt.enumOf(() => IOMMU_MODELS.filter((m) => m !== 'none')),
  mode: opt.enumOf(() => ['schemata', 'patch']),
  coverage: opt.many(opt.path()),
  list: opt.flag(),
  'report-only': opt.flag(),
  report: opt.path(),
  record: opt.flag(),
})

export async function mutateCommand(args: string[]): Promise<number> {
  const { values } = parseOptions(MUTATE_SPEC, args)
  const spec = values.kernel ?? MAIN_JOB_KERNELS[0]!
  if (!/^(debian-source|source):/.test(spec)) throw new UsageError(`mutate --kernel ${spec}: the sweep mutates a kernel source tree: use debian-source:... or source:...`)
  const budget = values.budget
  const seed = values.seed ?? 1
  for (const s of values.sample ?? []) {
    try {
      parseSampleSpec(s)
    } catch (e) {
      throw new UsageError((e as Error).message)
    }
  }
  const mode = (values.mode ?? 'schemata') as SweepMode
  const explicit = !!(values.sites?.length || values.sample?.length)
  const globs = explicit ? (values.sites ?? []) : CORE_FILES
  const samples = explicit ? (values.sample ?? []) : DEFAULT_SAMPLES

  const ws = await openWorkspace(spec)
  const coverage = values.coverage?.length
    ? new CoverageIndex(mergeCoverage(await Promise.all(values.coverage.map(loadCoverage))), (f) => readFile(path.join(ws.pristine, f), 'utf8'))
    : undefined
  const targets = await selectTargets(ws, globs, samples, seed)
  if (!targets.length) throw new UsageError(`no enforcement site matches ${[...globs, ...samples].join(' ')}`)

  if (values.list) {
    for (const { site, mutant } of targets) {
      console.log(`${site.id}\t${site.func}\t${site.kind}${site.errno ? ' -' + site.errno : ''}${site.staticReason ? ' [' + site.staticReason + ']' : ''}\t${mutant.after.replace(/\s+/g, ' ').trim()}`)
    }
    console.log(`${targets.length} sites`)
    return EXIT.ok
  }

  const report = async (results: Map<string, MutantResult>) => {
    const title = `Mutation sweep of ${ws.kernelId} (${new Date().toISOString().slice(0, 10)}; ${targets.length} sites)`
    const explained = parseExplanations(await readFile(EXPLAINED_SURVIVORS, 'utf8'))
    const text = renderReport(targets.map((t) => t.site), results, { title, explained })
    console.log('\n' + text)
    if (values.report) {
      await mkdir(path.dirname(path.resolve(values.report)), { recursive: true })
      await writeFile(values.report, text)
    }
    if (values.record) {
      const command = ['vfio-conform mutate', ...args.filter((a) => a !== '--record' && a !== '--report-only')].join(' ')
      const file = await recordMeasurement({ id: 'mutate', title: 'Mutation sweep of the main job\'s kernel', command, lines: text.trimEnd().split('\n') })
      progress(`mutate: score written to ${file}`)
    }
  }
  const cachedMap = async () => {
    const m = new Map<string, MutantResult>()
    for (const t of targets) {
      const r = await cachedResult(ws, t.mutant.key)
      if (r) m.set(t.site.id, r)
    }
    return m
  }
  if (values['report-only']) {
    await report(await cachedMap())
    return EXIT.ok
  }

  await ensureHostPackages()
  await ensureBuildPackages()
  await qemuInfo()
  const ac = new AbortController()
  let signalCode = 0
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalCode) return
    signalCode = 128 + constants.signals[sig]
    console.error(`vfio-conform mutate: ${sig}: stopping the current mutant (its guest and build), putting the file back`)
    ac.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  return withWorkspaceLock(ws, async () => {
    await prepareWorkspace(ws, ac.signal)
    const done = (await cachedMap()).size
    progress(`mutate: ${targets.length} sites of ${ws.kernelId} (${done} cached); workspace ${ws.dir}${budget ? `; budget ${budget} min` : ''}`)
    const t0 = Date.now()
    const summary = await sweep({
      ws,
      targets,
      budgetMs: budget === undefined ? undefined : budget * 60_000,
      fresh: !!values.fresh,
      rerunSurvivors: !!values['rerun-survivors'],
      main: mainGuest(values.iommu),
      rerun: values.rerun?.length ? (site) => values.rerun!.some((g) => siteMatches(site, g)) : undefined,
      coverage,
      // The files every site of which is asked for before the sampled ones.
      first: (site) => globs.some((g) => siteMatches(site, g)),
      mode,
      signal: ac.signal,
      log: (m) => progress(`mutate: ${m}`),
      onResult: (r, i, cached) => {
        if (!cached) progress(`mutate: ${resultLine(r, i, targets.length, cached)}`)
      },
    })
    await report(await cachedMap())
    const mins = ((Date.now() - t0) / 60_000).toFixed(1)
    if (summary.stoppedBy === 'budget') console.log(`stopped by --budget after ${mins} min: ${summary.remaining} sites not run yet; run the same command again to continue`)
    else if (summary.stoppedBy === 'signal') console.log(`stopped by a signal after ${mins} min: ${summary.remaining} sites not run yet; run the same command again to continue`)
    else console.log(`all ${targets.length} sites have a result (${mins} min this run)`)
    return signalCode || EXIT.ok
  })
}

