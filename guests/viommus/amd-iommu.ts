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
  // QEMU 7.2 and 10.0 log no event for a zero PTE; 11.1.3 logs one, with the DeviceID and
  // address wrong (see limits): this line is a write to IOVA 0x5a5000 by 0000:01:00.0.
  examples: ['pci 0000:00:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x0 flags=0x000a]'],
}

/** QEMU's AMD-Vi. */
export const amdIommu = defineViommu({
  name: 'amd-iommu',
  description: 'AMD-Vi, interrupt remapping on',
  qemuDevice: 'amd-iommu,intremap=on',
  qemuDeviceName: 'amd-iommu',
  // QEMU's AMD IOMMU with a dma-remap property (11.1.3 has it, 10.0.13 not; default off) keeps
  // every device's address space in pass-through until an INVALIDATE_DEVTAB_ENTRY finds a
  // paging DTE, and checks that only with dma-remap=on (hw/i386/amd_iommu.c
  // amdvi_inval_devtab_entry -> amdvi_update_addr_translation_mode; amdvi_switch_address_space):
  // without it an emulated device's DMA is never translated. Measured on 11.1.3 (2026-12-07):
  // without it the mapped-DMA tests read back zeros, with it they pass.
  qemuPropsIfAvailable: ['dma-remap=on'],
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
      what: 'devices behind a bridge are translated with the device-table entry of bus 0: their mapped DMA never reaches the user buffer',
      owner: 'qemu',
      qemu: { from: 702, to: 1100 },
      source: 'hw/i386/amd_iommu.c: amdvi_host_dma_iommu stores pci_bus_num(bus) when the device is created, before firmware numbers the buses (seen on 7.2.22 and 10.0.13; 11.1.3 reads the bus number at translation time, "amd_iommu: Fix handling device on buses != 0")',
    },
    {
      what: 'a DMA to an unmapped IOVA raises no event-log entry: the guest never prints IO_PAGE_FAULT',
      owner: 'qemu',
      qemu: { from: 702, to: 1100 },
      source: 'hw/i386/amd_iommu.c: amdvi_page_walk returns on a PTE without the present bit without logging an event (seen on 7.2.22 and 10.0.13; 11.1.3 logs one after "amd_iommu: Fix event log generation")',
    },
    {
      what: 'the IO_PAGE_FAULT event names the wrong device (DeviceID = devfn, bus dropped), address 0 and no write flag: the guest prints it for 0000:00:00.0',
      owner: 'qemu',
      qemu: { from: 1100 },
      source: 'hw/i386/amd_iommu.c: amdvi_page_walk calls amdvi_page_fault(s, as->devfn, addr, perms) (a devfn, not bus << 8 | devfn; the IOMMU permission 2, not EVENT_FLAG_RW 0x20), and amdvi_setevent_bits builds the address mask with MAKE_64BIT_MASK(64, 64), a shift by 64, so the address field stays 0 (seen on 11.1.3)',
    },
    {
      key: 'blocked-dma-passes-through',
      what: "a device on the kernel's blocked domain is not blocked: its DMA is not translated and lands in guest memory at the IOVA taken as a physical address",
      owner: 'qemu',
      qemu: { from: 1100 },
      source:
        'hw/i386/amd_iommu.c: amdvi_update_addr_translation_mode switches a device to pass-through for any DTE with V=1 and Mode=0 ' +
        '(enable_nodma_mode), ignoring TV, IR and IW; the kernel blocks a device with exactly such an entry (drivers/iommu/amd/iommu.c ' +
        'clear_dte_entry: DTE_FLAG_V | DTE_FLAG_TV, Mode 0, no IR/IW). 7.2 and 10.0 walked Mode 0 entries with IR/IW as the permission ' +
        '(amdvi_page_walk no_remap), so nothing passed. Seen on 11.1.3 (2026-12-07): the ownership model\'s DMA to IOVA 0x100000 from a ' +
        "blocked edu overwrote the guest's vmalloc PUD page at physical 0x100000 (P4D entry 0x100067) and the guest oopsed",
    },
  ],
})
