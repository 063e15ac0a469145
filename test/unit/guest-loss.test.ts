// The one retry after a guest loss goes through vitest's own retry and fixtures: these tests
// run that machinery for real (vitest 4.1), with a fixture whose first setup finds the guest
// rebooted, as the `guest` fixture and the suites' own fixtures do.
import { describe, expect, test as base } from 'vitest'
import { GUEST_REBOOTED, HarnessError } from '../../harness/util/errors.js'
import { isGuestRebooted, retryableFixturesApi, unreachableValue } from '../../harness/vitest/guest-loss.js'

const RETRY = { count: 1, condition: new RegExp(GUEST_REBOOTED) }
const rebooted = () => new HarnessError(`k/default/intel-iommu: SSH lost: Timed out while waiting for handshake; ${GUEST_REBOOTED} (boot 2) and retries the test on it`)

describe('a fixture whose setup finds the guest rebooted', () => {
  let setups = 0
  let bodies = 0
  const test = retryableFixturesApi(base).extend<{ session: { boot: number } }>({
    session: async ({}, use) => {
      setups++
      if (setups === 1) throw rebooted()
      await use({ boot: setups })
    },
  })

  test('gets a fresh value on the retry (not undefined, as plain vitest 4.1 would give)', { retry: RETRY }, async ({ session }) => {
    bodies++
    expect(session.boot).toBe(2)
  })

  test('ran the setup twice and the body twice (the first body threw at first touch)', () => {
    expect(setups).toBe(2)
    expect(bodies).toBe(2)
  })
})

describe('a fixture that depends on one the guest loss made unreachable', () => {
  let attempt = 0
  const test = retryableFixturesApi(base)
    .extend<{ guest: { name: string } }>({
      guest: async ({}, use) => {
        attempt++
        await use(attempt === 1 ? unreachableValue<{ name: string }>(rebooted()) : { name: 'boot 2' })
      },
    })
    .extend<{ mtty: string }>({
      // Like suites/mdev.test.ts: touches the guest in its setup.
      mtty: async ({ guest }, use) => {
        await use(`mtty on ${guest.name}`)
      },
    })

  test('resolves on the retry', { retry: RETRY }, async ({ mtty }) => {
    expect(mtty).toBe('mtty on boot 2')
  })
})

describe('a guest lost while the test ran (found by a teardown)', () => {
  let setups = 0
  // Like the `guest` fixture: the teardown's finding is raised from a hook registered in setup;
  // a suite's own fixture (like mtty) tears down first and fails too, with a plain error.
  const test = retryableFixturesApi(base)
    .extend<{ guest: number }>({
      guest: async ({ onTestFinished }, use) => {
        setups++
        let lost: Error | undefined
        onTestFinished(() => {
          if (lost) throw lost
        })
        await use(setups)
        if (setups === 1) lost = rebooted()
      },
    })
    .extend<{ mtty: string }>({
      mtty: async ({ guest }, use) => {
        await use(`mtty on boot ${guest}`)
        if (guest === 1) throw new HarnessError('k: SSH connection closed')
      },
    })

  test('is retried, and the retry is not failed by the first attempt\'s teardown', { retry: RETRY }, async ({ mtty }) => {
    expect(mtty).toMatch(/^mtty on boot \d$/)
  })

  test('the retry ran on a fresh setup', () => {
    expect(setups).toBe(2)
  })
})

describe('unreachableValue', () => {
  base('throws its error at any property, and is not a thenable', async () => {
    const v = unreachableValue<{ run: () => void; topology: string }>(rebooted())
    expect(() => v.topology).toThrow(GUEST_REBOOTED)
    expect(() => v.run()).toThrow(GUEST_REBOOTED)
    // awaiting it must not throw: vitest resolves fixture values as promises
    await expect(Promise.resolve(v)).resolves.toBe(v)
  })

  base('isGuestRebooted tells the reboot error from other harness errors', () => {
    expect(isGuestRebooted(rebooted())).toBe(true)
    expect(isGuestRebooted(new HarnessError('k: SSH lost: Timed out while waiting for handshake'))).toBe(false)
    expect(isGuestRebooted(undefined)).toBe(false)
  })
})
