// The behaviours table: one row per behaviour of suites/behaviours.ts, one column per kernel x
// vIOMMU, each cell the verdict of the tests that decide that behaviour there. Pure functions
// from (verdicts, targets) to a table, and a Markdown rendering that can be pasted into a list
// reply; the reporter writes it as behaviours.md, `vfio-conform behaviours` prints it.
//
// A cell, from its tests (worst first):
//   FAIL   a test FAILed (the first failing test and its message are in the notes)
//   XPASS  a test expected to fail by a known issue passed: the known-issues list is stale
//   ERROR  a test ERRORed (the harness or the guest failed): nothing is decided
//   PASS   at least one test PASSed and none of the above; XFAILs and SKIPs are counted
//   XFAIL  only known divergences (their ids and references are in the notes)
//   SKIP   every test SKIPped (the reasons are in the notes)
//   -      no test of the behaviour ran on that kernel x vIOMMU
//   n/a    the behaviour is about other kernels (the compat build)
import { buildColumns, firstLine, splitTestName, uniq, type ClaimColumn, type RunTarget } from '../claims/evaluate.js'
import type { TestVerdict, Verdict } from './verdict.js'

export type BehaviourArea = 'legacy' | 'iommufd' | 'compat' | 'mdev' | 'privileges' | 'noiommu' | 'accounting' | 'hotplug' | 'resets' | 'sriov'

export interface BehaviourTests {
  /** Suite file, relative to the repository root. */
  file: string
  /** Test names (the part after " > "). */
  test: RegExp
}

export interface Behaviour {
  id: number
  area: BehaviourArea
  title: string
  tests: BehaviourTests[]
  /** Only kernels whose label matches (e.g. the compat build); other columns show "n/a". */
  kernels?: RegExp
}

export type CellVerdict = Verdict | 'n/a' | '-'

export interface BehaviourCell {
  column: string
  verdict: CellVerdict
  counts: Partial<Record<Verdict, number>>
  /** One line per reason: failing test + message, skip reasons, known issues. */
  notes: string[]
}

export interface BehaviourRow {
  behaviour: Behaviour
  cells: BehaviourCell[]
}

export interface BehaviourTable {
  columns: ClaimColumn[]
  rows: BehaviourRow[]
}


function decide(column: string, tests: Array<{ test: string; v: TestVerdict }>): BehaviourCell {
  const counts: Partial<Record<Verdict, number>> = {}
  for (const t of tests) counts[t.v.verdict] = (counts[t.v.verdict] ?? 0) + 1
  const of = (verdict: Verdict) => tests.filter((t) => t.v.verdict === verdict)
  const notes: string[] = []
  for (const t of of('FAIL')) notes.push(`FAIL "${t.test}": ${firstLine(t.v.reason ?? 'failed')}`)
  for (const t of of('XPASS')) notes.push(`XPASS "${t.test}": known issue ${t.v.knownIssue?.id ?? '?'} no longer reproduces`)
  for (const t of of('FLAKY')) notes.push(`FLAKY "${t.test}": ${firstLine(t.v.reason ?? 'flaky')}`)
  for (const t of of('ERROR')) notes.push(`ERROR "${t.test}": ${firstLine(t.v.reason ?? 'error')}`)
  const xfail = of('XFAIL')
  for (const id of uniq(xfail.map((t) => t.v.knownIssue?.id ?? '?'))) {
    const ki = xfail.find((t) => t.v.knownIssue?.id === id)?.v.knownIssue
    notes.push(`XFAIL ${xfail.filter((t) => (t.v.knownIssue?.id ?? '?') === id).length} (known issue ${id}${ki ? ` [${ki.ref}]` : ''})`)
  }
  const skips = of('SKIP')
  for (const r of uniq(skips.map((t) => firstLine(t.v.reason ?? 'skipped')))) {
    notes.push(`SKIP ${skips.filter((t) => firstLine(t.v.reason ?? 'skipped') === r).length}: ${r}`)
  }
  const verdict: CellVerdict = !tests.length
    ? '-'
    : counts.FAIL
      ? 'FAIL'
      : counts.XPASS
        ? 'XPASS'
        : counts.FLAKY
          ? 'FLAKY'
          : counts.ERROR
          ? 'ERROR'
          : counts.PASS
            ? 'PASS'
            : counts.XFAIL
              ? 'XFAIL'
              : 'SKIP'
  return { column, verdict, counts, notes }
}

/** Verdict per behaviour and kernel x vIOMMU. Pure: no I/O. Unit-project verdicts are ignored. */
export function behaviourTable(verdicts: TestVerdict[], targets: RunTarget[], behaviours: Behaviour[]): BehaviourTable {
  const conformance = verdicts.filter((v) => v.project !== 'unit')
  const { columns, keyToColumn } = buildColumns(conformance, targets)
  const byColumn = new Map<string, Array<{ test: string; v: TestVerdict }>>()
  for (const v of conformance) {
    const s = splitTestName(v.name)
    if (!s) continue
    const col = keyToColumn.get(s.key)!
    byColumn.set(col, [...(byColumn.get(col) ?? []), { test: s.test, v }])
  }
  const rows = behaviours.map((behaviour) => ({
    behaviour,
    cells: columns.map((c) => {
      if (behaviour.kernels && !behaviour.kernels.test(c.kernel)) return { column: c.id, verdict: 'n/a' as const, counts: {}, notes: [] }
      const tests = (byColumn.get(c.id) ?? []).filter(({ test, v }) => behaviour.tests.some((p) => p.file === v.file && p.test.test(test)))
      return decide(c.id, tests)
    }),
  }))
  return { columns, rows }
}

/** "PASS 5/6": the cell's verdict, the tests with that verdict / the tests run (or "-", "n/a"). */
export function cellVerdictText(c: BehaviourCell): string {
  if (c.verdict === '-' || c.verdict === 'n/a') return c.verdict
  const n = c.counts[c.verdict as Verdict] ?? 0
  const total = Object.values(c.counts).reduce((a, b) => a + (b ?? 0), 0)
  return `${c.verdict} ${n}/${total}`
}

/** Markdown cell: as cellVerdictText, with "*" when a PASS cell also had XFAIL or SKIP tests. */
const cellText = (c: BehaviourCell) => cellVerdictText(c) + (c.verdict === 'PASS' && (c.counts.XFAIL || c.counts.SKIP) ? '*' : '')

const mdEscape = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** Markdown: the table (kernels x vIOMMU as columns), then the notes of every cell that is not a clean PASS. */
export function renderBehavioursMarkdown(table: BehaviourTable, opts: { resultsDir?: string } = {}): string {
  const out: string[] = []
  out.push(`### vfio-conform: behaviours per kernel and vIOMMU${opts.resultsDir ? ` (${opts.resultsDir})` : ''}`)
  out.push('')
  if (!table.columns.length) {
    out.push('No kernel in these results.')
    return out.join('\n') + '\n'
  }
  const head = table.columns.map((c) => `${c.kernel}<br>${c.iommu}`)
  out.push(`| # | behaviour | ${head.map(mdEscape).join(' | ')} |`)
  out.push(`|---|---|${table.columns.map(() => '---').join('|')}|`)
  for (const r of table.rows) {
    out.push(`| ${r.behaviour.id} | ${mdEscape(r.behaviour.title)} | ${r.cells.map(cellText).join(' | ')} |`)
  }
  out.push('')
  out.push('Cells: verdict, then tests with that verdict / tests run. `*`: some of them were XFAIL (known divergence) or SKIP. `-`: no test ran; `n/a`: not about this kernel.')
  const notes: string[] = []
  for (const r of table.rows) {
    for (const c of r.cells) {
      if (!c.notes.length) continue
      notes.push(`- **${r.behaviour.id}** on \`${c.column}\`: ${c.notes.map(mdEscape).join('; ')}`)
    }
  }
  if (notes.length) {
    out.push('')
    out.push('Notes (every cell that has a FAIL, ERROR, XFAIL, XPASS or SKIP):')
    out.push('')
    out.push(...notes)
  }
  return out.join('\n') + '\n'
}
