// Confirm before blaming (gate --confirm K, bisect-run --confirm K): a failure is a regression
// only when it comes back in every confirmation round on head and in none on base.
import { describe, expect, test } from 'vitest'
import { compareRuns, gateExitCode, renderGateReport, vitestMatchName, type RunSide } from '../../harness/gate/compare.js'
import { applyConfirmation, confirmPattern } from '../../harness/gate/confirm.js'
import { GATE_SPEC } from '../../harness/cli/gate.js'
import { parseOptions } from '../../harness/cli/options.js'
import { confirmBisectOutcome } from '../../harness/cli/bisect-run.js'
import { mergeRounds } from '../../harness/report/repeat.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'

const v = (name: string, verdict: Verdict, reason?: string): TestVerdict => ({ project: 'conformance', file: 'suites/x.test.ts', name, verdict, reason })
const side = (verdicts: TestVerdict[]): RunSide => ({ verdicts, runErrors: [] })
/** K rounds of one test as `run --repeat K` reports them (merged). */
const rounds = (label: string, test: string, ...vs: Verdict[]) =>
  mergeRounds(vs.map((x, i) => v(`${label}/default/intel-iommu > round ${i + 1}/${vs.length} > ${test}`, x, x === 'FAIL' ? 'boom' : undefined)))

const FLAKY_T = 'harness fixture: flaky on purpose, FAILs every other time it runs'
const REAL_T = 'while a group is held, binding a host driver to another of its devices is EBUSY; after release it binds'
const META = { tree: '/t', worktree: '/w', series: '/s.mbox', subjects: ['x'], topologies: [], iommus: [], base: { revision: 'b' }, head: { revision: 'h' } }

describe('gate --confirm', () => {
  test('the pattern selects exactly the suspects on any guest and in any round, with regex characters escaped', () => {
    const p = new RegExp(confirmPattern([`k/default/intel-iommu > ${REAL_T}`, `k/default/amd-iommu > ${REAL_T}`, `k/default/intel-iommu > a (b) [c]?`]))
    expect(p.test(vitestMatchName(`k2/default/intel-iommu > ${REAL_T}`))).toBe(true)
    expect(p.test(vitestMatchName(`k2/default/intel-iommu > round 2/3 > a (b) [c]?`))).toBe(true)
    expect(p.test(vitestMatchName(`k2/default/intel-iommu > ${REAL_T} and more`))).toBe(false)
    expect(p.test(vitestMatchName(`k2/default/intel-iommu > a b c`))).toBe(false)
  })

  test('a failure that comes back every time on head and never on base is blamed; a flaky one is not', () => {
    const base = side([v(`base/default/intel-iommu > ${FLAKY_T}`, 'PASS'), v(`base/default/intel-iommu > ${REAL_T}`, 'PASS')])
    const head = side([v(`head/default/intel-iommu > ${FLAKY_T}`, 'FAIL', 'run 2'), v(`head/default/intel-iommu > ${REAL_T}`, 'FAIL', 'expected OK to be EBUSY')])
    const c = compareRuns(base, head)
    expect(c.newFailures).toHaveLength(2)
    applyConfirmation(
      c,
      [...rounds('head', FLAKY_T, 'PASS', 'FAIL', 'PASS'), ...rounds('head', REAL_T, 'FAIL', 'FAIL', 'FAIL')],
      [...rounds('base', FLAKY_T, 'FAIL', 'PASS', 'FAIL'), ...rounds('base', REAL_T, 'PASS', 'PASS', 'PASS')],
      3,
    )
    expect(c.newFailures.map((ch) => ch.test)).toEqual([`default/intel-iommu > ${REAL_T}`])
    expect(c.flaky.map((ch) => ch.test)).toEqual([`default/intel-iommu > ${FLAKY_T}`])
    expect(gateExitCode(c)).toBe(1)
    const md = renderGateReport(c, META)
    expect(md).toContain('(confirmed: head FAIL 3 of 3, base PASS 3 of 3)')
    expect(md).toMatch(/## Flaky: .*\(1\)/)
    expect(md).toContain(`\`default/intel-iommu > ${FLAKY_T}\`: PASS -> FAIL — head: FAIL then PASS 2, FAIL 1 of 3 on confirmation; base: PASS then FAIL 2, PASS 1 of 3`)
  })

  test('only the flaky one: exit 0, the result line says it was not blamed', () => {
    const c = compareRuns(side([v(`b/default/intel-iommu > ${FLAKY_T}`, 'PASS')]), side([v(`h/default/intel-iommu > ${FLAKY_T}`, 'FAIL')]))
    applyConfirmation(c, rounds('h', FLAKY_T, 'PASS', 'FAIL', 'PASS'), rounds('b', FLAKY_T, 'PASS', 'PASS', 'PASS'), 3)
    expect(gateExitCode(c)).toBe(0)
    expect(renderGateReport(c, META)).toContain('**Result: OK (exit 0)**: no new failure on head (1 flaky test(s) not blamed, see below)')
  })

  test('failing every time on head but also on base is not the series\' doing; no verdict in the rounds is undetermined (125)', () => {
    const c = compareRuns(side([v(`b/default/intel-iommu > ${REAL_T}`, 'PASS'), v(`b/default/intel-iommu > x`, 'PASS')]), side([v(`h/default/intel-iommu > ${REAL_T}`, 'FAIL'), v(`h/default/intel-iommu > x`, 'FAIL')]))
    applyConfirmation(c, [...rounds('h', REAL_T, 'FAIL', 'FAIL', 'FAIL'), ...rounds('h', 'x', 'ERROR', 'ERROR', 'ERROR')], rounds('b', REAL_T, 'PASS', 'FAIL', 'PASS'), 3)
    expect(c.newFailures).toEqual([])
    expect(c.flaky.map((ch) => ch.test)).toEqual([`default/intel-iommu > ${REAL_T}`])
    expect(c.undetermined.map((ch) => ch.test)).toEqual([`default/intel-iommu > x`])
    expect(gateExitCode(c)).toBe(125)
  })

  test('--confirm takes 0..20', () => {
    const confirm = (v: string) => parseOptions(GATE_SPEC, ['--confirm', v]).values.confirm
    expect(confirm('0')).toBe(0)
    expect(confirm('20')).toBe(20)
    expect(() => confirm('-1')).toThrow(/--confirm.*0\.\.20/)
    expect(() => confirm('x')).toThrow(/--confirm.*0\.\.20/)
  })
})

describe('bisect-run --confirm', () => {
  const bad = { outcome: 'bad' as const, exitCode: 1 as const, why: '1 of 1 selected FAILed' }
  const failed = [v(`src/default/intel-iommu > ${FLAKY_T}`, 'FAIL')]
  test('a FAIL that comes back in every round: still bad (1)', () => {
    const o = confirmBisectOutcome(bad, failed, rounds('src', FLAKY_T, 'FAIL', 'FAIL', 'FAIL'), 3)
    expect([o.outcome, o.exitCode]).toEqual(['bad', 1])
    expect(o.why).toContain('confirmed: 1 of 1 FAILed in all 3 more round(s)')
  })
  test('a FAIL that does not: skip (125), saying it is flaky, with the counts', () => {
    const o = confirmBisectOutcome(bad, failed, rounds('src', FLAKY_T, 'PASS', 'FAIL', 'PASS'), 3)
    expect([o.outcome, o.exitCode]).toEqual(['skip', 125])
    expect(o.why).toBe(`flaky: 1 FAIL(s), none reproduced in all 3 more round(s) (first: ${FLAKY_T}: PASS 2, FAIL 1 of 3)`)
  })
  test('no verdict in the rounds: skip', () => {
    expect(confirmBisectOutcome(bad, failed, [], 3).exitCode).toBe(125)
  })
})
