// Guests run their tests at the same time; each guest's own tests stay in order.
//
// A guest's tests share driver bindings and group ownership, so they must run one after
// another; two guests are independent machines. vitest runs the children of a suite that
// are marked `concurrent` at the same time (as many as `maxConcurrency`, @vitest/runner
// runSuite: partitionSuiteChildren + limitConcurrency), and takes a test's own `concurrent`
// from its options, not from its parent. So the describe block of each guest is marked
// concurrent after it is collected, and the tests inside it are left sequential.
import os from 'node:os'
import { describe } from 'vitest'

/** A describe block that runs alongside its concurrent siblings; its tests run in order. */
export function guestSuite(name: string, body: () => void): void {
  const collector = describe(name, body)
  if (collector.suite) collector.suite.concurrent = true
}

/**
 * How many guests run tests at once (vitest's maxConcurrency for the conformance project).
 * VFIO_CONFORM_CONCURRENCY overrides; 1 is the old one-guest-at-a-time order (bench/speed.ts
 * compares the two in one run). The default is measured (bench/speed.ts, README): TCG guests
 * are CPU-bound while they work, so more than twice the host's cores only adds contention.
 */
export function guestConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.VFIO_CONFORM_CONCURRENCY
  if (v !== undefined && v !== '') {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new Error(`VFIO_CONFORM_CONCURRENCY must be a whole number >= 1, not "${v}"`)
    return n
  }
  return Math.max(2, 2 * os.availableParallelism())
}
