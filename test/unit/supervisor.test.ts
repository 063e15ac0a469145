// The supervisor's reading of a lost guest's post-mortem: which task each CPU ran when the
// NMI came, from the panic backtraces as 6.1 and 7.x print them.
import { describe, expect, test } from 'vitest'
import { describeNicQueues, whereCpusWere } from '../../harness/guest/supervisor.js'

const SIX_ONE = `[   49.488031] Uhhuh. NMI received for unknown reason 21 on CPU 0.\r
[   49.488031] Kernel panic - not syncing: NMI: Not continuing\r
[   49.488031] CPU: 0 PID: 0 Comm: swapper/0 Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2\r
[   49.488031] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\r
[   49.488031] Call Trace:\r
[   49.488031]  <NMI>\r
[   49.488031]  dump_stack_lvl+0x44/0x5c\r
[   49.488031]  end_repeat_nmi+0x16/0x67\r
[   49.488031] RIP: 0010:native_safe_halt+0xb/0x10\r
[   49.488031] RSP: 0018:ffffffff8f403e98 EFLAGS: 00000246\r
`
// 7.x adds UID to the CPU line; a second CPU spinning in a task (all-CPU backtrace).
const SEVEN = `[  108.1] CPU: 1 UID: 0 PID: 812 Comm: vfio-conform-ag Not tainted 7.2.13 #3 PREEMPT(lazy)\r
[  108.1] RIP: 0010:_raw_spin_lock+0x1a/0x30\r
[  108.2] NMI backtrace for cpu 0\r
[  108.2] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 7.2.13 #3 PREEMPT(lazy)\r
[  108.2] RIP: 0010:pv_native_safe_halt+0xf/0x20\r
`

describe('whereCpusWere', () => {
  test('6.1: the CPU that took the NMI, idle', () => {
    expect(whereCpusWere(SIX_ONE)).toEqual(['CPU 0 swapper/0 (pid 0) at native_safe_halt+0xb/0x10'])
  })
  test('7.x: every CPU, with the task a busy one ran', () => {
    expect(whereCpusWere(SEVEN)).toEqual([
      'CPU 1 vfio-conform-ag (pid 812) at _raw_spin_lock+0x1a/0x30',
      'CPU 0 swapper/0 (pid 0) at pv_native_safe_halt+0xf/0x20',
    ])
  })
  test('a repeated backtrace is listed once; no backtrace, nothing', () => {
    expect(whereCpusWere(SIX_ONE + SIX_ONE)).toHaveLength(1)
    expect(whereCpusWere('[ 1.0] vfio-conform: end test x\r\n')).toEqual([])
  })
})

describe('describeNicQueues', () => {
  const q = (shadow: number, used: number, signalled = used) => ({ 'shadow-avail-idx': shadow, 'last-avail-idx': used, 'used-idx': used, 'signalled-used': signalled, inuse: 0 })
  test('a healthy NIC (as QEMU 7.2 reported one of ours)', () => {
    expect(describeNicQueues(q(14835, 14589), q(13184, 13184))).toBe(
      'ssh-nic (virtio-net) rx: 246 receive buffers posted, used 14589, 0 used not yet signalled; tx: 0 pending',
    )
  })
  test('no receive buffers left: the RX path is stalled; indices wrap at 2^16', () => {
    expect(describeNicQueues(q(100, 100, 98), q(5, 3))).toMatch(/rx: 0 receive buffers posted, used 100, 2 used not yet signalled; tx: 2 pending: the guest posts no receive buffers/)
    expect(describeNicQueues(q(10, 65530), q(0, 0))).toMatch(/^ssh-nic \(virtio-net\) rx: 16 receive buffers posted/)
  })
})
