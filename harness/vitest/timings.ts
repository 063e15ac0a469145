// Where a test's time goes, for bench/speed.ts: the guest fixture's setup and teardown, and
// the waits the harness makes on the test's behalf (each kind named where it is made).
// Stored in the task's meta; the verdict reporter copies it into verdicts.json.

export interface TestTimings {
  /** The guest fixture before the test body: session, driver snapshot, begin marker. */
  setupMs: number
  /** After the body: agents closed, drivers restored, end marker seen, log judged. */
  teardownMs: number
  /** Waits by kind, in ms (e.g. "fault-ratelimit", "fault-line"). */
  waits: Record<string, number>
}

declare module 'vitest' {
  interface TaskMeta {
    timings?: TestTimings
  }
}
