// Kernel coverage of a run, per test: the format of <results>/coverage/coverage.json and
// the pure steps that make it (gcov's JSON in, merged per file out) and read it (which
// tests reach a line, an error-return site).
//
// coverage.json (format "vfio-conform-coverage/1"):
//   {
//     "format": "vfio-conform-coverage/1",
//     "generated": "2026-12-07T04:10:00.000Z",
//     "kernel": { "id": "debian-source:6.12.118-1,gcov", "release": "6.12.118", "tree": "/…/linux-source-6.12",
//                 "objDir": "/…/source-obj/…", "gcov": "gcov-12" },
//     "tests": [ { "name": "(boot)", "file": "", "guest": "…/default/intel-iommu" },
//                { "name": "<guest key> > groups > second open of a group is EBUSY", "file": "suites/groups.test.ts", "guest": "…" }, … ],
//     "files": {
//       "drivers/vfio/group.c": {
//         "lines":     { "<line>": { "count": 12, "tests": [1, 4] }, … },   // every line with code; count 0: not reached
//         "functions": { "<name>": { "line": 70, "endLine": 95, "count": 3, "tests": [4] }, … },
//         "branches":  { "<line>": [3, 0], … },                              // per outcome, as gcov numbers them
//         "branchTests": { "<line>": [[1, 4], []], … }                       // per outcome, the tests that took it
//       }, …
//     }
//   }
// `tests` entries are indexes into "tests". A test's name is its full name as in
// verdicts.json, so it includes the guest; "(boot)" is what a guest's boot and module
// loading reached before its first test. Counts are summed over guests and tests.
// File paths are relative to the kernel tree; only profiled files are listed
// (harness/coverage/profile.ts).
import { isProfiled } from './profile.js'
import type { ErrorSite } from './sites.js'

export const COVERAGE_FORMAT = 'vfio-conform-coverage/1'

export interface CoverageTest {
  name: string
  file: string
  guest: string
}

export interface LineCoverage {
  count: number
  tests: number[]
}

export interface FunctionCoverage {
  line: number
  endLine: number
  count: number
  tests: number[]
}

export interface FileCoverage {
  lines: Record<string, LineCoverage>
  functions: Record<string, FunctionCoverage>
  branches: Record<string, number[]>
  /** Per line, per branch outcome (as in `branches`), the tests that took it. */
  branchTests?: Record<string, number[][]>
}

export interface CoverageData {
  format: typeof COVERAGE_FORMAT
  generated: string
  kernel: { id: string; release: string; tree: string; objDir: string; gcov: string }
  /** The run's command (its run options; no --results, no report options), when recorded. */
  command?: string
  tests: CoverageTest[]
  files: Record<string, FileCoverage>
}

/** One source file as one gcov run saw it (one snapshot). */
export interface GcovFile {
  /** line -> count and branch outcome counts */
  lines: Map<number, { count: number; branches: number[] }>
  functions: Array<{ name: string; line: number; endLine: number; count: number }>
}

/**
 * gcov --json-format --stdout output (one JSON document per .gcda, one per line) -> the
 * profiled source files in it, by path relative to the tree. Headers' inline functions (other
 * "file" entries) are left out: they are not the profiled code.
 */
export function parseGcovJson(stdout: string, tree: string): Map<string, GcovFile> {
  const out = new Map<string, GcovFile>()
  const prefix = tree.endsWith('/') ? tree : tree + '/'
  for (const raw of stdout.split('\n')) {
    const line = raw.trim()
    if (!line.startsWith('{')) continue
    const doc = JSON.parse(line) as {
      files?: Array<{
        file: string
        lines?: Array<{ line_number: number; count: number; branches?: Array<{ count: number }> }>
        functions?: Array<{ name: string; start_line: number; end_line: number; execution_count: number }>
      }>
    }
    for (const f of doc.files ?? []) {
      const rel = f.file.startsWith(prefix) ? f.file.slice(prefix.length) : f.file.replace(/^\.\//, '')
      if (!isProfiled(rel)) continue
      const g: GcovFile = out.get(rel) ?? { lines: new Map(), functions: [] }
      for (const l of f.lines ?? []) {
        const prev = g.lines.get(l.line_number)
        const branches = (l.branches ?? []).map((b) => b.count)
        if (!prev) g.lines.set(l.line_number, { count: l.count, branches })
        else {
          prev.count += l.count
          branches.forEach((c, i) => (prev.branches[i] = (prev.branches[i] ?? 0) + c))
        }
      }
      for (const fn of f.functions ?? []) g.functions.push({ name: fn.name, line: fn.start_line, endLine: fn.end_line, count: fn.execution_count })
      out.set(rel, g)
    }
  }
  return out
}

/** Merges snapshots (each one test's, or a boot's) into CoverageData. */
export class CoverageBuilder {
  private readonly tests: CoverageTest[] = []
  private readonly testIndex = new Map<string, number>()
  private readonly files: Record<string, FileCoverage> = {}

  constructor(private readonly kernel: CoverageData['kernel']) {}

  /** The index of a test (a test run on several guests is one name per guest). */
  test(t: CoverageTest): number {
    const key = `${t.guest}\0${t.name}`
    let i = this.testIndex.get(key)
    if (i === undefined) {
      i = this.tests.push(t) - 1
      this.testIndex.set(key, i)
    }
    return i
  }

  add(test: number, snapshot: Map<string, GcovFile>): void {
    for (const [rel, g] of snapshot) {
      const f = (this.files[rel] ??= { lines: {}, functions: {}, branches: {} })
      for (const [n, l] of g.lines) {
        const lc = (f.lines[n] ??= { count: 0, tests: [] })
        lc.count += l.count
        if (l.count > 0 && lc.tests[lc.tests.length - 1] !== test && !lc.tests.includes(test)) lc.tests.push(test)
        if (l.branches.length) {
          const b = (f.branches[n] ??= [])
          const bt = ((f.branchTests ??= {})[n] ??= [])
          l.branches.forEach((c, i) => {
            b[i] = (b[i] ?? 0) + c
            const ts = (bt[i] ??= [])
            if (c > 0 && !ts.includes(test)) ts.push(test)
          })
        }
      }
      for (const fn of g.functions) {
        const fc = (f.functions[fn.name] ??= { line: fn.line, endLine: fn.endLine, count: 0, tests: [] })
        fc.count += fn.count
        if (fn.count > 0 && !fc.tests.includes(test)) fc.tests.push(test)
      }
    }
  }

  result(generated = new Date()): CoverageData {
    for (const f of Object.values(this.files)) {
      for (const l of Object.values(f.lines)) l.tests.sort((a, b) => a - b)
      for (const arcs of Object.values(f.branchTests ?? {})) for (const ts of arcs) ts.sort((a, b) => a - b)
      for (const fn of Object.values(f.functions)) fn.tests.sort((a, b) => a - b)
    }
    return { format: COVERAGE_FORMAT, generated: generated.toISOString(), kernel: this.kernel, tests: this.tests, files: this.files }
  }
}

// ---------------------------------------------------------------------------------------
// Reading it

export interface SiteReach {
  site: ErrorSite
  /**
   * 'reached': the error path ran; 'not reached': its code ran never; 'no code': the
   * compiler left no line of it (optimised out, or a #if side not built); 'not built': the
   * file is not in the coverage data.
   */
  status: 'reached' | 'not reached' | 'no code' | 'not built'
  count: number
  /** Indexes into CoverageData.tests. */
  tests: number[]
}

/**
 * Lines where a site's error path runs, most precise first: for a check that jumps after
 * storing the errno ('after': the store runs either way) its jump; in a guarded branch, the
 * errno's statement to the branch's end (`ret = -EBUSY;` has no code of its own once
 * compiled: gcov counts the `goto` after it), then the whole branch; else the statement.
 */
export function siteLines(site: ErrorSite): Array<{ from: number; to: number }> {
  const g = site.guard
  if (g && (g.kind === 'after' || site.kind === 'init')) return [{ from: g.body.startLine, to: g.body.endLine }]
  if (g) return [{ from: site.statement.startLine, to: Math.max(site.statement.endLine, g.body.endLine) }, { from: g.body.startLine, to: g.body.endLine }]
  return [{ from: site.statement.startLine, to: site.statement.endLine }]
}

/**
 * The branch outcomes of a guard's condition that lead into its guarded branch, as indexes
 * into the outcomes gcov lists for the condition's lines (in line order). gcc makes each
 * `if` of the gimplified condition one block whose outcomes are [true, false]; `a || b` is
 * two such ifs whose true outcomes both enter the then-branch, `a && b` two whose false
 * outcomes both leave it. Undefined when the shape is not one of those (an odd count, a
 * condition mixing && and ||).
 */
export function guardOutcomes(site: ErrorSite, outcomes: number): number[] | undefined {
  const g = site.guard
  if (!g || outcomes === 0 || outcomes % 2) return undefined
  const conds = outcomes / 2
  const and = /&&/.test(g.text)
  const or = /\|\|/.test(g.text)
  const trues = Array.from({ length: conds }, (_, i) => 2 * i)
  const falses = trues.map((i) => i + 1)
  const then = g.branch === 'then'
  if (conds === 1) return [then ? 0 : 1]
  if (or && !and) return then ? trues : [falses[falses.length - 1]!]
  if (and && !or) return then ? [trues[trues.length - 1]!] : falses
  return undefined
}

/**
 * Was the site's error path run, and by which tests?
 *
 * An error branch seldom has a line of its own once compiled: `return -EBUSY;` or `ret =
 * -EBUSY; goto out;` becomes an edge into the shared exit (the errno a phi there), and gcov
 * gives its `goto` line the exit's count. So a guard with one condition is read from the
 * condition's branch outcomes (checked against the lines on the main job's data: they agree
 * wherever the branch has code of its own); a compound condition from the branch's lines,
 * else from its outcomes (guardOutcomes); a site without a guard from its statement's lines.
 */
export function siteReach(data: CoverageData, site: ErrorSite): SiteReach {
  const f = data.files[site.file]
  if (!f) return { site, status: 'not built', count: 0, tests: [] }
  const g = site.guard
  const counts: number[] = []
  const byTest: number[][] = []
  if (g) {
    for (let n = g.cond.startLine; n <= g.cond.endLine; n++) {
      f.branches[n]?.forEach((c, i) => {
        counts.push(c)
        byTest.push(f.branchTests?.[n]?.[i] ?? [])
      })
    }
  }
  const fromOutcomes = (into: number[]): SiteReach => {
    const count = into.reduce((sum, i) => sum + counts[i]!, 0)
    const tests = [...new Set(into.flatMap((i) => byTest[i]!))].sort((a, b) => a - b)
    return { site, status: count > 0 ? 'reached' : 'not reached', count, tests }
  }
  // A `return -E...;` with code of its own on its line is read from that line (unlike a
  // `goto`, it is not the shared exit's).
  if (site.kind === 'return') {
    const own = linesReach(f, site.statement.startLine, site.statement.endLine)
    if (own) return { site, ...own }
  }
  if (counts.length === 2) return fromOutcomes(oneConditionOutcome(f, site, counts))
  for (const { from, to } of siteLines(site)) {
    const r = linesReach(f, from, to)
    if (r) return { site, ...r }
  }
  // A compound condition whose branch has no line: the branch ran as often as the condition
  // line minus the statement after the `if` (which only the other outcomes reach); its tests
  // are those of the outcomes with no more than that count.
  const entered = enteredCount(f, site)
  if (entered !== undefined && counts.length) {
    if (entered === 0) return { site, status: 'not reached', count: 0, tests: [] }
    const small = counts.map((c, i) => (c > 0 && c <= entered ? i : -1)).filter((i) => i >= 0)
    const tests = [...new Set(small.flatMap((i) => byTest[i]!))].sort((a, b) => a - b)
    return { site, status: 'reached', count: entered, tests }
  }
  const into = guardOutcomes(site, counts.length)
  if (into) return fromOutcomes(into)
  return { site, status: 'no code', count: 0, tests: [] }
}

/** Reach from the lines [from, to] that have code: the highest count, every test; undefined when none has. */
function linesReach(f: FileCoverage, from: number, to: number): Omit<SiteReach, 'site'> | undefined {
  let seen = false
  let count = 0
  const tests = new Set<number>()
  for (let n = from; n <= to; n++) {
    const l = f.lines[n]
    if (!l) continue
    seen = true
    count = Math.max(count, l.count)
    for (const t of l.tests) tests.add(t)
  }
  return seen ? { status: count > 0 ? 'reached' : 'not reached', count, tests: [...tests].sort((a, b) => a - b) } : undefined
}

/** For a then-branch that leaves: the condition line's count minus the next statement's (undefined when either has no code). */
function enteredCount(f: FileCoverage, site: ErrorSite): number | undefined {
  const g = site.guard
  if (!g || g.branch !== 'then') return undefined
  const cond = f.lines[g.cond.startLine]?.count
  let next: number | undefined
  for (let n = g.stmt.endLine + 1; n <= g.stmt.endLine + 12 && next === undefined; n++) next = f.lines[n]?.count
  if (cond === undefined || next === undefined || next > cond) return undefined
  return cond - next
}

/**
 * The outcome of a one-condition guard that enters its branch: gcc lists an `if`'s outcomes
 * as [true, false], but not for every condition (a check_add_overflow() is [false, true]).
 * When the branch leaves (returns or jumps), the statement after the `if` runs exactly as
 * often as the other outcome: the outcome whose count differs from it is the branch's.
 */
function oneConditionOutcome(f: FileCoverage, site: ErrorSite, counts: number[]): number[] {
  const byOrder = guardOutcomes(site, 2)!
  const g = site.guard!
  if (g.branch !== 'then') return byOrder
  let next: number | undefined
  for (let n = g.stmt.endLine + 1; n <= g.stmt.endLine + 12 && next === undefined; n++) next = f.lines[n]?.count
  const [a, b] = counts as [number, number]
  if (next === undefined || a === b) return byOrder
  if (next === b && next !== a) return [0]
  if (next === a && next !== b) return [1]
  return byOrder
}

/** Tests (indexes) that reach a line of a file. */
export function testsReaching(data: CoverageData, file: string, line: number): number[] {
  return data.files[file]?.lines[line]?.tests ?? []
}

export interface CoverageTotals {
  lines: { hit: number; total: number }
  functions: { hit: number; total: number }
  branches: { hit: number; total: number }
  sites: { hit: number; total: number }
}

/** Totals of one file (sites: the file's error-return sites with code). */
export function fileTotals(f: FileCoverage | undefined, reach: SiteReach[]): CoverageTotals {
  const lines = Object.values(f?.lines ?? {})
  const fns = Object.values(f?.functions ?? {})
  const br = Object.values(f?.branches ?? {}).flat()
  const sites = reach.filter((r) => r.status === 'reached' || r.status === 'not reached')
  return {
    lines: { hit: lines.filter((l) => l.count > 0).length, total: lines.length },
    functions: { hit: fns.filter((x) => x.count > 0).length, total: fns.length },
    branches: { hit: br.filter((c) => c > 0).length, total: br.length },
    sites: { hit: sites.filter((r) => r.status === 'reached').length, total: sites.length },
  }
}

export function addTotals(a: CoverageTotals, b: CoverageTotals): CoverageTotals {
  const s = (x: { hit: number; total: number }, y: { hit: number; total: number }) => ({ hit: x.hit + y.hit, total: x.total + y.total })
  return { lines: s(a.lines, b.lines), functions: s(a.functions, b.functions), branches: s(a.branches, b.branches), sites: s(a.sites, b.sites) }
}

export const ZERO_TOTALS: CoverageTotals = { lines: { hit: 0, total: 0 }, functions: { hit: 0, total: 0 }, branches: { hit: 0, total: 0 }, sites: { hit: 0, total: 0 } }

export function pct(x: { hit: number; total: number }): string {
  return x.total ? `${((100 * x.hit) / x.total).toFixed(1)}%` : '-'
}
