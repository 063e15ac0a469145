// Kernel splats in console text: WARN, BUG, Oops, KASAN, UBSAN, lockdep, RCU stalls, hung
// tasks, panics. A splat during a test fails that test; its excerpt goes into the report.
import { KERNEL_DIED } from '../util/errors.js'

export interface Splat {
  kind: 'WARN' | 'BUG' | 'Oops' | 'KASAN' | 'UBSAN' | 'lockdep' | 'RCU stall' | 'hung task' | 'panic' | 'GPF'
  /** First line of the splat. */
  title: string
  /** The splat's lines (up to its end-of-trace marker or a bounded number of lines). */
  excerpt: string
}

/** Splats after which a kernel does not go on normally (locks may be held by the dead task). */
export const FATAL_SPLATS: Splat['kind'][] = ['panic', 'Oops', 'BUG', 'GPF']

const START: Array<[Splat['kind'], RegExp]> = [
  ['KASAN', /BUG: KASAN: /],
  ['UBSAN', /UBSAN: /],
  ['lockdep', /WARNING: (possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|held lock freed)/],
  ['WARN', /WARNING: CPU: \d+ PID: \d+ at |WARNING: .* at .*\+0x/],
  ['BUG', /BUG: (unable to handle|kernel NULL pointer|scheduling while atomic|sleeping function called|soft lockup|spinlock|Bad page|workqueue lockup)|kernel BUG at /],
  ['Oops', /Oops: /],
  ['GPF', /general protection fault/],
  ['RCU stall', /rcu: INFO: rcu_\w+ (self-)?detected stall|rcu_\w+ detected stalls/],
  ['hung task', /INFO: task .* blocked for more than \d+ seconds/],
  ['panic', /Kernel panic - not syncing/],
]
const END = /---\[ end trace|---\[ end Kernel panic|^\s*=+\s*$/

/** Strip the "[    1.234567] " timestamp that printk.time adds. */
function body(line: string): string {
  return line.replace(/^\[\s*\d+\.\d+\]\s?/, '')
}

export function findSplats(text: string): Splat[] {
  const lines = text.split(/\r?\n/)
  const out: Splat[] = []
  for (let i = 0; i < lines.length; i++) {
    const l = body(lines[i]!)
    const hit = START.find(([, re]) => re.test(l))
    if (!hit) continue
    let j = i + 1
    // A WARN is announced by "------------[ cut here ]------------" before its title.
    const from = i > 0 && /\[ cut here \]/.test(lines[i - 1]!) ? i - 1 : i
    while (j < lines.length && j - i < 60 && !END.test(body(lines[j]!))) j++
    out.push({ kind: hit[0], title: l.trim(), excerpt: lines.slice(from, Math.min(j + 1, lines.length)).join('\n') })
    i = j
  }
  return out
}

/**
 * A test's failure for the splats the kernel printed during it (the test's FAIL, never a
 * harness ERROR): "the kernel died during this test (titles) ..." for a fatal one, whose guest
 * is rebooted for the next tests, else "kernel splat during this test (titles)"; `after` names
 * what the test had just done. Named "kernel <kind>" after the first splat.
 */
export function kernelSplatFailure(splats: Splat[], after?: string): Error {
  const fatal = splats.some((x) => FATAL_SPLATS.includes(x.kind))
  const e = new Error(
    `${fatal ? KERNEL_DIED : 'kernel splat during this test'} (${splats.map((x) => x.title).join('; ')})${after ? ` after ${after}` : ''}` +
      `${fatal ? '; the guest is rebooted for the next tests' : ''}\n\n${splats.map((x) => x.excerpt).join('\n\n')}`,
  )
  e.name = `kernel ${splats[0]!.kind}`
  return e
}
