// What a vIOMMU model is, as data: one record per model (kselftest's FIXTURE_VARIANT_ADD,
// tuxrun's one class per device). The QEMU command line, the kernel command line, the kernel
// option a guest needs, the fault lines the DMA suites read, the CLI's lists, the resolver's
// "@model" suffixes and CI's matrix are all derived from these records (guests/viommus/index.ts).

/** A PCI function the machine has without the topology asking for it (q35's own, a vIOMMU's). */
export interface BuiltinNode {
  id: string
  addr: string
  description: string
}

export type FaultAccess = 'read' | 'write'

/** What a fault line says, read by a model's FaultFormat. */
export interface FaultFields {
  /**
   * The PCI requester id the line names (bus << 8 | devfn), when it names one. Segment 0 is
   * assumed (q35 has one).
   */
  rid?: number
  /** The faulting address as printed (intel-iommu prints the page: the low 12 bits are 0). */
  addr?: bigint
  /** Read or write, when the line says (virtio-iommu says nothing for an unmapped address). */
  access?: FaultAccess
  /** The model's own reason (intel: "0x05 PTE Write access is not set"; virtio: "page"; amd: "flags=0x..."). */
  reason: string
}

/** How the model's guest driver reports a DMA translation fault on the console. */
export interface FaultFormat {
  /** Matches one fault line (timestamp stripped); the groups are read by `parse`. */
  pattern: RegExp
  parse: (m: RegExpExecArray, line: string) => FaultFields
  /** Where the line is printed (kernel source). */
  source: string
  /**
   * How the driver spends its fault-line rate limit (DEFAULT_RATELIMIT_BURST calls per
   * DEFAULT_RATELIMIT_INTERVAL): the __ratelimit() calls a console line stands for (0 for a
   * line that is none of the driver's), and the calls one provoked fault makes.
   */
  ratelimit: { units: (line: string) => number; perFault: number }
  /**
   * Real lines as guests printed them (with the lines the driver prints around them), for
   * the unit tests: each fault line parses, none is a splat.
   */
  examples: string[]
}

/** A QEMU version, compared as major * 100 + minor ("10.1" -> 1001). */
export type QemuVersionNum = number

/** A limit of the model (QEMU's or the guest driver's) that the suites meet, with where it is decided. */
export interface ViommuLimit {
  /** A name suites ask for (qemuLimit in harness/vitest/known-issues.ts) when they must step around it. */
  key?: string
  what: string
  /** 'qemu' with the versions it holds on, or 'kernel'. */
  owner: 'qemu' | 'kernel'
  /** QEMU versions the limit holds on ([from, to): to undefined: still open), for owner 'qemu'. */
  qemu?: { from?: QemuVersionNum; to?: QemuVersionNum }
  /** The source that decides it (QEMU's or the kernel's file and function). */
  source: string
}

export interface ViommuRecord<Name extends string = string> {
  /** The name on the command line (--iommu), in test names and in "@model" kernel suffixes. */
  name: Name
  description: string
  /**
   * The -device argument that creates the vIOMMU (before the PCI devices it translates for),
   * or undefined for no vIOMMU.
   */
  qemuDevice?: string
  /** The QEMU device name (`-device help`); a QEMU without it SKIPs the model's guests. */
  qemuDeviceName?: string
  /**
   * Properties appended to qemuDevice only on a QEMU whose device lists them
   * (`-device NAME,help`): what a newer QEMU needs for the model to do what older ones did
   * without asking (amd-iommu's dma-remap). A QEMU without the property runs without it.
   */
  qemuPropsIfAvailable?: string[]
  /** Oldest QEMU whose device has every property qemuDevice sets; older: the guests SKIP, naming it. */
  minQemu?: QemuVersionNum
  /** What -machine gets besides q35 under KVM (intel-iommu with intremap needs a split irqchip there). */
  kvmMachineProps?: string
  /** Kernel command line the model needs. */
  kernelArgs: string[]
  /** The kernel option that provides the guest driver; a kernel without it SKIPs the model. */
  kernelOption?: string
  /**
   * Whether the model isolates MSIs (interrupt remapping). Without it, type1
   * (vfio_iommu_type1_attach_group) and iommufd (iommufd_device_bind) refuse user DMA with
   * EPERM unless the admin sets allow_unsafe_interrupts, which the harness does for such
   * models (UNSAFE_INTERRUPTS_ARGS) so that the other rules can be tested there too.
   */
  isolatesMsi: boolean
  /**
   * The vIOMMU's own PCI function, where the model has one. It is not translated by itself,
   * so it has no IOMMU group.
   */
  pciFunction?: BuiltinNode
  /**
   * Whether groups form only when a driver probes a device (not at PCI enumeration): the
   * groups suite then binds every `test` device to vfio-pci before comparing.
   */
  groupsFormAtProbe: boolean
  /**
   * The smallest IOMMU page (granule) the model offers the guest, in bytes; undefined: 4 KiB.
   * A guest whose CPU pages are smaller cannot translate with it (harness/qemu/args.ts:
   * granuleUnusable).
   */
  iommuPageSize?: number
  /** The guest driver's DMA fault line, when it prints one. */
  faults?: FaultFormat
  /** Limits the suites meet under this model, each with its owner and source. */
  limits: ViommuLimit[]
}

/** A record with its name kept as a literal type (IommuModel is the union of the names). */
export function defineViommu<const Name extends string>(record: ViommuRecord<Name>): ViommuRecord<Name> {
  return record
}
