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
 * compares the two in one run). Default: twice the host's cores. A TCG guest is CPU-bound
 * while it works and idle while the harness waits on it, so a few more guests than cores keep
 * the cores busy. Measured here (2 cores): the main job's four guests all at once ran 1.68x
 * faster than one at a time, the 11-guest npm test matrix took 217 s at 4; other values were
 * not compared.
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
