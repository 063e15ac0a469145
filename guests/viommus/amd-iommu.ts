import { hex, rid } from './fault-helpers.js'
import { defineViommu, type FaultFormat } from './types.js'

/** drivers/iommu/amd/amd_iommu_types.h: EVENT_FLAG_RW (the access was a write), EVENT_FLAG_I (interrupt request). */
export const AMD_EVENT_FLAG_RW = 0x020
export const AMD_EVENT_FLAG_I = 0x008

// drivers/iommu/amd/iommu.c amd_iommu_report_page_fault: with the device known,
//   pci_err(pdev, "Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx flags=0x%04x]")
// (so "<driver> 0000:BB:DD.F: Event logged ..."); otherwise (pr_fmt "AMD-Vi: ")
//   "Event logged [IO_PAGE_FAULT device=%04x:%02x:%02x.%x domain=0x%04x address=0x%llx flags=0x%04x]".
const IO_PAGE_FAULT =
  /(?:\S+ [0-9a-f]{4}:(?<bus>[0-9a-f]{2}):(?<dev>[0-9a-f]{2})\.(?<fn>[0-7]): Event logged \[IO_PAGE_FAULT |AMD-Vi: Event logged \[IO_PAGE_FAULT device=[0-9a-f]{4}:(?<bus2>[0-9a-f]{2}):(?<dev2>[0-9a-f]{2})\.(?<fn2>[0-7]) )domain=0x(?<domain>[0-9a-f]+) address=0x(?<addr>[0-9a-f]+) flags=0x(?<flags>[0-9a-f]+)\]/

const faults: FaultFormat = {
  pattern: IO_PAGE_FAULT,
  parse: (m) => {
    const g = m.groups!
    const flags = parseInt(g.flags!, 16)
    return {
      rid: rid((g.bus ?? g.bus2)!, (g.dev ?? g.dev2)!, (g.fn ?? g.fn2)!),
      addr: hex(g.addr),
      access: flags & AMD_EVENT_FLAG_RW ? 'write' : 'read',
      reason: `domain=0x${g.domain} flags=0x${g.flags}`,
    }
  },
  source: 'drivers/iommu/amd/iommu.c: amd_iommu_report_page_fault',
  // One __ratelimit(&dev_data->rs) (or pr_err_ratelimited) per line.
  ratelimit: { units: (line) => (IO_PAGE_FAULT.test(line) ? 1 : 0), perFault: 1 },
  // QEMU 7.2 logs no event for a zero PTE (see limits), so no guest here printed one yet.
  examples: [],
}

/** QEMU's AMD-Vi. */
export const amdIommu = defineViommu({
  name: 'amd-iommu',
  description: 'AMD-Vi, interrupt remapping on',
  qemuDevice: 'amd-iommu,intremap=on',
  qemuDeviceName: 'amd-iommu',
  minQemu: 702,
  // The AMD IOMMU is on by default; 6.12 rejects "amd_iommu=on" as an unknown option.
  kernelArgs: [],
  kernelOption: 'AMD_IOMMU',
  isolatesMsi: true,
  // QEMU places amd-iommu's function in the first free slot (01.0 with our topologies).
  pciFunction: { id: 'amd-viommu', addr: '01.0', description: 'AMD IOMMU PCI function (1022:0008)' },
  groupsFormAtProbe: false,
  faults,
  limits: [
    {
      what: 'a DMA to an unmapped IOVA raises no event-log entry: the guest never prints IO_PAGE_FAULT',
      owner: 'qemu',
      qemu: { to: 1001 },
      source: 'hw/i386/amd_iommu.c: amdvi_page_walk returns on a PTE without the present bit and never calls amdvi_log_event (fixed by "amd_iommu: Fix event log generation", QEMU 10.1)',
    },
  ],
})
