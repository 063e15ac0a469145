// The supervisor's reading of a lost guest's post-mortem: which task each CPU ran when the
// NMI came, from the panic backtraces as 6.1 and 7.x print them; and its boot-on-first-use op.
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { askSupervisorBoot, describeNicQueues, GuestSupervisor, lastKernelLines, whereCpusWere } from '../../harness/guest/supervisor.js'
import type { GuestTarget } from '../../harness/vitest/targets.js'
import { tempDir } from './temp-dirs.js'

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
// As debian-source 7.2.13 printed it under QEMU 7.2 (inject-nmi on an idle guest): no RIP
// line, "? " frames only, and the other CPU reported idle in one line.
const SEVEN = `[   98.570303] Uhhuh. NMI received for unknown reason 21 on CPU 0.\r
[   98.578131] Kernel panic - not syncing: NMI: Not continuing\r
[   98.578434] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 7.2.13 #3 PREEMPTLAZY  \r
[   98.578525] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\r
[   98.578614] Call Trace:\r
[   98.578866]  <NMI>\r
[   98.578893]  ? vpanic+0xdb/0x28d\r
[   98.581086]  ? default_do_nmi+0x205/0x235\r
[   98.581094]  ? end_repeat_nmi+0xf/0x18\r
[   98.581116]  ? default_idle+0x13/0x15\r
[   98.581155]  </NMI>\r
[   98.581174]  <TASK>\r
[   98.581177]  ? default_idle_call+0x31/0x49\r
[   98.581257]  </TASK>\r
[   98.581312] Sending NMI from CPU 0 to CPUs 1:\r
[   98.583313] NMI backtrace for cpu 1 skipped: idling at default_idle+0x13/0x15\r
[   98.584013] NMI backtrace for cpu 0\r
[   98.584029] CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 7.2.13 #3 PREEMPTLAZY  \r
[   98.584046] Call Trace:\r
[   98.584052]  <NMI>\r
[   98.584055]  ? nmi_cpu_backtrace+0xca/0xeb\r
[   98.584164]  ? default_idle+0x13/0x15\r
[   98.584164]  </NMI>\r
`
// A busy CPU in a task, with registers (RIP) printed.
const BUSY = `[  108.1] CPU: 1 UID: 0 PID: 812 Comm: vfio-conform-ag Not tainted 7.2.13 #3\r
[  108.1]  <NMI>\r
[  108.1] RIP: 0010:_raw_spin_lock+0x1a/0x30\r
[  108.1]  ? end_repeat_nmi+0xf/0x18\r
[  108.1]  </NMI>\r
`

describe('whereCpusWere', () => {
  test('6.1: the CPU that took the NMI, idle', () => {
    expect(whereCpusWere(SIX_ONE)).toEqual(['CPU 0 swapper/0 (pid 0) at native_safe_halt+0xb/0x10'])
  })
  test('7.2: no registers printed: the last frame in the NMI block, and the CPU reported idle', () => {
    expect(whereCpusWere(SEVEN)).toEqual(['CPU 0 swapper/0 (pid 0) at default_idle+0x13/0x15', 'CPU 1 idle at default_idle+0x13/0x15'])
  })
  test('a RIP line wins over the frames after it', () => {
    expect(whereCpusWere(BUSY)).toEqual(['CPU 1 vfio-conform-ag (pid 812) at _raw_spin_lock+0x1a/0x30'])
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

describe('lastKernelLines', () => {
  test('the last lines of the console, without blank lines or carriage returns, long ones cut', () => {
    const text = `[ 1.0] a\r\n\r\n[ 2.0] b\r\n[ 3.0] ${'x'.repeat(300)}\r\n`
    const got = lastKernelLines(text, 2)
    expect(got[0]).toBe('[ 2.0] b')
    expect(got[1]).toHaveLength(200)
    expect(lastKernelLines(text, 5)).toHaveLength(3)
  })
})

describe('the boot op: a guest boots on first use', () => {
  const target = (key: string, over: Partial<GuestTarget> = {}): GuestTarget => ({
    key, kernel: { id: 'k', label: 'k', release: '6.12', origin: null }, topology: 'default', iommu: 'intel-iommu',
    status: 'not-booted', runDir: '/tmp', consoleLog: '/tmp/console.log', bootSplats: [], modules: { loaded: [], absent: [] }, ...over,
  })

  test('each guest boots once however many ask; a failed boot is the target with its error, not a supervisor error', async () => {
    const dir = await tempDir('vfio-conform-sup-test-')
    const sup = new GuestSupervisor(path.join(dir, 'incidents.jsonl'))
    const booted: string[] = []
    sup.bootOnDemand(async (key) => {
      booted.push(key)
      await new Promise((r) => setTimeout(r, 50))
      return key.endsWith('bad') ? target(key, { status: 'error', error: 'boot failed: QEMU exited (code 1)' }) : target(key, { status: 'ready' })
    })
    const sock = await sup.listen()
    try {
      const [a, b, c] = await Promise.all([askSupervisorBoot(sock, 'k/default/good'), askSupervisorBoot(sock, 'k/default/good'), askSupervisorBoot(sock, 'k/default/bad')])
      expect(booted.sort()).toEqual(['k/default/bad', 'k/default/good'])
      expect([a!.status, b!.status]).toEqual(['ready', 'ready'])
      expect(c).toMatchObject({ status: 'error', error: 'boot failed: QEMU exited (code 1)' })
      expect(sup.bootsAsked()).toHaveLength(2)
    } finally {
      await sup.close()
    }
  })
})
