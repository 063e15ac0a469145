// iommufd and the VFIO device cdev (/dev/iommu + /dev/vfio/devices/vfioN): what a cdev fd
// may do before BIND_IOMMUFD, who may bind (DMA ownership belongs to one iommufd context per
// IOMMU group), how the cdev and the legacy group exclude each other, host drivers in the
// group, and the IOAS / HWPT objects a bound device attaches to.
// Every errno below was read in the 6.12 kernel source (function named in the comment):
// drivers/vfio/device_cdev.c, vfio_main.c, group.c, iommufd.c; drivers/iommu/iommufd/
// main.c, device.c, ioas.c, io_pagetable.c, hw_pagetable.c; drivers/iommu/iommu.c.
// Kernels without CONFIG_IOMMUFD / CONFIG_VFIO_DEVICE_CDEV (Debian stock) SKIP, naming them.
// "Every vfio-pci device has a cdev node matching sysfs" is in cdev-mdev-smoke.test.ts.
import { expect } from 'vitest'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { VIOMMUS } from '../guests/topologies/index.js'
import { iommuPageSize } from '../guests/viommus/index.js'
import { cdevPathFixture } from '../harness/vitest/path-fixtures.js'
import { deviceInfo, getDeviceFd, openGroup, setContainer, setIommu } from '../harness/vfio/legacy.js'
import { withModuleParam } from '../harness/vfio/module-param.js'
import {
  allowIovas,
  attachPt,
  bindCdev,
  bindIommufd,
  cdevPath,
  destroy,
  detachPt,
  errnoOf,
  hwptAlloc,
  ioasAlloc,
  ioasIovaRanges,
  ioasMap,
  ioasUnmap,
  IOMMUFD_PATH,
  must,
  openCdev,
  openIommufd,
  ownCdev,
} from '../harness/vfio/iommufd.js'
import { decode, encode } from '../harness/uapi/struct.js'
import {
  IOMMU_HWPT_ALLOC,
  iommu_hwpt_alloc,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_FAULT_ID_VALID,
} from '../harness/uapi/iommufd.js'
import { VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_GET_REGION_INFO, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_NUM_REGIONS, vfio_region_info, vfioPciRegionOffset } from '../harness/uapi/vfio.js'

/** include/uapi/linux/vfio.h: offsetofend(struct vfio_device_bind_iommufd, out_devid), the minimum argsz (6.12). */
const BIND_MINSZ = 16
/** drivers/iommu/intel/iommu.c IOAPIC_RANGE_START / IOAPIC_RANGE_END: the interrupt window, IOMMU_RESV_MSI. */
const IOAPIC_RANGE_START = 0xfee00000n
const IOAPIC_RANGE_END = 0xfeefffffn
const ULONG_MAX = 0xffffffffffffffffn
/** An object id no test allocates (ids come from xa_alloc over xa_limit_31b, starting at 1). */
const NO_SUCH_ID = 1_000_000
const PAGE = 4096

forEachTarget((target, base) => {
  // Every test here needs iommufd and the device cdev.
  const test = base.extend<{ cdev: void }>({ cdev: cdevPathFixture })

  // ---- 7. a cdev fd before BIND_IOMMUFD ----

  // vfio_device_fops_unl_ioctl: every ioctl but BIND_IOMMUFD checks df->access_granted
  // first and is -EINVAL until vfio_df_ioctl_bind_iommufd set it (ATTACH_IOMMUFD_PT too).
  test('before BIND_IOMMUFD a cdev fd grants nothing: GET_INFO, GET_REGION_INFO and ATTACH_IOMMUFD_PT are EINVAL; after BIND they work', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const ioasId = (await ioasAlloc(a, iommufd)).ioasId!
    const regionInfo = () => a.ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, encode(vfio_region_info, { index: 0 }))
    expect(errnoOf(await deviceInfo(a, devfd))).toBe('EINVAL')
    expect(errnoOf(await regionInfo())).toBe('EINVAL')
    expect(errnoOf(await attachPt(a, devfd, ioasId))).toBe('EINVAL')

    const b = await bindIommufd(a, devfd, iommufd)
    expect(errnoOf(b)).toBe('OK')
    const info = await deviceInfo(a, devfd)
    expect(errnoOf(info)).toBe('OK')
    expect(info.info!.flags & VFIO_DEVICE_FLAGS_PCI).toBe(VFIO_DEVICE_FLAGS_PCI)
    expect(info.info!.num_regions).toBe(VFIO_PCI_NUM_REGIONS)
    const ri = await regionInfo()
    expect(errnoOf(ri)).toBe('OK')
    expect(decode(vfio_region_info, ri.data!).index).toBe(0)
  })

  // vfio_df_ioctl_bind_iommufd: "one device cannot be bound twice": df->access_granted -> -EINVAL.
  // vfio_device_fops_read / _write / _mmap: "!smp_load_acquire(&df->access_granted)" ->
  // -EINVAL until BIND_IOMMUFD (the region accesses, not only the ioctls, are closed).
  test('before BIND_IOMMUFD a cdev fd can neither read, write nor mmap the device: EINVAL; after BIND it reads its config space', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const config = vfioPciRegionOffset(VFIO_PCI_CONFIG_REGION_INDEX)
    const m = await a.mmap(devfd, PAGE, vfioPciRegionOffset(0))
    expect({
      read: errnoOf(await a.pread(devfd, 4, config)),
      write: errnoOf(await a.pwrite(devfd, Buffer.alloc(2), config + 4n)),
      mmap: errnoOf(m),
    }).toEqual({ read: 'EINVAL', write: 'EINVAL', mmap: 'EINVAL' })
    must(await bindIommufd(a, devfd, iommufd), 'BIND_IOMMUFD')
    expect(errnoOf(await a.pread(devfd, 4, config)), 'read after BIND').toBe('OK')
  })

  // vfio_device_fops_read / _write / _mmap: the same "!smp_load_acquire(&df->access_granted)"
  // -> -EINVAL is per fd: while the device is bound (and so enabled: vfio_pci_core_enable has
  // set up its BARs) through another process's fd, an unbound fd of it still grants nothing.
  // Before any bind, the device is not enabled and vfio_pci_core_mmap refuses the BAR anyway
  // (bar_mmap_supported is set at the first open): only this case tells the check apart.
  test('while another process has the device bound, an unbound cdev fd of it can neither read, write nor mmap it: EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const path = await cdevPath(guest, (await guest.vfioGroup(dev)).bdf(dev))
    const owner = await guest.agent({ label: 'owner' })
    must(await bindIommufd(owner, must(await openCdev(owner, path), 'open cdev (owner)'), must(await openIommufd(owner), `open ${IOMMUFD_PATH} (owner)`)), 'BIND_IOMMUFD (owner)')
    const other = await guest.agent({ label: 'other' })
    const devfd = must(await openCdev(other, path), 'open cdev (other)')
    const config = vfioPciRegionOffset(VFIO_PCI_CONFIG_REGION_INDEX)
    expect({
      read: errnoOf(await other.pread(devfd, 4, config)),
      write: errnoOf(await other.pwrite(devfd, Buffer.alloc(2), config + 4n)),
      mmap: errnoOf(await other.mmap(devfd, PAGE, vfioPciRegionOffset(0))),
    }).toEqual({ read: 'EINVAL', write: 'EINVAL', mmap: 'EINVAL' })
  })

  test('BIND_IOMMUFD twice on one cdev fd is EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('OK')
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('EINVAL')
  })

  // vfio_df_open: "Only the group path allows the device to be opened multiple times":
  // open_count != 0 on a cdev fd (df->group == NULL) -> -EINVAL, whoever asks.
  test('a device binds once: BIND on a second cdev fd is EINVAL, in the same process and in another', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const path = await cdevPath(guest, g.bdf(dev))
    const a = await guest.agent({ label: 'holder' })
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const first = must(await openCdev(a, path), 'open cdev')
    const second = must(await openCdev(a, path), 'second open of the cdev')
    expect(errnoOf(await bindIommufd(a, first, iommufd))).toBe('OK')
    expect(errnoOf(await bindIommufd(a, second, iommufd))).toBe('EINVAL')
    const other = await guest.agent({ label: 'other' })
    const otherFd = must(await openCdev(other, path), 'open cdev (other)')
    const otherIommufd = must(await openIommufd(other), `open ${IOMMUFD_PATH} (other)`)
    expect(errnoOf(await bindIommufd(other, otherFd, otherIommufd))).toBe('EINVAL')
  })

  // vfio_df_ioctl_bind_iommufd: "bind.iommufd < 0" -> -EINVAL; then iommufd_ctx_from_fd:
  // fget() fails -> -EBADF, an fd whose f_op is not iommufd_fops -> -EBADFD. The failed
  // attempts leave nothing behind: a real iommufd binds afterwards.
  test('BIND with -1 is EINVAL, with a closed fd EBADF, with an fd that is not an iommufd EBADFD; then a real one binds', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const notIommufd = must(await a.open('/dev/null', ['O_RDWR', 'O_CLOEXEC']), 'open /dev/null')
    const closed = must(await a.open('/dev/null', ['O_RDWR', 'O_CLOEXEC']), 'open /dev/null')
    must(await a.closeFd(closed), 'close')
    expect(errnoOf(await bindIommufd(a, devfd, -1))).toBe('EINVAL')
    expect(errnoOf(await bindIommufd(a, devfd, closed))).toBe('EBADF')
    expect(errnoOf(await bindIommufd(a, devfd, notIommufd))).toBe('EBADFD')
    // A VFIO device cdev fd is not an iommufd either.
    expect(errnoOf(await bindIommufd(a, devfd, devfd))).toBe('EBADFD')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('OK')
  })

  // vfio_df_ioctl_bind_iommufd: "bind.flags" non-zero -> -EINVAL. 6.12 defines no bind flag
  // at all (VFIO_DEVICE_BIND_FLAG_TOKEN is newer); bit 31 is undefined on every version.
  test('BIND with an undefined flag is EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd, { flags: 0x80000000 }))).toBe('EINVAL')
    expect(errnoOf(await bindIommufd(a, devfd, iommufd, { flags: 0x2 }))).toBe('EINVAL')
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('OK')
  })

  // vfio_df_ioctl_bind_iommufd: minsz = offsetofend(..., out_devid) = 16; "bind.argsz < minsz" -> -EINVAL.
  test('BIND with argsz shorter than offsetofend(out_devid) is EINVAL; exactly that size binds', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd, { argsz: 0 }))).toBe('EINVAL')
    expect(errnoOf(await bindIommufd(a, devfd, iommufd, { argsz: BIND_MINSZ - 1 }))).toBe('EINVAL')
    const b = await bindIommufd(a, devfd, iommufd, { argsz: BIND_MINSZ })
    expect(errnoOf(b)).toBe('OK')
    expect(b.devid).toBeGreaterThan(0)
  })

  // ---- 8. DMA ownership belongs to one iommufd context per group ----

  // iommufd_device_bind -> iommu_device_claim_dma_owner(dev, ictx): a group already owned
  // by the same owner (the iommufd_ctx) just takes another owner count.
  test('two devices of one group bind to the same iommufd, with distinct device ids', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const fd0 = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), `open ${dev} cdev`)
    const fd1 = must(await openCdev(a, await cdevPath(guest, g.bdf(mate))), `open ${mate} cdev`)
    const b0 = await bindIommufd(a, fd0, iommufd)
    const b1 = await bindIommufd(a, fd1, iommufd)
    expect(errnoOf(b0)).toBe('OK')
    expect(errnoOf(b1)).toBe('OK')
    expect(b1.devid).not.toBe(b0.devid)
  })

  // iommu_device_claim_dma_owner: "if (group->owner_cnt) { if (group->owner != owner) return -EPERM }";
  // the owner is the iommufd_ctx of the first bind.
  test('a group has one iommufd owner: its other device bound to another iommufd in another process is EPERM', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent({ label: 'holder' })
    const b = await guest.agent({ label: 'other' })
    await ownCdev(a, guest, dev)
    const iommufd = must(await openIommufd(b), `open ${IOMMUFD_PATH}`)
    const fd = must(await openCdev(b, await cdevPath(guest, g.bdf(mate))), `open ${mate} cdev`)
    expect(errnoOf(await bindIommufd(b, fd, iommufd))).toBe('EPERM')
  })

  // Same check: the owner compared is the iommufd_ctx (one per open of /dev/iommu,
  // iommufd_fops_open), not the process; a second /dev/iommu in the same process is another owner.
  test('the owner is the iommufd context, not the process: binding the other device to a second /dev/iommu of the same process is EPERM', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    await ownCdev(a, guest, dev)
    const second = must(await openIommufd(a), `second open of ${IOMMUFD_PATH}`)
    const fd = must(await openCdev(a, await cdevPath(guest, g.bdf(mate))), `open ${mate} cdev`)
    expect(errnoOf(await bindIommufd(a, fd, second))).toBe('EPERM')
  })

  // iommufd_hw_pagetable_attach: "if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt)
  // return -EINVAL": a group has one page table. Attaching the mate to the same IOAS finds
  // the group's auto domain (iommufd_device_auto_get_domain) and reports its id.
  test('devices of one group share one page table: the other device attaches to the same IOAS (same HWPT id), to another IOAS is EINVAL', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const fd = must(await openCdev(a, await cdevPath(guest, g.bdf(mate))), `open ${mate} cdev`)
    must(await bindIommufd(a, fd, own.iommufd), `BIND ${mate}`)
    const other = await ioasAlloc(a, own.iommufd)
    must(other, 'second IOAS_ALLOC')
    expect(errnoOf(await attachPt(a, fd, other.ioasId!))).toBe('EINVAL')
    const at = await attachPt(a, fd, own.ioasId)
    expect(errnoOf(at)).toBe('OK')
    expect(at.ptId).toBe(own.hwptId)
  })

  // ---- 9. the group and the cdev exclude each other ----

  // Opening a cdev does not touch the group (vfio_device_fops_cdev_open); BIND does:
  // vfio_df_ioctl_bind_iommufd -> vfio_device_block_group: "if (group->opened_file) return -EBUSY".
  test('an unbound cdev fd does not block the group; BIND while another process holds the group open is EBUSY', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent({ label: 'cdev' })
    const holder = await guest.agent({ label: 'group holder' })
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await openGroup(holder, g.group))).toBe('OK')
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('EBUSY')
    // vfio_group_fops_release clears opened_file: then BIND goes through.
    await holder.close()
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('OK')
  })

  // vfio_group_fops_open: "if (group->cdev_device_open_cnt) return -EBUSY"; the count is
  // dropped by vfio_df_unbind_iommufd -> vfio_device_unblock_group when the cdev fd closes.
  test('opening the group while a device of it is bound via cdev is EBUSY; after the cdev fd closes it opens', async ({ guest, skip, castPart }) => {
    const [dev] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent({ label: 'cdev' })
    const other = await guest.agent({ label: 'group' })
    const own = await ownCdev(a, guest, dev)
    expect(errnoOf(await openGroup(other, g.group))).toBe('EBUSY')
    // In the binding process too.
    expect(errnoOf(await openGroup(a, g.group))).toBe('EBUSY')
    must(await a.closeFd(own.devfd), 'close cdev')
    expect(errnoOf(await openGroup(other, g.group))).toBe('OK')
  })

  // ---- 10. host drivers in the group ----

  // A host driver's probe took an owner count without an owner (iommu_device_use_default_domain);
  // iommu_device_claim_dma_owner: owner_cnt != 0 and group->owner (NULL) != ictx -> -EPERM.
  test('a device of the group on a host driver: BIND is EPERM; once the host driver is unbound, BIND succeeds', async ({ guest, skip, castPart }) => {
    const { device, hostDevice, driver } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device)
    expect(g.devices.find((d) => d.nodeId === hostDevice)?.driver, `${hostDevice} should be on ${driver}`).toBe(driver)
    const a = await guest.agent()
    const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(device))), 'open cdev')
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('EPERM')
    must(await a.writeFile(`/sys/bus/pci/drivers/${driver}/unbind`, g.bdf(hostDevice)), `unbind ${hostDevice}`)
    expect(errnoOf(await bindIommufd(a, devfd, iommufd))).toBe('OK')
  })

  // iommufd_device_bind: a group without isolated MSIs ("!iommu_group_has_isolated_msi") and
  // iommufd's allow_unsafe_interrupts parameter unset -> -EPERM (type1's twin is in
  // legacy-group.test.ts: vfio_iommu_type1_attach_group).
  test('without MSI isolation, BIND_IOMMUFD on the cdev and GET_DEVICE_FD through an iommufd given to the group are EPERM unless iommufd\'s allow_unsafe_interrupts is set', async ({ guest, skip, castPart }) => {
    if (VIOMMUS[target.iommu].isolatesMsi) skip(`${target.iommu} isolates MSIs (interrupt remapping): the rule does not apply`)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    await withModuleParam(guest, '/sys/module/iommufd/parameters/allow_unsafe_interrupts', 'N', async (set) => {
      const a = await guest.agent()
      const devfd = must(await openCdev(a, await cdevPath(guest, g.bdf(dev))), 'open cdev')
      const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
      expect(errnoOf(await bindIommufd(a, devfd, iommufd)), 'allow_unsafe_interrupts=N').toBe('EPERM')
      // The same check through an iommufd given to the group (GET_DEVICE_FD binds the device).
      const b = await guest.agent({ label: 'group user' })
      const ictx = must(await openIommufd(b), `open ${IOMMUFD_PATH}`)
      const group = must(await openGroup(b, g.group), `open group ${g.group}`)
      must(await setContainer(b, group, ictx), 'SET_CONTAINER(iommufd)')
      must(await setIommu(b, ictx), 'SET_IOMMU(TYPE1v2) on the iommufd')
      expect(errnoOf(await getDeviceFd(b, group, g.bdf(dev))), 'group + iommufd, allow_unsafe_interrupts=N').toBe('EPERM')
      await b.close()
      await set('Y')
      expect(errnoOf(await bindIommufd(a, devfd, iommufd)), 'allow_unsafe_interrupts=Y').toBe('OK')
    })
  })

  // really_probe -> pci_dma_configure -> iommu_device_use_default_domain: owner_cnt != 0 and
  // group->owner set -> -EBUSY, which bind_store returns to the writer. The owner count goes
  // with the cdev fd (vfio_df_unbind_iommufd -> iommufd_device_unbind ->
  // iommu_device_release_dma_owner), at process exit too.
  test('while a device is bound to iommufd, binding a host driver to its group mate is EBUSY; after the owner exits it binds', async ({ guest, skip, castPart }) => {
    const { device, hostDevice, driver } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device, { unbind: [hostDevice] })
    const nic = g.bdf(hostDevice)
    const holder = await guest.agent({ label: 'holder' })
    await ownCdev(holder, guest, device)
    const admin = await guest.agent({ label: 'admin' })
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${driver}/bind`, nic))).toBe('EBUSY')
    expect(errnoOf(await admin.readlink(`/sys/bus/pci/devices/${nic}/driver`))).toBe('ENOENT')
    await holder.close()
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${driver}/bind`, nic))).toBe('OK')
    expect((await admin.readlink(`/sys/bus/pci/devices/${nic}/driver`)).target).toMatch(new RegExp(`/${driver}$`))
  })

  // vfio_device_fops_release -> vfio_df_unbind_iommufd runs when the killed process's files
  // are closed (do_exit), so open_count drops to 0 and ownership is released.
  test('when the cdev holder is killed (SIGKILL), another process binds the device (EINVAL before)', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const path = await cdevPath(guest, g.bdf(dev))
    const holder = await guest.agent({ label: 'holder' })
    await ownCdev(holder, guest, dev)
    const other = await guest.agent({ label: 'other' })
    const fd = must(await openCdev(other, path), 'open cdev (other)')
    const iommufd = must(await openIommufd(other), `open ${IOMMUFD_PATH} (other)`)
    // vfio_df_open: open_count != 0 -> -EINVAL while the holder lives.
    expect(errnoOf(await bindIommufd(other, fd, iommufd))).toBe('EINVAL')
    await guest.killAgent(holder)
    expect(errnoOf(await bindIommufd(other, fd, iommufd))).toBe('OK')
  })

  // ---- 11. IOAS and HWPT ----

  // iopt_init_table: iova_alignment = 1 and no reserved ranges, so iommufd_ioas_iova_ranges
  // reports one hole, 0..ULONG_MAX.
  test('a new IOAS with nothing attached allows every IOVA: one range 0..ULONG_MAX, alignment 1', async ({ guest }) => {
    const a = await guest.agent()
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const io = await ioasAlloc(a, iommufd)
    expect(errnoOf(io)).toBe('OK')
    const r = await ioasIovaRanges(a, iommufd, io.ioasId!)
    expect(errnoOf(r)).toBe('OK')
    expect(r.ranges).toEqual([{ start: 0n, last: ULONG_MAX }])
    expect(r.alignment).toBe(1n)
  })

  // iommufd_ioas_map -> iopt_map_user_pages: a FIXED_IOVA map lands where asked;
  // iommufd_ioas_unmap reports the bytes iopt_unmap_iova_range removed, and -ENOENT when
  // it removed none ("if (!unmapped) rc = -ENOENT").
  test('IOAS map at a fixed IOVA and unmap: UNMAP reports the exact length; unmapping nothing is ENOENT', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const size = 16 * PAGE
    const mem = await a.memAlloc(size)
    const iova = 0x100000n
    const m = await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: size, iova })
    expect(errnoOf(m)).toBe('OK')
    expect(m.iova).toBe(iova)
    const un = await ioasUnmap(a, own.iommufd, own.ioasId, iova, size)
    expect(errnoOf(un)).toBe('OK')
    expect(un.unmapped).toBe(BigInt(size))
    expect(errnoOf(await ioasUnmap(a, own.iommufd, own.ioasId, iova, size))).toBe('ENOENT')
  })

  // iopt_alloc_area_pages -> iopt_check_iova: "Check that there is not already a mapping in
  // the range" -> -EEXIST. Without FIXED_IOVA, iopt_alloc_iova picks a free IOVA instead.
  test('a fixed map overlapping an existing mapping is EEXIST; without FIXED_IOVA the kernel picks a free IOVA', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const size = 16 * PAGE
    const mem = await a.memAlloc(size)
    const iova = 0x100000n
    must(await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: size, iova }), 'first map')
    expect(errnoOf(await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: size, iova }))).toBe('EEXIST')
    expect(errnoOf(await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: PAGE, iova: iova + BigInt(size - PAGE) }))).toBe('EEXIST')
    const auto = await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: size })
    expect(errnoOf(auto)).toBe('OK')
    const overlaps = auto.iova! < iova + BigInt(size) && auto.iova! + BigInt(size) > iova
    expect(overlaps, `kernel-picked IOVA 0x${auto.iova!.toString(16)} overlaps the first mapping`).toBe(false)
  })

  // iopt_unmap_iova_range: an area that starts before or ends after the range ("area_first <
  // start || area_last > last") -> -ENOENT; splitting is not allowed and nothing is unmapped.
  test('unmapping part of a mapping is ENOENT and leaves it mapped', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const size = 16 * PAGE
    const mem = await a.memAlloc(size)
    const iova = 0x200000n
    must(await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: size, iova }), 'map')
    expect(errnoOf(await ioasUnmap(a, own.iommufd, own.ioasId, iova, PAGE))).toBe('ENOENT')
    expect(errnoOf(await ioasUnmap(a, own.iommufd, own.ioasId, iova + BigInt(PAGE), size - PAGE))).toBe('ENOENT')
    const un = await ioasUnmap(a, own.iommufd, own.ioasId, iova, size)
    expect(errnoOf(un)).toBe('OK')
    expect(un.unmapped).toBe(BigInt(size))
  })

  // iommufd_hw_pagetable_attach -> iommufd_device_attach_reserved_iova ->
  // iopt_table_enforce_dev_resv_regions reserves the device's regions in the IOAS; for
  // intel-iommu (intel_iommu_get_resv_regions) that is the IOAPIC window
  // 0xfee00000-0xfeefffff (IOMMU_RESV_MSI), and iopt_table_add_domain reserves what lies
  // beyond the domain's aperture and raises the alignment to the smallest page (the record's
  // iommuPageSize: 4 KiB for VT-d).
  test('once a device is attached (intel-iommu), IOVA_RANGES excludes the interrupt window 0xfee00000-0xfeefffff, alignment 4096', async ({ guest, skip, castPart }) => {
    if (target.iommu !== 'intel-iommu') skip(`the interrupt window checked here is intel-iommu's; this guest has ${target.iommu}`)
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const r = await ioasIovaRanges(a, own.iommufd, own.ioasId)
    expect(errnoOf(r)).toBe('OK')
    expect(r.alignment).toBe(BigInt(iommuPageSize(target.iommu)))
    const ranges = r.ranges!
    for (const x of ranges) {
      expect(x.last < IOAPIC_RANGE_START || x.start > IOAPIC_RANGE_END, `range 0x${x.start.toString(16)}-0x${x.last.toString(16)} covers the interrupt window`).toBe(true)
    }
    expect(ranges.length).toBe(2)
    expect(ranges[0]).toEqual({ start: 0n, last: IOAPIC_RANGE_START - 1n })
    expect(ranges[1]!.start).toBe(IOAPIC_RANGE_END + 1n)
    // The top is the domain's aperture end (the vIOMMU's address width): 2^n - 1.
    const top = ranges[1]!.last + 1n
    expect(top & (top - 1n), `aperture end 0x${ranges[1]!.last.toString(16)} is not 2^n - 1`).toBe(0n)
    expect(top).toBeGreaterThanOrEqual(1n << 39n)
  })

  // iopt_alloc_area_pages -> iopt_check_iova: "No reserved IOVA intersects the range" ->
  // -EINVAL; iopt_set_allow_iova: an allowed range that intersects a reserved one -> -EADDRINUSE.
  test('a fixed map into the interrupt window is EINVAL; ALLOW_IOVAS over it is EADDRINUSE, elsewhere OK (intel-iommu)', async ({ guest, skip, castPart }) => {
    if (target.iommu !== 'intel-iommu') skip(`the interrupt window checked here is intel-iommu's; this guest has ${target.iommu}`)
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const mem = await a.memAlloc(PAGE)
    expect(errnoOf(await ioasMap(a, own.iommufd, { ioasId: own.ioasId, userVa: mem.addr, length: PAGE, iova: IOAPIC_RANGE_START }))).toBe('EINVAL')
    expect(errnoOf(await allowIovas(a, own.iommufd, own.ioasId, [{ start: 0xfe000000n, last: 0xfeffffffn }]))).toBe('EADDRINUSE')
    expect(errnoOf(await allowIovas(a, own.iommufd, own.ioasId, [{ start: 0x100000n, last: 0x1fffffffn }]))).toBe('OK')
  })

  // iommufd_device_attach -> iopt_table_enforce_dev_resv_regions -> iopt_reserve_iova: an area
  // over one of the device's reserved regions, the interrupt window 0xfee00000-0xfeefffff
  // (IOMMU_RESV_MSI: intel_iommu_get_resv_regions, amd_iommu_get_resv_regions),
  // "iopt_area_iter_first(iopt, start, last)" -> -EADDRINUSE: a device does not attach to an
  // IOAS whose mappings would shadow its MSI doorbell.
  test('an IOAS holding a mapping in the interrupt window 0xfee00000 refuses a device\'s ATTACH with EADDRINUSE; after UNMAP it attaches (intel-iommu, amd-iommu)', async ({ guest, skip, castPart }) => {
    if (target.iommu !== 'intel-iommu' && target.iommu !== 'amd-iommu') skip(`the interrupt window checked here is intel-iommu's and amd-iommu's; this guest has ${target.iommu}`)
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const { iommufd, devfd, ioasId } = await bindCdev(a, guest, dev)
    const mem = await a.memAlloc(PAGE)
    must(await ioasMap(a, iommufd, { ioasId: ioasId, userVa: mem.addr, length: PAGE, iova: IOAPIC_RANGE_START }), 'map at 0xfee00000 on an IOAS with nothing attached')
    expect(errnoOf(await attachPt(a, devfd, ioasId)), 'ATTACH over the interrupt window').toBe('EADDRINUSE')
    must(await ioasUnmap(a, iommufd, ioasId, IOAPIC_RANGE_START, PAGE), 'unmap')
    expect(errnoOf(await attachPt(a, devfd, ioasId)), 'ATTACH after UNMAP').toBe('OK')
  })

  // iommufd_ioas_load_iovas: "if (range.start >= range.last) return -EINVAL".
  test('ALLOW_IOVAS with start >= last is EINVAL', async ({ guest }) => {
    const a = await guest.agent()
    const iommufd = must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
    const io = await ioasAlloc(a, iommufd)
    must(io, 'IOAS_ALLOC')
    expect(errnoOf(await allowIovas(a, iommufd, io.ioasId!, [{ start: 0x200000n, last: 0x200000n }]))).toBe('EINVAL')
    expect(errnoOf(await allowIovas(a, iommufd, io.ioasId!, [{ start: 0x200000n, last: 0x1fffffn }]))).toBe('EINVAL')
    expect(errnoOf(await allowIovas(a, iommufd, io.ioasId!, [{ start: 0x200000n, last: 0x2fffffn }]))).toBe('OK')
  })

  // iommufd_object_remove: "if (!refcount_dec_if_one(&obj->users)) return -EBUSY"; the
  // attached auto HWPT holds a users reference on its IOAS (iommufd_hwpt_paging_alloc).
  // DETACH puts the auto HWPT (iommufd_hw_pagetable_put destroys auto domains), after which
  // the IOAS goes; an id that is gone is -ENOENT.
  test('destroying an IOAS a device is attached to is EBUSY; after DETACH it is destroyed; again is ENOENT', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    expect(errnoOf(await destroy(a, own.iommufd, own.ioasId))).toBe('EBUSY')
    expect(errnoOf(await detachPt(a, own.devfd))).toBe('OK')
    expect(errnoOf(await destroy(a, own.iommufd, own.ioasId))).toBe('OK')
    expect(errnoOf(await destroy(a, own.iommufd, own.ioasId))).toBe('ENOENT')
    // The auto HWPT went with the detach.
    expect(errnoOf(await destroy(a, own.iommufd, own.hwptId))).toBe('ENOENT')
  })

  // IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc) makes a paging HWPT on the IOAS; ATTACH to it
  // while attached is a replace (vfio_iommufd_physical_attach_ioas -> iommufd_device_replace)
  // and writes the HWPT id back. Replacing back to the IOAS picks an auto domain (a new id:
  // the old auto HWPT was destroyed when it was replaced). A manual HWPT in use is -EBUSY to
  // destroy (iommufd_object_remove), free once nothing uses it.
  test('HWPT_ALLOC on the IOAS; attach replaces the auto HWPT by it and back; destroying it is EBUSY while attached, OK after', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const h = await hwptAlloc(a, own.iommufd, own.devid, own.ioasId)
    expect(errnoOf(h)).toBe('OK')
    expect(h.hwptId).not.toBe(own.hwptId)
    const toHwpt = await attachPt(a, own.devfd, h.hwptId!)
    expect(errnoOf(toHwpt)).toBe('OK')
    expect(toHwpt.ptId).toBe(h.hwptId)
    // Replacing to the same HWPT is a no-op success (iommufd_device_do_replace: hwpt == igroup->hwpt).
    expect(errnoOf(await attachPt(a, own.devfd, h.hwptId!))).toBe('OK')
    expect(errnoOf(await destroy(a, own.iommufd, h.hwptId!))).toBe('EBUSY')
    const back = await attachPt(a, own.devfd, own.ioasId)
    expect(errnoOf(back)).toBe('OK')
    expect(back.ptId).not.toBe(h.hwptId)
    expect(errnoOf(await destroy(a, own.iommufd, h.hwptId!))).toBe('OK')
  })

  // iommufd_hwpt_alloc: "cmd->__reserved" -> -EOPNOTSUPP; a data_len without a data_type, or
  // a data_type without data -> -EINVAL. iommufd_hwpt_paging_alloc: flags on a vIOMMU
  // driver without domain_alloc_user (virtio-iommu) -> -EOPNOTSUPP; else "flags &
  // ~valid_flags" (an unknown flag; FAULT_ID_VALID on 6.12, where only nested HWPTs take it)
  // -> -EOPNOTSUPP; DIRTY_TRACKING without IOMMU_CAP_DIRTY_TRACKING (no vIOMMU of QEMU
  // tracks dirty pages) -> -EOPNOTSUPP; NEST_PARENT: intel_iommu_domain_alloc_user
  // "nested_parent && !nested_supported(iommu)" and amd_iommu_domain_alloc_user (no flag but
  // DIRTY_TRACKING) -> -EOPNOTSUPP. 7.2 accepts FAULT_ID_VALID for a paging HWPT and refuses
  // it with NEST_PARENT (the same function), and asks the drivers' domain_alloc_paging_flags.
  test('HWPT_ALLOC: __reserved set, an unknown flag, FAULT_ID_VALID with NEST_PARENT, DIRTY_TRACKING and NEST_PARENT (no vIOMMU here tracks dirty pages or nests) are EOPNOTSUPP; data_len without data_type and data_type without data EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    const alloc = (f: { flags?: number; __reserved?: number; data_type?: number; data_len?: number }) =>
      a.ioctl(own.iommufd, IOMMU_HWPT_ALLOC, encode(iommu_hwpt_alloc, { flags: 0, dev_id: own.devid, pt_id: own.ioasId, ...f }))
    expect({
      reserved: errnoOf(await alloc({ __reserved: 1 })),
      lenWithoutType: errnoOf(await alloc({ data_len: 8 })),
      typeWithoutData: errnoOf(await alloc({ data_type: IOMMU_HWPT_DATA_VTD_S1 })),
      unknownFlag: errnoOf(await alloc({ flags: 1 << 30 })),
      faultIdNestParent: errnoOf(await alloc({ flags: IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_NEST_PARENT })),
      dirtyTracking: errnoOf(await alloc({ flags: IOMMU_HWPT_ALLOC_DIRTY_TRACKING })),
      nestParent: errnoOf(await alloc({ flags: IOMMU_HWPT_ALLOC_NEST_PARENT })),
      none: errnoOf(await alloc({})),
    }).toEqual({ reserved: 'EOPNOTSUPP', lenWithoutType: 'EINVAL', typeWithoutData: 'EINVAL', unknownFlag: 'EOPNOTSUPP', faultIdNestParent: 'EOPNOTSUPP', dirtyTracking: 'EOPNOTSUPP', nestParent: 'EOPNOTSUPP', none: 'OK' })
  })

  // A domain's attach raises the IOAS's IOVA alignment to its smallest page (4 KiB):
  // iopt_table_add_domain -> iopt_check_iova_alignment, an existing area whose IOVA is not
  // aligned to it -> -EADDRINUSE, returned by the ATTACH (the mdev suite has the emulated
  // access's twin; without this check the domain's fill would fail in __iommu_map, EINVAL).
  test('an IOAS holding a mapping at an IOVA that is not page aligned refuses a PCI device\'s ATTACH with EADDRINUSE; after UNMAP it attaches', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const { iommufd, devfd, ioasId } = await bindCdev(a, guest, dev)
    const mem = await a.memAlloc(2 * PAGE)
    must(await ioasMap(a, iommufd, { ioasId: ioasId, userVa: mem.addr, length: PAGE, iova: 0x101800 }), 'map at IOVA 0x101800 on an IOAS with nothing attached (alignment 1)')
    expect(errnoOf(await attachPt(a, devfd, ioasId)), 'ATTACH over the unaligned mapping').toBe('EADDRINUSE')
    must(await ioasUnmap(a, iommufd, ioasId, 0x101800, PAGE), 'unmap')
    expect(errnoOf(await attachPt(a, devfd, ioasId)), 'ATTACH after UNMAP').toBe('OK')
  })

  // iommufd_device_change_pt: iommufd_get_object(..., IOMMUFD_OBJ_ANY) -> -ENOENT for an
  // unknown id; an object that is neither IOAS nor HWPT (a device) -> -EINVAL.
  // iommufd_hwpt_alloc: a dev_id that is no device -> -ENOENT (iommufd_get_device); a pt_id
  // that does not exist -> -EINVAL (it maps the lookup failure to -EINVAL).
  test('ATTACH to a missing id is ENOENT, to a device id EINVAL; HWPT_ALLOC with a missing dev_id is ENOENT, with a missing pt_id EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    await guest.vfioGroup(dev)
    const a = await guest.agent()
    const own = await ownCdev(a, guest, dev)
    expect(errnoOf(await attachPt(a, own.devfd, NO_SUCH_ID))).toBe('ENOENT')
    expect(errnoOf(await attachPt(a, own.devfd, own.devid))).toBe('EINVAL')
    expect(errnoOf(await hwptAlloc(a, own.iommufd, NO_SUCH_ID, own.ioasId))).toBe('ENOENT')
    expect(errnoOf(await hwptAlloc(a, own.iommufd, own.devid, NO_SUCH_ID))).toBe('EINVAL')
    // The device stays attached where it was: the IOAS is still in use.
    expect(errnoOf(await destroy(a, own.iommufd, own.ioasId))).toBe('EBUSY')
  })
})
