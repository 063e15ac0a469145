// The error kinds that decide a verdict and an exit code.
//
// UsageError   -> the user gave us something we cannot use (missing kernel, wrong path,
//                 unknown Debian version, no QEMU). One clear line, exit 2.
// HarnessError -> the harness or the guest failed (download, boot deadline, QEMU died,
//                 SSH lost). Tests it touches are ERROR, never FAIL; exit 125 under bisect.
// Anything else thrown from a test is an assertion about the kernel: FAIL.

/** Marker that vitest keeps when it serialises an error across workers; the reporter looks for it. */
export const HARNESS_ERROR_TAG = '[harness-error]'

/**
 * In the error of a test that found its guest unreachable after the supervisor rebooted it
 * (harness/guest/supervisor.ts): vitest retries such a test once (vitest.config.ts).
 */
export const GUEST_REBOOTED = 'the harness reboots the guest'

/**
 * In the error of a test during which the kernel panicked, oopsed or BUGed and the guest went
 * away: the kernel's result (FAIL), even though the test's SSH commands failed too.
 */
export const KERNEL_DIED = 'the kernel died during this test'

export class UsageError extends Error {
  override name = 'UsageError'
}

export class HarnessError extends Error {
  override name = 'HarnessError'
  /** Extra text for the report (a log tail, the console around a panic). */
  detail?: string
  constructor(message: string, detail?: string) {
    // The tag survives vitest's serialisation of errors between workers and the reporter,
    // whatever happens to `name`.
    super(message.includes(HARNESS_ERROR_TAG) ? message : `${HARNESS_ERROR_TAG} ${message}`)
    this.detail = detail
  }
}


export function isHarnessErrorLike(e: { name?: string; message?: string } | undefined): boolean {
  if (!e) return false
  return e.name === 'HarnessError' || (e.message ?? '').includes(HARNESS_ERROR_TAG)
}
