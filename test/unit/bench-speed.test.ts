// bench/speed.ts: the figures it prints from a run's verdicts.json and targets.json.
import { expect, test } from 'vitest'
import { figures, render } from '../../bench/speed.js'
import type { TestVerdict } from '../../harness/report/verdict.js'

const v = (guest: string, file: string, startedAt: number, durationMs: number, timings?: TestVerdict['timings']): TestVerdict => ({
  project: 'conformance', file, name: `${guest} > t${startedAt}`, verdict: 'PASS', startedAt, durationMs, timings,
})

test('busy share is the union of a guest test spans over the test phase; files split setup, bodies, teardown', () => {
  const verdicts: TestVerdict[] = [
    v('k/default/intel-iommu', 'suites/a.test.ts', 1000, 1000, { setupMs: 100, teardownMs: 200, waits: { 'fault-line': 5 } }),
    v('k/default/intel-iommu', 'suites/a.test.ts', 2000, 1000, { setupMs: 100, teardownMs: 100, waits: { 'fault-line': 7, 'fault-ratelimit': 300 } }),
    v('k/default/amd-iommu', 'suites/b.test.ts', 1500, 3500),
    // A selftest's subtest has no time of its own.
    { project: 'conformance', file: 'suites/b.test.ts', name: 'k/default/amd-iommu > iommu/iommufd: x', verdict: 'PASS' },
  ]
  const f = figures('at-once', 9000, 0, verdicts, [
    { key: 'k/default/intel-iommu', status: 'ready', times: { ssh: 8000 } },
    { key: 'k/default/amd-iommu', status: 'ready', times: { ssh: 6000 } },
  ])
  expect(f.testPhaseMs).toBe(4000)
  expect(f.guests.map((g) => [g.key, g.tests, g.busyMs, g.busyShare])).toEqual([
    ['k/default/intel-iommu', 2, 2000, 0.5],
    ['k/default/amd-iommu', 1, 3500, 0.875],
  ])
  expect(f.files).toEqual([
    { file: 'suites/a.test.ts', tests: 2, setupMs: 200, bodyMs: 1500, teardownMs: 300 },
    { file: 'suites/b.test.ts', tests: 1, setupMs: 0, bodyMs: 3500, teardownMs: 0 },
  ])
  expect(f.waits).toEqual({ 'fault-line': 12, 'fault-ratelimit': 300 })
  const slow = figures('one-at-a-time', 18000, 0, verdicts, [])
  expect(render([slow, f])).toContain('at-once vs one-at-a-time: wall 2.00x faster, test phase 1.00x; verdicts identical (4 tests)')
})
