// Claims from review threads, decided by a run's verdicts: a pure function from
// (verdicts.json, targets.json, the claim registry) to a verdict per claim and per target,
// where a target is a kernel label x vIOMMU model (all topologies of that pair together).
//
// Reading rules, in this order, for one claim on one target:
//   NOT REPRODUCIBLE  the claim is marked 'not reproducible in emulation' (its reason is shown).
//   UNDECIDED         no test matching its patterns ran there ("no test ran"), or a required
//                     pattern matched no test there ("no test ran for /.../").
//   REFUTED           a matching test FAILed, or is XFAIL: a known divergence means the claim
//                     does not hold there; the known issue's id, reason and reference are shown.
//                     One FAIL is enough, whatever else passed or skipped.
//   UNDECIDED         a matching test ERRORed, or a required one SKIPped (reasons shown).
//   HOLDS             every matching test PASSed (XPASS counts as a pass: the kernel behaved as
//                     the test expects, only the known-issues list is stale), optional patterns
//                     may have SKIPped, and at least one required test PASSed.
// A claim is never decided by zero tests.
import type { TestVerdict, Verdict } from '../report/verdict.js'
import type { Claim } from './types.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'

export type ClaimVerdict = 'HOLDS' | 'REFUTED' | 'UNDECIDED' | 'NOT REPRODUCIBLE'

/** The part of a targets.json entry the claims need. */
export interface RunTarget {
  key: string
  kernel: { id?: string; label: string; release?: string; origin?: { kind: string; suites?: string[] } }
  topology: string
  iommu: string
  status?: string
  error?: string
  skipReason?: string
}

/** A column of the claims table: one kernel label with one vIOMMU model. */
export interface ClaimColumn {
  /** "<kernel label>/<iommu>" */
  id: string
  kernel: string
  release?: string
  iommu: string
  /** Topologies seen for this pair (targets and verdicts). */
  topologies: string[]
  /** Guest statuses other than 'ready', e.g. "default: error (boot deadline)". */
  problems: string[]
}

export interface EvidenceItem {
  /** The test's own name (without the target prefix). */
  test: string
  topology: string
  verdict: Verdict
  reason?: string
  knownIssue?: { id: string; reason: string; ref: string }
  /** Which registry path(s) the test stands for. */
  path: string
  optional: boolean
}

export interface ClaimCell {
  column: string
  verdict: ClaimVerdict
  /** One line: why this verdict (skip reasons, the failure, the known issue, "no test ran"). */
  why: string
  evidence: EvidenceItem[]
}

export interface ClaimResult {
  claim: Claim
  cells: ClaimCell[]
}

export interface ClaimsEvaluation {
  columns: ClaimColumn[]
  results: ClaimResult[]
}

/** Splits "<label>/<topology>/<iommu> > <test name>" (the label may not contain " > "). */
export function splitTestName(name: string): { label: string; topology: string; iommu: string; key: string; test: string } | undefined {
  const i = name.indexOf(' > ')
  if (i < 0) return undefined
  const key = name.slice(0, i)
  const parts = key.split('/')
  if (parts.length < 3) return undefined
  const iommu = parts.pop()!
  const topology = parts.pop()!
  return { label: parts.join('/'), topology, iommu, key, test: name.slice(i + 3) }
}

const columnId = (label: string, iommu: string) => `${label}/${iommu}`

export function buildColumns(verdicts: TestVerdict[], targets: RunTarget[]): { columns: ClaimColumn[]; keyToColumn: Map<string, string> } {
  const columns = new Map<string, ClaimColumn>()
  const keyToColumn = new Map<string, string>()
  const add = (label: string, iommu: string, topology: string, key: string, release?: string) => {
    const id = columnId(label, iommu)
    let c = columns.get(id)
    if (!c) columns.set(id, (c = { id, kernel: label, release, iommu, topologies: [], problems: [] }))
    if (!c.release && release) c.release = release
    if (!c.topologies.includes(topology)) c.topologies.push(topology)
    keyToColumn.set(key, id)
    return c
  }
  for (const t of targets) {
    const c = add(t.kernel.label, t.iommu, t.topology, t.key, t.kernel.release)
    // A guest no selected test needed was never booted: no problem of its column.
    if (t.status && t.status !== 'ready' && t.status !== 'not-booted') {
      const why = t.error ?? t.skipReason
      c.problems.push(`${t.topology}: ${t.status}${why ? ` (${firstLine(why)})` : ''}`)
    }
  }
  for (const v of verdicts) {
    const s = splitTestName(v.name)
    if (!s || keyToColumn.has(s.key)) continue
    add(s.label, s.iommu, s.topology, s.key)
  }
  return { columns: [...columns.values()], keyToColumn }
}

/** A verdict reason's first line, without the harness-error tag. */
export const firstLine = (s: string) => s.replace(/\[harness-error\]\s*/g, '').split('\n')[0]!.trim()

/** vitest reports a test left out by -t / --filter as skipped with no note ("skipped"). */
const skipWhy = (e: EvidenceItem) => {
  const r = e.reason ? firstLine(e.reason) : ''
  return !r || r === 'skipped' ? 'skipped with no reason (left out of the run by a filter?)' : r
}

export function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)]
}

function decideCell(claim: Claim, column: ClaimColumn, evidence: EvidenceItem[]): ClaimCell {
  const cell = (verdict: ClaimVerdict, why: string): ClaimCell => ({ column: column.id, verdict, why, evidence })
  if (claim.status) return cell('NOT REPRODUCIBLE', `${claim.status.kind}: ${claim.status.reason}`)
  if (!evidence.length) {
    const guest = column.problems.length ? ` (guest ${column.problems.join('; ')})` : ''
    // A topology dedicated to one suite runs only that suite: no claim's tests can run there.
    const dedicated = column.topologies.map((t) => TOPOLOGIES[t]?.dedicatedTo && `${t} (it runs only the ${TOPOLOGIES[t]!.dedicatedTo} suite)`)
    if (dedicated.length && dedicated.every(Boolean)) return cell('UNDECIDED', `cannot be decided here: no test deciding it runs on topology ${dedicated.join(', ')}${guest}`)
    return cell('UNDECIDED', `no test ran${guest}`)
  }

  const failed = evidence.filter((e) => e.verdict === 'FAIL')
  const xfailed = evidence.filter((e) => e.verdict === 'XFAIL')
  if (failed.length || xfailed.length) {
    const parts = failed.map((e) => `FAIL "${e.test}"${e.reason ? `: ${firstLine(e.reason)}` : ''}`)
    // One line per known issue, however many tests it turned into XFAIL.
    const byIssue = new Map<string, EvidenceItem[]>()
    for (const e of xfailed) byIssue.set(e.knownIssue?.id ?? '', [...(byIssue.get(e.knownIssue?.id ?? '') ?? []), e])
    for (const [id, es] of byIssue) {
      const ki = es[0]!.knownIssue
      const tests = es.map((e) => `"${e.test}"`).join(', ')
      parts.push(ki ? `known divergence ${id} (XFAIL ${tests}): ${ki.reason} [${ki.ref}]` : `XFAIL ${tests}`)
    }
    return cell('REFUTED', parts.join('; '))
  }

  const missing = claim.decidedBy.filter((p) => !p.optional && !evidence.some((e) => p.test.test(e.test)))
  const errored = evidence.filter((e) => e.verdict === 'ERROR')
  // A FLAKY test (--repeat) neither holds nor refutes a claim: its verdict varied.
  const flaky = evidence.filter((e) => e.verdict === 'FLAKY')
  const skippedRequired = evidence.filter((e) => e.verdict === 'SKIP' && !e.optional)
  if (missing.length || errored.length || flaky.length || skippedRequired.length) {
    const parts: string[] = []
    if (missing.length) parts.push(`no test ran for ${missing.map((p) => String(p.test)).join(', ')}`)
    if (skippedRequired.length) parts.push(`${skippedRequired.length} skipped: ${uniq(skippedRequired.map(skipWhy)).join('; ')}`)
    if (errored.length) parts.push(`${errored.length} errored: ${uniq(errored.map((e) => firstLine(e.reason ?? 'error'))).join('; ')}`)
    if (flaky.length) parts.push(`${flaky.length} flaky: ${uniq(flaky.map((e) => firstLine(e.reason ?? 'flaky'))).join('; ')}`)
    return cell('UNDECIDED', parts.join('; '))
  }

  const passed = evidence.filter((e) => e.verdict === 'PASS' || e.verdict === 'XPASS')
  const requiredPassed = passed.filter((e) => !e.optional)
  if (!requiredPassed.length) {
    // Only optional tests ran (and passed or skipped): not enough to decide.
    return cell('UNDECIDED', 'no required test passed (only optional evidence)')
  }
  const skippedOptional = evidence.filter((e) => e.verdict === 'SKIP')
  const parts = [`${passed.length} passed`]
  const xpass = passed.filter((e) => e.verdict === 'XPASS')
  if (xpass.length) parts.push(`${xpass.length} XPASS (known issue no longer reproduces: ${uniq(xpass.map((e) => e.knownIssue?.id ?? '?')).join(', ')})`)
  if (skippedOptional.length) parts.push(`${skippedOptional.length} optional skipped: ${uniq(skippedOptional.map(skipWhy)).join('; ')}`)
  return cell('HOLDS', parts.join('; '))
}

/** Verdict per claim and per kernel x vIOMMU. Pure: no I/O. Unit-project verdicts are ignored. */
export function evaluateClaims(verdicts: TestVerdict[], targets: RunTarget[], claims: Claim[]): ClaimsEvaluation {
  const conformance = verdicts.filter((v) => v.project !== 'unit')
  const { columns, keyToColumn } = buildColumns(conformance, targets)
  const byColumn = new Map<string, Array<{ v: TestVerdict; test: string; topology: string }>>()
  for (const v of conformance) {
    const s = splitTestName(v.name)
    if (!s) continue
    const col = keyToColumn.get(s.key)!
    const list = byColumn.get(col) ?? []
    list.push({ v, test: s.test, topology: s.topology })
    byColumn.set(col, list)
  }
  const results = claims.map((claim) => ({
    claim,
    cells: columns.map((column) => {
      const evidence: EvidenceItem[] = []
      for (const { v, test, topology } of byColumn.get(column.id) ?? []) {
        const hits = claim.decidedBy.filter((p) => p.test.test(test))
        if (!hits.length) continue
        evidence.push({
          test,
          topology,
          verdict: v.verdict,
          reason: v.reason,
          knownIssue: v.knownIssue,
          path: uniq(hits.map((h) => h.path)).join(', '),
          // Optional only if every pattern it matches is optional.
          optional: hits.every((h) => h.optional),
        })
      }
      // Evidence in the registry's order of patterns (then as the run listed it).
      const rank = (e: EvidenceItem) => claim.decidedBy.findIndex((p) => p.test.test(e.test))
      evidence.sort((a, b) => rank(a) - rank(b))
      return decideCell(claim, column, evidence)
    }),
  }))
  return { columns, results }
}
