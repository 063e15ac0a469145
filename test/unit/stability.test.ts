// bench --stability's figures from merged rounds: wall-time spread, verdict kinds, FLAKY tests.
import { expect, test } from 'vitest'
import { stabilityFigures } from '../../bench/stability.js'

test('figures: min/median/max/spread of the rounds, tests by verdict and count, FLAKY ones named', () => {
  const lines = stabilityFigures({
    verdicts: [
      { project: 'conformance', file: 'f', name: 'k > a', verdict: 'PASS', rounds: { PASS: 3 } },
      { project: 'conformance', file: 'f', name: 'k > b', verdict: 'SKIP', rounds: { SKIP: 3 } },
      { project: 'conformance', file: 'f', name: 'k > c', verdict: 'FLAKY', rounds: { PASS: 2, FAIL: 1 } },
    ],
    runErrors: [],
    rounds: [
      { round: 1, dir: 'round-1', wallMs: 70_000 },
      { round: 2, dir: 'round-2', wallMs: 64_000 },
      { round: 3, dir: 'round-3', wallMs: 74_000 },
    ],
  })
  expect(lines[0]).toBe('runs: 3 (fresh guests each)')
  expect(lines[1]).toBe('wall per run: min 64 s, median 70 s, max 74 s, spread 10 s, sd 4.1 s')
  expect(lines[3]).toBe('tests: 3: 1 PASS x3, 1 SKIP x3, 1 FLAKY')
  expect(lines.slice(4)).toEqual(['FLAKY: 1', '  k > c: PASS 2, FAIL 1'])
})
