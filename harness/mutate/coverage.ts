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

  private testsOf(indexes: number[]): { suites: string[]; tests: string[] } {
    const ts = indexes.map((i) => this.data.tests[i]).filter((t): t is NonNullable<typeof t> => !!t && !!suiteOf(t.file))
    return { suites: [...new Set(ts.map((t) => suiteOf(t.file)!))].sort(), tests: [...new Set(ts.map((t) => ownName(t.name)))].sort() }
  }

  async siteTests(site: Site): Promise<SiteTests> {
    const f = this.data.files[site.file]
    if (!f) return { status: 'unknown', suites: [], tests: [], why: 'file not in the coverage data' }
    if (site.kind === 'release') {
      const l = f.lines[site.line]
      if (!l) return { status: 'unknown', suites: [], tests: [], why: 'no code on the line' }
      if (l.count === 0) return { status: 'not reached', suites: [], tests: [], why: 'the call never runs in the suites (coverage)' }
      return { status: 'reached', ...this.testsOf(l.tests), why: 'tests that run the call' }
    }
    const mine = (await this.errorSitesOf(site.file)).filter((e) => e.guard?.cond.start === site.span[0])
    if (!mine.length) return { status: 'unknown', suites: [], tests: [], why: 'no matching error site in the coverage module' }
    const reach = mine.map((e) => siteReach(this.data, e))
    const reached = reach.filter((r) => r.status === 'reached')
    if (reached.length) return { status: 'reached', ...this.testsOf([...new Set(reached.flatMap((r) => r.tests))]), why: 'tests that take the error path' }
    if (reach.some((r) => r.status === 'not reached')) {
      return { status: 'not reached', suites: [], tests: [], why: `the error path (-${site.errno ?? '?'}) is never taken in the suites (coverage): dropping the check changes nothing they run` }
    }
    return { status: 'unknown', suites: [], tests: [], why: `coverage: ${reach[0]!.status}` }
  }
}

/** A --filter pattern (vitest's testNamePattern) that selects exactly these tests, on any guest. */
export function testsPattern(tests: string[]): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return `(?:${tests.map((t) => esc(vitestMatchName(t))).join('|')})$`
}
