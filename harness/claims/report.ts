// The claims verdicts for people: a plain text table for the terminal (claims x kernel/vIOMMU)
// and a Markdown section a reviewer can paste into a list reply (each claim in our words,
// the thread, the verdict per kernel and vIOMMU, and the tests that decided it).
import type { ClaimCell, ClaimColumn, ClaimsEvaluation, ClaimVerdict, EvidenceItem } from './evaluate.js'
import type { ClaimThread } from './types.js'

export interface ReportOptions {
  /** Where the verdicts came from, shown in the header. */
  resultsDir?: string
  /** Maximum width of a reason line in the terminal (default 160). */
  width?: number
}

/** Short cell text for the terminal table. REFUTED* = refuted by a known divergence (XFAIL) only. */
export function shortVerdict(cell: ClaimCell): string {
  switch (cell.verdict) {
    case 'HOLDS':
      return 'HOLDS'
    case 'REFUTED':
      return cell.evidence.some((e) => e.verdict === 'FAIL') ? 'REFUTED' : 'REFUTED*'
    case 'UNDECIDED':
      return 'UNDECIDED'
    case 'NOT REPRODUCIBLE':
      return 'N/REPRO'
  }
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '...' : s)
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length))

function columnLabel(c: ClaimColumn): string {
  const topo = c.topologies.length === 1 && c.topologies[0] === 'default' ? '' : `  [${c.topologies.join(', ')}]`
  return `${c.kernel} / ${c.iommu}${c.release ? `  (${c.release})` : ''}${topo}`
}

/** The terminal table: one row per claim, one column per kernel x vIOMMU (T1, T2, ... with a legend). */
export function renderClaimsTable(ev: ClaimsEvaluation, opts: ReportOptions = {}): string {
  const width = opts.width ?? 160
  const out: string[] = []
  out.push(`vfio-conform claims${opts.resultsDir ? `  (results: ${opts.resultsDir})` : ''}`)
  out.push('')
  if (!ev.columns.length) out.push('(no kernel in these results: every claim is UNDECIDED, no test ran)')
  const tags = ev.columns.map((_, i) => `T${i + 1}`)
  ev.columns.forEach((c, i) => out.push(`  ${pad(tags[i]!, 4)}${columnLabel(c)}${c.problems.length ? `  guest: ${c.problems.join('; ')}` : ''}`))
  out.push('')

  const idWidth = Math.max(5, ...ev.results.map((r) => r.claim.id.length))
  const cellWidth = Math.max(9, ...tags.map((t) => t.length))
  out.push([pad('claim', idWidth), ...tags.map((t) => pad(t, cellWidth))].join('  ').trimEnd())
  out.push([('-').repeat(idWidth), ...tags.map(() => '-'.repeat(cellWidth))].join('  '))
  for (const r of ev.results) {
    out.push([pad(r.claim.id, idWidth), ...r.cells.map((c) => pad(shortVerdict(c), cellWidth))].join('  ').trimEnd())
  }
  out.push('')
  out.push('HOLDS: every test deciding it passed   REFUTED: a test failed   REFUTED*: a known divergence (XFAIL)')
  out.push('UNDECIDED: skipped, errored or no test ran   N/REPRO: not reproducible in emulation')

  out.push('')
  out.push('Claims:')
  for (const r of ev.results) {
    out.push(`  ${r.claim.id}  [${r.claim.thread.id}, ${r.claim.claimedBy}]`)
    out.push(`    ${r.claim.claim}`)
    if (r.claim.status) {
      out.push(`    ${clip(`N/REPRO everywhere: ${r.claim.status.reason}`, width)}`)
      continue
    }
    r.cells.forEach((c, i) => {
      if (c.verdict !== 'HOLDS') out.push(`    ${tags[i]} ${shortVerdict(c)}: ${clip(c.why, width)}`)
    })
  }
  return out.join('\n') + '\n'
}

const VERDICT_MD: Record<ClaimVerdict, string> = {
  HOLDS: '**HOLDS**',
  REFUTED: '**REFUTED**',
  UNDECIDED: 'UNDECIDED',
  'NOT REPRODUCIBLE': 'NOT REPRODUCIBLE',
}

function mdEvidence(e: EvidenceItem, showTopology: boolean): string {
  const where = showTopology ? ` (${e.topology})` : ''
  // The cell's own line already gives skip reasons and known-issue text: here only what is
  // particular to this test (a failure or error message, the known issue's id).
  const why =
    (e.verdict === 'XFAIL' || e.verdict === 'XPASS') && e.knownIssue
      ? ` - known issue ${e.knownIssue.id}`
      : e.reason && (e.verdict === 'FAIL' || e.verdict === 'ERROR')
        ? ` - ${e.reason.split('\n')[0]}`
        : ''
  return `${e.verdict} \`${e.test}\`${where} [${e.path}]${why}`
}

function threadLine(t: ClaimThread): string {
  return `"${t.subject}" (${t.date}; ${t.participants.join(', ')}). ${t.messageRef}.`
}

/** A Markdown section for a list reply: per thread, per claim, per kernel x vIOMMU. */
export function renderClaimsMarkdown(ev: ClaimsEvaluation, opts: ReportOptions = {}): string {
  const out: string[] = []
  out.push('## Review-thread claims, tested')
  out.push('')
  const kernels = ev.columns.map((c) => `${c.kernel} / ${c.iommu}${c.release ? ` (${c.release})` : ''}`)
  out.push(
    `Run on real kernels in QEMU guests with an emulated vIOMMU by vfio-conform${opts.resultsDir ? ` (results: \`${opts.resultsDir}\`)` : ''}. ` +
      `Kernels: ${kernels.length ? kernels.join('; ') : 'none'}.`,
  )
  out.push('')
  out.push(
    'A claim HOLDS on a kernel when every test deciding it passed there, is REFUTED when one failed ' +
      '(or hit a known divergence), and is UNDECIDED when its tests skipped, errored or did not run. ' +
      'A known divergence is listed with its reason and reference: it may lie in the setup the test ' +
      'depends on (e.g. how a vIOMMU model forms groups) rather than in the rule itself.',
  )
  const threads = [...new Map(ev.results.map((r) => [r.claim.thread.id, r.claim.thread])).values()]
  let n = 0
  for (const t of threads) {
    out.push('')
    out.push(`### Thread: ${threadLine(t)}`)
    for (const r of ev.results.filter((x) => x.claim.thread.id === t.id)) {
      n++
      out.push('')
      out.push(`${n}. ${r.claim.claim}`)
      out.push(`   - Claimed by: ${r.claim.claimedBy}. Claim id: \`${r.claim.id}\`.`)
      if (r.claim.note) out.push(`   - Note: ${r.claim.note}`)
      if (r.claim.decidedBy.length) out.push(`   - ${r.claim.status ? 'Recorded by' : 'Decided by'}: ${r.claim.decidedBy.map((p) => `\`${p.test.source}\`${p.optional ? ' (optional)' : ''}`).join(', ')}`)
      if (r.claim.status) {
        out.push(`   - NOT REPRODUCIBLE on every kernel (${r.claim.status.kind}): ${r.claim.status.reason}`)
        continue
      }
      r.cells.forEach((c, i) => {
        const col = ev.columns[i]!
        out.push(`   - ${VERDICT_MD[c.verdict]} on ${col.kernel} / ${col.iommu}: ${c.why}`)
        const showTopology = col.topologies.length > 1
        for (const e of c.evidence) out.push(`     - ${mdEvidence(e, showTopology)}`)
      })
    }
  }
  return out.join('\n') + '\n'
}

/**
 * The verdicts as JSON, for scripts (ci/mutations/run.sh checks that a mutant flips the claims
 * its patch names): per claim, per column, the verdict, why, and the deciding tests.
 */
export function renderClaimsJson(ev: ClaimsEvaluation, opts: ReportOptions = {}): string {
  const doc = {
    resultsDir: opts.resultsDir,
    columns: ev.columns.map((c) => ({ id: c.id, kernel: c.kernel, release: c.release, iommu: c.iommu, topologies: c.topologies, problems: c.problems })),
    claims: ev.results.map((r) => ({
      id: r.claim.id,
      thread: r.claim.thread.id,
      claim: r.claim.claim,
      cells: r.cells.map((c) => ({
        column: c.column,
        verdict: c.verdict,
        why: c.why,
        evidence: c.evidence.map((e) => ({ test: e.test, topology: e.topology, verdict: e.verdict, reason: e.reason, knownIssue: e.knownIssue?.id })),
      })),
    })),
  }
  return JSON.stringify(doc, null, 2) + '\n'
}
