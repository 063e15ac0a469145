// Topology -> QEMU command line. Pure, so unit tests can check it without starting QEMU.
import { flattenTopology, type PciNode, type Topology } from '../../guests/topologies/types.js'
import { UNSAFE_INTERRUPTS_ARGS, VIOMMUS, type IommuModel } from '../../guests/viommus/index.js'
import { UsageError } from '../util/errors.js'

/** MAC of the harness NIC; init finds the SSH interface by it (kernel arg vfioconform.mac). */
export const SSH_NIC_MAC = '52:54:00:76:66:63'

export interface QemuArgsInput {
  topology: Topology
  iommu: IommuModel
  kernel: string
  initrd: string
  sshPort: number
  consoleLog: string
  qmpSocket: string
  kvm: boolean
  memoryMiB?: number
  cpus?: number
  extraCmdline?: string[]
  /** Devices this QEMU offers (from -device help), to fail early with a clear reason. */
  available?: Set<string>
  /** Properties of some of its devices (QemuInfo.deviceProps); absent: assume every property exists. */
  deviceProps?: Record<string, Set<string>>
}

/**
 * Root ports the topology wants without ACS, on a QEMU whose pcie-root-port has no
 * disable-acs property: QEMU dropped it with the 3.1 machine types' compat properties
 * (hw/pci-bridge/pcie_root_port.c rp_props holds only COMPAT_PROP_PCP in 11.1; 10.0 still has
 * DEFINE_PROP_BOOL("disable-acs", ...)), so its root ports always expose ACS. The guest kernel
 * then turns ACS off on those ports itself: pci=config_acs=0000000@<port> (drivers/pci/pci.c
 * __pci_config_acs, from pci_enable_acs at enumeration, Linux 6.11 on) clears every ACS
 * control bit, and pci_acs_enabled() reads the control register, so pci_device_group forms
 * the same groups as for a port without the capability. Returns the ports' addresses on the
 * root bus (undefined: nothing to do). Only root-bus ports: their address does not depend on
 * bus numbering.
 */
export function acsOffPorts(t: Topology, deviceProps?: Record<string, Set<string>>): string[] | undefined {
  const props = deviceProps?.['pcie-root-port']
  if (!props || props.has('disable-acs')) return undefined
  const out: string[] = []
  for (const { node, path } of flattenTopology(t)) {
    if (!node.props?.['disable-acs']) continue
    if (node.model !== 'pcie-root-port' || path.length !== 1) {
      throw new UsageError(`topology ${t.name}: ${node.id} wants disable-acs, which this QEMU lacks, and is not a root port on the root bus (the guest-side fallback needs a fixed address)`)
    }
    out.push(`0000:00:${path[0]}`)
  }
  return out.length ? out : undefined
}

/** Experimental properties whose stable name is not just the name without "x-". */
const STABLE_NAMES: Record<string, string> = {
  // intel-iommu's first-stage translation: x-flts in 10.0, fsts in 11.1.
  'x-flts': 'fsts',
}

/**
 * A -device argument with each experimental "x-NAME" property renamed to its stable name where
 * this QEMU has that: QEMU drops the prefix when a property stabilises (intel-iommu's
 * x-scalable-mode is scalable-mode in 11.1, x-flts is fsts; 7.2 and 10.0 know only the x-
 * names). 11.1.3's `-device intel-iommu,help` still lists the x- names, but setting one is
 * "Property 'intel-iommu.x-flts' not found": the stable name wins whenever it is listed.
 * Unknown properties: unchanged.
 */
export function stableProps(arg: string, props: Set<string> | undefined): string {
  if (!props) return arg
  return arg
    .split(',')
    .map((p) => {
      const m = /^(x-[^=]+)(=.*)?$/.exec(p)
      const stable = m && (STABLE_NAMES[m[1]!] ?? m[1]!.slice(2))
      return m && props.has(stable!) ? `${stable}${m[2] ?? ''}` : p
    })
    .join(',')
}

/**
 * The model's -device argument for this QEMU: x- properties renamed where they stabilised
 * (stableProps), and each of the record's qemuPropsIfAvailable appended when the device lists
 * it. Without the device's property list (unit tests, golden files of the host QEMU) nothing
 * is appended.
 */
export function viommuDeviceArg(model: { qemuDevice: string; qemuPropsIfAvailable?: string[] }, props: Set<string> | undefined): string {
  const extra = (model.qemuPropsIfAvailable ?? []).filter((p) => props?.has(p.split('=')[0]!))
  return stableProps([model.qemuDevice, ...extra].join(','), props)
}

/** The first kernel with pci=config_acs (acsOffPorts). */
export const CONFIG_ACS_SINCE = [6, 11] as const

/** Why a kernel cannot run a topology on a QEMU that needs the config_acs fallback (undefined: it can). */
export function acsFallbackUnsupported(t: Topology, qemu: { version: string; deviceProps?: Record<string, Set<string>> }, kernelRelease: string): string | undefined {
  if (!acsOffPorts(t, qemu.deviceProps)) return undefined
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease)
  if (!m) return undefined
  const [maj, min] = [Number(m[1]), Number(m[2])]
  if (maj > CONFIG_ACS_SINCE[0] || (maj === CONFIG_ACS_SINCE[0] && min >= CONFIG_ACS_SINCE[1])) return undefined
  return `QEMU ${qemu.version}'s pcie-root-port has no disable-acs (hw/pci-bridge/pcie_root_port.c), and kernel ${kernelRelease} predates pci=config_acs (${CONFIG_ACS_SINCE.join('.')}), which would turn ACS off in the guest instead: topology ${t.name} cannot be built`
}

/**
 * Why this QEMU cannot run a vIOMMU model (undefined: it can): the model's device is missing
 * or the QEMU is older than the record's minimum. The model's guests then SKIP with it.
 */
export function viommuUnsupported(iommu: IommuModel, qemu: { version: string; versionNum: number; devices: Set<string> }): string | undefined {
  const m = VIOMMUS[iommu]
  if (m.minQemu && qemu.versionNum < m.minQemu) {
    return `QEMU ${qemu.version} is older than ${Math.floor(m.minQemu / 100)}.${m.minQemu % 100}, the first with ${iommu} as the harness configures it (${m.qemuDevice})`
  }
  if (m.qemuDeviceName && !qemu.devices.has(m.qemuDeviceName)) return `QEMU ${qemu.version} has no "${m.qemuDeviceName}" device (${iommu})`
  return undefined
}

/** The guests' CPU page size: every guest is x86_64 (4 KiB pages). */
export const GUEST_PAGE_SIZE = 0x1000

const kib = (n: number) => `${n / 1024} KiB`

/**
 * Why a model's guests cannot translate any DMA (undefined: they can): its granule
 * (iommuPageSize) is larger than the guest's pages. Linux's virtio-iommu driver refuses every
 * paging domain then ("granule 0x%lx larger than system page size", -ENODEV:
 * drivers/iommu/virtio-iommu.c viommu_domain_finalise in 6.12, viommu_domain_alloc_paging in
 * 7.x), so no PCI device keeps an IOMMU group and vfio-pci's probe is EINVAL
 * (drivers/vfio/group.c vfio_group_find_or_alloc: no group and no noiommu). The guest still
 * boots: one test checks that (suites/boot.test.ts), every other test SKIPs with this reason.
 */
export function granuleUnusable(iommu: IommuModel, pageSize = GUEST_PAGE_SIZE): string | undefined {
  const g = VIOMMUS[iommu].iommuPageSize
  if (!g || g <= pageSize) return undefined
  return (
    `${iommu}'s ${kib(g)} granule is larger than the guest's ${kib(pageSize)} pages: the guest's virtio-iommu driver refuses every ` +
    'domain (drivers/iommu/virtio-iommu.c viommu_domain_finalise / viommu_domain_alloc_paging: -ENODEV), so no device is translated ' +
    'and VFIO has no device to give (a 64 KiB granule needs a guest with 64 KiB pages)'
  )
}

/**
 * The first QEMU release of each device model a topology may use that is younger than the
 * oldest QEMU the project supports (7.2): for the SKIP reason only. Whether a QEMU has a model
 * is read from its `-device help` (QemuInfo.devices), never from its version.
 */
export const DEVICE_MODEL_SINCE: Partial<Record<PciNode['model'], string>> = { igb: '8.0' }

/**
 * Why this QEMU cannot build a topology (undefined: it can): a device model the topology uses
 * is missing from its `-device help`. The topology's guests then SKIP with it, naming the QEMU.
 */
export function topologyUnsupported(t: Topology, qemu: { version: string; devices: Set<string> }): string | undefined {
  const lacking = [...new Set(flattenTopology(t).map((x) => x.node.model))].filter((m) => !qemu.devices.has(m))
  if (!lacking.length) return undefined
  const since = lacking.flatMap((m) => (DEVICE_MODEL_SINCE[m as PciNode['model']] ? [`${m} is in QEMU ${DEVICE_MODEL_SINCE[m as PciNode['model']]} and later`] : []))
  return `QEMU ${qemu.version} has no ${lacking.map((m) => `"${m}"`).join(', ')} device${since.length ? ` (${since.join('; ')})` : ''}: topology ${t.name} needs it`
}

/** Kernel command line per vIOMMU model. */
export function kernelCmdline(iommu: IommuModel, extra: string[] = []): string {
  const base = [
    'console=ttyS0,115200',
    // panic=-1 + -no-reboot: a panic ends QEMU at once instead of hanging until the deadline.
    'panic=-1',
    'rdinit=/init',
    // Strict invalidation: an unmapped IOVA must stop working immediately (the DMA suites rely on it).
    'iommu.strict=1',
    // A guest the harness cannot reach gets an NMI (harness/guest/supervisor.ts): the kernel
    // then panics with a backtrace on the console, which tells a hung kernel from a live one.
    'unknown_nmi_panic',
    // ... and with every CPU's backtrace and the blocked tasks (0x40 | 0x80).
    'panic_print=0xc0',
    // Under a busy TCG host the IO-APIC timer check sometimes panics ("IO-APIC + timer doesn't work!").
    'no_timer_check',
    // The harness writes test markers into /dev/kmsg.
    'printk.devkmsg=on',
    `vfioconform.mac=${SSH_NIC_MAC}`,
  ]
  const model = VIOMMUS[iommu]
  base.push(...model.kernelArgs)
  if (!model.isolatesMsi) base.push(...UNSAFE_INTERRUPTS_ARGS)
  return [...base, ...extra].join(' ')
}

function props(p: Record<string, string | number | boolean> = {}): string {
  return Object.entries(p)
    .map(([k, v]) => `,${k}=${typeof v === 'boolean' ? (v ? 'on' : 'off') : v}`)
    .join('')
}

export function qemuArgs(i: QemuArgsInput): string[] {
  const t = i.topology
  const model = VIOMMUS[i.iommu]
  const acsOff = acsOffPorts(t, i.deviceProps)
  if (model.qemuDeviceName && i.available && !i.available.has(model.qemuDeviceName)) {
    throw new UsageError(`this QEMU has no "${model.qemuDeviceName}" device (needed for the ${model.name} model)`)
  }
  const args: string[] = [
    '-machine', i.kvm && model.kvmMachineProps ? `q35,${model.kvmMachineProps}` : 'q35',
    ...(i.kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', String(i.cpus ?? 2),
    '-m', String(i.memoryMiB ?? 1024),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    // append=on: a guest the harness restarts (harness/guest/supervisor.ts) continues its log.
    '-chardev', `file,id=con,path=${i.consoleLog},append=on`,
    '-serial', 'chardev:con',
    '-qmp', `unix:${i.qmpSocket},server=on,wait=off`,
    '-kernel', i.kernel,
    '-initrd', i.initrd,
    '-append', kernelCmdline(i.iommu, [...(i.extraCmdline ?? []), ...(acsOff ? [`pci=config_acs=${acsOff.map((a) => `0000000@${a}`).join(';')}`] : [])]),
  ]
  // The vIOMMU must come before the PCI devices it translates for.
  if (model.qemuDevice) args.push('-device', viommuDeviceArg({ ...model, qemuDevice: model.qemuDevice }, i.deviceProps?.[model.qemuDeviceName ?? '']))
  let chassis = 1
  const deviceArg = (n: PciNode, bus: string): string => {
    if (i.available && !i.available.has(n.model)) {
      throw new UsageError(`topology ${t.name}: this QEMU has no "${n.model}" device (needed for ${n.id})`)
    }
    let a = `${n.model},id=${n.id},bus=${bus},addr=${n.addr}`
    if (n.model === 'pcie-root-port' || n.model === 'xio3130-downstream') a += `,chassis=${chassis},slot=${chassis++}`
    if (n.model === 'virtio-net-pci') a += `,netdev=sshnet,mac=${SSH_NIC_MAC},romfile=`
    if (n.model === 'e1000e' || n.model === 'igb') a += `,romfile=`
    // Function 0 of a slot with other functions must say so.
    if (/\.0$/.test(n.addr) && siblingsOf(n).some((s) => s.addr.split('.')[0] === n.addr.split('.')[0] && s !== n)) {
      a += ',multifunction=on'
    }
    return a + props(acsOff && n.props ? Object.fromEntries(Object.entries(n.props).filter(([k]) => k !== 'disable-acs')) : n.props)
  }
  // Which nodes share a parent bus, to set multifunction on function 0.
  const parentOf = new Map<PciNode, PciNode[]>()
  const index = (nodes: PciNode[]) => {
    for (const n of nodes) {
      parentOf.set(n, nodes)
      if (n.children) index(n.children)
    }
  }
  index(t.devices)
  const siblingsOf = (n: PciNode) => parentOf.get(n) ?? []

  const ssh = flattenTopology(t).find((x) => x.node.role === 'harness' && x.node.model === 'virtio-net-pci')
  if (!ssh) throw new UsageError(`topology ${t.name} has no harness virtio-net-pci device for SSH`)
  // restrict=on: the guest reaches nothing but the forwarded port.
  args.push('-netdev', `user,id=sshnet,restrict=on,hostfwd=tcp:127.0.0.1:${i.sshPort}-:22`)
  const walk = (nodes: PciNode[], bus: string) => {
    for (const n of nodes) {
      args.push('-device', deviceArg(n, bus))
      if (n.children) walk(n.children, n.id)
    }
  }
  walk(t.devices, 'pcie.0')
  return args
}
