// The exit contract and the splat scanner: what CI and git bisect act on.
import { describe, expect, test } from 'vitest'
import { findSplats } from '../../harness/guest/splats.js'
import { exitCodeFor, type TestVerdict } from '../../harness/report/verdict.js'
import { isHarnessErrorLike, HarnessError } from '../../harness/util/errors.js'

const v = (verdict: TestVerdict['verdict']): TestVerdict => ({ project: 'conformance', file: 'f', name: 'n', verdict })

describe('exit codes', () => {
  test.each([
    [['PASS', 'SKIP'], 0],
    [['PASS', 'FAIL', 'ERROR'], 1],
    [['PASS', 'ERROR'], 125],
    [['SKIP', 'ERROR'], 125],
    [[], 125],
    [['PASS', 'XFAIL'], 0],
    [['PASS', 'XPASS'], 1],
    [['XFAIL', 'ERROR'], 125],
  ] as const)('%j -> %i', (vs, code) => {
    expect(exitCodeFor(vs.map(v))).toBe(code)
  })
  test('a run-level error without FAIL is 125', () => {
    expect(exitCodeFor([v('PASS')], ['global setup failed'])).toBe(125)
  })
  test('HarnessError stays recognisable after serialisation (message tag)', () => {
    const e = new HarnessError('QEMU died')
    expect(isHarnessErrorLike({ name: 'Error', message: e.message })).toBe(true)
    expect(isHarnessErrorLike({ name: 'AssertionError', message: 'expected 16 to be 22' })).toBe(false)
  })
})

describe('kernel splats', () => {
  const WARN = `[   12.345678] vfio-conform: begin test x
[   12.400000] ------------[ cut here ]------------
[   12.400001] WARNING: CPU: 1 PID: 123 at drivers/vfio/group.c:123 vfio_group_fops_open+0x4a/0x1b0 [vfio]
[   12.400002] Modules linked in: vfio_pci vfio
[   12.400003] CPU: 1 PID: 123 Comm: agent Not tainted 6.12.117 #1
[   12.400004] RIP: 0010:vfio_group_fops_open+0x4a/0x1b0 [vfio]
[   12.400010] ---[ end trace 0000000000000000 ]---
[   12.500000] vfio-conform: end test x`
  test('a WARN with its cut-here line and trace', () => {
    const s = findSplats(WARN)
    expect(s).toHaveLength(1)
    expect(s[0]!.kind).toBe('WARN')
    expect(s[0]!.excerpt.split('\n')[0]).toContain('cut here')
    expect(s[0]!.excerpt).toContain('end trace')
    expect(s[0]!.excerpt).not.toContain('end test x')
  })
  test.each([
    ['BUG', '[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008'],
    ['Oops', '[    1.0] Oops: 0002 [#1] PREEMPT SMP NOPTI'],
    ['KASAN', '[    1.0] BUG: KASAN: slab-use-after-free in vfio_device_put+0x1/0x2'],
    ['UBSAN', '[    1.0] UBSAN: array-index-out-of-bounds in drivers/vfio/pci/vfio_pci_core.c:100:5'],
    ['lockdep', '[    1.0] WARNING: possible circular locking dependency detected'],
    ['RCU stall', '[    1.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'],
    ['hung task', '[    1.0] INFO: task agent:123 blocked for more than 120 seconds.'],
    ['panic', '[    1.0] Kernel panic - not syncing: Fatal exception'],
  ])('%s', (kind, line) => {
    expect(findSplats(`[    0.9] ok\n${line}\n[    1.1] more`).map((s) => s.kind)).toEqual([kind])
  })
  test('an ordinary boot log has none', () => {
    const boot = `[    0.000000] Linux version 6.12.117+deb13-amd64
[    0.500000] DMAR: IOMMU enabled
[    0.600000] DMAR-IR: Enabled IRQ remapping in xapic mode
[    1.000000] pci 0000:00:03.0: Adding to iommu group 2
[    2.000000] VFIO - User Level meta-driver version: 0.3
[    2.100000] e1000e 0000:04:00.1: The NVM Checksum Is Not Valid`
    expect(findSplats(boot)).toEqual([])
  })
})
