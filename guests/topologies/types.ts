// Topologies are data: a vIOMMU model and a PCI tree, plus the IOMMU groups the kernel
// is expected to form for it under each vIOMMU model. The launcher turns a Topology into
// QEMU arguments; the `groups` suite compares the guest's groups with `expectedGroups`.

import { VIOMMUS, type BuiltinNode, type IommuModel } from '../viommus/index.js'
export type { BuiltinNode, IommuModel }

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

/**
 * A place where a suite adds a device to the running guest (QMP device_add onto `bus` at
 * `addr`) and removes it again. On q35 QEMU signals both through ACPI (acpiphp in the guest),
 * root ports and the pcie-pci-bridge alike: QEMU's default since 6.1, measured on 7.2.
 */
export interface HotplugSlot {
  /** Name of the slot, in test names. */
  id: string
  /** The port or bridge (a node id) whose secondary bus takes the device. */
  bus: string
  /** Slot.function on that bus. */
  addr: string
  /** What is added there: the QEMU device id (also its node id while it exists) and model. */
  device: { id: string; model: PciDeviceModel }
  /** Which grouping rule the slot exercises. */
  purpose: string
  /**
   * The IOMMU group the added device is expected in (node ids, itself included), as
   * pci_device_group forms it; the same under every model (under a model whose groups form
   * at probe, once a driver probed it).
   */
  groupAfterAdd: string[]
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
  /** Devices (and builtins) expected to have no IOMMU group at all, per vIOMMU model. */
  ungrouped?: Partial<Record<IommuModel, string[]>>
  /**
   * Devices whose group, under a model whose groups form at driver probe, depends on whether
   * some driver of the kernel under test probed them (the harness binds none to them): they
   * must be alone in their group if they have one, but having one is not asserted.
   */
  probeDependent?: Partial<Record<IommuModel, string[]>>
  /**
   * Which devices play which part in the suites, so a suite names a part, not a device, and
   * runs on any topology that casts it. A part a topology does not cast makes its tests SKIP.
   */
  cast: SuiteCast
  /** Free places for devices added while the guest runs (the hotplug suite). */
  hotplugSlots?: HotplugSlot[]
  /** Kernel options the topology needs; a kernel without one SKIPs its guests, naming it. */
  requires?: string[]
  /** Extra kernel command line for guests of this topology. */
  kernelArgs?: string[]
  /**
   * A topology that exists for one suite (e.g. "noiommu"): only that suite runs on it, and it
   * runs nowhere else. Topologies without this run every general suite.
   */
  dedicatedTo?: string
}

export interface SuiteCast {
  /** Two `test` devices that share one IOMMU group (the "multi-device group"). */
  multiDeviceGroup?: [string, string]
  /** A `test` device alone in its group. */
  singletonGroup?: string
  /** A `test` device whose group-mate is on a host driver at boot (spoils viability). */
  hostDriverGroup?: { device: string; hostDevice: string; driver: string }
  /**
   * A hot-plug slot whose added device joins the group of a `test` device present at boot
   * (`owned`): the group a user holds when the device arrives.
   */
  hotplugIntoGroup?: {
    slot: string
    owned: string
    /** vIOMMU models under which the group cannot be handed to userspace at all, and why (the tests SKIP with it). */
    unusableUnder?: Partial<Record<IommuModel, string>>
  }
  /** A hot-plug slot whose added device is alone in its group. */
  hotplugSingleton?: string
  /**
   * `test` or `host-driver` devices that one PCI hot reset reaches together: every device on
   * one bus below a port or bridge (vfio_pci_for_each_slot_or_bus), at least two. Whether
   * they are one IOMMU group or several is the kernel's grouping (expectedGroups; the reset
   * suite reads it from the guest): a missing group fd or another owner exists only with several.
   */
  resetSet?: string[]
  /** A `test` device on the root bus: no slot or bus reset reaches it (pci_bus_reset needs bus->self). */
  noBusReset?: string
  /** A `test` device with a function reset of its own (VFIO_DEVICE_FLAGS_RESET). */
  functionReset?: string
  /** A `test` device without one (no FLR or PM reset, and not alone on a resettable bus). */
  noFunctionReset?: string
  /**
   * An SR-IOV PF (a `test` device) whose VFs the guest enables through sriov_numvfs, on its
   * host driver or on vfio-pci with enable_sriov. VFs are not topology nodes (QEMU makes them
   * when the guest enables them); `vfGroups` is how pci_device_group groups each VF per
   * vIOMMU model: `own` (a group per VF) or `pf` (in the PF's group).
   */
  sriov?: {
    pf: string
    hostDriver: string
    numVfs: number
    vfGroups: Partial<Record<IommuModel, 'own' | 'pf'>>
    /** A `test` device that is neither PF nor VF (a vf_token given for it is refused). */
    notSriov: string
  }
}

/** Functions that q35 always creates, even with -nodefaults; they have groups too. */
export const Q35_BUILTINS: BuiltinNode[] = [
  { id: 'q35-host', addr: '00.0', description: 'q35 host bridge (MCH)' },
  { id: 'ich9-lpc', addr: '1f.0', description: 'ICH9 LPC/ISA bridge' },
  { id: 'ich9-ahci', addr: '1f.2', description: 'ICH9 AHCI controller' },
  { id: 'ich9-smbus', addr: '1f.3', description: 'ICH9 SMBus controller' },
]

/** Fixed PCI functions of the machine under a vIOMMU model: q35's own plus the vIOMMU's. */
export function builtinsFor(iommu?: IommuModel): BuiltinNode[] {
  const v = iommu ? VIOMMUS[iommu].pciFunction : undefined
  return v ? [...Q35_BUILTINS, v] : Q35_BUILTINS
}

/**
 * The node a hot-plug slot's device is while it exists (a `test` device), with its path.
 * Not part of flattenTopology: the guest boots without it.
 */
export function hotplugNodes(t: Topology): Array<{ node: PciNode; path: string[]; parent: PciNode; slot: HotplugSlot }> {
  const boot = flattenTopology(t)
  return (t.hotplugSlots ?? []).map((slot) => {
    const bus = boot.find((x) => x.node.id === slot.bus)
    if (!bus) throw new Error(`topology ${t.name}: hot-plug slot ${slot.id} is on ${slot.bus}, which is not one of its nodes`)
    const node: PciNode = { id: slot.device.id, model: slot.device.model, addr: slot.addr, role: 'test', purpose: slot.purpose }
    return { node, path: [...bus.path, normAddr(slot.addr)], parent: bus.node, slot }
  })
}

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

/** Map from path key ("04.0/00.0") to node id, including the machine's builtins under `iommu`. */
export function pathIndex(t: Topology, iommu?: IommuModel): Map<string, string> {
  const m = new Map<string, string>()
  for (const b of builtinsFor(iommu)) m.set(normAddr(b.addr), b.id)
  for (const { node, path } of flattenTopology(t)) m.set(path.join('/'), node.id)
  // A hot-plug slot's device is known by its id while it exists.
  for (const { node, path } of hotplugNodes(t)) m.set(path.join('/'), node.id)
  return m
}

export function findNode(t: Topology, id: string): { node: PciNode; path: string[]; parent?: PciNode } {
  const f = flattenTopology(t).find((x) => x.node.id === id) ?? hotplugNodes(t).find((x) => x.node.id === id)
  if (!f) throw new Error(`topology ${t.name} has no device ${id}`)
  return f
}
