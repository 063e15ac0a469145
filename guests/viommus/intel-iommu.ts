import { hex, rid } from './fault-helpers.js'
import { defineViommu, type FaultFormat } from './types.js'

// drivers/iommu/intel/dmar.c dmar_fault_do_one (pr_fmt "DMAR: "):
//   "[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s"
// with "DMA Read" / "DMA Write" (the PASID variant prints "PASID 0x%x" instead of NO_PASID).
// 7.x prints the PCI segment too: "Request device [%04x:%02x:%02x.%d]" (read in 7.2's dmar.c).
// QEMU records the page address (hw/i386/intel_iommu.c vtd_record_frcd: VTD_FRCD_FI(addr)).
const DMAR_FAULT =
  /DMAR: \[DMA (?<access>Read|Write) (?:NO_PASID|PASID 0x[0-9a-f]+)\] Request device \[(?:[0-9a-f]{4}:)?(?<bus>[0-9a-f]{2}):(?<dev>[0-9a-f]{2})\.(?<fn>[0-7])\] fault addr 0x(?<addr>[0-9a-f]+) \[fault reason 0x(?<reason>[0-9a-f]{2})\] ?(?<text>.*)$/

/** The DMAR fault line; shared by every mode of QEMU's intel-iommu (one guest driver). */
export const DMAR_FAULTS: FaultFormat = {
  pattern: DMAR_FAULT,
  parse: (m) => {
    const g = m.groups!
    return {
      rid: rid(g.bus!, g.dev!, g.fn!),
      addr: hex(g.addr),
      access: g.access === 'Write' ? 'write' : 'read',
      reason: `0x${g.reason} ${g.text!.trim()}`,
    }
  },
  source: 'drivers/iommu/intel/dmar.c: dmar_fault_do_one',
  // dmar.c dmar_fault, one static state: __ratelimit() for the "DRHD: handling fault status
  // reg" line, then once at the top of every turn of the record loop, including the last
  // turn that finds no record (F clear) and breaks. One fault with one record: 3 calls for
  // 2 lines (seen: after three faults in 5 s the fourth printed its status line only, then
  // "dmar_fault: 2 callbacks suppressed").
  ratelimit: {
    units: (line) => (/DMAR: DRHD: handling fault status reg/.test(line) ? 2 : DMAR_FAULT.test(line) ? 1 : 0),
    perFault: 3,
  },
  // As debian-source 6.12.118 guests printed them under QEMU 7.2 (acs-edu at 0000:01:00.0).
  examples: [
    'DMAR: DRHD: handling fault status reg 2',
    'DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x5a5000 [fault reason 0x05] PTE Write access is not set',
    // As debian-source 7.2.13 printed it (segment added).
    'DMAR: [DMA Write NO_PASID] Request device [0000:01:00.0] fault addr 0x200000 [fault reason 0x05] PTE Write access is not set',
  ],
}

/** QEMU's Intel VT-d in its default (legacy) mode: second-level tables, interrupt remapping. */
export const intelIommu = defineViommu({
  name: 'intel-iommu',
  description: 'Intel VT-d (legacy mode), interrupt remapping on, caching mode (TCG needs no more)',
  qemuDevice: 'intel-iommu,intremap=on,caching-mode=on',
  qemuDeviceName: 'intel-iommu',
  // intremap and caching-mode exist since QEMU 2.x; the oldest QEMU measured here is 7.2.
  minQemu: 702,
  kvmMachineProps: 'kernel-irqchip=split',
  kernelArgs: ['intel_iommu=on'],
  kernelOption: 'INTEL_IOMMU',
  isolatesMsi: true,
  groupsFormAtProbe: false,
  faults: DMAR_FAULTS,
  limits: [],
})
