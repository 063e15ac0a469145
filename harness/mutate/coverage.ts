// Per-test coverage (vfio-conform coverage's coverage.json, docs/coverage.md) -> which tests can
// kill a mutant. A dropped check changes behaviour only when its condition is true, that is
// only for a test that takes the check's error path on the unmutated kernel; a skipped
// release call only for a test that runs it. So:
//   - error path (or release call) run by no test: "no-test", without a build or a boot;
//   - run by some tests: only those tests run (their suite files, and a name filter).
// Sites whose lines the compiler left no code for, or files the data lacks, fall back to the
// suites of their file (./select.ts).
import { readFile } from 'node:fs/promises'
import { COVERAGE_FORMAT, siteReach, type CoverageData } from '../coverage/data.js'
import { errorSites, type ErrorSite } from '../coverage/sites.js'
import { vitestMatchName } from '../gate/compare.js'
import { UsageError } from '../util/errors.js'
import type { Site } from './sites.js'

export interface SiteTests {
  status: 'reached' | 'not reached' | 'unknown'
  /** Suite names ("legacy-group") of the tests that reach the site. */
  suites: string[]
  /** Their names without the guest key (as in verdicts.json after "<key> > "). */
  tests: string[]
  /** The same per guest they ran on, "topology/iommu" ("default/intel-iommu", "noiommu/none"). */
  byGuest: Record<string, { suites: string[]; tests: string[] }>
  why: string
}

export async function loadCoverage(file: string): Promise<CoverageData> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UsageError(`--coverage ${file}: no such file (vfio-conform coverage writes <results>/coverage/coverage.json)`)
  })
  const data = JSON.parse(text) as CoverageData
  if (data.format !== COVERAGE_FORMAT) throw new UsageError(`--coverage ${file}: not a ${COVERAGE_FORMAT} file (format ${String(data.format)})`)
  return data
}

/**
 * Several coverage runs of one gcov kernel as one (e.g. the main job's and a run of one
 * topology with new tests): tests are concatenated, counts added, each file's test indexes
 * moved by the tests before it. Runs of different kernels do not mix.
 */
export function mergeCoverage(runs: CoverageData[]): CoverageData {
  if (runs.length === 1) return runs[0]!
  const first = runs[0]!
  const out: CoverageData = { ...first, tests: [], files: {} }
  for (const run of runs) {
    if (run.kernel.id !== first.kernel.id || run.kernel.objDir !== first.kernel.objDir) {
      throw new UsageError(`--coverage: the files are of different kernels (${first.kernel.id} in ${first.kernel.objDir}, ${run.kernel.id} in ${run.kernel.objDir})`)
    }
    const base = out.tests.length
    out.tests.push(...run.tests)
    const moved = (ts: number[]) => ts.map((t) => t + base)
    const union = (a: number[], b: number[]) => [...new Set([...a, ...moved(b)])].sort((x, y) => x - y)
    for (const [name, f] of Object.entries(run.files)) {
      const o = (out.files[name] ??= { lines: {}, functions: {}, branches: {} })
      for (const [n, l] of Object.entries(f.lines)) {
        const ol = (o.lines[n] ??= { count: 0, tests: [] })
        ol.count += l.count
        ol.tests = union(ol.tests, l.tests)
      }
      for (const [n, fn] of Object.entries(f.functions)) {
        const of = (o.functions[n] ??= { ...fn, count: 0, tests: [] })
        of.count += fn.count
        of.tests = union(of.tests, fn.tests)
      }
      for (const [n, b] of Object.entries(f.branches)) {
        const ob = (o.branches[n] ??= [])
        b.forEach((c, i) => (ob[i] = (ob[i] ?? 0) + c))
      }
      for (const [n, arcs] of Object.entries(f.branchTests ?? {})) {
        const ot = ((o.branchTests ??= {})[n] ??= [])
        arcs.forEach((ts, i) => (ot[i] = union(ot[i] ?? [], ts)))
      }
    }
  }
  return out
}

/** "debian-source-6.12.118-1-gcov/noiommu/none" -> "noiommu/none" (a test's guest without its kernel). */
export const guestOf = (guest: string) => guest.split('/').slice(-2).join('/')

const ownName = (name: string) => name.replace(/^[^>]*> /, '')
const suiteOf = (file: string) => /suites\/(.+)\.test\.ts$/.exec(file)?.[1]

/** Reach of our sites, matched to the coverage module's error sites by the guard's condition. */
export class CoverageIndex {
  private readonly errorSitesByFile = new Map<string, ErrorSite[]>()

  constructor(
    readonly data: CoverageData,
    private readonly source: (file: string) => Promise<string>,
  ) {}

  private async errorSitesOf(file: string): Promise<ErrorSite[]> {
    let s = this.errorSitesByFile.get(file)
    if (!s) {
      s = errorSites(await this.source(file), file)
      this.errorSitesByFile.set(file, s)
    }
    return s
  }

  private testsOf(indexes: number[]): Pick<SiteTests, 'suites' | 'tests' | 'byGuest'> {
    const ts = indexes.map((i) => this.data.tests[i]).filter((t): t is NonNullable<typeof t> => !!t && !!suiteOf(t.file))
    const names = (of: typeof ts) => ({ suites: [...new Set(of.map((t) => suiteOf(t.file)!))].sort(), tests: [...new Set(of.map((t) => ownName(t.name)))].sort() })
    const guests = [...new Set(ts.map((t) => guestOf(t.guest)))].sort()
    return { ...names(ts), byGuest: Object.fromEntries(guests.map((g) => [g, names(ts.filter((t) => guestOf(t.guest) === g))])) }
  }

  async siteTests(site: Site): Promise<SiteTests> {
    const f = this.data.files[site.file]
    if (!f) return { status: 'unknown', suites: [], tests: [], byGuest: {}, why: 'file not in the coverage data' }
    if (site.kind === 'release') {
      const l = f.lines[site.line]
      if (!l) return { status: 'unknown', suites: [], tests: [], byGuest: {}, why: 'no code on the line' }
      if (l.count === 0) return { status: 'not reached', suites: [], tests: [], byGuest: {}, why: 'the call never runs in the suites (coverage)' }
      return { status: 'reached', ...this.testsOf(l.tests), why: 'tests that run the call' }
    }
    const mine = (await this.errorSitesOf(site.file)).filter((e) => e.guard?.cond.start === site.span[0])
    if (!mine.length) return { status: 'unknown', suites: [], tests: [], byGuest: {}, why: 'no matching error site in the coverage module' }
    const reach = mine.map((e) => siteReach(this.data, e))
    const reached = reach.filter((r) => r.status === 'reached')
    if (reached.length) return { status: 'reached', ...this.testsOf([...new Set(reached.flatMap((r) => r.tests))]), why: 'tests that take the error path' }
    if (reach.some((r) => r.status === 'not reached')) {
      return { status: 'not reached', suites: [], tests: [], byGuest: {}, why: `the error path (-${site.errno ?? '?'}) is never taken in the suites (coverage): dropping the check changes nothing they run` }
    }
    return { status: 'unknown', suites: [], tests: [], byGuest: {}, why: `coverage: ${reach[0]!.status}` }
  }
}

/** A --filter pattern (vitest's testNamePattern) that selects exactly these tests, on any guest. */
export function testsPattern(tests: string[]): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return `(?:${tests.map((t) => esc(vitestMatchName(t))).join('|')})$`
}
