// What the gate compares, test by test: a test's identity across runs (the kernel label left
// out) and the changes between a base and a head run, with their confirmation rounds. Types and
// identity only, shared by compare.ts (the comparison) and confirm.ts (the rounds).
import type { TestVerdict } from '../report/verdict.js'

/**
 * A test's name without the kernel label: "source-linux/default/intel-iommu > a group opens
 * once: ..." -> "default/intel-iommu > a group opens once: ...". The label names the kernel
 * build (it may differ between base and head); topology, vIOMMU and test name are what must
 * match. Names without a "<label>/<topology>/<iommu>" target key are kept whole.
 */
export function testId(name: string): string {
  const sep = name.indexOf(' > ')
  if (sep < 0) return name
  const key = name.slice(0, sep).split('/')
  if (key.length !== 3 || key.some((p) => !p || /\s/.test(p))) return name
  return `${key[1]}/${key[2]}${name.slice(sep)}`
}

export interface Confirmation {
  rounds: number
  /** The test's merged verdict over the rounds on head (FAIL, PASS, FLAKY, ...), if it ran. */
  head?: TestVerdict
  /** The same on base (gate only). */
  base?: TestVerdict
}

export interface TestChange {
  /** testId(): topology/vIOMMU and test name, without the kernel label. */
  test: string
  base?: TestVerdict
  head?: TestVerdict
  /** The confirmation rounds of a new failure (gate --confirm K: harness/gate/confirm.ts). */
  confirm?: Confirmation
}

export interface GateComparison {
  /** FAIL on head, and base did not FAIL it: PASS, SKIP, XFAIL there, or absent from a complete base run. */
  newFailures: TestChange[]
  /** A kernel splat FAILs the test on head and did not on base (also when base FAILed it otherwise). */
  newSplats: TestChange[]
  /** FAIL on base -> PASS on head; XFAIL -> XPASS (the known divergence is gone: update suites/known-issues.ts). */
  fixed: TestChange[]
  /** SKIP on head, ran on base (PASS, FAIL, XFAIL, XPASS). */
  newSkips: TestChange[]
  /**
   * Tests whose outcome on head cannot be judged against base: ERROR on head, or FAIL on head
   * where base has no verdict to compare (ERROR there, missing from an incomplete run, or no
   * base run at all).
   */
  undetermined: TestChange[]
  /** Other verdict changes (SKIP -> PASS, FAIL -> SKIP, ERROR -> PASS, ...): reported, not judged. */
  otherChanges: TestChange[]
  /** Same verdict on both sides. */
  unchanged: TestChange[]
  /** In the base run only (not run on head): reported. */
  onlyBase: TestChange[]
  /** In the head run only; its FAIL is also a new failure when the base run was complete. */
  onlyHead: TestChange[]
  /** Side-level problems that keep the gate from a verdict when there is no new failure. */
  blocking: string[]
  /**
   * Failed on head once, but did not FAIL in every confirmation round there, or FAILed on base
   * too: not blamed on the series (gate --confirm), reported with the counts.
   */
  flaky: TestChange[]
}
