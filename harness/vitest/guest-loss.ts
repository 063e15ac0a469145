// Fixtures and the one retry after a guest loss (harness/guest/supervisor.ts).
//
// A test that finds its guest unreachable fails with GUEST_REBOOTED and vitest runs it once
// more (vitest.config.ts). vitest 4.1 has a catch there: it marks a test-scoped fixture as
// resolved before its setup runs and clears the mark only in the cleanup of a setup that
// succeeded, so after a fixture whose setup threw, the retry runs with that fixture undefined
// (a TypeError, which would read as a FAIL). So no fixture may throw GUEST_REBOOTED from its
// setup: the `guest` fixture and every fixture a suite adds with `.extend` hand the attempt a
// value that throws the error at first touch instead, and the retry resolves them afresh. Nor
// may a teardown reject (see retryableFixture).
import { GUEST_REBOOTED } from '../util/errors.js'

type FixtureFn = (ctx: unknown, use: (v: unknown) => Promise<void>) => Promise<void>

/**
 * A stand-in whose every property access throws `error`. Not a thenable: vitest resolves a
 * fixture's value as a promise would, and a `then` that threw would fail the setup after all.
 */
export function unreachableValue<T>(error: Error): T {
  return new Proxy({}, {
    get: (_target, prop) => {
      if (prop === 'then') return undefined
      throw error
    },
  }) as T
}

export function isGuestRebooted(e: unknown): boolean {
  return String((e as Error)?.message ?? '').includes(GUEST_REBOOTED)
}

/**
 * A fixture function that, when its setup throws GUEST_REBOOTED, uses an unreachableValue
 * instead, and raises an error of its teardown from an onTestFinished hook: vitest 4.1 awaits
 * a rejected teardown a second time in a second cleanup pass (the error counts twice) and
 * leaves the rest of the context's cleanups to the next attempt, which then fails with the
 * old error. Hooks registered in a teardown run before the `guest` fixture's own (registered
 * in its setup), so a loss of the guest stays the attempt's last error.
 */
export function retryableFixture(fn: FixtureFn): FixtureFn {
  const wrapped: FixtureFn = async (ctx, use) => {
    let used = false
    try {
      await fn(ctx, async (v) => {
        used = true
        await use(v)
      })
    } catch (e) {
      if (used) {
        const onTestFinished = (ctx as { onTestFinished?: (h: () => void) => void }).onTestFinished
        if (!onTestFinished) throw e
        onTestFinished(() => {
          throw e
        })
        return
      }
      if (!isGuestRebooted(e)) throw e
      await use(unreachableValue(e as Error))
    }
  }
  // vitest reads a fixture's dependencies from its source (the destructured first parameter).
  wrapped.toString = () => fn.toString()
  return wrapped
}

function wrapFixtures(fixtures: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(fixtures)) {
    if (typeof f === 'function') out[name] = retryableFixture(f as FixtureFn)
    else if (Array.isArray(f) && typeof f[0] === 'function') out[name] = [retryableFixture(f[0] as FixtureFn), ...f.slice(1)]
    else out[name] = f
  }
  return out
}

/** A test API whose `.extend` fixtures (and those of APIs extended from it) are retryable. */
export function retryableFixturesApi<T extends object>(api: T): T {
  return new Proxy(api, {
    get(obj, prop, recv) {
      const v = Reflect.get(obj, prop, recv)
      if (prop !== 'extend' || typeof v !== 'function') return v
      return (fixtures: Record<string, unknown>) => retryableFixturesApi((v as (f: unknown) => object).call(obj, wrapFixtures(fixtures)))
    },
  })
}

declare module 'vitest' {
  interface TaskMeta {
    /**
     * How many errors the test had when its last attempt began: the reporter judges the last
     * attempt by its own errors (vitest keeps every attempt's errors in one list).
     */
    attemptErrorsFrom?: number
  }
}
