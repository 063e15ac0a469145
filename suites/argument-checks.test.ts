// Argument and state checks of the VFIO and iommufd ioctls that the ownership and DMA suites
// never run into (ci/coverage/unreached.yaml listed them as reachable): type1's MAP_DMA and
// UNMAP_DMA rules (no access, alignment, a split, the mapping limit, VADDR updates, the
// interrupt window), its software dirty tracking (DIRTY_PAGES, UNMAP_DMA's bitmap), the same
// rules through an iommufd given to a group by SET_CONTAINER (iommufd's VFIO compat,
// vfio_compat.c: the "group + iommufd" column of docs/rule-paths.md), the group ioctls,
// iommufd's IOAS ioctls (ALLOC, IOVA_RANGES, ALLOW_IOVAS, MAP, COPY, UNMAP), IOMMU_OPTION and
// its ioctl dispatch, the device cdev's BIND/ATTACH/DETACH, and vfio-pci's info, IRQ, reset,
// ioeventfd, feature, region read/write and mmap entry points. An argument the kernel
// cannot write back is a page the agent maps read-only (GuestAgent.readOnlyMem): the
// copy-out's EFAULT, and what the kernel undoes then. Each errno was read in the 6.12 source
// (7.2's where it differs); the comment above a test names the function that decides it.
// Milliseconds of ioctls, on each kernel's first guest: none of these checks depends on the
// vIOMMU model or on QEMU (the page size they align to is 4 KiB under every x86 vIOMMU).
import { expect } from 'vitest'
import { errnoOf, type GuestAgent } from '../harness/agent/client.js'
import type { GuestSession } from '../harness/guest/session.js'
import { decode, encode } from '../harness/uapi/struct.js'
import {
  IOMMU_GET_HW_INFO,
  iommu_hw_info,
  IOMMU_IOAS_ALLOC,
  iommu_ioas_alloc,
  IOMMU_IOAS_ALLOW_IOVAS,
  iommu_ioas_allow_iovas,
  IOMMU_IOAS_COPY,
  iommu_ioas_copy,
  IOMMU_IOAS_IOVA_RANGES,
  iommu_ioas_iova_ranges,
  IOMMU_IOAS_MAP,
  iommu_ioas_map,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  iommu_ioas_unmap,
  iommu_iova_range,
  IOMMU_OPTION,
  iommu_option,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  IOMMU_VFIO_IOAS,
  iommu_vfio_ioas,
  IOMMU_VFIO_IOAS_GET,
} from '../harness/uapi/iommufd.js'
import {
  vfio_bitmap,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  vfio_device_attach_iommufd_pt,
  VFIO_DEVICE_BIND_IOMMUFD,
  vfio_device_bind_iommufd,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfio_device_detach_iommufd_pt,
  VFIO_DEVICE_FEATURE,
  vfio_device_feature,
  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
  VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
  VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT,
  VFIO_DEVICE_FEATURE_PCI_VF_TOKEN,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  vfio_device_info,
  VFIO_DEVICE_IOEVENTFD,
  vfio_device_ioeventfd,
  VFIO_DEVICE_IOEVENTFD_32,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  vfio_group_status,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  vfio_iommu_type1_dirty_bitmap,
  vfio_iommu_type1_dirty_bitmap_get,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  VFIO_IOMMU_UNMAP_DMA,
  vfio_irq_info,
  vfio_irq_set,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_BAR0_REGION_INDEX,
  VFIO_PCI_BAR2_REGION_INDEX,
  VFIO_PCI_CONFIG_REGION_INDEX,
  vfioPciRegionOffset,
  vfio_pci_hot_reset_info,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
  VFIO_PCI_ROM_REGION_INDEX,
  VFIO_PCI_VGA_REGION_INDEX,
  vfio_region_info,
  VFIO_SPAPR_TCE_IOMMU,
  VFIO_TYPE1_IOMMU,
} from '../harness/uapi/vfio.js'
import { bindIommufd, cdevPath, destroy, ioasAlloc, ioasMap, IOMMUFD_PATH, openCdev, openIommufd } from '../harness/vfio/iommufd.js'
import {
  getDeviceFd,
  holdGroup,
  mapDma,
  must,
  openContainer,
  openGroup,
  setContainer,
  setIommu,
  unmapDma,
} from '../harness/vfio/legacy.js'
import { kernelAtLeast } from '../harness/kernel/version.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

const PAGE = 4096n
const IOVA = 0x100000n

/** VFIO_IOMMU_DIRTY_PAGES with GET_BITMAP of [iova, iova + size) into an 8-byte bitmap at data, page size 4 KiB. */
const getDirtyBitmap = (a: GuestAgent, container: number, r: { iova: bigint; size: bigint; data: bigint }) =>
  a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, encode(vfio_iommu_type1_dirty_bitmap, { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP }, {
    tail: encode(vfio_iommu_type1_dirty_bitmap_get, { iova: r.iova, size: r.size, bitmap: encode(vfio_bitmap, { pgsize: PAGE, size: 8n, data: r.data }) }),
  }))
/** A type1 container holding the group, four pages mapped at IOVA, dirty tracking started. */
async function trackedContainer(a: GuestAgent, group: number): Promise<number> {
  const { container } = await holdGroup(a, group)
  const mem = await a.memAlloc(Number(4n * PAGE))
  must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: 4n * PAGE }), 'MAP_DMA of four pages')
  must(await a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, encode(vfio_iommu_type1_dirty_bitmap, { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START })), 'DIRTY_PAGES START')
  return container
}
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE
/** An address no agent maps (the first page): a user pointer the kernel's copy faults on. */
const BAD_POINTER = 8

/** VFIO_IOMMU_MAP_DMA with the fields as given (mapDma always asks for READ). */
const mapRaw = (a: GuestAgent, container: number, m: { flags: number; vaddr: bigint; iova: bigint; size: bigint; argsz?: number }) =>
  a.ioctl(container, VFIO_IOMMU_MAP_DMA, encode(vfio_iommu_type1_dma_map, m))
const unmapRaw = (a: GuestAgent, container: number, u: { flags?: number; iova: bigint; size: bigint; argsz?: number }) =>
  a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, encode(vfio_iommu_type1_dma_unmap, { flags: 0, ...u }))

/** QEMU's edu (hw/misc/edu.c): BAR0 is the 1 MiB "edu-mmio" region. */
const EDU_BAR0_SIZE = 0x100000n

/** A new IOAS's id (IOMMU_IOAS_ALLOC must succeed). */
async function newIoas(a: GuestAgent, ictx: number): Promise<number> {
  const io = await ioasAlloc(a, ictx)
  must(io, 'IOMMU_IOAS_ALLOC')
  return io.ioasId!
}

/** The device fd of a vfio-pci device, through its group held in a type1 (or compat) container. */
async function pciDevice(a: GuestAgent, guest: GuestSession, nodeId: string): Promise<number> {
  const g = await guest.vfioGroup(nodeId)
  const { group } = await holdGroup(a, g.group)
  return must(await getDeviceFd(a, group, g.bdf(nodeId)), 'GET_DEVICE_FD')
}

/** A group given an iommufd by SET_CONTAINER (iommufd's VFIO compat), SET_IOMMU(TYPE1v2), and its device's fd (the device attached to the compat IOAS). */
async function compatGroup(a: GuestAgent, guest: GuestSession, nodeId: string): Promise<{ iommufd: number; group: number; device: number }> {
  const g = await guest.vfioGroup(nodeId)
  const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
  const group = must(await openGroup(a, g.group), `open group ${g.group}`)
  must(await setContainer(a, group, iommufd), 'SET_CONTAINER(iommufd)')
  must(await setIommu(a, iommufd), 'SET_IOMMU(TYPE1v2) on the iommufd')
  const device = must(await getDeviceFd(a, group, g.bdf(nodeId)), 'GET_DEVICE_FD')
  return { iommufd, group, device }
}

forEachTarget(
  (target, base) => {
    // The type1 rules need type1 (the compat build's /dev/vfio/vfio is iommufd's: its rules are
    // the "group + iommufd" tests below); iommufd's need /dev/iommu.
    const type1Test = base.extend<{ type1: void }>({
      type1: [async ({ requireConfig }, use) => (requireConfig('VFIO_IOMMU_TYPE1'), use()), { auto: true }],
    })
    const iommufdTest = base.extend<{ iommufd: void }>({
      iommufd: [async ({ requireConfig }, use) => (requireConfig('IOMMUFD'), use()), { auto: true }],
    })
    const cdevTest = base.extend<{ cdev: void }>({
      cdev: [async ({ requireConfig }, use) => (requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV'), use()), { auto: true }],
    })
    const test = base
    // ---- type1 (group + VFIO container) ----

    // vfio_dma_do_map: no READ/WRITE and no VADDR: "(!prot && !set_vaddr)" -> -EINVAL.
    type1Test('type1 MAP_DMA without READ or WRITE is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(PAGE))
      expect(errnoOf(await mapRaw(a, container, { flags: 0, vaddr: mem.addr, iova: IOVA, size: PAGE }))).toBe('EINVAL')
      expect(errnoOf(await mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_READ, vaddr: mem.addr, iova: IOVA, size: PAGE }))).toBe('OK')
    })

    // vfio_dma_do_map: "!size || (size | iova | vaddr) & (pgsize - 1)" -> -EINVAL (pgsize: the
    // smallest IOMMU page, 4 KiB); a wrap past 2^64 -> -EINVAL (6.12) or -EOVERFLOW (7.2).
    type1Test('type1 MAP_DMA of size 0, of an IOVA, address or size not page-aligned, or wrapping past 2^64 is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(2n * PAGE))
      const cases = {
        'size 0': { vaddr: mem.addr, iova: IOVA, size: 0n },
        'IOVA + 0x800': { vaddr: mem.addr, iova: IOVA + 0x800n, size: PAGE },
        'address + 0x800': { vaddr: mem.addr + 0x800n, iova: IOVA, size: PAGE },
        'size 0x1800': { vaddr: mem.addr, iova: IOVA, size: 0x1800n },
        'IOVA wraps': { vaddr: mem.addr, iova: (1n << 64n) - PAGE, size: 2n * PAGE },
        // Without the wrap check the IOVA is valid and the pin of the user range fails
        // instead (EFAULT): this case is what tells that check's absence.
        'address wraps': { vaddr: (1n << 64n) - PAGE, iova: IOVA, size: 2n * PAGE },
      }
      const got: Record<string, string> = Object.fromEntries(await Promise.all(Object.entries(cases).map(async ([k, m]) => [k, errnoOf(await mapRaw(a, container, { flags: RW, ...m }))])))
      // The wraps are refused on every kernel, with the errno of the check it has: 6.12's
      // "iova + size - 1 < iova || vaddr + size - 1 < vaddr" is -EINVAL, 7.2's
      // check_add_overflow(iova, size - 1, ...) || check_add_overflow(vaddr, ...) -EOVERFLOW
      // (the kernel between them that changed it was not bisected).
      const wraps = ['IOVA wraps', 'address wraps']
      for (const w of wraps) {
        expect(['EINVAL', 'EOVERFLOW'], `${w}: ${got[w]}`).toContain(got[w])
        delete got[w]
      }
      expect(got).toEqual(Object.fromEntries(Object.keys(cases).filter((k) => !wraps.includes(k)).map((k) => [k, 'EINVAL'])))
    })

    // vfio_dma_do_unmap, v2 container: "dma && dma->iova != iova" (the range starts inside a
    // mapping) and "dma->iova + dma->size != iova + size" (it ends inside one) leave ret at
    // its -EINVAL.
    type1Test('type1 UNMAP_DMA that splits a mapping is EINVAL and leaves it mapped', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(2n * PAGE))
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: 2n * PAGE }), 'MAP_DMA of two pages')
      expect(errnoOf(await unmapDma(a, container, IOVA + PAGE, PAGE)), 'the second page').toBe('EINVAL')
      expect(errnoOf(await unmapDma(a, container, IOVA, PAGE)), 'the first page').toBe('EINVAL')
      const all = await unmapDma(a, container, IOVA, 2n * PAGE)
      expect({ errno: errnoOf(all), unmapped: all.unmapped }).toEqual({ errno: 'OK', unmapped: 2n * PAGE })
    })

    // vfio_iommu_type1_open: dma_avail = dma_entry_limit (module parameter, 0644);
    // vfio_dma_do_map: "!iommu->dma_avail" -> -ENOSPC.
    type1Test('type1 MAP_DMA beyond the container\'s dma_entry_limit mappings is ENOSPC', async ({ guest, castPart }) => {
      const param = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit'
      const before = (await guest.run(`cat ${param}`)).trim()
      const a = await guest.agent()
      must(await a.writeFile(param, '1'), `write ${param}`)
      try {
        const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
        const mem = await a.memAlloc(Number(2n * PAGE))
        expect(errnoOf(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: PAGE })), 'the one mapping allowed').toBe('OK')
        expect(errnoOf(await mapDma(a, container, { vaddr: mem.addr + PAGE, iova: IOVA + PAGE, size: PAGE })), 'one more').toBe('ENOSPC')
      } finally {
        must(await a.writeFile(param, before), `restore ${param}`)
      }
    })

    // vfio_iommu_type1_map_dma / _unmap_dma / _get_info: copy_from_user of the argument ->
    // -EFAULT; "argsz < minsz || flags & ~mask" -> -EINVAL; vfio_dma_do_unmap: UNMAP_ALL with
    // "iova || size" -> -EINVAL.
    type1Test('type1 MAP_DMA, UNMAP_DMA and GET_INFO: an unmapped argument is EFAULT; a short argsz, an unknown flag, UNMAP_ALL with a range are EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(PAGE))
      const m = { vaddr: mem.addr, iova: IOVA, size: PAGE }
      expect({
        mapFault: errnoOf(await a.ioctl(container, VFIO_IOMMU_MAP_DMA, BAD_POINTER)),
        mapArgsz: errnoOf(await mapRaw(a, container, { flags: RW, ...m, argsz: 8 })),
        mapFlag: errnoOf(await mapRaw(a, container, { flags: RW | (1 << 8), ...m })),
        unmapFault: errnoOf(await a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, BAD_POINTER)),
        unmapArgsz: errnoOf(await unmapRaw(a, container, { iova: IOVA, size: PAGE, argsz: 8 })),
        unmapFlag: errnoOf(await unmapRaw(a, container, { flags: 1 << 8, iova: IOVA, size: PAGE })),
        unmapAllRange: errnoOf(await unmapRaw(a, container, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: IOVA, size: PAGE })),
        infoFault: errnoOf(await a.ioctl(container, VFIO_IOMMU_GET_INFO, BAD_POINTER)),
        infoArgsz: errnoOf(await a.ioctl(container, VFIO_IOMMU_GET_INFO, encode(vfio_iommu_type1_info, { argsz: 4 }))),
      }).toEqual({ mapFault: 'EFAULT', mapArgsz: 'EINVAL', mapFlag: 'EINVAL', unmapFault: 'EFAULT', unmapArgsz: 'EINVAL', unmapFlag: 'EINVAL', unmapAllRange: 'EINVAL', infoFault: 'EFAULT', infoArgsz: 'EINVAL' })
    })

    // vfio_dma_do_unmap with VADDR: a mapping whose vaddr is already invalid -> -EINVAL (and
    // the ones invalidated by this call are put back); vfio_dma_do_map with VADDR: no mapping
    // at the IOVA -> -ENOENT.
    type1Test('type1 VADDR updates: invalidating a mapping\'s vaddr twice is EINVAL; updating the vaddr of an IOVA never mapped is ENOENT', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(PAGE))
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: PAGE }), 'MAP_DMA')
      expect(errnoOf(await unmapRaw(a, container, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: IOVA, size: PAGE })), 'first invalidation').toBe('OK')
      expect(errnoOf(await unmapRaw(a, container, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: IOVA, size: PAGE })), 'second invalidation').toBe('EINVAL')
      expect(errnoOf(await mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_VADDR, vaddr: mem.addr, iova: IOVA + 16n * PAGE, size: PAGE })), 'an IOVA never mapped').toBe('ENOENT')
      expect(errnoOf(await mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_VADDR, vaddr: mem.addr, iova: IOVA, size: PAGE })), 'the vaddr given back').toBe('OK')
    })

    // vfio_dma_do_map with VADDR: READ or WRITE with it, "(prot && set_vaddr)" -> -EINVAL; a
    // mapping whose vaddr is valid, or a range other than the invalidated mapping's,
    // "!dma->vaddr_invalid || dma->iova != iova || dma->size != size" -> -EINVAL.
    type1Test('type1 VADDR updates: with READ, of a mapping whose vaddr is valid, or of part of the invalidated mapping are EINVAL; the whole one with the vaddr alone is OK', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(3n * PAGE))
      const valid = IOVA + 16n * PAGE
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: 2n * PAGE }), 'MAP_DMA of two pages')
      must(await mapDma(a, container, { vaddr: mem.addr + 2n * PAGE, iova: valid, size: PAGE }), 'MAP_DMA of a third page')
      must(await unmapRaw(a, container, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: IOVA, size: 2n * PAGE }), 'invalidate the two pages\' vaddr')
      const update = (flags: number, iova: bigint, size: bigint) => mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_VADDR | flags, vaddr: mem.addr, iova, size })
      expect({
        withRead: errnoOf(await update(VFIO_DMA_MAP_FLAG_READ, IOVA, 2n * PAGE)),
        validVaddr: errnoOf(await update(0, valid, PAGE)),
        firstPage: errnoOf(await update(0, IOVA, PAGE)),
        whole: errnoOf(await update(0, IOVA, 2n * PAGE)),
      }).toEqual({ withRead: 'EINVAL', validVaddr: 'EINVAL', firstPage: 'EINVAL', whole: 'OK' })
    })

    // vfio_iommu_type1_attach_group: "iommu->vaddr_invalid_count" -> -EBUSY: a container whose
    // mappings' memory is not reachable takes no new group (its domain could not be filled).
    type1Test('type1: no group joins a container while a mapping\'s vaddr is invalidated: SET_CONTAINER is EBUSY; once the vaddr is given back it joins', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const other = must(await openGroup(a, (await guest.vfioGroup(castPart('multiDeviceGroup')[0])).group), 'open the multi-device group')
      const mem = await a.memAlloc(Number(PAGE))
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: PAGE }), 'MAP_DMA')
      must(await unmapRaw(a, container, { flags: VFIO_DMA_UNMAP_FLAG_VADDR, iova: IOVA, size: PAGE }), 'invalidate the vaddr')
      expect(errnoOf(await setContainer(a, other, container)), 'vaddr invalid').toBe('EBUSY')
      must(await mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_VADDR, vaddr: mem.addr, iova: IOVA, size: PAGE }), 'give the vaddr back')
      expect(errnoOf(await setContainer(a, other, container)), 'vaddr valid again').toBe('OK')
    })

    // vfio_iommu_type1_dirty_pages (type1 tracks dirty pages in software: every pinned page is
    // dirty): a v1 container "!iommu->v2" -> -EACCES; copy_from_user of the header -> -EFAULT;
    // "argsz < minsz || flags & ~mask" and two flags at once -> -EINVAL; GET_BITMAP: no room
    // for the range "!data_size || data_size < sizeof(range)", a range that wraps, a bitmap
    // outside user space (!access_ok), verify_bitmap_size (size 0), a page size other than
    // the IOMMU's, an IOVA or a size not aligned to it, tracking not started -> -EINVAL. The
    // argument cases run with tracking started: before START any GET_BITMAP is EINVAL, so a
    // dropped argument check would go unnoticed; "no range" sits before unreadable memory, so
    // that without its check the range's copy_from_user would fail instead (EFAULT). The
    // wrapping range is 6.12's "range.iova + range.size < range.iova" (-EINVAL) and 7.2's
    // check_add_overflow(iova, size - 1, ...) (-EOVERFLOW), both in this function (the
    // kernel between them that changed it was not bisected: between them either is taken).
    type1Test('type1 DIRTY_PAGES: on a v1 container EACCES; an unmapped argument EFAULT; a short argsz, two flags, and GET_BITMAP with no range, a wrapping range (EOVERFLOW on 7.2), a bitmap outside user space or of size 0, another page size, an unaligned IOVA or size, or before START are EINVAL; a read-only bitmap EFAULT', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const v1 = must(await openContainer(a), 'open a second container')
      const v1Group = must(await openGroup(a, (await guest.vfioGroup(castPart('multiDeviceGroup')[0])).group), 'open the multi-device group')
      must(await setContainer(a, v1Group, v1), 'SET_CONTAINER (v1)')
      must(await setIommu(a, v1, VFIO_TYPE1_IOMMU), 'SET_IOMMU(VFIO_TYPE1_IOMMU)')
      const mem = await a.memAlloc(Number(4n * PAGE))
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: 4n * PAGE }), 'MAP_DMA of four pages')
      const bitmap = await a.memAlloc(Number(PAGE))
      const dirty = (fd: number, flags: number, o: { argsz?: number; range?: { iova?: bigint; size?: bigint; pgsize?: bigint; bytes?: bigint; data?: bigint } } = {}) => {
        const r = o.range
        const tail = r
          ? encode(vfio_iommu_type1_dirty_bitmap_get, {
              iova: r.iova ?? IOVA,
              size: r.size ?? 4n * PAGE,
              bitmap: encode(vfio_bitmap, { pgsize: r.pgsize ?? PAGE, size: r.bytes ?? 8n, data: r.data ?? bitmap.addr }),
            })
          : undefined
        return a.ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, encode(vfio_iommu_type1_dirty_bitmap, { flags, ...(o.argsz !== undefined ? { argsz: o.argsz } : {}) }, { tail }))
      }
      const GET = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP
      const before = errnoOf(await dirty(container, GET, { range: {} }))
      expect(errnoOf(await dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_START)), 'START').toBe('OK')
      const wraps = errnoOf(await dirty(container, GET, { range: { iova: (1n << 64n) - PAGE, size: 2n * PAGE } }))
      const release = target.kernel.release
      expect(kernelAtLeast(release, 7, 2) ? ['EOVERFLOW'] : kernelAtLeast(release, 6, 13) ? ['EINVAL', 'EOVERFLOW'] : ['EINVAL'], `a wrapping range: ${wraps}`).toContain(wraps)
      expect({
        v1: errnoOf(await dirty(v1, VFIO_IOMMU_DIRTY_PAGES_FLAG_START)),
        fault: errnoOf(await a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, BAD_POINTER)),
        argsz: errnoOf(await dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_START, { argsz: 4 })),
        twoFlags: errnoOf(await dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)),
        noRange: errnoOf(await a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, await a.memBeforeHole(encode(vfio_iommu_type1_dirty_bitmap, { flags: GET })))),
        kernelBitmap: errnoOf(await dirty(container, GET, { range: { data: 0xffff800000000000n } })),
        bitmapSize0: errnoOf(await dirty(container, GET, { range: { bytes: 0n } })),
        pgsize: errnoOf(await dirty(container, GET, { range: { pgsize: 2n * PAGE } })),
        iova: errnoOf(await dirty(container, GET, { range: { iova: IOVA - PAGE + 0x800n, size: 5n * PAGE } })),
        size: errnoOf(await dirty(container, GET, { range: { size: 4n * PAGE + 0x800n } })),
        before,
      }).toEqual({ v1: 'EACCES', fault: 'EFAULT', argsz: 'EINVAL', twoFlags: 'EINVAL', noRange: 'EINVAL', kernelBitmap: 'EINVAL', bitmapSize0: 'EINVAL', pgsize: 'EINVAL', iova: 'EINVAL', size: 'EINVAL', before: 'EINVAL' })
      expect(errnoOf(await dirty(container, GET, { range: {} })), 'GET_BITMAP once started').toBe('OK')
      // update_user_bitmap: the copy of the bitmap to user memory it cannot write -> -EFAULT.
      expect(errnoOf(await dirty(container, GET, { range: { data: await a.readOnlyMem(Buffer.alloc(8)) } })), 'GET_BITMAP into a read-only bitmap').toBe('EFAULT')
      expect(errnoOf(await dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)), 'STOP').toBe('OK')
    })

    // vfio_iommu_type1_unmap_dma: GET_DIRTY_BITMAP with UNMAP_ALL or VADDR, an argsz without
    // room for the struct vfio_bitmap, a bitmap outside user space (!access_ok) -> -EINVAL.
    // Dirty tracking runs, so that only the flags are wrong: without it vfio_dma_do_unmap
    // refuses any GET_DIRTY_BITMAP ("!iommu->dirty_page_tracking", the same EINVAL) and a
    // VADDR invalidation that asked for a bitmap would go unnoticed. With UNMAP_ALL the flags
    // check has a twin: UNMAP_ALL needs a zero size, which verify_bitmap_size refuses (EINVAL).
    // The same unmap with GET_DIRTY_BITMAP alone is OK: the arguments are valid but for the flags.
    // The argument without room for the bitmap ends where unreadable memory starts, so that
    // without its check the bitmap's copy_from_user would fail instead (EFAULT).
    type1Test('type1 UNMAP_DMA with GET_DIRTY_BITMAP while dirty tracking runs: with UNMAP_ALL or VADDR, with no room for the bitmap, with a bitmap outside user space is EINVAL; with none of these it is OK', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(PAGE))
      must(await mapDma(a, container, { vaddr: mem.addr, iova: IOVA, size: PAGE }), 'MAP_DMA')
      must(await a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, encode(vfio_iommu_type1_dirty_bitmap, { flags: VFIO_IOMMU_DIRTY_PAGES_FLAG_START })), 'DIRTY_PAGES START')
      const bitmap = await a.memAlloc(Number(PAGE))
      const unmap = (flags: number, o: { data?: bigint } = {}) =>
        a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, encode(vfio_iommu_type1_dma_unmap, { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | flags, iova: IOVA, size: PAGE }, {
          tail: encode(vfio_bitmap, { pgsize: PAGE, size: 8n, data: o.data ?? bitmap.addr }),
        }))
      expect({
        all: errnoOf(await unmap(VFIO_DMA_UNMAP_FLAG_ALL)),
        vaddr: errnoOf(await unmap(VFIO_DMA_UNMAP_FLAG_VADDR)),
        noBitmap: errnoOf(await a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, await a.memBeforeHole(encode(vfio_iommu_type1_dma_unmap, { flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, iova: IOVA, size: PAGE })))),
        kernelBitmap: errnoOf(await unmap(0, { data: 0xffff800000000000n })),
        alone: errnoOf(await unmap(0)),
      }).toEqual({ all: 'EINVAL', vaddr: 'EINVAL', noBitmap: 'EINVAL', kernelBitmap: 'EINVAL', alone: 'OK' })
    })

    // The copies after a readable header -> -EFAULT: UNMAP_DMA's struct vfio_bitmap
    // (vfio_iommu_type1_unmap_dma) and DIRTY_PAGES GET_BITMAP's range
    // (vfio_iommu_type1_dirty_pages), each placed on memory nothing is behind; and the user's
    // bitmap itself, which update_user_bitmap reads before it writes when the range starts
    // below a mapping at a bit that is not a multiple of 64 (the "leftover" copy_from_user),
    // and only writes when the mapping starts the range. Dropping the leftover check alone is
    // equivalent: the copy-out to the same word fails the same (no memory here is writable
    // and unreadable).
    type1Test('type1: UNMAP_DMA\'s bitmap struct and DIRTY_PAGES\' range in unreadable memory behind a readable header are EFAULT, and so is a dirty bitmap in unreadable memory, read first or only written', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const container = await trackedContainer(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const GET = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP
      const unmapHeader = await a.memBeforeHole(encode(vfio_iommu_type1_dma_unmap, {
        argsz: vfio_iommu_type1_dma_unmap.size + vfio_bitmap.size, flags: VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, iova: IOVA, size: 4n * PAGE,
      }))
      const dirtyHeader = await a.memBeforeHole(encode(vfio_iommu_type1_dirty_bitmap, { argsz: vfio_iommu_type1_dirty_bitmap.size + vfio_iommu_type1_dirty_bitmap_get.size, flags: GET }))
      const hole = await a.memBeforeHole(Buffer.alloc(0))
      const bitmap = await a.memAlloc(Number(PAGE))
      const getBitmap = (iova: bigint, size: bigint, data: bigint) => getDirtyBitmap(a, container, { iova, size, data })
      expect({
        unmapBitmapStruct: errnoOf(await a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, unmapHeader)),
        dirtyRange: errnoOf(await a.ioctl(container, VFIO_IOMMU_DIRTY_PAGES, dirtyHeader)),
        bitmapReadFirst: errnoOf(await getBitmap(IOVA - PAGE, 5n * PAGE, hole)),
        bitmapOnlyWritten: errnoOf(await getBitmap(IOVA, 4n * PAGE, hole)),
        readableBitmap: errnoOf(await getBitmap(IOVA - PAGE, 5n * PAGE, bitmap.addr)),
      }).toEqual({ unmapBitmapStruct: 'EFAULT', dirtyRange: 'EFAULT', bitmapReadFirst: 'EFAULT', bitmapOnlyWritten: 'EFAULT', readableBitmap: 'OK' })
    })

    // vfio_iova_dirty_bitmap: a GET_BITMAP range covers whole mappings: one that starts inside a
    // mapping "dma && dma->iova != iova" or ends inside one "dma && dma->iova + dma->size !=
    // iova + size" -> -EINVAL (7.2: the same against iova_end); a range with room around the
    // mapping is OK.
    type1Test('type1 DIRTY_PAGES GET_BITMAP of a range that starts or ends inside a mapping is EINVAL; a range around the whole mapping is OK', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const container = await trackedContainer(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const data = (await a.memAlloc(Number(PAGE))).addr
      expect({
        startsInside: errnoOf(await getDirtyBitmap(a, container, { iova: IOVA + PAGE, size: 3n * PAGE, data })),
        endsInside: errnoOf(await getDirtyBitmap(a, container, { iova: IOVA, size: 2n * PAGE, data })),
        around: errnoOf(await getDirtyBitmap(a, container, { iova: IOVA - PAGE, size: 6n * PAGE, data })),
      }).toEqual({ startsInside: 'EINVAL', endsInside: 'EINVAL', around: 'OK' })
    })

    // vfio_iommu_type1_get_info: the copy-out of the capabilities (when argsz has room for
    // them) and of the header -> -EFAULT.
    type1Test('type1 GET_INFO into a read-only argument is EFAULT, with room for the capabilities and without', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const info = async (argsz: number) => a.ioctl(container, VFIO_IOMMU_GET_INFO, await a.readOnlyMem(encode(vfio_iommu_type1_info, { argsz })))
      expect({ caps: errnoOf(await info(1024)), header: errnoOf(await info(24)) }).toEqual({ caps: 'EFAULT', header: 'EFAULT' })
    })

    // vfio_iommu_type1_get_info: the capabilities' own copy-out ("copy_to_user(arg +
    // sizeof(info), caps.buf, caps.size)") -> -EFAULT, even when the header's copy-out after it
    // works: the header ends a writable page, the capabilities would land on the next, which
    // has nothing behind it.
    type1Test('type1 GET_INFO whose capabilities would land past writable memory is EFAULT, though its header is writable', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const arg = await a.memBeforeHole(encode(vfio_iommu_type1_info, { argsz: 1024 }))
      expect(errnoOf(await a.ioctl(container, VFIO_IOMMU_GET_INFO, arg))).toBe('EFAULT')
    })

    // vfio_dma_do_map: "!vfio_iommu_iova_dma_valid(iommu, iova, iova + size - 1)" -> -EINVAL: the
    // container's IOVA list excludes the groups' reserved regions (vfio_iommu_resv_exclude),
    // here the interrupt window 0xfee00000-0xfeefffff (IOMMU_RESV_MSI on x86).
    type1Test('type1 MAP_DMA into the interrupt window 0xfee00000 is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { container } = await holdGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group)
      const mem = await a.memAlloc(Number(PAGE))
      expect(errnoOf(await mapDma(a, container, { vaddr: mem.addr, iova: 0xfee00000n, size: PAGE }))).toBe('EINVAL')
    })

    // vfio_pin_pages_remote -> vaddr_get_pfns: a VM_PFNMAP range (a BAR mmap: peer-to-peer DMA)
    // is mapped through follow_fault_pfn; with MAP_DMA's WRITE over a read-only mmap,
    // "write_fault && !args.writable" -> -EFAULT (the PTE is present once the agent read the
    // page). With READ alone it maps (is_invalid_reserved_pfn: an MMIO pfn).
    type1Test('type1 MAP_DMA of a BAR mapped read-only (peer-to-peer) with WRITE is EFAULT; with READ alone it maps', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const container = must(await openContainer(a), 'open a second container')
      const other = must(await openGroup(a, (await guest.vfioGroup(castPart('multiDeviceGroup')[0])).group), 'open the multi-device group')
      must(await setContainer(a, other, container), 'SET_CONTAINER')
      must(await setIommu(a, container), 'SET_IOMMU')
      const bar = await a.mmap(device, Number(PAGE), vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX), ['PROT_READ'])
      must(bar, 'mmap BAR0 read-only')
      await a.memRead(bar.addr!, 4)
      expect({
        write: errnoOf(await mapRaw(a, container, { flags: RW, vaddr: bar.addr!, iova: IOVA, size: PAGE })),
        read: errnoOf(await mapRaw(a, container, { flags: VFIO_DMA_MAP_FLAG_READ, vaddr: bar.addr!, iova: IOVA, size: PAGE })),
      }).toEqual({ write: 'EFAULT', read: 'OK' })
    })

    // ---- group ----

    // vfio_group_ioctl_set_container: get_user of the fd -> -EFAULT; fdget of a closed fd ->
    // -EBADF. vfio_group_ioctl_get_status: copy_from_user -> -EFAULT; "status.argsz < minsz"
    // -> -EINVAL; the copy-out -> -EFAULT.
    test('group SET_CONTAINER with an unmapped argument is EFAULT, with a closed fd EBADF; GET_STATUS with an unmapped argument EFAULT, a short argsz EINVAL, into a read-only argument EFAULT', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const group = must(await openGroup(a, (await guest.vfioGroup(castPart('singletonGroup'))).group), 'open the group')
      const closed = must(await openContainer(a), 'open a container')
      must(await a.closeFd(closed), 'close it')
      expect({
        setFault: errnoOf(await a.ioctl(group, VFIO_GROUP_SET_CONTAINER, BAD_POINTER)),
        setClosed: errnoOf(await setContainer(a, group, closed)),
        statusFault: errnoOf(await a.ioctl(group, VFIO_GROUP_GET_STATUS, BAD_POINTER)),
        statusArgsz: errnoOf(await a.ioctl(group, VFIO_GROUP_GET_STATUS, encode(vfio_group_status, { argsz: 4 }))),
        statusReadOnly: errnoOf(await a.ioctl(group, VFIO_GROUP_GET_STATUS, await a.readOnlyMem(encode(vfio_group_status)))),
      }).toEqual({ setFault: 'EFAULT', setClosed: 'EBADF', statusFault: 'EFAULT', statusArgsz: 'EINVAL', statusReadOnly: 'EFAULT' })
    })

    // ---- group + iommufd (iommufd's VFIO compat) ----

    // iommufd_vfio_map_dma -> iopt_map_user_pages -> iopt_alloc_area_pages -> iopt_check_iova:
    // "iopt_area_iter_first(iopt, iova, last)" -> -EEXIST.
    iommufdTest('group + iommufd: MAP_DMA over a mapped IOVA range is EEXIST', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(2n * PAGE))
      must(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA, size: 2n * PAGE }), 'MAP_DMA')
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA + PAGE, size: PAGE }))).toBe('EEXIST')
    })

    // With the device attached the IOAS's iova_alignment is the domain's smallest page (4 KiB):
    // iopt_check_iova "iova & (iopt->iova_alignment - 1)" -> -EINVAL; iopt_alloc_area_pages
    // "(length & (iopt->iova_alignment - 1)) || !length" -> -EINVAL; iopt_insert_area, a user
    // address whose offset in its page is not aligned, "area->page_offset &
    // (iopt->iova_alignment - 1)" -> -EINVAL.
    iommufdTest('group + iommufd: MAP_DMA of an IOVA, a size or a user address not page-aligned is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(2n * PAGE))
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA + 0x800n, size: PAGE })), 'IOVA + 0x800').toBe('EINVAL')
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA, size: 0x1800n })), 'size 0x1800').toBe('EINVAL')
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr + 0x800n, iova: IOVA, size: PAGE })), 'address + 0x800').toBe('EINVAL')
    })

    // iommufd_vfio_unmap_dma -> iopt_unmap_iova -> iopt_unmap_iova_range: an area that begins
    // before the range or ends after it, "area_first < start || area_last > last" -> -ENOENT
    // (type1 says EINVAL for the same split).
    iommufdTest('group + iommufd: UNMAP_DMA that splits a mapping is ENOENT and leaves it mapped', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(2n * PAGE))
      must(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA, size: 2n * PAGE }), 'MAP_DMA of two pages')
      expect(errnoOf(await unmapDma(a, iommufd, IOVA + PAGE, PAGE)), 'the second page').toBe('ENOENT')
      const all = await unmapDma(a, iommufd, IOVA, 2n * PAGE)
      expect({ errno: errnoOf(all), unmapped: all.unmapped }).toEqual({ errno: 'OK', unmapped: 2n * PAGE })
    })

    // iommufd_vfio_map_dma / _unmap_dma: copy_from_user -> -EFAULT; "argsz < minsz || flags &
    // ~supported_flags" -> -EINVAL; UNMAP_ALL with "unmap.iova != 0 || unmap.size != 0" ->
    // -EINVAL; iommufd_vfio_ioctl: a VFIO ioctl it does not know -> -ENOIOCTLCMD (ENOTTY).
    iommufdTest('group + iommufd: MAP_DMA and UNMAP_DMA with an unmapped argument are EFAULT, with a short argsz, an unknown flag or UNMAP_ALL with a range EINVAL; an unknown VFIO ioctl is ENOTTY', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(PAGE))
      const m = { vaddr: mem.addr, iova: IOVA, size: PAGE }
      expect({
        mapFault: errnoOf(await a.ioctl(iommufd, VFIO_IOMMU_MAP_DMA, BAD_POINTER)),
        mapArgsz: errnoOf(await mapRaw(a, iommufd, { flags: RW, ...m, argsz: 8 })),
        mapFlag: errnoOf(await mapRaw(a, iommufd, { flags: RW | (1 << 8), ...m })),
        unmapFault: errnoOf(await a.ioctl(iommufd, VFIO_IOMMU_UNMAP_DMA, BAD_POINTER)),
        unmapArgsz: errnoOf(await unmapRaw(a, iommufd, { iova: IOVA, size: PAGE, argsz: 8 })),
        unmapAllRange: errnoOf(await unmapRaw(a, iommufd, { flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: IOVA, size: PAGE })),
        unknownIoctl: errnoOf(await a.ioctl(iommufd, VFIO_DEVICE_GET_IRQ_INFO, encode(vfio_irq_info))),
      }).toEqual({ mapFault: 'EFAULT', mapArgsz: 'EINVAL', mapFlag: 'EINVAL', unmapFault: 'EFAULT', unmapArgsz: 'EINVAL', unmapAllRange: 'EINVAL', unknownIoctl: 'ENOTTY' })
    })

    // With an iommufd as the group's container DMA ownership is claimed per device when it is
    // opened (vfio_df_group_open -> vfio_df_open -> vfio_iommufd_physical_bind ->
    // iommufd_device_bind -> iommu_device_claim_dma_owner: the host driver's owner_cnt and
    // "group->owner != owner" -> -EPERM), not at SET_CONTAINER as with a VFIO container.
    iommufdTest('group + iommufd: a group with a device on a host driver is not usable: SET_CONTAINER or GET_DEVICE_FD is EPERM', async ({ guest, castPart }) => {
      const { device, hostDevice, driver } = castPart('hostDriverGroup')
      const g = await guest.vfioGroup(device)
      expect(g.devices.find((d) => d.nodeId === hostDevice)?.driver, `${hostDevice} should be on ${driver}`).toBe(driver)
      const a = await guest.agent()
      const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const group = must(await openGroup(a, g.group), `open group ${g.group}`)
      const set = errnoOf(await setContainer(a, group, iommufd))
      if (set !== 'OK') {
        expect(set, 'SET_CONTAINER(iommufd)').toBe('EPERM')
        return
      }
      must(await setIommu(a, iommufd), 'SET_IOMMU(TYPE1v2) on the iommufd')
      expect(errnoOf(await getDeviceFd(a, group, g.bdf(device))), 'GET_DEVICE_FD').toBe('EPERM')
    })

    // iommufd_vfio_iommu_get_info: copy_from_user -> -EFAULT; "info.argsz < minsz" -> -EINVAL;
    // into a read-only argument: iommufd_fill_cap_dma_avail's copy-out (argsz with room for
    // the capabilities) or the header's (without) -> -EFAULT. iommufd_vfio_set_iommu: a type
    // other than TYPE1/TYPE1v2 -> -EINVAL; VFIO_TYPE1_IOMMU once a device is attached and
    // memory mapped: iopt_disable_large_pages "!xa_empty(&iopt->domains) &&
    // !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)" -> -EINVAL. iommufd_vfio_unmap_dma: the
    // copy-out of the result -> -EFAULT. iommufd_vfio_ioas: "cmd->__reserved" -> -EOPNOTSUPP.
    iommufdTest('group + iommufd: GET_INFO with an unmapped argument is EFAULT, a short argsz EINVAL, into a read-only argument EFAULT; SET_IOMMU of SPAPR, or of TYPE1 once memory is mapped, EINVAL; UNMAP_DMA into a read-only argument EFAULT; IOMMU_VFIO_IOAS with __reserved EOPNOTSUPP', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(PAGE))
      must(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA, size: PAGE }), 'MAP_DMA')
      const roInfo = async (argsz: number) => a.ioctl(iommufd, VFIO_IOMMU_GET_INFO, await a.readOnlyMem(encode(vfio_iommu_type1_info, { argsz })))
      expect({
        infoFault: errnoOf(await a.ioctl(iommufd, VFIO_IOMMU_GET_INFO, BAD_POINTER)),
        infoArgsz: errnoOf(await a.ioctl(iommufd, VFIO_IOMMU_GET_INFO, encode(vfio_iommu_type1_info, { argsz: 4 }))),
        infoCapsReadOnly: errnoOf(await roInfo(1024)),
        infoHeaderReadOnly: errnoOf(await roInfo(24)),
        setSpapr: errnoOf(await setIommu(a, iommufd, VFIO_SPAPR_TCE_IOMMU)),
        setType1Mapped: errnoOf(await setIommu(a, iommufd, VFIO_TYPE1_IOMMU)),
        unmapReadOnly: errnoOf(await a.ioctl(iommufd, VFIO_IOMMU_UNMAP_DMA, await a.readOnlyMem(encode(vfio_iommu_type1_dma_unmap, { iova: IOVA + 16n * PAGE, size: PAGE })))),
        vfioIoasReserved: errnoOf(await a.ioctl(iommufd, IOMMU_VFIO_IOAS, encode(iommu_vfio_ioas, { op: IOMMU_VFIO_IOAS_GET, __reserved: 1 }))),
      }).toEqual({ infoFault: 'EFAULT', infoArgsz: 'EINVAL', infoCapsReadOnly: 'EFAULT', infoHeaderReadOnly: 'EFAULT', setSpapr: 'EINVAL', setType1Mapped: 'EINVAL', unmapReadOnly: 'EFAULT', vfioIoasReserved: 'EOPNOTSUPP' })
    })

    // ---- iommufd ----

    // iommufd_option: "cmd->__reserved" -> -EOPNOTSUPP. iommufd_option_rlimit_mode (SET):
    // "!capable(CAP_SYS_RESOURCE)" -> -EPERM; "!xa_empty(&ictx->objects)" -> -EBUSY; a value
    // other than 0 or 1 -> -EINVAL.
    iommufdTest('IOMMU_OPTION: __reserved set is EOPNOTSUPP; setting RLIMIT_MODE without CAP_SYS_RESOURCE is EPERM, once an object exists EBUSY, to a value other than 0 or 1 EINVAL', async ({ guest }) => {
      const root = await guest.agent()
      const opt = (fd: number, o: { val64?: bigint; __reserved?: number } = {}) =>
        root.ioctl(fd, IOMMU_OPTION, encode(iommu_option, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 0n, ...o }))
      const ictx = must(await openIommufd(root), `open ${IOMMUFD_PATH}`)
      expect(errnoOf(await opt(ictx, { __reserved: 1 })), '__reserved').toBe('EOPNOTSUPP')
      expect(errnoOf(await opt(ictx, { val64: 2n })), 'value 2').toBe('EINVAL')
      expect(errnoOf(await opt(ictx, { val64: 1n })), 'value 1, no object yet').toBe('OK')
      must(await ioasAlloc(root, ictx), 'IOAS_ALLOC')
      expect(errnoOf(await opt(ictx, { val64: 0n })), 'after IOAS_ALLOC').toBe('EBUSY')
      // uid 0 without capabilities: /dev/iommu (0660 root:root) still opens.
      const nocap = await guest.agent({ caps: 'none', label: 'root without capabilities' })
      const ictx2 = must(await openIommufd(nocap), `open ${IOMMUFD_PATH} without capabilities`)
      expect(errnoOf(await nocap.ioctl(ictx2, IOMMU_OPTION, encode(iommu_option, { option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1n }))), 'without CAP_SYS_RESOURCE').toBe('EPERM')
    })

    // iommufd_ioas_map: neither IOMMU_IOAS_MAP_WRITEABLE nor _READABLE -> -EINVAL (type1's
    // twin: vfio_dma_do_map; iommufd's VFIO compat MAP_DMA has no such check).
    iommufdTest('IOMMU_IOAS_MAP without READABLE or WRITEABLE is EINVAL', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioas = await ioasAlloc(a, ictx)
      must(ioas, 'IOAS_ALLOC')
      const mem = await a.memAlloc(Number(PAGE))
      expect(errnoOf(await ioasMap(a, ictx, { ioasId: ioas.ioasId!, userVa: mem.addr, iova: IOVA, length: PAGE, flags: IOMMU_IOAS_MAP_FIXED_IOVA }))).toBe('EINVAL')
      expect(errnoOf(await ioasMap(a, ictx, { ioasId: ioas.ioasId!, userVa: mem.addr, iova: IOVA, length: PAGE, flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE }))).toBe('OK')
    })

    // iommufd_ioas_unmap: "cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX" -> -EOVERFLOW.
    iommufdTest('IOMMU_IOAS_UNMAP with an IOVA or a length of 2^64-1 is EOVERFLOW', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioas = await ioasAlloc(a, ictx)
      must(ioas, 'IOAS_ALLOC')
      const max = (1n << 64n) - 1n
      const unmap = (iova: bigint, length: bigint) => a.ioctl(ictx, IOMMU_IOAS_UNMAP, encode(iommu_ioas_unmap, { ioas_id: ioas.ioasId!, iova, length }))
      expect(errnoOf(await unmap(max, PAGE)), 'IOVA').toBe('EOVERFLOW')
      // (IOVA 0 with length 2^64-1 is UNMAP-all, not an overflow.)
      expect(errnoOf(await unmap(PAGE, max)), 'length').toBe('EOVERFLOW')
    })

    // iommufd_ioas_alloc_ioctl: "cmd->flags" -> -EOPNOTSUPP. iommufd_ioas_iova_ranges:
    // "cmd->__reserved" -> -EOPNOTSUPP; fewer slots than ranges -> -EMSGSIZE with num_iovas
    // set to the count; the copy of a range to an unmapped array -> -EFAULT.
    // iommufd_ioas_allow_iovas: "cmd->__reserved" -> -EOPNOTSUPP; iommufd_ioas_load_iovas: two
    // ranges that overlap (interval_tree_iter_first) -> -EINVAL.
    iommufdTest('IOAS_ALLOC with a flag, IOVA_RANGES and ALLOW_IOVAS with __reserved are EOPNOTSUPP; IOVA_RANGES with no slot is EMSGSIZE and counts the ranges, into an unmapped array EFAULT; ALLOW_IOVAS of overlapping ranges EINVAL', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioasId = await newIoas(a, ictx)
      const ranges = (o: { num_iovas?: number; __reserved?: number; allowed_iovas?: bigint }) => a.ioctl(ictx, IOMMU_IOAS_IOVA_RANGES, encode(iommu_ioas_iova_ranges, { ioas_id: ioasId, ...o }))
      const noSlot = await ranges({ num_iovas: 0 })
      const overlapping = Buffer.concat([encode(iommu_iova_range, { start: 0x100000n, last: 0x2fffffn }), encode(iommu_iova_range, { start: 0x200000n, last: 0x3fffffn })])
      const overlap = await a.memAlloc(Number(PAGE))
      await a.memWrite(overlap.addr, overlapping)
      expect({
        allocFlag: errnoOf(await a.ioctl(ictx, IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc, { flags: 1 }))),
        rangesReserved: errnoOf(await ranges({ __reserved: 1 })),
        rangesNoSlot: errnoOf(noSlot),
        rangesCounted: noSlot.data ? decode(iommu_ioas_iova_ranges, noSlot.data).num_iovas : undefined,
        rangesFault: errnoOf(await ranges({ num_iovas: 1, allowed_iovas: BigInt(BAD_POINTER) })),
        allowReserved: errnoOf(await a.ioctl(ictx, IOMMU_IOAS_ALLOW_IOVAS, encode(iommu_ioas_allow_iovas, { ioas_id: ioasId, __reserved: 1 }))),
        allowOverlap: errnoOf(await a.ioctl(ictx, IOMMU_IOAS_ALLOW_IOVAS, encode(iommu_ioas_allow_iovas, { ioas_id: ioasId, num_iovas: 2, allowed_iovas: overlap.addr }))),
      }).toEqual({ allocFlag: 'EOPNOTSUPP', rangesReserved: 'EOPNOTSUPP', rangesNoSlot: 'EMSGSIZE', rangesCounted: 1, rangesFault: 'EFAULT', allowReserved: 'EOPNOTSUPP', allowOverlap: 'EINVAL' })
    })

    // iommufd_ioas_map: a flag outside FIXED_IOVA|WRITEABLE|READABLE or __reserved ->
    // -EOPNOTSUPP; "cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX" -> -EOVERFLOW.
    // iopt_alloc_pages: "length == 0" -> -EINVAL; check_add_overflow(uptr, length) ->
    // -EOVERFLOW. Without FIXED_IOVA, iopt_alloc_iova: "length >= ULONG_MAX / 2" -> -EOVERFLOW.
    iommufdTest('IOAS_MAP with an unknown flag or __reserved is EOPNOTSUPP; an IOVA or length of 2^64-1 EOVERFLOW; length 0 EINVAL; a user range past 2^64 EOVERFLOW; without FIXED_IOVA a length of 2^63 EOVERFLOW', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioasId = await newIoas(a, ictx)
      const mem = await a.memAlloc(Number(PAGE))
      const max = (1n << 64n) - 1n
      const map = (o: { flags?: number; __reserved?: number; user_va?: bigint; length?: bigint; iova?: bigint }) =>
        a.ioctl(ictx, IOMMU_IOAS_MAP, encode(iommu_ioas_map, { ioas_id: ioasId, flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE, user_va: mem.addr, length: PAGE, iova: IOVA, ...o }))
      expect({
        unknownFlag: errnoOf(await map({ flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | (1 << 8) })),
        reserved: errnoOf(await map({ __reserved: 1 })),
        iovaMax: errnoOf(await map({ iova: max })),
        lengthMax: errnoOf(await map({ length: max })),
        length0: errnoOf(await map({ length: 0n })),
        userWraps: errnoOf(await map({ user_va: max - PAGE + 1n, length: 2n * PAGE })),
        huge: errnoOf(await map({ flags: IOMMU_IOAS_MAP_READABLE, length: 1n << 63n })),
      }).toEqual({ unknownFlag: 'EOPNOTSUPP', reserved: 'EOPNOTSUPP', iovaMax: 'EOVERFLOW', lengthMax: 'EOVERFLOW', length0: 'EINVAL', userWraps: 'EOVERFLOW', huge: 'EOVERFLOW' })
    })

    // iopt_alloc_pages: "length > SIZE_MAX - PAGE_SIZE" -> -EINVAL (it keeps DIV_ROUND_UP of
    // the page count from wrapping); iommufd_ioas_map lets such a length through (it refuses
    // only ULONG_MAX). From user address 0, so that the user range does not wrap (7.2's
    // iopt_alloc_user_pages checks that first, EOVERFLOW); without the check the IOVA range
    // would be refused instead (iopt_check_iova: EOVERFLOW).
    iommufdTest('IOAS_MAP of a length within a page of 2^64 is EINVAL', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioasId = await newIoas(a, ictx)
      const length = (1n << 64n) - PAGE
      expect(errnoOf(await ioasMap(a, ictx, { ioasId, userVa: 0n, iova: IOVA, length, flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE }))).toBe('EINVAL')
    })

    // iommufd_ioas_copy: an unknown flag -> -EOPNOTSUPP; a length or IOVA >= ULONG_MAX ->
    // -EOVERFLOW; neither READABLE nor WRITEABLE -> -EINVAL. iopt_get_pages: length 0 ->
    // -EINVAL; a source range past 2^64 -> -EOVERFLOW; a source range not fully mapped
    // (!iopt_area_contig_done) -> -ENOENT. iopt_insert_area: WRITEABLE of pages mapped
    // read-only ("iommu_prot & IOMMU_WRITE && !pages->writable") -> -EPERM.
    iommufdTest('IOAS_COPY with an unknown flag is EOPNOTSUPP; a length or IOVA of 2^64-1 EOVERFLOW; neither READABLE nor WRITEABLE, or length 0, EINVAL; a source range past 2^64 EOVERFLOW; a source not mapped ENOENT; WRITEABLE of a read-only mapping EPERM; a read-only copy works', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const src = await newIoas(a, ictx)
      const dst = await newIoas(a, ictx)
      const mem = await a.memAlloc(Number(PAGE))
      must(await ioasMap(a, ictx, { ioasId: src, userVa: mem.addr, iova: IOVA, length: PAGE, flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE }), 'map the source read-only')
      const max = (1n << 64n) - 1n
      const RO = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE
      const copy = (o: { flags?: number; length?: bigint; src_iova?: bigint; dst_iova?: bigint }) =>
        a.ioctl(ictx, IOMMU_IOAS_COPY, encode(iommu_ioas_copy, { src_ioas_id: src, dst_ioas_id: dst, flags: RO, length: PAGE, src_iova: IOVA, dst_iova: IOVA, ...o }))
      expect({
        unknownFlag: errnoOf(await copy({ flags: RO | (1 << 8) })),
        lengthMax: errnoOf(await copy({ length: max })),
        srcMax: errnoOf(await copy({ src_iova: max })),
        noAccess: errnoOf(await copy({ flags: IOMMU_IOAS_MAP_FIXED_IOVA })),
        length0: errnoOf(await copy({ length: 0n })),
        srcWraps: errnoOf(await copy({ src_iova: max - PAGE, length: 4n * PAGE })),
        notMapped: errnoOf(await copy({ src_iova: IOVA + 16n * PAGE })),
        writeable: errnoOf(await copy({ flags: RO | IOMMU_IOAS_MAP_WRITEABLE })),
        readOnly: errnoOf(await copy({})),
      }).toEqual({ unknownFlag: 'EOPNOTSUPP', lengthMax: 'EOVERFLOW', srcMax: 'EOVERFLOW', noAccess: 'EINVAL', length0: 'EINVAL', srcWraps: 'EOVERFLOW', notMapped: 'ENOENT', writeable: 'EPERM', readOnly: 'OK' })
    })

    // iopt_unmap_iova (IOMMU_IOAS_UNMAP that is not "unmap all"): "!length" -> -EINVAL;
    // check_add_overflow(iova, length - 1) -> -EOVERFLOW. IOMMU_OPTION:
    // iommufd_option_rlimit_mode "cmd->object_id" -> -EOPNOTSUPP; iommufd_ioas_option_huge_pages
    // SET of a value other than 0/1 -> -EINVAL; iommufd_option's copy-out of val64 into a
    // read-only argument -> -EFAULT. iommufd_fops_ioctl: a command whose size/direction bits
    // differ from the table's "op->ioctl_num != cmd" -> -ENOIOCTLCMD (ENOTTY to the user); a
    // size field below the op's min_size -> -EINVAL.
    iommufdTest('IOAS_UNMAP of length 0 is EINVAL, of a range past 2^64 EOVERFLOW; IOMMU_OPTION RLIMIT_MODE with an object id EOPNOTSUPP, HUGE_PAGES set to 2 EINVAL, GET into a read-only argument EFAULT; an iommufd ioctl with size bits is ENOTTY, with a size below the minimum EINVAL', async ({ guest }) => {
      const a = await guest.agent()
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioasId = await newIoas(a, ictx)
      const unmap = (iova: bigint, length: bigint) => a.ioctl(ictx, IOMMU_IOAS_UNMAP, encode(iommu_ioas_unmap, { ioas_id: ioasId, iova, length }))
      const option = (o: { option_id: number; op: number; object_id?: number; val64?: bigint }) => encode(iommu_option, o)
      expect({
        unmap0: errnoOf(await unmap(IOVA, 0n)),
        unmapWraps: errnoOf(await unmap((1n << 64n) - 2n * PAGE, 4n * PAGE)),
        rlimitObject: errnoOf(await a.ioctl(ictx, IOMMU_OPTION, option({ option_id: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET, object_id: ioasId }))),
        hugePages2: errnoOf(await a.ioctl(ictx, IOMMU_OPTION, option({ option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, object_id: ioasId, val64: 2n }))),
        getReadOnly: errnoOf(await a.ioctl(ictx, IOMMU_OPTION, await a.readOnlyMem(option({ option_id: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, object_id: ioasId })))),
        sizeBits: errnoOf(await a.ioctl(ictx, IOMMU_IOAS_ALLOC | (12 << 16), encode(iommu_ioas_alloc))),
        belowMin: errnoOf(await a.ioctl(ictx, IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc, { size: 4 }))),
      }).toEqual({ unmap0: 'EINVAL', unmapWraps: 'EOVERFLOW', rlimitObject: 'EOPNOTSUPP', hugePages2: 'EINVAL', getReadOnly: 'EFAULT', sizeBits: 'ENOTTY', belowMin: 'EINVAL' })
    })

    // ---- device cdev ----

    // vfio_df_ioctl_bind_iommufd / _attach_pt / _detach_pt: copy_from_user -> -EFAULT;
    // "argsz < minsz" -> -EINVAL. The copy-out of out_devid (bind) or pt_id (attach) into a
    // read-only argument -> -EFAULT, and the call is undone: the bind closes the device
    // (out_close_device), the attach detaches it (out_detach).
    cdevTest('cdev BIND, ATTACH and DETACH with an unmapped argument are EFAULT, with a short argsz EINVAL; into a read-only argument EFAULT, and the bind or attach is undone', async ({ guest, castPart }) => {
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      const a = await guest.agent()
      const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const ioasId = await newIoas(a, ictx)
      const bindFault = errnoOf(await a.ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, BAD_POINTER))
      const bindReadOnly = errnoOf(await a.ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, await a.readOnlyMem(encode(vfio_device_bind_iommufd, { iommufd: ictx }))))
      const bindAfter = errnoOf(await bindIommufd(a, devfd, ictx))
      expect({
        bindFault,
        bindReadOnly,
        bindAfter,
        attachFault: errnoOf(await a.ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, BAD_POINTER)),
        attachArgsz: errnoOf(await a.ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, encode(vfio_device_attach_iommufd_pt, { argsz: 8, pt_id: ioasId }))),
        attachReadOnly: errnoOf(await a.ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, await a.readOnlyMem(encode(vfio_device_attach_iommufd_pt, { pt_id: ioasId })))),
        ioasFreeAfter: errnoOf(await destroy(a, ictx, ioasId)),
        detachFault: errnoOf(await a.ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, BAD_POINTER)),
        detachArgsz: errnoOf(await a.ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, encode(vfio_device_detach_iommufd_pt, { argsz: 4 }))),
      }).toEqual({ bindFault: 'EFAULT', bindReadOnly: 'EFAULT', bindAfter: 'OK', attachFault: 'EFAULT', attachArgsz: 'EINVAL', attachReadOnly: 'EFAULT', ioasFreeAfter: 'OK', detachFault: 'EFAULT', detachArgsz: 'EINVAL' })
    })

    // iommufd_get_hw_info: flags or __reserved -> -EOPNOTSUPP; the copy of the driver's data
    // (intel-iommu's struct iommu_hw_info_vtd), or the clearing of the user buffer past it (a
    // driver without hw_info), into memory the process cannot write -> -EFAULT.
    cdevTest('IOMMU_GET_HW_INFO with an unknown flag or __reserved set is EOPNOTSUPP; into a read-only buffer EFAULT', async ({ guest, castPart }) => {
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      const a = await guest.agent()
      const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
      const ictx = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      const b = await bindIommufd(a, devfd, ictx)
      must(b, 'BIND_IOMMUFD')
      const info = (o: { flags?: number; __reserved?: Buffer; data_len?: number; data_uptr?: bigint }) =>
        a.ioctl(ictx, IOMMU_GET_HW_INFO, encode(iommu_hw_info, { dev_id: b.devid!, ...o }))
      expect({
        flag: errnoOf(await info({ flags: 1 << 30 })),
        reserved: errnoOf(await info({ __reserved: Buffer.from([0, 1, 0]) })),
        readOnly: errnoOf(await info({ data_len: 64, data_uptr: await a.readOnlyMem(Buffer.alloc(64)) })),
      }).toEqual({ flag: 'EOPNOTSUPP', reserved: 'EOPNOTSUPP', readOnly: 'EFAULT' })
    })

    // ---- vfio-pci ----

    // vfio_pci_ioctl_get_region_info: the VGA index "!vdev->has_vga" -> -EINVAL; "info.index >=
    // VFIO_PCI_NUM_REGIONS + vdev->num_regions" -> -EINVAL. vfio_pci_ioctl_get_irq_info:
    // "info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS" -> -EINVAL.
    test('GET_REGION_INFO of the VGA region on a device without VGA or of an index past its regions, and GET_IRQ_INFO of an index past VFIO_PCI_NUM_IRQS, are EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      const { group } = await holdGroup(a, g.group)
      const device = must(await getDeviceFd(a, group, g.bdf(dev)), 'GET_DEVICE_FD')
      const region = (index: number) => a.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, encode(vfio_region_info, { index }))
      expect({
        vga: errnoOf(await region(VFIO_PCI_VGA_REGION_INDEX)),
        past: errnoOf(await region(64)),
        bar0: errnoOf(await region(0)),
        irqPast: errnoOf(await a.ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, encode(vfio_irq_info, { index: 5 }))),
      }).toEqual({ vga: 'EINVAL', past: 'EINVAL', bar0: 'OK', irqPast: 'EINVAL' })
    })

    // vfio_ioctl_device_feature: flags outside MASK|SET|GET|PROBE -> -EINVAL.
    // vfio_ioctl_device_feature_logging_start: "!device->log_ops" (vfio-pci has none) -> -ENOTTY.
    // vfio_pci_core_feature_token: "!vdev->vf_token" (no SR-IOV PF) -> -ENOTTY.
    test('VFIO_DEVICE_FEATURE on vfio-pci: an unknown flag is EINVAL; DMA_LOGGING_START (no log_ops) and PCI_VF_TOKEN on a device that is no SR-IOV PF are ENOTTY', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      const { group } = await holdGroup(a, g.group)
      const device = must(await getDeviceFd(a, group, g.bdf(dev)), 'GET_DEVICE_FD')
      const feature = (flags: number, payload = 16) => a.ioctl(device, VFIO_DEVICE_FEATURE, encode(vfio_device_feature, { flags }, { tail: Buffer.alloc(payload) }))
      expect({
        unknownFlag: errnoOf(await feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN | (1 << 20))),
        logging: errnoOf(await feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, 32)),
        vfToken: errnoOf(await feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN)),
      }).toEqual({ unknownFlag: 'EINVAL', logging: 'ENOTTY', vfToken: 'ENOTTY' })
    })

    // vfio_pci_ioctl_get_info / _get_region_info / _get_irq_info / _set_irqs /
    // _get_pci_hot_reset_info / _pci_hot_reset / _ioeventfd: copy_from_user of the header ->
    // -EFAULT; "argsz < minsz" -> -EINVAL; the copy-out into a read-only argument -> -EFAULT
    // (GET_PCI_HOT_RESET_INFO: the devices array when argsz has room for it, else the header).
    test('vfio-pci GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, GET_PCI_HOT_RESET_INFO, PCI_HOT_RESET and IOEVENTFD with an unmapped argument are EFAULT, with a short argsz EINVAL, into a read-only argument EFAULT', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const fault = (req: number) => a.ioctl(device, req, BAD_POINTER)
      const readOnly = async (req: number, arg: Buffer) => a.ioctl(device, req, await a.readOnlyMem(arg))
      expect({
        infoFault: errnoOf(await fault(VFIO_DEVICE_GET_INFO)),
        infoArgsz: errnoOf(await a.ioctl(device, VFIO_DEVICE_GET_INFO, encode(vfio_device_info, { argsz: 4 }))),
        infoReadOnly: errnoOf(await readOnly(VFIO_DEVICE_GET_INFO, encode(vfio_device_info))),
        regionFault: errnoOf(await fault(VFIO_DEVICE_GET_REGION_INFO)),
        regionArgsz: errnoOf(await a.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, encode(vfio_region_info, { argsz: 4 }))),
        regionReadOnly: errnoOf(await readOnly(VFIO_DEVICE_GET_REGION_INFO, encode(vfio_region_info, { index: VFIO_PCI_BAR0_REGION_INDEX }))),
        irqFault: errnoOf(await fault(VFIO_DEVICE_GET_IRQ_INFO)),
        irqReadOnly: errnoOf(await readOnly(VFIO_DEVICE_GET_IRQ_INFO, encode(vfio_irq_info, { index: VFIO_PCI_INTX_IRQ_INDEX }))),
        setIrqsFault: errnoOf(await fault(VFIO_DEVICE_SET_IRQS)),
        resetInfoFault: errnoOf(await fault(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO)),
        resetInfoArgsz: errnoOf(await a.ioctl(device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encode(vfio_pci_hot_reset_info, { argsz: 4 }))),
        resetInfoDevicesReadOnly: errnoOf(await readOnly(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encode(vfio_pci_hot_reset_info, { argsz: 1024 }))),
        resetInfoHeaderReadOnly: errnoOf(await readOnly(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encode(vfio_pci_hot_reset_info))),
        resetFault: errnoOf(await fault(VFIO_DEVICE_PCI_HOT_RESET)),
        ioeventfdFault: errnoOf(await fault(VFIO_DEVICE_IOEVENTFD)),
        ioeventfdArgsz: errnoOf(await a.ioctl(device, VFIO_DEVICE_IOEVENTFD, encode(vfio_device_ioeventfd, { argsz: 4 }))),
      }).toEqual({
        infoFault: 'EFAULT', infoArgsz: 'EINVAL', infoReadOnly: 'EFAULT', regionFault: 'EFAULT', regionArgsz: 'EINVAL', regionReadOnly: 'EFAULT',
        irqFault: 'EFAULT', irqReadOnly: 'EFAULT', setIrqsFault: 'EFAULT', resetInfoFault: 'EFAULT', resetInfoArgsz: 'EINVAL',
        resetInfoDevicesReadOnly: 'EFAULT', resetInfoHeaderReadOnly: 'EFAULT', resetFault: 'EFAULT', ioeventfdFault: 'EFAULT', ioeventfdArgsz: 'EINVAL',
      })
    })

    // vfio_pci_ioctl_ioeventfd: a flag outside the size mask, a size that is not one bit, an fd
    // below -1 -> -EINVAL. vfio_pci_ioeventfd: a region past BAR5, a write past the BAR's end
    // -> -EINVAL; the same (offset, data, size) twice -> -EEXIST; deleting (fd -1) one that
    // does not exist -> -ENODEV.
    test('vfio-pci IOEVENTFD with an unknown flag, a size of two widths, an fd below -1, on a region past BAR5 or past the BAR\'s end is EINVAL; the same one twice EEXIST; deleting one that does not exist ENODEV', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const efd = must(await a.eventfd(), 'eventfd')
      const ioeventfd = (o: { flags?: number; offset?: bigint; fd?: number }) =>
        a.ioctl(device, VFIO_DEVICE_IOEVENTFD, encode(vfio_device_ioeventfd, { flags: VFIO_DEVICE_IOEVENTFD_32, offset: vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX) + 0x80n, data: 1n, fd: efd, ...o }))
      expect({
        unknownFlag: errnoOf(await ioeventfd({ flags: VFIO_DEVICE_IOEVENTFD_32 | (1 << 4) })),
        twoSizes: errnoOf(await ioeventfd({ flags: VFIO_DEVICE_IOEVENTFD_32 | (VFIO_DEVICE_IOEVENTFD_32 >> 1) })),
        fdBelow: errnoOf(await ioeventfd({ fd: -2 })),
        rom: errnoOf(await ioeventfd({ offset: vfioPciRegionOffset(VFIO_PCI_ROM_REGION_INDEX) })),
        pastBar: errnoOf(await ioeventfd({ offset: vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX) + EDU_BAR0_SIZE })),
        deleteMissing: errnoOf(await ioeventfd({ fd: -1 })),
        add: errnoOf(await ioeventfd({})),
        again: errnoOf(await ioeventfd({})),
        delete: errnoOf(await ioeventfd({ fd: -1 })),
      }).toEqual({ unknownFlag: 'EINVAL', twoSizes: 'EINVAL', fdBelow: 'EINVAL', rom: 'EINVAL', pastBar: 'EINVAL', deleteMissing: 'ENODEV', add: 'OK', again: 'EEXIST', delete: 'OK' })
    })

    // vfio_pci_rw: a region index past the device's regions -> -EINVAL; a write to the ROM ->
    // -EINVAL. vfio_pci_bar_rw: "pos >= end" (a read at the BAR's end) -> -EINVAL.
    // vfio_config_do_rw: an offset past the config space (pdev->cfg_size) -> -EFAULT.
    // vfio_pci_core_mmap: a region index past the regions, the ROM or config region, a BAR
    // the device does not have (!bar_mmap_supported), a range past the BAR -> -EINVAL.
    test('vfio-pci read/write and mmap: a region past the device\'s is EINVAL; writing the ROM EINVAL; reading at a BAR\'s end EINVAL; reading past the config space EFAULT; mmap of the config region, of a BAR the device lacks, or past the BAR EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const cfgSize = Number((await guest.run(`wc -c < /sys/bus/pci/devices/${await guest.bdf(castPart('singletonGroup'))}/config`)).trim())
      const mmap = async (offset: bigint) => {
        const m = await a.mmap(device, Number(PAGE), offset)
        if (m.addr !== undefined) await a.munmap(m.addr, Number(PAGE))
        return errnoOf(m)
      }
      expect({
        readPast: errnoOf(await a.pread(device, 4, vfioPciRegionOffset(64))),
        writeRom: errnoOf(await a.pwrite(device, Buffer.alloc(4), vfioPciRegionOffset(VFIO_PCI_ROM_REGION_INDEX))),
        readBarEnd: errnoOf(await a.pread(device, 4, vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX) + EDU_BAR0_SIZE)),
        readPastConfig: errnoOf(await a.pread(device, 4, vfioPciRegionOffset(VFIO_PCI_CONFIG_REGION_INDEX) + BigInt(cfgSize))),
        mmapPast: await mmap(vfioPciRegionOffset(64)),
        mmapConfig: await mmap(vfioPciRegionOffset(VFIO_PCI_CONFIG_REGION_INDEX)),
        mmapNoBar: await mmap(vfioPciRegionOffset(VFIO_PCI_BAR2_REGION_INDEX)),
        mmapPastBar: await mmap(vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX) + EDU_BAR0_SIZE),
        mmapBar0: await mmap(vfioPciRegionOffset(VFIO_PCI_BAR0_REGION_INDEX)),
      }).toEqual({ readPast: 'EINVAL', writeRom: 'EINVAL', readBarEnd: 'EINVAL', readPastConfig: 'EFAULT', mmapPast: 'EINVAL', mmapConfig: 'EINVAL', mmapNoBar: 'EINVAL', mmapPastBar: 'EINVAL', mmapBar0: 'OK' })
    })

    // vfio_ioctl_device_feature: copy_from_user -> -EFAULT; "argsz < minsz" -> -EINVAL; SET and
    // GET without PROBE -> -EINVAL. vfio_ioctl_device_feature_logging_stop / _report:
    // "!device->log_ops" (vfio-pci has none) -> -ENOTTY. vfio_set_irqs_validate_and_prepare:
    // a start past the index's IRQs -> -EINVAL; DATA_BOOL with an argsz short of count bytes
    // -> -EINVAL.
    test('VFIO_DEVICE_FEATURE with an unmapped argument is EFAULT, a short argsz or SET with GET EINVAL, DMA_LOGGING_STOP/REPORT ENOTTY; SET_IRQS past the index\'s IRQs or with data short of its count EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const feature = (flags: number, o: { argsz?: number; payload?: number } = {}) =>
        a.ioctl(device, VFIO_DEVICE_FEATURE, encode(vfio_device_feature, { flags, ...(o.argsz !== undefined ? { argsz: o.argsz } : {}) }, { tail: Buffer.alloc(o.payload ?? 32) }))
      const irqs = (o: { flags: number; index: number; start: number; count: number }, data = 0) =>
        a.ioctl(device, VFIO_DEVICE_SET_IRQS, encode(vfio_irq_set, o, { tail: Buffer.alloc(data) }))
      expect({
        featureFault: errnoOf(await a.ioctl(device, VFIO_DEVICE_FEATURE, BAD_POINTER)),
        featureArgsz: errnoOf(await feature(VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, { argsz: 4 })),
        setAndGet: errnoOf(await feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN)),
        loggingStop: errnoOf(await feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, { payload: 0 })),
        loggingReport: errnoOf(await feature(VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT)),
        irqStartPast: errnoOf(await irqs({ flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, index: VFIO_PCI_INTX_IRQ_INDEX, start: 1, count: 1 })),
        irqDataShort: errnoOf(await irqs({ flags: VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK, index: VFIO_PCI_INTX_IRQ_INDEX, start: 0, count: 1 })),
      }).toEqual({ featureFault: 'EFAULT', featureArgsz: 'EINVAL', setAndGet: 'EINVAL', loggingStop: 'ENOTTY', loggingReport: 'ENOTTY', irqStartPast: 'EINVAL', irqDataShort: 'EINVAL' })
    })

    // vfio_pci_core_pm_entry -> vfio_pci_runtime_pm_entry: "vdev->pm_runtime_engaged" (a
    // second LOW_POWER_ENTRY) -> -EINVAL; vfio_pci_core_pm_entry_with_wakeup:
    // "entry.wakeup_eventfd < 0" -> -EINVAL. vfio_set_irqs_validate_and_prepare: "hdr->argsz <
    // minsz" -> -EINVAL.
    test('LOW_POWER_ENTRY twice is EINVAL (LOW_POWER_EXIT brings the device back); LOW_POWER_ENTRY_WITH_WAKEUP with eventfd -1 EINVAL; SET_IRQS with a short argsz EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const feature = (f: number, tail = Buffer.alloc(0)) => a.ioctl(device, VFIO_DEVICE_FEATURE, encode(vfio_device_feature, { flags: VFIO_DEVICE_FEATURE_SET | f }, { tail }))
      const wakeup = Buffer.alloc(8)
      wakeup.writeInt32LE(-1)
      const first = errnoOf(await feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY))
      const second = errnoOf(await feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY))
      const exit = errnoOf(await feature(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT))
      expect({
        first,
        second,
        exit,
        wakeupNoFd: errnoOf(await feature(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, wakeup)),
        info: errnoOf(await a.ioctl(device, VFIO_DEVICE_GET_INFO, encode(vfio_device_info))),
        irqsArgsz: errnoOf(await a.ioctl(device, VFIO_DEVICE_SET_IRQS, encode(vfio_irq_set, { argsz: 4, flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER }))),
      }).toEqual({ first: 'OK', second: 'EINVAL', exit: 'OK', wakeupNoFd: 'EINVAL', info: 'OK', irqsArgsz: 'EINVAL' })
    })

    // vfio_pci_core_match (GET_DEVICE_FD's name "<bdf> <options>"): "vf_token=" followed by
    // fewer characters than a UUID -> -EINVAL; an unknown option -> -EINVAL.
    test('GET_DEVICE_FD with a vf_token shorter than a UUID, or with an unknown option after the device name, is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      const { group } = await holdGroup(a, g.group)
      expect({
        shortToken: errnoOf(await getDeviceFd(a, group, `${g.bdf(dev)} vf_token=1234`)),
        unknownOption: errnoOf(await getDeviceFd(a, group, `${g.bdf(dev)} colour=blue`)),
      }).toEqual({ shortToken: 'EINVAL', unknownOption: 'EINVAL' })
    })

    // vfio_set_irqs_validate_and_prepare (vfio_main.c), before any handler runs: an unknown flag
    // (the header check), a start past the index's IRQs "hdr->start >= num_irqs || ...", an
    // argsz short of count's data "hdr->argsz - minsz < hdr->count * size" -> -EINVAL. Each
    // case is one a handler would take were the check gone: an eventfd for INTx
    // (vfio_pci_set_intx_trigger turns INTx on), an MSI block past edu's one vector
    // (vfio_msi_enable returns the number of vectors it got), and data behind the header that is
    // unreadable memory (memdup_user: EFAULT). The same INTx eventfd with valid arguments is OK.
    test('SET_IRQS checks its arguments before any handler: an unknown flag, a start past the index\'s IRQs, an argsz short of count\'s data are EINVAL where INTx or MSI would take the rest; the valid INTx eventfd is OK', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const fdData = Buffer.alloc(4)
      fdData.writeInt32LE(must(await a.eventfd(), 'eventfd'))
      const TRIGGER = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER
      const set = (o: { flags: number; index: number; start: number; count: number }, tail?: Buffer) =>
        a.ioctl(device, VFIO_DEVICE_SET_IRQS, encode(vfio_irq_set, o, { tail }))
      const intx = { index: VFIO_PCI_INTX_IRQ_INDEX, start: 0, count: 1 }
      expect({
        unknownFlag: errnoOf(await set({ ...intx, flags: TRIGGER | (1 << 8) }, fdData)),
        startPast: errnoOf(await set({ flags: TRIGGER, index: VFIO_PCI_MSI_IRQ_INDEX, start: 1, count: 1 }, fdData)),
        dataShort: errnoOf(await a.ioctl(device, VFIO_DEVICE_SET_IRQS, await a.memBeforeHole(encode(vfio_irq_set, { ...intx, flags: TRIGGER })))),
        valid: errnoOf(await set({ ...intx, flags: TRIGGER }, fdData)),
      }).toEqual({ unknownFlag: 'EINVAL', startPast: 'EINVAL', dataShort: 'EINVAL', valid: 'OK' })
      must(await set({ ...intx, flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, count: 0 }), 'INTx off')
    })

    // vfio_pci_set_intx_unmask / _mask: "!is_intx(vdev)" -> -EINVAL; _mask with DATA_EVENTFD
    // -> -ENOTTY ("XXX implement me"). vfio_pci_set_intx_trigger: DATA_NONE while INTx is off
    // "!is_intx(vdev)" -> -EINVAL; an eventfd while MSI is on "!(is_intx || is_irq_none)" ->
    // -EINVAL. vfio_pci_set_msi_trigger: DATA_NONE while MSI is off, an eventfd while INTx is
    // on -> -EINVAL. vfio_pci_set_ctx_trigger_single (the request IRQ): DATA_NONE with no
    // eventfd set, DATA_BOOL or DATA_EVENTFD with count 0 -> -EINVAL. vfio_virqfd_enable (an
    // INTx unmask eventfd): a closed fd -> -EBADF; a second one while one is set -> -EBUSY.
    test('SET_IRQS state: INTx unmask or mask while INTx is off, INTx or MSI triggered while off, MSI while INTx is on, INTx while MSI is on are EINVAL; an INTx mask eventfd is ENOTTY; an unmask eventfd that is closed EBADF, a second one EBUSY; the request IRQ with no eventfd or a count of 0 is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const device = await pciDevice(a, guest, castPart('singletonGroup'))
      const efd = must(await a.eventfd(), 'eventfd')
      const fdData = Buffer.alloc(4)
      fdData.writeInt32LE(efd)
      const irqs = (index: number, action: number, data: 'none' | 'bool' | 'eventfd', count = 1) =>
        a.ioctl(device, VFIO_DEVICE_SET_IRQS, encode(vfio_irq_set, {
          flags: action | { none: VFIO_IRQ_SET_DATA_NONE, bool: VFIO_IRQ_SET_DATA_BOOL, eventfd: VFIO_IRQ_SET_DATA_EVENTFD }[data],
          index, start: 0, count,
        }, { tail: data === 'eventfd' ? fdData : data === 'bool' ? Buffer.alloc(count) : undefined }))
      const INTX = VFIO_PCI_INTX_IRQ_INDEX
      const MSI = VFIO_PCI_MSI_IRQ_INDEX
      const REQ = VFIO_PCI_REQ_IRQ_INDEX
      const off = {
        unmask: errnoOf(await irqs(INTX, VFIO_IRQ_SET_ACTION_UNMASK, 'none')),
        mask: errnoOf(await irqs(INTX, VFIO_IRQ_SET_ACTION_MASK, 'none')),
        intxTrigger: errnoOf(await irqs(INTX, VFIO_IRQ_SET_ACTION_TRIGGER, 'none')),
        msiTrigger: errnoOf(await irqs(MSI, VFIO_IRQ_SET_ACTION_TRIGGER, 'none')),
        reqNoEventfd: errnoOf(await irqs(REQ, VFIO_IRQ_SET_ACTION_TRIGGER, 'none')),
        reqBool0: errnoOf(await irqs(REQ, VFIO_IRQ_SET_ACTION_TRIGGER, 'bool', 0)),
        reqEventfd0: errnoOf(await irqs(REQ, VFIO_IRQ_SET_ACTION_TRIGGER, 'eventfd', 0)),
      }
      must(await irqs(INTX, VFIO_IRQ_SET_ACTION_TRIGGER, 'eventfd'), 'INTx on')
      const closed = must(await a.eventfd(), 'a second eventfd')
      must(await a.closeFd(closed), 'close it')
      const unmaskFd = (fd: number) => {
        const d = Buffer.alloc(4)
        d.writeInt32LE(fd)
        return a.ioctl(device, VFIO_DEVICE_SET_IRQS, encode(vfio_irq_set, { flags: VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_DATA_EVENTFD, index: INTX, start: 0, count: 1 }, { tail: d }))
      }
      const intxOn = {
        maskEventfd: errnoOf(await irqs(INTX, VFIO_IRQ_SET_ACTION_MASK, 'eventfd')),
        msi: errnoOf(await irqs(MSI, VFIO_IRQ_SET_ACTION_TRIGGER, 'eventfd')),
        unmaskClosedFd: errnoOf(await unmaskFd(closed)),
        unmaskFd: errnoOf(await unmaskFd(efd)),
        unmaskFdAgain: errnoOf(await unmaskFd(efd)),
      }
      must(await unmaskFd(-1), 'unmask eventfd off')
      must(await irqs(INTX, VFIO_IRQ_SET_ACTION_TRIGGER, 'none', 0), 'INTx off')
      must(await irqs(MSI, VFIO_IRQ_SET_ACTION_TRIGGER, 'eventfd'), 'MSI on')
      const msiOn = { intx: errnoOf(await irqs(INTX, VFIO_IRQ_SET_ACTION_TRIGGER, 'eventfd')) }
      must(await irqs(MSI, VFIO_IRQ_SET_ACTION_TRIGGER, 'none', 0), 'MSI off')
      expect({ off, intxOn, msiOn }).toEqual({
        off: { unmask: 'EINVAL', mask: 'EINVAL', intxTrigger: 'EINVAL', msiTrigger: 'EINVAL', reqNoEventfd: 'EINVAL', reqBool0: 'EINVAL', reqEventfd0: 'EINVAL' },
        intxOn: { maskEventfd: 'ENOTTY', msi: 'EINVAL', unmaskClosedFd: 'EBADF', unmaskFd: 'OK', unmaskFdAgain: 'EBUSY' },
        msiOn: { intx: 'EINVAL' },
      })
    })
  },
  { oncePerKernel: true, qemuIndependent: true },
)
