// Verdicts and the exit contract.
//
//   PASS   the kernel behaved as the rule says
//   FAIL   it did not (an assertion, or a kernel splat during the test)
//   SKIP   the kernel or guest lacks what the test needs; always with a reason
//   ERROR  the harness or the guest failed (boot deadline, QEMU died, SSH lost, download)
//   FLAKY  run more than once (--repeat), the test's verdict varied: counted as a FAIL
//          unless --allow-flaky names it (harness/report/repeat.ts)
//
// Exit codes of `vfio-conform run` (git bisect run compatible):
//   0    nothing failed (PASS and SKIP only)
//   1    at least one FAIL (or XPASS, or FLAKY not allowed)
//   125  no FAIL, but an ERROR kept tests from running (bisect: "cannot test this commit")
//   2    bad usage (unknown kernel, missing file, no QEMU): nothing was run
// Never 255 and never anything else.

export type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'ERROR' | 'XFAIL' | 'XPASS' | 'FLAKY'

/** Verdicts a single run of a test can have (FLAKY is one over several). */
export type RoundVerdict = Exclude<Verdict, 'FLAKY'>

export interface TestVerdict {
  project: string
  /** Module (file) relative to the project root. */
  file: string
  /** Full test name, including the target key. */
  name: string
  /** vitest's task id: the tag of the test's begin/end markers in the guest's kernel log. */
  taskId?: string
  verdict: Verdict
  /** Known issue id, reason and reference (XFAIL/XPASS). */
  knownIssue?: { id: string; reason: string; ref: string }
  /** SKIP reason, FAIL/ERROR message (first line). */
  reason?: string
  /** Full failure text (assertion diff, splat excerpt). */
  detail?: string
  durationMs?: number
  /** When the test's last attempt started (ms since the epoch): the bench's busy share per guest. */
  startedAt?: number
  /** Fixture setup/teardown and the harness's waits (harness/vitest/timings.ts). */
  timings?: { setupMs: number; teardownMs: number; waits: Record<string, number> }
  annotations?: string[]
  /** Run more than once (--repeat): how many times each verdict came out. */
  rounds?: Partial<Record<RoundVerdict, number>>
  /** A FLAKY test that --allow-flaky names: reported, not counted as a failure. */
  flakyAllowed?: boolean
}

/** A test's own name (after "<key> > "), as written in its suite. */
export const ownName = (name: string) => (name.includes(' > ') ? name.slice(name.indexOf(' > ') + 3) : name)

export const EXIT = { ok: 0, fail: 1, usage: 2, error: 125 } as const

export function exitCodeFor(verdicts: TestVerdict[], runErrors: string[] = []): number {
  if (verdicts.some((v) => v.verdict === 'FAIL' || v.verdict === 'XPASS' || (v.verdict === 'FLAKY' && !v.flakyAllowed))) return EXIT.fail
  if (runErrors.length || verdicts.some((v) => v.verdict === 'ERROR')) return EXIT.error
  if (!verdicts.length) return EXIT.error
  return EXIT.ok
}

export function countVerdicts(verdicts: TestVerdict[]): Record<Verdict, number> {
  const c: Record<Verdict, number> = { PASS: 0, FAIL: 0, SKIP: 0, ERROR: 0, XFAIL: 0, XPASS: 0, FLAKY: 0 }
  for (const v of verdicts) c[v.verdict]++
  return c
}
