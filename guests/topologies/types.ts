// Topologies are data: a vIOMMU model and a PCI tree, plus the IOMMU groups the kernel
// is expected to form for it under each vIOMMU model. The launcher turns a Topology into
// QEMU arguments; the `groups` suite compares the guest's groups with `expectedGroups`.

export type IommuModel = 'intel-iommu' | 'virtio-iommu' | 'amd-iommu' | 'none'

export type PciDeviceModel =
  | 'edu'
  | 'e1000e'
  | 'igb'
  | 'virtio-net-pci'
  | 'pcie-root-port'
  | 'pcie-pci-bridge'
  | 'x3130-upstream'
  | 'xio3130-downstream'

export interface PciNode {
  /** Stable name; also the QEMU device id. */
  id: string
  model: PciDeviceModel
  /** Slot and function on the parent bus, "SS.F" (hex slot). */
  addr: string
  /** Extra QEMU properties (e.g. `disable-acs: true`). */
  props?: Record<string, string | number | boolean>
  /** Why this device is in the topology: what rule it lets a suite exercise. */
  purpose?: string
  /**
   * `test`: a device the suites may hand to vfio-pci; `host-driver`: a device left on its
   * host driver at boot (a group-mate that spoils viability); `harness`: infrastructure
   * (the SSH NIC), never touched by suites; `bridge`: a port or bridge.
   */
  role: 'test' | 'host-driver' | 'harness' | 'bridge'
  /** For `host-driver` devices: the driver the guest binds at boot. */
  hostDriver?: string
  children?: PciNode[]
}

/** Functions that q35 always creates, even with -nodefaults; they have groups too. */
export interface BuiltinNode {
  id: string
  addr: string
  description: string
}

export interface Topology {
  name: string
  description: string
  machine: 'q35'
  /** vIOMMU models this topology is meant to run under; the first is the default. */
  iommus: IommuModel[]
  devices: PciNode[]
  /**
   * Expected IOMMU groups per vIOMMU model, each group a set of node ids (devices and q35
   * builtins). A model without an entry makes the `groups` suite SKIP with that reason.
   * Every device the guest sees must be in exactly one group here.
   */
  expectedGroups: Partial<Record<IommuModel, string[][]>>
  /**
   * Which devices play which part in the suites, so a suite names a part, not a device, and
   * runs on any topology that casts it. A part a topology does not cast makes its tests SKIP.
   */
  cast: SuiteCast
}

export interface SuiteCast {
  /** Two `test` devices that share one IOMMU group (the "multi-device group"). */
  multiDeviceGroup?: [string, string]
  /** A `test` device alone in its group. */
  singletonGroup?: string
  /** A `test` device whose group-mate is on a host driver at boot (spoils viability). */
  hostDriverGroup?: { device: string; hostDevice: string; driver: string }
}

export const Q35_BUILTINS: BuiltinNode[] = [
  { id: 'q35-host', addr: '00.0', description: 'q35 host bridge (MCH)' },
  { id: 'ich9-lpc', addr: '1f.0', description: 'ICH9 LPC/ISA bridge' },
  { id: 'ich9-ahci', addr: '1f.2', description: 'ICH9 AHCI controller' },
  { id: 'ich9-smbus', addr: '1f.3', description: 'ICH9 SMBus controller' },
]

/** Every device node with its path of "SS.F" hops from the root bus, which is independent of bus numbering. */
export function flattenTopology(t: Topology): Array<{ node: PciNode; path: string[]; parent?: PciNode }> {
  const out: Array<{ node: PciNode; path: string[]; parent?: PciNode }> = []
  const walk = (nodes: PciNode[], prefix: string[], parent?: PciNode) => {
    for (const n of nodes) {
      const p = [...prefix, normAddr(n.addr)]
      out.push({ node: n, path: p, parent })
      if (n.children) walk(n.children, p, n)
    }
  }
  walk(t.devices, [])
  return out
}

/** "3.0", "03", "03.0" -> "03.0" */
export function normAddr(a: string): string {
  const [slot, fn = '0'] = a.split('.')
  return `${parseInt(slot!, 16).toString(16).padStart(2, '0')}.${parseInt(fn, 16).toString(16)}`
}

/** Map from path key ("04.0/00.0") to node id, including the q35 builtins. */
export function pathIndex(t: Topology): Map<string, string> {
  const m = new Map<string, string>()
  for (const b of Q35_BUILTINS) m.set(normAddr(b.addr), b.id)
  for (const { node, path } of flattenTopology(t)) m.set(path.join('/'), node.id)
  return m
}

export function findNode(t: Topology, id: string): { node: PciNode; path: string[]; parent?: PciNode } {
  const f = flattenTopology(t).find((x) => x.node.id === id)
  if (!f) throw new Error(`topology ${t.name} has no device ${id}`)
  return f
}
