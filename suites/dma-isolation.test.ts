// Real DMA through the vIOMMU with QEMU's edu device (hw/misc/edu.c, harness/dma/edu.ts):
// a mapping is the only way a device reaches memory. What a device writes lands exactly in
// the buffer mapped at the IOVA; an IOVA that is not mapped, no longer mapped (strict
// invalidation: the guests boot with iommu.strict=1), mapped in another process's space or
// mapped read-only is refused, and the guest kernel logs the translation fault for that
// device (formats per vIOMMU in harness/dma/faults.ts).
//
// Every test runs through both user APIs (harness/dma/paths.ts, like kselftest's FIXTURE_VARIANT):
//   type1   - container + group (drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map/unmap)
//   iommufd - device cdev + IOAS (drivers/iommu/iommufd/ioas.c iommufd_ioas_map/unmap)
// Both end in iommu_map()/iommu_unmap() on the device's paging domain, which the guest's
// vIOMMU driver turns into page-table entries (intel, amd) or MAP/UNMAP requests (virtio).
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import type { GuestAgent } from '../harness/agent/client.js'
import { EduDevice, EDU_IDENT, PCI_COMMAND_MASTER } from '../harness/dma/edu.js'
import { describeFaults, waitForFaultOrRedo, waitForFaultQuiet, type FaultMatch } from '../harness/dma/faults.js'
import { DMA_PATHS, hexdiff, mapPage, PAGE, pageBuffer } from '../harness/dma/paths.js'
import type { GuestSession } from '../harness/guest/session.js'
import { must } from '../harness/vfio/legacy.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

/** Bytes per transfer: inside one page and inside edu's 4 KiB buffer (QEMU 7.2 edu_check_range). */
const LEN = 1024
/**
 * Bytes of a DMA that is expected to fault. QEMU's virtio-iommu reports one fault per
 * 4-byte access (hw/virtio/virtio-iommu.c virtio_iommu_translate, one event per
 * translation) and the guest prints them with dev_err_ratelimited (10 per 5 s, shared by
 * every test): a 1 KiB faulting DMA would hide the next tests' fault lines. One access is
 * enough: translation is per page, and the buffer is still checked over LEN bytes.
 */
const FAULT_LEN = 4
/** IOVAs below edu's 28-bit dma_mask (edu_clamp_addr) and far from every reserved region. */
const IOVA_X = 0x100000n
const IOVA_Y = 0x200000n
const IOVA_Z = 0x300000n
const IOVA_W = 0x400000n
/** Mapped by no test, in no space. */
const IOVA_NEVER = 0x5a5000n
/** The two edu devices, each alone in its IOMMU group (guests/topologies/default.ts). */
const DEV_A = 'acs-edu'
const DEV_B = 'sw-edu'

forEachTarget((target, test) => {
  /** Agent memory of one page, filled with `fill` (a byte or a buffer); read() gives its first LEN bytes. */
  const buffer = (a: GuestAgent, fill: number | Buffer) => pageBuffer(a, fill, LEN)
  const mapped = mapPage

  /** Device ready for DMA: the right device, and bus mastering on. */
  async function ready(dev: EduDevice): Promise<EduDevice> {
    expect(await dev.ident(), `${dev.label} ident`).toBe(EDU_IDENT)
    const cmd = await dev.enableBusMaster()
    expect(cmd & PCI_COMMAND_MASTER, `${dev.label} PCI_COMMAND after enabling bus mastering: 0x${cmd.toString(16)}`).toBe(PCI_COMMAND_MASTER)
    return dev
  }

  /** The guest's /proc/uptime: the console's clock, within 50 ms (printk's local_clock). */
  const uptime = async (guest: GuestSession) => Number((await guest.run('cat /proc/uptime')).split(' ')[0])

  /**
   * Console offset to look for an expected fault from, taken once the drivers' fault-line
   * rate limit is clear again (earlier tests' faults may have used it up: a suppressed line
   * would read as "no fault").
   */
  async function faultMark(guest: GuestSession): Promise<number> {
    guest.waited('fault-ratelimit', await waitForFaultQuiet(guest.console, target.iommu, () => uptime(guest)))
    return guest.console.size()
  }

  /**
   * Waits for the fault line of `want` on the console after `from`; the line found goes into
   * the test's result (an annotation), so the report shows the kernel's own words. `fault`
   * repeats the faulting DMA when the driver's rate limit may have swallowed the line
   * (harness/dma/faults.ts waitForFaultOrRedo: its window counts jiffies, which lag the
   * console's clock on a loaded TCG guest).
   */
  async function expectFault(
    guest: GuestSession,
    from: number,
    want: FaultMatch,
    annotate: (m: string) => Promise<unknown>,
    fault: () => Promise<{ completed: boolean; note?: string }>,
  ): Promise<void> {
    // Declared, so that the fixture does not fail the test for the fault it provoked (any
    // other fault line during the test still does).
    guest.expected.expectFault(want)
    const redo = async () => dmaOk(await fault(), 'the faulting DMA, repeated')
    const r = await waitForFaultOrRedo(guest.console, target.iommu, from, want, redo, () => uptime(guest))
    guest.waited('fault-line', r.waitedMs)
    expect(r.match?.line, describeFaults(target.iommu, want, r.seen)).toBeDefined()
    const repeated = r.repeats ? ` (after repeating the DMA ${r.repeats}x: the first came within a full rate-limit window)` : ''
    await annotate(`fault logged by the kernel (on the console ${r.waitedMs} ms after the DMA${repeated}): ${r.match!.line}`)
  }

  const dmaOk = (r: { completed: boolean; note?: string }, what: string) => expect(r.completed, `${what}: ${r.note ?? ''}`).toBe(true)

  for (const path of DMA_PATHS) {
    const pathTest = test.extend<{ dmaPath: void }>({
      dmaPath: [
        async ({ kconfig, requireConfig, skip }, use) => {
          path.require(kconfig, requireConfig, skip)
          await use()
        },
        { auto: true },
      ],
    })

    // hw/misc/edu.c edu_mmio_read/write: 0x00 reads 0x010000ed, 0x04 reads back ~x;
    // vfio-pci passes BAR0 accesses through (vfio_pci_bar_rw) and the command register's
    // master bit to the device (vfio_basic_config_write).
    pathTest(`${path.name}: edu through VFIO: ident 0x010000ed, liveness reads ~x, bus mastering sticks`, async ({ guest }) => {
      await guest.vfioGroup(DEV_A)
      const a = await guest.agent()
      const { devices } = await path.open(guest, a, [DEV_A])
      const dev = devices.get(DEV_A)!
      expect(await dev.ident()).toBe(EDU_IDENT)
      expect(await dev.liveness(0x12345678)).toBe(~0x12345678 >>> 0)
      expect(await dev.liveness(0)).toBe(0xffffffff)
      expect((await dev.enableBusMaster()) & PCI_COMMAND_MASTER).toBe(PCI_COMMAND_MASTER)
    })

    // a. The mapping is what the device reaches: the IOMMU translates X and Y to the pages
    // pinned for buffers A and B (vfio_pin_pages_remote / iopt_pages), so the round trip
    // RAM(A) -> device -> RAM(B) is byte-exact.
    pathTest(`${path.name}: DMA to a mapped IOVA lands in the user's buffer, byte-exact`, async ({ guest }) => {
      await guest.vfioGroup(DEV_A)
      const a = await guest.agent()
      const { space, devices } = await path.open(guest, a, [DEV_A])
      const dev = await ready(devices.get(DEV_A)!)
      const pattern = randomBytes(LEN)
      const bufA = await buffer(a, pattern)
      const bufB = await buffer(a, 0)
      await mapped(space, bufA, IOVA_X, 'buffer A')
      await mapped(space, bufB, IOVA_Y, 'buffer B')
      dmaOk(await dev.dmaToDevice(IOVA_X, LEN), 'DMA X -> device')
      dmaOk(await dev.dmaFromDevice(IOVA_Y, LEN), 'DMA device -> Y')
      const got = await bufB.read()
      expect(got.equals(pattern), `buffer B after the round trip: ${hexdiff(got, pattern)}`).toBe(true)
      // Nothing wrote to A.
      expect((await bufA.read()).equals(pattern)).toBe(true)
    })

    // b. An IOVA with no mapping has no page-table entry (intel/amd: a not-present PTE;
    // virtio: no mapping in the domain's tree, virtio_iommu_translate), so the write goes
    // nowhere and the vIOMMU reports a translation fault the guest driver logs. The same
    // write to a mapped IOVA right after shows the device held the data all along.
    pathTest(`${path.name}: DMA to an IOVA never mapped lands nowhere and the kernel logs a fault for the device`, async ({ guest, annotate }) => {
      const g = await guest.vfioGroup(DEV_A)
      const a = await guest.agent()
      const { space, devices } = await path.open(guest, a, [DEV_A])
      const dev = await ready(devices.get(DEV_A)!)
      const pattern = randomBytes(LEN)
      const bufA = await buffer(a, pattern)
      const bufB = await buffer(a, 0xa5)
      await mapped(space, bufA, IOVA_X, 'buffer A')
      await mapped(space, bufB, IOVA_Y, 'buffer B')
      dmaOk(await dev.dmaToDevice(IOVA_X, LEN), 'DMA X -> device')
      const from = await faultMark(guest)
      // edu ignores the MemTxResult: the DMA "completes" either way.
      const fault = () => dev.dmaFromDevice(IOVA_NEVER, FAULT_LEN)
      dmaOk(await fault(), 'DMA device -> unmapped IOVA')
      await expectFault(guest, from, { bdf: g.bdf(DEV_A), iova: IOVA_NEVER, access: 'write' }, annotate, fault)
      expect((await bufB.read()).equals(Buffer.alloc(LEN, 0xa5)), 'buffer B changed').toBe(true)
      expect((await bufA.read()).equals(pattern), 'buffer A changed').toBe(true)
      dmaOk(await dev.dmaFromDevice(IOVA_Y, LEN), 'DMA device -> Y (control)')
      const got = await bufB.read()
      expect(got.equals(pattern), `control DMA to the mapped IOVA: ${hexdiff(got, pattern)}`).toBe(true)
    })

    // c. Unmap tears the PTE down and, with iommu.strict=1, flushes the IOTLB before
    // returning (iommu_unmap -> iommu_iotlb_sync; intel: caching-mode invalidations reach
    // QEMU's IOTLB), so the next DMA to the IOVA faults instead of using a stale entry.
    pathTest(`${path.name}: after UNMAP the IOVA no longer reaches the buffer and the kernel logs a fault`, async ({ guest, annotate }) => {
      const g = await guest.vfioGroup(DEV_A)
      const a = await guest.agent()
      const { space, devices } = await path.open(guest, a, [DEV_A])
      const dev = await ready(devices.get(DEV_A)!)
      const pattern = randomBytes(LEN)
      const bufA = await buffer(a, pattern)
      const bufB = await buffer(a, 0)
      await mapped(space, bufA, IOVA_X, 'buffer A')
      await mapped(space, bufB, IOVA_Y, 'buffer B')
      dmaOk(await dev.dmaToDevice(IOVA_X, LEN), 'DMA X -> device')
      dmaOk(await dev.dmaFromDevice(IOVA_Y, LEN), 'DMA device -> Y while mapped')
      expect((await bufB.read()).equals(pattern), 'the DMA before UNMAP did not land').toBe(true)
      const un = await space.unmap(IOVA_Y, PAGE)
      must(un, 'unmap Y')
      expect(un.unmapped).toBe(BigInt(PAGE))
      await a.memWrite(bufB.addr, Buffer.alloc(PAGE, 0x3c))
      const from = await faultMark(guest)
      const fault = () => dev.dmaFromDevice(IOVA_Y, FAULT_LEN)
      dmaOk(await fault(), 'DMA device -> Y after UNMAP')
      await expectFault(guest, from, { bdf: g.bdf(DEV_A), iova: IOVA_Y, access: 'write' }, annotate, fault)
      expect((await bufB.read()).equals(Buffer.alloc(LEN, 0x3c)), 'buffer B changed after UNMAP').toBe(true)
    })

    // d. Two processes, two groups, two spaces (two containers / two iommufd contexts): the
    // devices are attached to different domains, so an IOVA mapped in B's space means
    // nothing to A's device. Both map IOVA X, each to its own buffer: each device reads its own.
    pathTest(`${path.name}: a device cannot reach another process's buffer through that process's IOVA`, async ({ guest, annotate }) => {
      const gA = await guest.vfioGroup(DEV_A)
      await guest.vfioGroup(DEV_B)
      const a = await guest.agent({ label: 'process A' })
      const b = await guest.agent({ label: 'process B' })
      const A = await path.open(guest, a, [DEV_A])
      const B = await path.open(guest, b, [DEV_B])
      const devA = await ready(A.devices.get(DEV_A)!)
      const devB = await ready(B.devices.get(DEV_B)!)
      const patA = randomBytes(LEN)
      const patB = randomBytes(LEN)
      const srcA = await buffer(a, patA)
      const srcB = await buffer(b, patB)
      const victim = await buffer(b, 0xa5)
      await mapped(A.space, srcA, IOVA_X, "A's source")
      await mapped(B.space, srcB, IOVA_X, "B's source")
      await mapped(B.space, victim, IOVA_Z, "B's buffer")
      dmaOk(await devA.dmaToDevice(IOVA_X, LEN), 'A: DMA X -> device')
      dmaOk(await devB.dmaToDevice(IOVA_X, LEN), 'B: DMA X -> device')
      const from = await faultMark(guest)
      const fault = () => devA.dmaFromDevice(IOVA_Z, FAULT_LEN)
      dmaOk(await fault(), "A: DMA device -> Z (B's IOVA)")
      await expectFault(guest, from, { bdf: gA.bdf(DEV_A), iova: IOVA_Z, access: 'write' }, annotate, fault)
      expect((await victim.read()).equals(Buffer.alloc(LEN, 0xa5)), "B's buffer changed by A's device").toBe(true)
      // Control: Z is live in B's space, and B's device read B's X, not A's.
      dmaOk(await devB.dmaFromDevice(IOVA_Z, LEN), 'B: DMA device -> Z')
      const got = await victim.read()
      expect(got.equals(patB), `B's own DMA to Z: ${hexdiff(got, patB)}`).toBe(true)
    })

    // e. One space shared by two groups: type1 attaches the second group to the same
    // container (vfio_iommu_type1_attach_group replays the container's mappings into its
    // domain, vfio_iommu_replay); iommufd attaches both devices to one IOAS (iopt_table_add_domain
    // fills a new domain from the IOAS). Device 1 copies X -> Y, device 2 copies Y -> W.
    pathTest(`${path.name}: one space shared by two groups: both devices reach the shared mappings`, async ({ guest }) => {
      await guest.vfioGroup(DEV_A)
      await guest.vfioGroup(DEV_B)
      const a = await guest.agent()
      const { space, devices } = await path.open(guest, a, [DEV_A, DEV_B])
      const dev1 = await ready(devices.get(DEV_A)!)
      const dev2 = await ready(devices.get(DEV_B)!)
      const pattern = randomBytes(LEN)
      const bufX = await buffer(a, pattern)
      const bufY = await buffer(a, 0)
      const bufW = await buffer(a, 0)
      await mapped(space, bufX, IOVA_X, 'buffer X')
      await mapped(space, bufY, IOVA_Y, 'buffer Y')
      await mapped(space, bufW, IOVA_W, 'buffer W')
      dmaOk(await dev1.dmaToDevice(IOVA_X, LEN), `${DEV_A}: DMA X -> device`)
      dmaOk(await dev1.dmaFromDevice(IOVA_Y, LEN), `${DEV_A}: DMA device -> Y`)
      let got = await bufY.read()
      expect(got.equals(pattern), `${DEV_A} wrote Y: ${hexdiff(got, pattern)}`).toBe(true)
      dmaOk(await dev2.dmaToDevice(IOVA_Y, LEN), `${DEV_B}: DMA Y -> device`)
      dmaOk(await dev2.dmaFromDevice(IOVA_W, LEN), `${DEV_B}: DMA device -> W`)
      got = await bufW.read()
      expect(got.equals(pattern), `${DEV_B} copied Y to W: ${hexdiff(got, pattern)}`).toBe(true)
    })

    // f. A mapping without write permission (type1: no VFIO_DMA_MAP_FLAG_WRITE -> no
    // IOMMU_WRITE in vfio_dma_do_map; iommufd: no IOMMU_IOAS_MAP_WRITEABLE) gets a read-only
    // PTE: the device's write is refused with a fault, its read of the same IOVA works.
    pathTest(`${path.name}: a read-only mapping refuses device writes (fault logged) and allows device reads`, async ({ guest, annotate }) => {
      const g = await guest.vfioGroup(DEV_A)
      const a = await guest.agent()
      const { space, devices } = await path.open(guest, a, [DEV_A])
      const dev = await ready(devices.get(DEV_A)!)
      const pattern = randomBytes(LEN)
      const sentinel = Buffer.alloc(LEN, 0x5a)
      const src = await buffer(a, pattern)
      const ro = await buffer(a, 0x5a)
      const out = await buffer(a, 0)
      await mapped(space, src, IOVA_X, 'source')
      await mapped(space, ro, IOVA_Y, 'read-only buffer', { readOnly: true })
      await mapped(space, out, IOVA_Z, 'output')
      dmaOk(await dev.dmaToDevice(IOVA_X, LEN), 'DMA X -> device')
      const from = await faultMark(guest)
      const fault = () => dev.dmaFromDevice(IOVA_Y, FAULT_LEN)
      dmaOk(await fault(), 'DMA device -> read-only Y')
      await expectFault(guest, from, { bdf: g.bdf(DEV_A), iova: IOVA_Y, access: 'write' }, annotate, fault)
      let got = await ro.read()
      expect(got.equals(sentinel), `read-only buffer written by the device: ${hexdiff(got, sentinel)}`).toBe(true)
      // Reading it is allowed: Y -> device -> Z carries the sentinel.
      dmaOk(await dev.dmaToDevice(IOVA_Y, LEN), 'DMA read-only Y -> device')
      dmaOk(await dev.dmaFromDevice(IOVA_Z, LEN), 'DMA device -> Z')
      got = await out.read()
      expect(got.equals(sentinel), `device read of the read-only mapping: ${hexdiff(got, sentinel)}`).toBe(true)
    })
  }

  // The case a group exists for: devices below a bridge or port without ACS can reach each
  // other's MMIO by peer-to-peer DMA that never goes upstream to the IOMMU. QEMU does not
  // model it: pci_dma_read/write go through pci_device_iommu_address_space (the vIOMMU's
  // address space for every device, whatever the bridge), and a conventional bridge does not
  // forward a transaction between its secondary devices (hw/pci/pci_bridge.c).
  test('peer-to-peer DMA between devices of one group is not reproducible in emulation', async ({ skip }) => {
    skip(
      'QEMU does not model DMA that bypasses the IOMMU: every device DMA (pci_dma_rw) goes through the vIOMMU address space ' +
        '(hw/pci/pci.c pci_device_iommu_address_space), so peer-to-peer inside a non-ACS group cannot be observed here',
    )
  })
})
