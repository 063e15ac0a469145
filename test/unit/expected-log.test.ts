// How the guest fixture judges one test's console text against what the test declared.
import { describe, expect, test } from 'vitest'
import { ExpectedKernelLog } from '../../harness/guest/expected-log.js'

const WARN = [
  '[   10.000000] ------------[ cut here ]------------',
  '[   10.000001] WARNING: CPU: 1 PID: 230 at drivers/misc/lkdtm/bugs.c:99 lkdtm_WARNING+0x10/0x20',
  '[   10.000002] Call Trace:',
  '[   10.000003] ---[ end trace 0000000000000000 ]---',
].join('\n')
const FAULT = '[   11.000000] DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x5a5000 [fault reason 0x05] PTE Write access is not set'

describe('ExpectedKernelLog', () => {
  test('a clean log is fine', () => {
    expect(new ExpectedKernelLog().judge('intel-iommu', '[    1.0] vfio-conform: begin test x\n')).toEqual([])
  })
  test('an undeclared WARN is a KernelSplat with its excerpt; declared, it is fine', () => {
    const log = new ExpectedKernelLog()
    const [j] = log.judge('intel-iommu', WARN)
    expect(j!.name).toBe('KernelSplat')
    expect(j!.message).toMatch(/^kernel splat during this test \(WARN\): WARNING: CPU: 1 PID: 230 at drivers\/misc\/lkdtm/)
    expect(j!.message).toContain('Call Trace:')
    log.expectSplat('WARN')
    expect(log.judge('intel-iommu', WARN)).toEqual([])
  })
  test('a declared splat that never came is MissingSplat; reset forgets declarations', () => {
    const log = new ExpectedKernelLog()
    log.expectSplat('WARN')
    expect(log.judge('intel-iommu', '').map((j) => j.name)).toEqual(['MissingSplat'])
    log.reset()
    expect(log.judge('intel-iommu', '')).toEqual([])
  })
  test('an IOMMU fault fails unless a declaration covers its device and IOVA page', () => {
    const log = new ExpectedKernelLog()
    expect(log.judge('intel-iommu', FAULT).map((j) => j.name)).toEqual(['UnexpectedIommuFault'])
    log.expectFault({ bdf: '0000:02:00.0' })
    expect(log.judge('intel-iommu', FAULT).map((j) => j.name)).toEqual(['UnexpectedIommuFault'])
    log.expectFault({ bdf: '0000:01:00.0', iova: 0x5a5010n, access: 'write' })
    expect(log.judge('intel-iommu', FAULT)).toEqual([])
    // Another model's lines are not this guest's faults.
    expect(new ExpectedKernelLog().judge('virtio-iommu', FAULT)).toEqual([])
  })
})
