import { defineViommu, type FaultFormat } from './types.js'

// drivers/iommu/virtio-iommu.c viommu_fault_handler (dev_err_ratelimited on the virtio
// device, so "virtio_iommu virtioN: "):
//   "%s fault from EP %u at %#llx [%s%s%s]" (reason domain|page|unknown, then R, W, X flags)
//   "%s fault from EP %u"                   (no address)
// The endpoint id is the PCI requester id: QEMU's ACPI VIOT (hw/acpi/viot.c) describes the
// PCI host bridge with endpoint_start = bdf_start = 0. QEMU's virtio_iommu_translate reports
// an unmapped address with F_ADDRESS only ("[]") and a permission fault with R or W.
const VIOMMU_FAULT = /virtio_iommu \S+: (?<reason>domain|page|unknown) fault from EP (?<ep>\d+)(?: at (?<addr>0x[0-9a-f]+|0) \[(?<flags>R?W?X?)\])?/

const faults: FaultFormat = {
  pattern: VIOMMU_FAULT,
  parse: (m) => {
    const g = m.groups!
    const flags = g.flags ?? ''
    return {
      rid: Number(g.ep),
      addr: g.addr === undefined ? undefined : BigInt(g.addr),
      access: flags.includes('W') ? 'write' : flags.includes('R') ? 'read' : undefined,
      reason: `${g.reason}${g.flags !== undefined ? ` [${flags}]` : ''}`,
    }
  },
  source: 'drivers/iommu/virtio-iommu.c: viommu_fault_handler',
  // dev_err_ratelimited: one call per line (two call sites, counted together: safe side).
  ratelimit: { units: (line) => (VIOMMU_FAULT.test(line) ? 1 : 0), perFault: 1 },
  // As debian-source 6.12.118 guests printed them under QEMU 7.2 (acs-edu at 0000:01:00.0).
  examples: [
    'viommu_fault_handler: 246 callbacks suppressed',
    'virtio_iommu virtio0: page fault from EP 256 at 0x5a5000 []',
    'virtio_iommu virtio0: page fault from EP 256 at 0x200000 [W]',
  ],
}

/** QEMU's virtio-iommu-pci, described to the guest by ACPI VIOT. */
export const virtioIommu = defineViommu({
  name: 'virtio-iommu',
  description: 'virtio-iommu-pci (ACPI VIOT), no MSI isolation',
  // The harness pins the function at 1e.0 (pciFunction).
  qemuDevice: 'virtio-iommu-pci,addr=1e.0',
  qemuDeviceName: 'virtio-iommu-pci',
  minQemu: 702,
  kernelArgs: [],
  kernelOption: 'VIRTIO_IOMMU',
  isolatesMsi: false,
  pciFunction: { id: 'virtio-viommu', addr: '1e.0', description: 'virtio-iommu-pci (1af4:1057)' },
  // virtio-iommu is described by ACPI VIOT, and the kernel configures an endpoint for it from
  // dma_configure at driver probe (drivers/acpi/viot.c, drivers/iommu/virtio-iommu.c), so a
  // driverless device has no group.
  groupsFormAtProbe: true,
  faults,
  limits: [],
})
