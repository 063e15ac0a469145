// The guest itself: the kernel we asked for is the one running, and it booted clean.
import { expect } from 'vitest'
import { VIOMMUS } from '../guests/viommus/index.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { UNUSABLE_CHECK } from '../harness/vitest/targets.js'

forEachTarget((target, test) => {
  test('runs the requested kernel', async ({ guest, annotate }) => {
    const release = (await guest.run('uname -r')).trim()
    expect(release).toBe(target.kernel.release)
    const t = target.times!
    await annotate(
      `kernel ${release} (${target.kernel.id}), ${target.accel}: QEMU up ${t.qemuStart} ms, init ${t.init} ms, SSH ${t.ssh} ms`,
    )
  })

  test('boot is free of kernel splats', () => {
    // Splats during boot belong to no test; they fail this one, with their text.
    expect(target.bootSplats.map((s) => `${s.kind}: ${s.title}\n${s.excerpt}`)).toEqual([])
  })

  test('VFIO is loaded: /dev/vfio/vfio exists and vfio-pci is registered', async ({ guest, requireConfig }) => {
    requireConfig('VFIO', 'VFIO_PCI')
    const r = await guest.exec('ls -l /dev/vfio/vfio && ls -d /sys/bus/pci/drivers/vfio-pci')
    expect(r.code, r.stderr).toBe(0)
  })

  // A granule larger than the guest's pages (harness/qemu/args.ts granuleUnusable): the guest
  // driver refuses every domain (drivers/iommu/virtio-iommu.c viommu_domain_finalise in 6.12,
  // viommu_domain_alloc_paging in 7.x: -ENODEV), so no device keeps a group, and vfio-pci's
  // probe is EINVAL (drivers/vfio/group.c vfio_group_find_or_alloc). The guest's other tests
  // SKIP with that reason; this one checks it, so that the SKIP stays true.
  if (target.unusable) {
    test(UNUSABLE_CHECK, async ({ guest, annotate }) => {
      const granule = VIOMMUS[target.iommu].iommuPageSize!
      // The driver read the granule QEMU was asked for (virtio-iommu.c viommu_probe: "page mask").
      const mask = (BigInt.asUintN(64, -BigInt(granule))).toString(16)
      const boot = await guest.console.read(0)
      expect(boot, 'the guest driver\'s "page mask" line').toContain(`page mask: 0x${mask}`)
      const test = (await guest.pciDevices()).filter((d) => guest.roleOf(d.nodeId ?? '') === 'test')
      expect(test.length).toBeGreaterThan(0)
      expect(test.filter((d) => d.group !== undefined || d.driver === 'vfio-pci').map((d) => `${d.nodeId} (${d.bdf}): group ${d.group}, driver ${d.driver}`)).toEqual([])
      await annotate(`${test.length} test devices without a group; ${target.bootSplats.length} kernel splats at boot (${[...new Set(target.bootSplats.map((s) => s.title))].join('; ')})`)
    })
  }
}, { everywhere: true })
