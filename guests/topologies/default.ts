import type { Topology } from './types.js'

/** q35's own functions: the host bridge alone, the ICH9 functions together (one slot, no ACS). */
const Q35_GROUPS = [['q35-host'], ['ich9-lpc', 'ich9-ahci', 'ich9-smbus']]

/** The topology's devices, as pci_device_group partitions them. */
const DEVICE_GROUPS = [
  ['ssh-nic'],
  ['mf-edu0', 'mf-edu1'],
  ['rp-acs'],
  ['acs-edu'],
  ['rp-noacs', 'noacs-edu'],
  ['pcipci', 'bridged-edu'],
  ['rp-mix', 'mix-edu', 'mix-nic'],
  ['rp-sw'],
  ['sw-up'],
  ['sw-down', 'sw-edu'],
  ['hp-acs'],
  ['hp-noacs'],
]

// The default topology: one place for each grouping rule the suites need.
// Group expectations are derived from how the kernel forms groups
// (drivers/iommu/iommu.c: pci_device_group): functions of a multifunction device without
// ACS share a group; a device behind a PCIe-to-PCI bridge shares the bridge's group (DMA
// aliases to the bridge); a root or downstream port without ACS does not isolate what is
// below it (the upward walk in pci_device_group stops at the first port with an ACS path).
// The edu+e1000e slot sits behind such a port on purpose: on the root bus the kernel puts an
// e1000e function (a PCIe endpoint) in a group of its own even in a multifunction slot.
export const defaultTopology: Topology = {
  name: 'default',
  description: 'multifunction edu pair, edu under ACS/no-ACS root ports, behind a PCIe-PCI bridge, edu+e1000e slot, x3130 switch, empty ACS/no-ACS root ports for hot-plug',
  machine: 'q35',
  iommus: ['intel-iommu', 'virtio-iommu', 'amd-iommu'],
  devices: [
    { id: 'ssh-nic', model: 'virtio-net-pci', addr: '02.0', role: 'harness', purpose: 'SSH to the guest agent' },
    {
      id: 'mf-edu0', model: 'edu', addr: '03.0', role: 'test',
      purpose: 'function 0 of a two-function slot without ACS: one group of two',
    },
    { id: 'mf-edu1', model: 'edu', addr: '03.1', role: 'test', purpose: 'function 1 of the same slot' },
    {
      id: 'rp-acs', model: 'pcie-root-port', addr: '04.0', role: 'bridge',
      purpose: 'root port exposing ACS: the endpoint below is a singleton group',
      children: [{ id: 'acs-edu', model: 'edu', addr: '00.0', role: 'test' }],
    },
    {
      id: 'rp-noacs', model: 'pcie-root-port', addr: '05.0', role: 'bridge', props: { 'disable-acs': true },
      purpose: 'root port with ACS disabled: its endpoint shares the port\'s group',
      children: [{ id: 'noacs-edu', model: 'edu', addr: '00.0', role: 'test' }],
    },
    {
      id: 'pcipci', model: 'pcie-pci-bridge', addr: '06.0', role: 'bridge',
      purpose: 'conventional PCI behind a bridge: bridge and device form one group',
      children: [{ id: 'bridged-edu', model: 'edu', addr: '01.0', role: 'test' }],
    },
    {
      // x-speed=5: a port of at most 5 GT/s is one the kernel may reset without waiting for Data
      // Link Layer Link Active (pci_bridge_wait_for_secondary_bus: it polls the child instead),
      // which QEMU's root port never reports after a secondary bus reset (docs/findings.md).
      id: 'rp-mix', model: 'pcie-root-port', addr: '07.0', role: 'bridge', props: { 'disable-acs': true, 'x-speed': '5' },
      purpose: 'a slot with edu (fn 0) and e1000e (fn 1) behind a port without ACS, so both share one group; its bus reset is the hot-reset rules\' subject',
      children: [
        {
          id: 'mix-edu', model: 'edu', addr: '00.0', role: 'test',
          purpose: 'shares its group with a NIC on its host driver: not viable until e1000e is unbound',
        },
        { id: 'mix-nic', model: 'e1000e', addr: '00.1', role: 'host-driver', hostDriver: 'e1000e' },
      ],
    },
    {
      id: 'rp-sw', model: 'pcie-root-port', addr: '08.0', role: 'bridge',
      children: [
        {
          id: 'sw-up', model: 'x3130-upstream', addr: '00.0', role: 'bridge',
          purpose: 'switch upstream port',
          children: [
            {
              id: 'sw-down', model: 'xio3130-downstream', addr: '00.0', role: 'bridge',
              purpose: 'downstream port without ACS: groups with its endpoint',
              children: [{ id: 'sw-edu', model: 'edu', addr: '00.0', role: 'test' }],
            },
          ],
        },
      ],
    },
    {
      id: 'hp-acs', model: 'pcie-root-port', addr: '09.0', role: 'bridge',
      purpose: 'an empty root port with ACS: a device hot-added below gets a group of its own',
    },
    {
      id: 'hp-noacs', model: 'pcie-root-port', addr: '0a.0', role: 'bridge', props: { 'disable-acs': true },
      purpose: "an empty root port without ACS: a device hot-added below joins the port's group",
    },
  ],
  // Devices added while the guest runs (suites/hotplug.test.ts), grouped by the same rules
  // as those present at boot.
  hotplugSlots: [
    {
      id: 'pci-bridge', bus: 'pcipci', addr: '02.0', device: { id: 'hp-bridged-edu', model: 'edu' },
      purpose: "a second slot of the conventional PCI bus: the added device joins the bridge's group, bridged-edu's",
      groupAfterAdd: ['pcipci', 'bridged-edu', 'hp-bridged-edu'],
    },
    {
      id: 'acs-port', bus: 'hp-acs', addr: '00.0', device: { id: 'hp-acs-edu', model: 'edu' },
      purpose: 'below a root port with ACS: a group of its own',
      groupAfterAdd: ['hp-acs-edu'],
    },
    {
      id: 'noacs-port', bus: 'hp-noacs', addr: '00.0', device: { id: 'hp-noacs-edu', model: 'edu' },
      purpose: "below a root port without ACS: the port's group",
      groupAfterAdd: ['hp-noacs', 'hp-noacs-edu'],
    },
  ],
  cast: {
    multiDeviceGroup: ['mf-edu0', 'mf-edu1'],
    singletonGroup: 'acs-edu',
    hostDriverGroup: { device: 'mix-edu', hostDevice: 'mix-nic', driver: 'e1000e' },
    hotplugIntoGroup: {
      slot: 'pci-bridge',
      owned: 'bridged-edu',
      unusableUnder: {
        'virtio-iommu':
          "vfio-pci's probe of an endpoint behind the pcie-pci-bridge fails with -22 under virtio-iommu (known issue " +
          'virtio-iommu-behind-pci-bridge), so the group the added device joins cannot be held',
      },
    },
    hotplugSingleton: 'acs-port',
    // The rp-mix port's bus holds edu and e1000e: one bus reset, one group (no ACS between
    // the functions). Cross-group resets need functions with ACS (igb, QEMU 8.0+) or noiommu.
    resetSet: ['mix-edu', 'mix-nic'],
    noBusReset: 'mf-edu0',
    // Alone on a root port's bus: pci_parent_bus_reset is its function reset (FLAGS_RESET).
    functionReset: 'acs-edu',
    // On the root bus, no FLR, no PM cap: vfio_pci_core_enable finds no reset method.
    noFunctionReset: 'mf-edu0',
  },
  // amd-iommu forms the same groups as intel-iommu (both use pci_device_group); its own PCI
  // function has none. Under virtio-iommu a group forms when a driver probes (see
  // the virtio-iommu record's groupsFormAtProbe), so q35's builtins are probe-dependent there.
  expectedGroups: {
    'intel-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'intel-iommu-sm': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'intel-iommu-fs': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'amd-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS],
    'virtio-iommu': DEVICE_GROUPS,
    // None: its granule is larger than the guest's pages (harness/qemu/args.ts granuleUnusable).
    'virtio-iommu-64k': [],
  },
  ungrouped: {
    'amd-iommu': ['amd-viommu'],
    'virtio-iommu': ['virtio-viommu'],
    'virtio-iommu-64k': [...Q35_GROUPS.flat(), ...DEVICE_GROUPS.flat(), 'virtio-viommu'],
  },
  // q35's builtins have no driver the harness loads; Debian's 6.12 gave the host bridge a
  // group under virtio-iommu, the conform build did not.
  probeDependent: {
    'virtio-iommu': ['q35-host', 'ich9-lpc', 'ich9-ahci', 'ich9-smbus'],
  },
}
