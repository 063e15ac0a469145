// The known-issues mechanism: XFAIL while a known divergence reproduces, XPASS (a failure)
// once it stops; harness errors and SKIPs are never turned into XFAIL.
import { describe, expect, test } from 'vitest'
import { matchKnownIssue, qemuLimit, withKnownIssue, type KnownIssue } from '../../harness/vitest/known-issues.js'
import type { GuestTarget } from '../../harness/vitest/targets.js'
import { HarnessError } from '../../harness/util/errors.js'
import { KNOWN_ISSUES } from '../../suites/known-issues.js'

const target = (over: Partial<GuestTarget> = {}): GuestTarget => ({
  key: 'debian-source-6.12.118-1/default/virtio-iommu',
  kernel: { id: 'debian-source:6.12.118-1', label: 'debian-source-6.12.118-1', release: '6.12.118', origin: null },
  topology: 'default',
  iommu: 'virtio-iommu',
  status: 'ready',
  runDir: '/tmp',
  consoleLog: '/tmp/console.log',
  bootSplats: [],
  config: [['VIRTIO_IOMMU', 'y'], ['IOMMUFD', 'y'], ['VFIO_CONTAINER', 'n']],
  modules: { loaded: [], absent: [] },
  ...over,
})

const issue: KnownIssue = {
  id: 'demo',
  owner: 'kernel', test: /^group pcipci/, where: { iommu: ['virtio-iommu'], kernel: /^debian-source:6\.12/, config: ['VIRTIO_IOMMU'], configUnset: ['VFIO_CONTAINER'] },
  reason: 'demo reason', ref: 'demo ref',
}

const ctx = (name: string) => ({ task: { name, meta: {} as Record<string, any> }, annotate: async () => undefined })

describe('known issues: matching', () => {
  test('every given field must match', () => {
    expect(matchKnownIssue([issue], target(), 'group pcipci + bridged-edu')?.id).toBe('demo')
    expect(matchKnownIssue([issue], target(), 'group acs-edu')).toBeUndefined()
    expect(matchKnownIssue([issue], target({ iommu: 'intel-iommu' }), 'group pcipci + bridged-edu')).toBeUndefined()
    expect(matchKnownIssue([issue], target({ kernel: { id: 'debian:6.12.118-1', label: 'x', release: '6.12.118+deb13-amd64', origin: null } }), 'group pcipci')).toBeUndefined()
    expect(matchKnownIssue([issue], target({ config: [['VIRTIO_IOMMU', 'n']] }), 'group pcipci')).toBeUndefined()
    expect(matchKnownIssue([issue], target({ config: [['VIRTIO_IOMMU', 'm'], ['VFIO_CONTAINER', 'y']] }), 'group pcipci')).toBeUndefined()
  })
  test('a QEMU-version-bound issue applies only to that QEMU', () => {
    const q: KnownIssue = { ...issue, owner: 'qemu', where: { qemu: { from: 702, to: 1001 } } }
    expect(matchKnownIssue([q], target({ qemu: '7.2.22' }), 'group pcipci')?.id).toBe('demo')
    expect(matchKnownIssue([q], target({ qemu: '10.0.13' }), 'group pcipci')?.id).toBe('demo')
    expect(matchKnownIssue([q], target({ qemu: '10.1.0' }), 'group pcipci')).toBeUndefined()
    expect(matchKnownIssue([q], target({ qemu: '11.1.3' }), 'group pcipci')).toBeUndefined()
    expect(matchKnownIssue([q], target(), 'group pcipci')).toBeUndefined()
  })
  test("every known issue says whose limit it is; a QEMU one has its version range and cites QEMU's source", () => {
    for (const k of KNOWN_ISSUES) {
      expect(['kernel', 'qemu'], k.id).toContain(k.owner)
      if (k.owner === 'qemu') {
        expect(k.where.qemu, `${k.id}: the QEMU versions it was seen on`).toBeDefined()
        expect(k.ref, `${k.id}: cites QEMU's source`).toMatch(/QEMU[^;]*hw\/\S+\.c/)
      }
    }
  })
  test('configBuiltin needs =y, a module does not do', () => {
    const builtin: KnownIssue = { ...issue, where: { configBuiltin: ['VIRTIO_IOMMU'] } }
    expect(matchKnownIssue([builtin], target(), 'group pcipci')?.id).toBe('demo')
    expect(matchKnownIssue([builtin], target({ config: [['VIRTIO_IOMMU', 'm']] }), 'group pcipci')).toBeUndefined()
  })
})

describe("vIOMMU records' QEMU limits a suite steps around", () => {
  test("amd-iommu's blocked-domain pass-through holds from QEMU 11.1, not on 10.0 or 7.2, nor under intel-iommu", () => {
    expect(qemuLimit({ iommu: 'amd-iommu', qemu: '11.1.3' }, 'blocked-dma-passes-through')?.owner).toBe('qemu')
    expect(qemuLimit({ iommu: 'amd-iommu', qemu: '10.0.13' }, 'blocked-dma-passes-through')).toBeUndefined()
    expect(qemuLimit({ iommu: 'amd-iommu', qemu: '7.2.22' }, 'blocked-dma-passes-through')).toBeUndefined()
    expect(qemuLimit({ iommu: 'intel-iommu', qemu: '11.1.3' }, 'blocked-dma-passes-through')).toBeUndefined()
  })
})

describe('known issues: wrapped test bodies', () => {
  const wrap = (body: (c: any) => unknown) => withKnownIssue(body, [issue], target())

  test('a failing body under a known issue is XFAIL (the test itself passes)', async () => {
    const c = ctx('group pcipci + bridged-edu')
    await expect(wrap(() => { throw new Error('expected 1 to be 2') })(c)).resolves.toBeUndefined()
    expect(c.task.meta.knownIssue).toMatchObject({ id: 'demo', verdict: 'XFAIL', failure: 'expected 1 to be 2' })
  })

  test('a passing body under a known issue is XPASS: the test fails, naming the stale entry', async () => {
    const c = ctx('group pcipci + bridged-edu')
    await expect(wrap(() => undefined)(c)).rejects.toThrow(/XPASS: known issue "demo" no longer reproduces/)
    expect(c.task.meta.knownIssue).toMatchObject({ verdict: 'XPASS' })
  })

  test('harness errors and SKIPs pass through; unmatched tests are untouched', async () => {
    await expect(wrap(() => { throw new HarnessError('SSH lost') })(ctx('group pcipci'))).rejects.toThrow(/SSH lost/)
    const pending = Object.assign(new Error('test is skipped'), { code: 'VITEST_PENDING' })
    await expect(wrap(() => { throw pending })(ctx('group pcipci'))).rejects.toBe(pending)
    const c = ctx('group acs-edu')
    await expect(wrap(() => { throw new Error('real failure') })(c)).rejects.toThrow('real failure')
    expect(c.task.meta.knownIssue).toBeUndefined()
  })

  test('vitest still sees the fixtures the body destructures', () => {
    const body = async ({ guest, skip }: { guest: unknown; skip: unknown }) => [guest, skip]
    expect(wrap(body).toString()).toBe(body.toString())
  })
})
