import type { Topology } from './types.js'

/** q35's own functions: the host bridge alone, the ICH9 functions together (one slot, no ACS). */
const Q35_GROUPS = [['q35-host'], ['ich9-lpc', 'ich9-ahci', 'ich9-smbus']]

/** The boot tree's devices, as pci_device_group partitions them (the VFs appear later: cast.sriov). */
const DEVICE_GROUPS = [['ssh-nic'], ['plain-edu'], ['rp-igb'], ['igb-pf']]

// An SR-IOV physical function behind a root port with ACS: QEMU's igb (82576 PF, 8086:10c9;
// hw/net/igb.c, QEMU 8.0 on; up to 8 VFs, 8086:10ca, at VF offset 0x80 stride 2, so on the
// PF's bus). Only the sriov suite (and the groups suite) runs here.
//
// Groups (drivers/iommu/iommu.c pci_device_group, 7.2.13 and 6.12.118 alike): the upward walk
// stops at once, because the root port has an ACS path (pci_acs_path_enabled); the PF is
// single-function in QEMU (no PCI_HEADER_TYPE_MFD) and a VF never is (drivers/pci/iov.c
// pci_iov_add_virtfn: virtfn->multifunction = 0), so get_pci_function_alias_group returns
// nothing and every function gets a group of its own. pci_quirk_mf_endpoint_acs lists the
// 82576 PF (drivers/pci/quirks.c, "82576" block) but matters only for a multifunction PF
// (two ports): it does not decide anything here. So the PF and each VF are distinct groups
// sharing one bus (one secondary bus reset of rp-igb); but vfio-pci gives each VF a dev_set
// of its own (vfio_pci_core_register_device: is_virtfn), which the sriov suite checks.
export const igbTopology: Topology = {
  name: 'igb',
  description: 'an igb SR-IOV PF (82576) behind a root port with ACS, VFs enabled in the guest (QEMU 8.0+); an edu on the root bus',
  machine: 'q35',
  iommus: ['intel-iommu', 'amd-iommu', 'virtio-iommu'],
  dedicatedTo: 'sriov',
  requires: ['PCI_IOV'],
  devices: [
    { id: 'ssh-nic', model: 'virtio-net-pci', addr: '02.0', role: 'harness', purpose: 'SSH to the guest agent' },
    {
      id: 'plain-edu', model: 'edu', addr: '03.0', role: 'test',
      purpose: 'neither PF nor VF: a vf_token given for it is refused',
    },
    {
      // x-speed=5: the port's bus reset does not wait for the Data Link Layer Link Active QEMU's
      // root port never reports (as rp-mix in default.ts; docs/findings.md).
      id: 'rp-igb', model: 'pcie-root-port', addr: '04.0', role: 'bridge', props: { 'x-speed': '5' },
      purpose: 'root port exposing ACS: the PF and its VFs below get groups of their own, one bus reset',
      children: [
        {
          id: 'igb-pf', model: 'igb', addr: '00.0', role: 'test',
          purpose: 'the SR-IOV PF: on igb (its VFs have no PF owner in VFIO) or on vfio-pci with enable_sriov (VF token)',
        },
      ],
    },
  ],
  cast: {
    sriov: {
      pf: 'igb-pf',
      hostDriver: 'igb',
      numVfs: 2,
      notSriov: 'plain-edu',
      vfGroups: { 'intel-iommu': 'own', 'amd-iommu': 'own', 'virtio-iommu': 'own' },
    },
  },
  expectedGroups: {
    'intel-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'amd-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'virtio-iommu': DEVICE_GROUPS,
  },
  ungrouped: { 'amd-iommu': ['amd-viommu'], 'virtio-iommu': ['virtio-viommu'] },
  probeDependent: { 'virtio-iommu': ['q35-host', 'ich9-lpc', 'ich9-ahci', 'ich9-smbus'] },
}
