import type { Topology } from './types.js'

// No vIOMMU at all, with VFIO's unsafe no-IOMMU mode enabled (drivers/vfio/group.c:
// vfio_group_find_or_alloc creates a "vfio-noiommu" group for a device that has none when it
// binds to vfio-pci, and taints the kernel). Only the noiommu suite runs here.
export const noiommuTopology: Topology = {
  name: 'noiommu',
  description: 'no vIOMMU, VFIO no-IOMMU mode: one edu',
  machine: 'q35',
  iommus: ['none'],
  requires: ['VFIO_NOIOMMU'],
  kernelArgs: ['vfio.enable_unsafe_noiommu_mode=1'],
  dedicatedTo: 'noiommu',
  devices: [
    { id: 'ssh-nic', model: 'virtio-net-pci', addr: '02.0', role: 'harness', purpose: 'SSH to the guest agent' },
    { id: 'noiommu-edu', model: 'edu', addr: '03.0', role: 'test', purpose: 'gets a vfio-noiommu group when bound to vfio-pci' },
  ],
  cast: { singletonGroup: 'noiommu-edu' },
  // Without an IOMMU no device has a group until VFIO makes a no-IOMMU one at bind.
  expectedGroups: { none: [] },
  ungrouped: { none: ['q35-host', 'ich9-lpc', 'ich9-ahci', 'ich9-smbus', 'ssh-nic', 'noiommu-edu'] },
}
