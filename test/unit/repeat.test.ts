// --repeat: rounds of one test merge into one verdict; a varying verdict is FLAKY, counted as
// a failure unless --allow-flaky names it, and every report format says so.
import { describe, expect, test } from 'vitest'
import { mergeRounds, splitRound, withRound } from '../../harness/report/repeat.js'
import { exitCodeFor, type TestVerdict } from '../../harness/report/verdict.js'
import { renderKtap } from '../../harness/report/formats/ktap.js'
import { renderJunit } from '../../harness/report/formats/junit.js'

const v = (name: string, verdict: TestVerdict['verdict'], reason?: string): TestVerdict => ({ project: 'conformance', file: 'suites/x.test.ts', name, verdict, reason, durationMs: 10 })
const K = 'debian-source-6.12.118-1/default/intel-iommu'

describe('rounds', () => {
  test('the round segment is found, removed and inserted after the target key', () => {
    expect(splitRound(`${K} > round 2/3 > a test`)).toEqual({ base: `${K} > a test`, round: 2, of: 3 })
    expect(splitRound(`${K} > a test`)).toEqual({ base: `${K} > a test` })
    expect(withRound(`${K} > a test`, 1, 4)).toBe(`${K} > round 1/4 > a test`)
    expect(splitRound(withRound(`${K} > a > b`, 3, 4))).toEqual({ base: `${K} > a > b`, round: 3, of: 4 })
  })

  test('the same verdict every round keeps it, with counts; a varying one is FLAKY with counts and the odd rounds', () => {
    const merged = mergeRounds([
      v(`${K} > round 1/3 > steady`, 'PASS'),
      v(`${K} > round 1/3 > wobbly`, 'PASS'),
      v(`${K} > round 2/3 > steady`, 'PASS'),
      v(`${K} > round 2/3 > wobbly`, 'FAIL', 'expected 1 to be 0'),
      v(`${K} > round 3/3 > steady`, 'PASS'),
      v(`${K} > round 3/3 > wobbly`, 'PASS'),
      v(`${K} > not repeated`, 'SKIP', 'why'),
    ])
    expect(merged.map((m) => [m.name, m.verdict, m.rounds])).toEqual([
      [`${K} > steady`, 'PASS', { PASS: 3 }],
      [`${K} > wobbly`, 'FLAKY', { PASS: 2, FAIL: 1 }],
      [`${K} > not repeated`, 'SKIP', undefined],
    ])
    const w = merged[1]!
    expect(w.reason).toBe('FLAKY over 3 rounds (PASS 2, FAIL 1): round 2 FAIL: expected 1 to be 0')
    expect(w.detail).toContain('round 2: FAIL — expected 1 to be 0')
    expect(exitCodeFor(merged)).toBe(1)
  })

  test('--allow-flaky: a FLAKY test it names is reported, not counted as a failure; others still are', () => {
    const rounds = [v(`${K} > round 1/2 > a`, 'PASS'), v(`${K} > round 2/2 > a`, 'ERROR', 'SSH lost'), v(`${K} > round 1/2 > b`, 'FAIL', 'x'), v(`${K} > round 2/2 > b`, 'PASS')]
    const onlyA = mergeRounds(rounds, [/^a$/])
    expect(onlyA.map((m) => [m.verdict, m.flakyAllowed])).toEqual([['FLAKY', true], ['FLAKY', undefined]])
    expect(exitCodeFor(onlyA)).toBe(1)
    const both = mergeRounds(rounds, [/^[ab]$/])
    expect(exitCodeFor(both)).toBe(0)
  })

  test('reports: KTAP says FLAKY in a comment (not ok unless allowed), JUnit in a property with a failure unless allowed', () => {
    const [flaky] = mergeRounds([v(`${K} > round 1/2 > a`, 'PASS'), v(`${K} > round 2/2 > a`, 'FAIL', 'boom')])
    const run = { dir: '/tmp/r', verdicts: [flaky!], runErrors: [], targets: [] } as never
    const ktap = renderKtap(run)
    expect(ktap).toMatch(/# FLAKY: PASS 1, FAIL 1\n[\s\S]*not ok 1 a/)
    const junit = renderJunit(run)
    expect(junit).toContain('<property name="flaky" value="PASS 1, FAIL 1"/>')
    expect(junit).toMatch(/<failure[^>]*type="FLAKY"/)
    const allowed = renderKtap({ dir: '/tmp/r', verdicts: [{ ...flaky!, flakyAllowed: true }], runErrors: [], targets: [] } as never)
    expect(allowed).toMatch(/# FLAKY: PASS 1, FAIL 1 \(allowed by --allow-flaky\)\n[\s\S]*\bok 1 a/)
  })
})
