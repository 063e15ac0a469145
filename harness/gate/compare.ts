// The pure parts of `vfio-conform gate` and `vfio-conform bisect-run`: which verdicts a
// --test selection covers, and how two runs of the same selection (base, and base + a
// patch series) differ. No I/O here; harness/cli/gate.ts and bisect-run.ts do the rest.
import type { TestVerdict, Verdict } from '../report/verdict.js'
import { flakyWhy, roundsText } from './confirm.js'
import { testId, type GateComparison, type TestChange } from './test-change.js'

export { testId, type Confirmation, type GateComparison, type TestChange } from './test-change.js'

// ---------------------------------------------------------------------------------------
// Selection

/**
 * The one pattern `vfio-conform run --filter` takes (vitest's testNamePattern is a single
 * RegExp) for several --test patterns: a test is selected when any of them matches.
 */
export function selectionPattern(tests: readonly string[]): string | undefined {
  if (!tests.length) return undefined
  return tests.length === 1 ? tests[0] : tests.map((t) => `(?:${t})`).join('|')
}

/** The name vitest matches testNamePattern against: describe and test names joined by one space. */
export function vitestMatchName(verdictName: string): string {
  return verdictName.split(' > ').join(' ')
}

/**
 * The verdicts a selection covers. vitest reports tests that testNamePattern left out as
 * skipped ("skipped", no reason of their own), so a run's verdicts.json lists them too:
 * they must not count as SKIPs of the selection.
 */
export function selectedVerdicts(verdicts: readonly TestVerdict[], select: RegExp | undefined): TestVerdict[] {
  return select ? verdicts.filter((v) => select.test(vitestMatchName(v.name))) : [...verdicts]
}

// ---------------------------------------------------------------------------------------
// Test identity across runs (testId: test-change.ts)

/** A FAIL caused by a kernel splat: the fixture says so in the reason; boot splats fail their own test. */
export function isSplatFailure(v: TestVerdict | undefined): boolean {
  if (!v || v.verdict !== 'FAIL') return false
  return (v.reason ?? '').includes('kernel splat') || /boot is free of kernel splats/.test(v.name)
}

// Two tests of one name in one run (vitest allows it) compare by the worse verdict.
const SEVERITY: Record<Verdict, number> = { FAIL: 5, FLAKY: 5, XPASS: 4, ERROR: 3, XFAIL: 2, PASS: 1, SKIP: 0 }

function byTestId(verdicts: readonly TestVerdict[]): Map<string, TestVerdict> {
  const out = new Map<string, TestVerdict>()
  for (const v of verdicts) {
    const id = testId(v.name)
    const had = out.get(id)
    if (!had || SEVERITY[v.verdict] > SEVERITY[had.verdict]) out.set(id, v)
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Comparison

/** One side of a gate: the selected verdicts of a run, or why there is no run to compare. */
export interface RunSide {
  verdicts: TestVerdict[]
  /** Run-level errors (a suite file that did not load, an unhandled error): tests may be missing. */
  runErrors: string[]
  /** Set when this side has no usable run at all (build failed, the run wrote no verdicts). */
  unavailable?: string
}

const failing = (v: Verdict) => v === 'FAIL'

/**
 * Compare the same selection on base and head, test by test. XPASS is a FAIL of the run
 * (a stale known issue), but base XFAIL -> head XPASS is the series fixing a known
 * divergence, so it is listed as fixed, not as a failure.
 */
export function compareRuns(base: RunSide, head: RunSide): GateComparison {
  const c: GateComparison = {
    newFailures: [],
    newSplats: [],
    fixed: [],
    newSkips: [],
    undetermined: [],
    otherChanges: [],
    unchanged: [],
    onlyBase: [],
    onlyHead: [],
    blocking: [],
    flaky: [],
  }
  if (head.unavailable) c.blocking.push(`head: ${head.unavailable}`)
  if (!head.unavailable && !head.verdicts.length) c.blocking.push('head: no selected test in the run')
  // Missing head tests could be the ones that regress: no verdict without them.
  for (const e of head.runErrors) c.blocking.push(`head: run error: ${e.split('\n')[0]}`)
  const baseComplete = !base.unavailable && !base.runErrors.length

  const b = base.unavailable ? new Map<string, TestVerdict>() : byTestId(base.verdicts)
  const h = head.unavailable ? new Map<string, TestVerdict>() : byTestId(head.verdicts)

  for (const [id, hv] of h) {
    const bv = b.get(id)
    const change: TestChange = { test: id, base: bv, head: hv }
    if (!bv) {
      c.onlyHead.push(change)
      if (hv.verdict === 'ERROR') c.undetermined.push(change)
      else if (failing(hv.verdict)) (baseComplete ? c.newFailures : c.undetermined).push(change)
      if (isSplatFailure(hv) && baseComplete) c.newSplats.push(change)
      continue
    }
    if (isSplatFailure(hv) && !isSplatFailure(bv) && bv.verdict !== 'ERROR') c.newSplats.push(change)
    if (hv.verdict === bv.verdict) {
      c.unchanged.push(change)
      continue
    }
    if (hv.verdict === 'ERROR') c.undetermined.push(change)
    else if (failing(hv.verdict)) (bv.verdict === 'ERROR' ? c.undetermined : c.newFailures).push(change)
    else if ((bv.verdict === 'FAIL' && hv.verdict === 'PASS') || (bv.verdict === 'XFAIL' && hv.verdict === 'XPASS')) c.fixed.push(change)
    else if (hv.verdict === 'SKIP') c.newSkips.push(change)
    else c.otherChanges.push(change)
  }
  for (const [id, bv] of b) if (!h.has(id) && !head.unavailable) c.onlyBase.push({ test: id, base: bv })
  return c
}

/**
 * The gate's exit code: 1 when head has a new failure or a new splat (whatever else went
 * wrong: those are certain); else 125 when something kept a test of head from being judged
 * (a head ERROR, a head FAIL without a base verdict, a head that did not build or run);
 * else 0. A base that did not build or run does not block by itself: a head without FAIL
 * or ERROR cannot have regressed.
 */
export function gateExitCode(c: GateComparison): 0 | 1 | 125 {
  if (c.newFailures.length || c.newSplats.length) return 1
  if (c.blocking.length || c.undetermined.length) return 125
  return 0
}

/** "PASS -> FAIL" / "(absent) -> FAIL": a change's verdicts. */
export function verdictArrow(ch: TestChange): string {
  return `${ch.base?.verdict ?? '(absent)'} -> ${ch.head?.verdict ?? '(absent)'}`
}

// ---------------------------------------------------------------------------------------
// The report (markdown: printed, and written as gate.md)

export interface GateSideInfo {
  /** "v6.12 (0123456789ab)" */
  revision: string
  /** Kernel release, when it built. */
  release?: string
  /** true: built now; false: from the cache. */
  built?: boolean
  buildSeconds?: number
  runSeconds?: number
  resultsDir?: string
}

export interface GateReportMeta {
  tree: string
  worktree: string
  series: string
  subjects: string[]
  selection?: string
  topologies: string[]
  iommus: string[]
  base: GateSideInfo
  head: GateSideInfo
}

const reasonOf = (v: TestVerdict | undefined) => (v?.reason ? ` — ${v.reason.split('\n')[0]!.slice(0, 200)}` : '')

export function gateResultLine(c: GateComparison, code: number): string {
  if (code === 1) return `**Result: NEW FAILURES (exit 1)**: ${c.newFailures.length} new failure(s), ${c.newSplats.length} new kernel splat(s) on head`
  if (code === 125) {
    const why = [...c.blocking, ...(c.undetermined.length ? [`${c.undetermined.length} head test(s) cannot be compared (ERROR)`] : [])]
    return `**Result: ERROR (exit 125)**: ${why.join('; ')}`
  }
  return `**Result: OK (exit 0)**: no new failure on head${c.flaky.length ? ` (${c.flaky.length} flaky test(s) not blamed, see below)` : ''}`
}

export function renderGateReport(c: GateComparison, meta: GateReportMeta): string {
  const code = gateExitCode(c)
  const out: string[] = []
  const side = (name: string, s: GateSideInfo) => {
    const kernel = s.release ? `kernel ${s.release} (${s.built ? `built in ${s.buildSeconds ?? '?'} s` : 'from the cache'})` : 'no kernel'
    const run = s.runSeconds !== undefined ? `, boot + tests ${s.runSeconds} s` : ''
    const dir = s.resultsDir ? `; results ${s.resultsDir}` : ''
    out.push(`- ${name}: ${s.revision}: ${kernel}${run}${dir}`)
  }
  out.push('# vfio-conform gate', '')
  out.push(`- tree: ${meta.tree} (worktree ${meta.worktree})`)
  out.push(`- series: ${meta.series} (${meta.subjects.length} patch${meta.subjects.length === 1 ? '' : 'es'})`)
  meta.subjects.forEach((s, i) => out.push(`  ${i + 1}. ${s}`))
  side('base', meta.base)
  side('head', meta.head)
  out.push(
    `- selection: ${meta.selection ? `/${meta.selection}/` : 'every test'}; topology ${meta.topologies.join(', ') || 'default set'}; vIOMMU ${meta.iommus.join(', ') || "the topologies' models"}`,
  )
  const compared = c.unchanged.length + c.newFailures.length + c.fixed.length + c.newSkips.length + c.otherChanges.length + c.undetermined.length + c.flaky.length
  out.push(`- tests compared: ${compared} (unchanged ${c.unchanged.length})`, '')
  out.push(gateResultLine(c, code), '')
  const section = (title: string, list: TestChange[], why: (ch: TestChange) => string) => {
    if (!list.length) return
    out.push(`## ${title} (${list.length})`, '')
    for (const ch of list) out.push(`- \`${ch.test}\`: ${verdictArrow(ch)}${why(ch)}`)
    out.push('')
  }
  const confirmed = (ch: TestChange) => (ch.confirm ? ` (confirmed: head ${roundsText(ch.confirm.head, ch.confirm.rounds)}, base ${roundsText(ch.confirm.base, ch.confirm.rounds)})` : '')
  section('New failures', c.newFailures, (ch) => reasonOf(ch.head) + confirmed(ch))
  section('New kernel splats', c.newSplats, (ch) => reasonOf(ch.head) + confirmed(ch))
  section('Flaky: failed on head, did not reproduce every time or fails on base too (not blamed on the series)', c.flaky, (ch) => flakyWhy(ch))
  section('Fixed', c.fixed, (ch) => (ch.head?.verdict === 'XPASS' ? ' — known issue no longer reproduces: update suites/known-issues.ts' : reasonOf(ch.base)))
  section('New SKIPs', c.newSkips, (ch) => reasonOf(ch.head))
  section('Cannot be compared', c.undetermined, (ch) => reasonOf(ch.head?.verdict === 'ERROR' ? ch.head : ch.base))
  section('Other changes', c.otherChanges, (ch) => reasonOf(ch.head))
  section('Only in the base run', c.onlyBase, () => '')
  section('Only in the head run', c.onlyHead, (ch) => reasonOf(ch.head))
  if (c.blocking.length) {
    out.push('## Problems', '')
    for (const b of c.blocking) out.push(`- ${b}`)
    out.push('')
  }
  const byVerdict = new Map<string, number>()
  for (const ch of c.unchanged) byVerdict.set(ch.head!.verdict, (byVerdict.get(ch.head!.verdict) ?? 0) + 1)
  out.push(`Unchanged: ${c.unchanged.length}${byVerdict.size ? ` (${[...byVerdict].map(([v, n]) => `${n} ${v}`).join(', ')})` : ''}`)
  return out.join('\n') + '\n'
}
