// Argument and state checks of the VFIO and iommufd ioctls that the ownership and DMA suites
// never run into (ci/coverage/unreached.yaml listed them as reachable): type1's MAP_DMA and
// UNMAP_DMA rules (no access, alignment, a split, the mapping limit, VADDR updates), the same
// rules through an iommufd given to a group by SET_CONTAINER (iommufd's VFIO compat,
// vfio_compat.c: the "group + iommufd" column of docs/rule-paths.md), iommufd's IOMMU_OPTION
// and IOAS_UNMAP, and vfio-pci's region, IRQ and feature queries. Each errno was read in the
// 6.12 source; the comment above a test names the function that decides it.
// Milliseconds of ioctls, on each kernel's first guest: none of these checks depends on the
// vIOMMU model or on QEMU (the page size they align to is 4 KiB under every x86 vIOMMU).
import { expect } from 'vitest'
import { errnoOf, type GuestAgent } from '../harness/agent/client.js'
import type { GuestSession } from '../harness/guest/session.js'
import { encode } from '../harness/uapi/struct.js'
import {
  iommu_ioas_unmap,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  iommu_option,
  IOMMU_IOAS_UNMAP,
  IOMMU_OPTION,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
} from '../harness/uapi/iommufd.js'
import {
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
  VFIO_DEVICE_FEATURE_PCI_VF_TOKEN,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  vfio_device_feature,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_VADDR,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_UNMAP_FLAG_VADDR,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
  vfio_iommu_type1_info,
  vfio_irq_info,
  VFIO_PCI_VGA_REGION_INDEX,
  vfio_region_info,
} from '../harness/uapi/vfio.js'
import { ioasAlloc, ioasMap, IOMMUFD_PATH, openIommufd } from '../harness/vfio/iommufd.js'
import { getDeviceFd, holdGroup, mapDma, must, openGroup, setContainer, setIommu, unmapDma } from '../harness/vfio/legacy.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

const PAGE = 4096n
const IOVA = 0x100000n
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE
/** An address no agent maps (the first page): a user pointer the kernel's copy faults on. */
const BAD_POINTER = 8

/** VFIO_IOMMU_MAP_DMA with the fields as given (mapDma always asks for READ). */
const mapRaw = (a: GuestAgent, container: number, m: { flags: number; vaddr: bigint; iova: bigint; size: bigint; argsz?: number }) =>
  a.ioctl(container, VFIO_IOMMU_MAP_DMA, encode(vfio_iommu_type1_dma_map, m))
const unmapRaw = (a: GuestAgent, container: number, u: { flags?: number; iova: bigint; size: bigint; argsz?: number }) =>
  a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, encode(vfio_iommu_type1_dma_unmap, { flags: 0, ...u }))

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
  (_target, base) => {
    // The type1 rules need type1 (the compat build's /dev/vfio/vfio is iommufd's: its rules are
    // the "group + iommufd" tests below); iommufd's need /dev/iommu.
    const type1Test = base.extend<{ type1: void }>({
      type1: [async ({ requireConfig }, use) => (requireConfig('VFIO_IOMMU_TYPE1'), use()), { auto: true }],
    })
    const iommufdTest = base.extend<{ iommufd: void }>({
      iommufd: [async ({ requireConfig }, use) => (requireConfig('IOMMUFD'), use()), { auto: true }],
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
    // "(length & (iopt->iova_alignment - 1)) || !length" -> -EINVAL.
    iommufdTest('group + iommufd: MAP_DMA of an IOVA or a size not page-aligned is EINVAL', async ({ guest, castPart }) => {
      const a = await guest.agent()
      const { iommufd } = await compatGroup(a, guest, castPart('singletonGroup'))
      const mem = await a.memAlloc(Number(2n * PAGE))
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA + 0x800n, size: PAGE })), 'IOVA + 0x800').toBe('EINVAL')
      expect(errnoOf(await mapDma(a, iommufd, { vaddr: mem.addr, iova: IOVA, size: 0x1800n })), 'size 0x1800').toBe('EINVAL')
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
  },
  { oncePerKernel: true, qemuIndependent: true },
)
