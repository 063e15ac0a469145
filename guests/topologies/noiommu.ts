import type { Topology } from './types.js'

// No vIOMMU at all, with VFIO's unsafe no-IOMMU mode enabled (drivers/vfio/group.c:
// vfio_group_find_or_alloc creates a "vfio-noiommu" group for a device that has none when it
// binds to vfio-pci, and taints the kernel). Only the noiommu suite runs here.
export const noiommuTopology: Topology = {
  name: 'noiommu',
  description: 'no vIOMMU, VFIO no-IOMMU mode: one edu on the root bus, a two-function edu behind a root port (two groups, one bus reset)',
  machine: 'q35',
  iommus: ['none'],
  requires: ['VFIO_NOIOMMU'],
  kernelArgs: ['vfio.enable_unsafe_noiommu_mode=1'],
  dedicatedTo: 'noiommu',
  devices: [
    { id: 'ssh-nic', model: 'virtio-net-pci', addr: '02.0', role: 'harness', purpose: 'SSH to the guest agent' },
    {
      id: 'noiommu-edu', model: 'edu', addr: '03.0', role: 'test',
      purpose: 'gets a vfio-noiommu group when bound to vfio-pci; on the root bus, so no bus reset reaches it',
    },
    {
      id: 'rst-port', model: 'pcie-root-port', addr: '04.0', role: 'bridge',
      purpose: 'its secondary bus reset is the one reset both functions below share',
      children: [
        { id: 'rst-edu0', model: 'edu', addr: '00.0', role: 'test', purpose: 'function 0: a no-IOMMU group of its own, one bus reset with function 1' },
        { id: 'rst-edu1', model: 'edu', addr: '00.1', role: 'test', purpose: 'function 1: another group, the same bus reset' },
      ],
    },
  ],
  cast: {
    singletonGroup: 'noiommu-edu',
    resetSet: ['rst-edu0', 'rst-edu1'],
    noBusReset: 'noiommu-edu',
    noFunctionReset: 'rst-edu0',
  },
  // Without an IOMMU no device has a group until VFIO makes a no-IOMMU one at bind.
  expectedGroups: { none: [] },
  ungrouped: { none: ['q35-host', 'ich9-lpc', 'ich9-ahci', 'ich9-smbus', 'ssh-nic', 'noiommu-edu', 'rst-port', 'rst-edu0', 'rst-edu1'] },
}
