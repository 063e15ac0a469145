// Differences between the kernels of one run: the same test on the same topology and vIOMMU
// with a different outcome on different kernels. What a kernel developer comparing a patched
// tree with its base, or two Debian kernels, looks for first. Outcomes are compared as
// "good" (PASS, XFAIL: the kernel behaved as the rule or the known-issues list says), "bad"
// (FAIL, XPASS), "error" and "skip"; a test run on one kernel and SKIPped on another (the
// stock kernels lack iommufd) is a coverage difference, counted per kernel pair with the
// skip reasons rather than listed test by test.
import { splitTestName } from '../claims/evaluate.js'
import type { TestVerdict, Verdict } from './verdict.js'

type Outcome = 'good' | 'bad' | 'error' | 'skip'
const OUTCOME: Record<Verdict, Outcome> = { PASS: 'good', XFAIL: 'good', FAIL: 'bad', XPASS: 'bad', FLAKY: 'bad', ERROR: 'error', SKIP: 'skip' }

export interface KernelDifference {
  /** "<topology>/<iommu> > <test>" */
  test: string
  /** Kernel label -> verdict (only kernels that ran the test on that topology and vIOMMU). */
  verdicts: Record<string, Verdict>
  /** The first failure or error message, for the line. */
  reason?: string
}

export interface CoverageDifference {
  ranOn: string
  skippedOn: string
  count: number
  reasons: string[]
}

export interface KernelDiff {
  kernels: string[]
  /** Tests good on some kernel and bad or errored on another. */
  differences: KernelDifference[]
  coverage: CoverageDifference[]
}

export function kernelDiff(verdicts: TestVerdict[]): KernelDiff {
  const byTest = new Map<string, Map<string, TestVerdict>>()
  const kernels: string[] = []
  for (const v of verdicts) {
    if (v.project === 'unit') continue
    const s = splitTestName(v.name)
    if (!s) continue
    if (!kernels.includes(s.label)) kernels.push(s.label)
    const key = `${s.topology}/${s.iommu} > ${s.test}`
    const m = byTest.get(key) ?? new Map<string, TestVerdict>()
    m.set(s.label, v)
    byTest.set(key, m)
  }
  const differences: KernelDifference[] = []
  const coverage = new Map<string, CoverageDifference>()
  for (const [test, m] of byTest) {
    if (m.size < 2) continue
    const outcomes = new Set([...m.values()].map((v) => OUTCOME[v.verdict]))
    const ran = [...m].filter(([, v]) => OUTCOME[v.verdict] !== 'skip')
    if (outcomes.has('good') && (outcomes.has('bad') || outcomes.has('error'))) {
      const worst = [...m.values()].find((v) => OUTCOME[v.verdict] !== 'good' && OUTCOME[v.verdict] !== 'skip')
      differences.push({ test, verdicts: Object.fromEntries([...m].map(([k, v]) => [k, v.verdict])), reason: worst?.reason?.split('\n')[0] })
    }
    for (const [skipK, skipV] of m) {
      if (skipV.verdict !== 'SKIP') continue
      for (const [ranK] of ran) {
        const id = `${ranK}\u0000${skipK}`
        const c = coverage.get(id) ?? { ranOn: ranK, skippedOn: skipK, count: 0, reasons: [] }
        c.count++
        const r = (skipV.reason ?? 'skipped').split('\n')[0]!
        if (!c.reasons.includes(r)) c.reasons.push(r)
        coverage.set(id, c)
      }
    }
  }
  return { kernels, differences, coverage: [...coverage.values()] }
}

/** Plain text for the end of a run (nothing when the run had one kernel). */
export function renderKernelDiff(d: KernelDiff): string {
  if (d.kernels.length < 2) return ''
  const out: string[] = ['', `Differences between kernels (${d.kernels.join(', ')}):`]
  if (!d.differences.length) out.push('  no test passes on one kernel and fails or errors on another')
  for (const x of d.differences) {
    out.push(`  !! ${x.test}`)
    out.push(`     ${Object.entries(x.verdicts).map(([k, v]) => `${k}: ${v}`).join('   ')}${x.reason ? `  -- ${x.reason.slice(0, 160)}` : ''}`)
  }
  for (const c of d.coverage) {
    out.push(`  coverage: ${c.count} test(s) ran on ${c.ranOn} but SKIPped on ${c.skippedOn} (${c.reasons.slice(0, 3).join('; ')}${c.reasons.length > 3 ? '; ...' : ''})`)
  }
  return out.join('\n')
}
