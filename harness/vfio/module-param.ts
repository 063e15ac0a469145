// A kernel module parameter changed for the length of one test, as root, and put back after,
// whatever the test does: tests that take away an administrator's override (e.g.
// allow_unsafe_interrupts, which the harness sets on vIOMMU models without MSI isolation).
import type { GuestSession } from '../guest/session.js'
import { must } from './legacy.js'

/** `param` (a path under /sys/module) set to `value` while `fn` runs; `fn` may set it again with `set`. */
export async function withModuleParam<T>(guest: GuestSession, param: string, value: string, fn: (set: (v: string) => Promise<void>) => Promise<T>): Promise<T> {
  const admin = await guest.agent({ label: 'admin' })
  const before = (await guest.run(`cat ${param}`)).trim()
  const set = async (v: string) => void must(await admin.writeFile(param, v), `write ${v} to ${param}`)
  await set(value)
  try {
    return await fn(set)
  } finally {
    await admin.writeFile(param, before)
  }
}
