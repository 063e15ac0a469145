// Known, understood divergences: each one reports XFAIL while it reproduces and XPASS (a
// failure, loudly) once it stops, so that this list never silently hides a change.
// See harness/vitest/known-issues.ts for the matching rules.
import type { KnownIssue } from '../harness/vitest/known-issues.js'

export const KNOWN_ISSUES: KnownIssue[] = [
  {
    id: 'virtio-iommu-probe-order-groups',
    // The NIC on its host driver ends up in a group of its own, apart from the edu and the
    // port it shares a non-ACS path with: every test built on "that group holds a device on a
    // host driver" fails with it.
    test: /^group rp-mix|host driver(?! makes the group viable)/,
    // Seen on the conform build (virtio-iommu, e1000e and pcieport all built in); not on
    // Debian's 6.12, where the harness loads virtio_iommu and then e1000e as modules.
    where: { iommu: ['virtio-iommu'], topology: ['default'], configBuiltin: ['VIRTIO_IOMMU'] },
    reason:
      'under virtio-iommu, groups form at driver probe (ACPI VIOT); pci_device_group() reuses an upstream ' +
      "bridge's group only if the bridge already has one, so an endpoint probed before its non-ACS root port " +
      'gets a group of its own: with the drivers built in, mix-nic (e1000e) is grouped apart from mix-edu and rp-mix, ' +
      'and mix-edu can be given to userspace while its unisolated neighbour stays on a host driver',
    ref: 'drivers/iommu/iommu.c: pci_device_group (upward walk uses iommu_group_get on the bridge); drivers/acpi/viot.c',
  },
  {
    id: 'virtio-iommu-behind-pci-bridge',
    test: /^group pcipci|^every vfio-pci device has/,
    where: { iommu: ['virtio-iommu'], topology: ['default'] },
    reason:
      'vfio-pci probe of an endpoint behind a pcie-pci-bridge fails with -22 under virtio-iommu, so that device never ' +
      'gets a group (measured when the project was planned; works under intel-iommu and amd-iommu)',
    ref: '../shared/FACTS.md (QEMU section); drivers/iommu/virtio-iommu.c viommu_probe_device',
  },
  {
    id: 'amd-iommu-qemu72-bus-number',
    test: /^(type1|iommufd): (DMA to a mapped|after UNMAP|one space shared)/,
    where: { iommu: ['amd-iommu'], qemu: /^7\.2\./ },
    reason:
      "QEMU 7.2's AMD IOMMU records a device's bus number when the device is created, before firmware numbers the " +
      'buses behind bridges, so devices behind root ports are translated with the table entry of bus 0: mapped DMA ' +
      'from acs-edu/sw-edu never reaches the user buffer (an edu on the root bus round-trips correctly)',
    ref: 'QEMU 7.2 hw/i386/amd_iommu.c amdvi_host_dma_iommu (iommu_as[devfn]->bus_num); reworked in later QEMU',
  },
  {
    id: 'amd-iommu-qemu72-no-fault-events',
    test: /^(type1|iommufd): (DMA to an IOVA never mapped|a device cannot reach|a read-only mapping)/,
    where: { iommu: ['amd-iommu'], qemu: /^7\.2\./ },
    reason:
      "QEMU 7.2's AMD IOMMU page walk returns silently on an empty entry and logs no IO_PAGE_FAULT event, so the guest " +
      'never prints the fault line these tests require',
    ref: 'QEMU 7.2 hw/i386/amd_iommu.c amdvi_page_walk ("if (!pte) return;"); later QEMU calls amdvi_page_fault there',
  },
]

