// Legacy VFIO (group + container): who may open a group, when a group is viable, what the
// container enforces, and that a held group keeps host drivers off its other devices.
// Every errno below was read in the kernel source (function named in the comment), for
// 6.1 (drivers/vfio/vfio_main.c, container.c) and 6.12 (drivers/vfio/group.c, container.c).
import { expect } from 'vitest'
import { VIOMMUS } from '../guests/topologies/index.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { legacyPathFixture } from '../harness/vitest/path-fixtures.js'
import {
  apiVersion,
  checkExtension,
  deviceInfo,
  errnoOf,
  getDeviceFd,
  groupStatus,
  holdGroup,
  mapDma,
  must,
  openContainer,
  openGroup,
  setContainer,
  setIommu,
  unmapDma,
  unsetContainer,
} from '../harness/vfio/legacy.js'
import { withModuleParam } from '../harness/vfio/module-param.js'
import { kernelAtLeast } from '../harness/kernel/version.js'
import {
  VFIO_API_VERSION,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_TYPE1v2_IOMMU,
} from '../harness/uapi/vfio.js'

forEachTarget((target, base) => {
  // Every test here needs the legacy path; a kernel without it SKIPs with the option named.
  const test = base.extend<{ legacy: void }>({ legacy: legacyPathFixture })

  // vfio_group_fops_open: "if (group->opened_file) return -EBUSY" (6.1 and 6.12 alike).
  test('a group opens once: a second open in the same process is EBUSY', async ({ guest, skip, castPart }) => {
    const [dev] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    must(await openGroup(a, g.group), 'first open')
    expect(errnoOf(await openGroup(a, g.group))).toBe('EBUSY')
  })

  test('a group opens once: an open from another process is EBUSY', async ({ guest, skip, castPart }) => {
    const [dev] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const holder = await guest.agent({ label: 'holder' })
    const other = await guest.agent({ label: 'other' })
    must(await openGroup(holder, g.group), 'holder open')
    expect(errnoOf(await openGroup(other, g.group))).toBe('EBUSY')
  })

  // vfio_group_fops_release clears opened_file when the last reference goes, at process exit too.
  test('when the holder exits, the group opens again', async ({ guest, skip, castPart }) => {
    const [dev] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const holder = await guest.agent({ label: 'holder' })
    const other = await guest.agent({ label: 'other' })
    must(await openGroup(holder, g.group), 'holder open')
    await holder.close()
    expect(errnoOf(await openGroup(other, g.group))).toBe('OK')
  })

  test('when the holder is killed (SIGKILL) with the group in a container, the group opens again', async ({ guest, skip, castPart }) => {
    const [dev] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const holder = await guest.agent({ label: 'holder' })
    await holdGroup(holder, g.group)
    await guest.killAgent(holder)
    const other = await guest.agent({ label: 'other' })
    const r = await openGroup(other, g.group)
    expect(errnoOf(r)).toBe('OK')
    // ... and it is free of the dead holder's container.
    expect((await groupStatus(other, r.ret)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE)
  })

  // Viability is "nobody but VFIO uses the group for DMA": vfio_group_ioctl_get_status sets
  // VIABLE when !iommu_group_dma_owner_claimed(); a host driver's probe takes a DMA owner
  // count (iommu_device_use_default_domain), vfio-pci (driver_managed_dma) and no driver don't.
  test('a group whose devices are on vfio-pci or driverless is viable', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev, { unbind: [mate] })
    expect(g.devices.find((d) => d.nodeId === mate)?.driver, `${mate} should be driverless`).toBeUndefined()
    const a = await guest.agent()
    const fd = must(await openGroup(a, g.group), 'open group')
    const st = await groupStatus(a, fd)
    expect(errnoOf(st)).toBe('OK')
    expect(st.flags).toBe(VFIO_GROUP_FLAGS_VIABLE)
  })

  // iommu_group_claim_dma_owner: "if (group->owner_cnt) return -EPERM", reached from
  // SET_CONTAINER through vfio_container_attach_group.
  test('a device on a host driver makes its group not viable, and SET_CONTAINER is EPERM', async ({ guest, skip, castPart }) => {
    const { device, hostDevice, driver } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device)
    expect(g.devices.find((d) => d.nodeId === hostDevice)?.driver, `${hostDevice} should be on ${driver}`).toBe(driver)
    const a = await guest.agent()
    const container = must(await openContainer(a), 'open container')
    const fd = must(await openGroup(a, g.group), 'open group')
    const st = await groupStatus(a, fd)
    expect(errnoOf(st)).toBe('OK')
    expect(st.flags! & VFIO_GROUP_FLAGS_VIABLE).toBe(0)
    expect(errnoOf(await setContainer(a, fd, container))).toBe('EPERM')
  })

  test('unbinding the host driver makes the group viable, and SET_CONTAINER succeeds', async ({ guest, skip, castPart }) => {
    const { device, hostDevice } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device, { unbind: [hostDevice] })
    const a = await guest.agent()
    const container = must(await openContainer(a), 'open container')
    const fd = must(await openGroup(a, g.group), 'open group')
    expect((await groupStatus(a, fd)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE)
    expect(errnoOf(await setContainer(a, fd, container))).toBe('OK')
    expect((await groupStatus(a, fd)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET)
  })

  // 6.12 vfio_df_group_open: "if (!vfio_group_has_iommu(group)) return -EINVAL";
  // 6.1 vfio_device_assign_container: "if (!group->container || ...) return -EINVAL".
  test('GET_DEVICE_FD before SET_CONTAINER is EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const fd = must(await openGroup(a, g.group), 'open group')
    expect(errnoOf(await getDeviceFd(a, fd, g.bdf(dev)))).toBe('EINVAL')
  })

  // A container without an IOMMU driver cannot back a device: 6.12 vfio_group_use_container /
  // 6.1 vfio_device_assign_container check container->iommu_driver -> -EINVAL.
  test('GET_DEVICE_FD after SET_CONTAINER but before SET_IOMMU is EINVAL', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const container = must(await openContainer(a), 'open container')
    const fd = must(await openGroup(a, g.group), 'open group')
    must(await setContainer(a, fd, container), 'SET_CONTAINER')
    expect(errnoOf(await getDeviceFd(a, fd, g.bdf(dev)))).toBe('EINVAL')
  })

  test('the full type1 path: API version, extension, SET_CONTAINER, SET_IOMMU, device fd, DMA map and unmap', async ({ guest, skip, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const container = must(await openContainer(a), 'open container')
    expect((await apiVersion(a, container)).ret).toBe(VFIO_API_VERSION)
    expect((await checkExtension(a, container, VFIO_TYPE1v2_IOMMU)).ret).toBe(1)
    const fd = must(await openGroup(a, g.group), 'open group')
    must(await setContainer(a, fd, container), 'SET_CONTAINER')
    expect(errnoOf(await setIommu(a, container))).toBe('OK')

    const dfd = await getDeviceFd(a, fd, g.bdf(dev))
    expect(errnoOf(dfd)).toBe('OK')
    expect(dfd.ret).toBeGreaterThan(2)
    // vfio_pci_core ioctl_get_info: flags carry PCI; regions and IRQs are the vfio-pci fixed
    // set (edu adds no device-specific regions).
    const info = await deviceInfo(a, dfd.ret)
    expect(errnoOf(info)).toBe('OK')
    expect(info.info!.flags & VFIO_DEVICE_FLAGS_PCI).toBe(VFIO_DEVICE_FLAGS_PCI)
    expect(info.info!.num_regions).toBe(VFIO_PCI_NUM_REGIONS)
    expect(info.info!.num_irqs).toBe(VFIO_PCI_NUM_IRQS)

    const size = 16 * 4096
    const mem = await a.memAlloc(size)
    const iova = 0x100000
    expect(errnoOf(await mapDma(a, container, { vaddr: mem.addr, iova, size }))).toBe('OK')
    // vfio_dma_do_map: a range that overlaps an existing mapping is -EEXIST.
    expect(errnoOf(await mapDma(a, container, { vaddr: mem.addr, iova, size }))).toBe('EEXIST')
    const un = await unmapDma(a, container, iova, size)
    expect(errnoOf(un)).toBe('OK')
    expect(un.unmapped).toBe(BigInt(size))
  })

  // vfio_iommu_type1_attach_group: "if (!allow_unsafe_interrupts &&
  // !iommu_group_has_isolated_msi(iommu_group)) ... -EPERM". The harness boots such models
  // with the parameter set (the admin's override); this test takes it away for a moment.
  test('without MSI isolation, SET_IOMMU(TYPE1v2) is EPERM unless allow_unsafe_interrupts is set', async ({ guest, skip, castPart }) => {
    if (VIOMMUS[target.iommu].isolatesMsi) skip(`${target.iommu} isolates MSIs (interrupt remapping): the rule does not apply`)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    await withModuleParam(guest, '/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts', 'N', async (set) => {
      const a = await guest.agent()
      const container = must(await openContainer(a), 'open container')
      const fd = must(await openGroup(a, g.group), 'open group')
      must(await setContainer(a, fd, container), 'SET_CONTAINER')
      expect(errnoOf(await setIommu(a, container))).toBe('EPERM')
      await set('Y')
      expect(errnoOf(await setIommu(a, container))).toBe('OK')
    })
  })

  // vfio_group_ioctl_set_container: a group that has a container already -> -EINVAL (6.1:
  // "group->container || ..."; 6.12: "vfio_group_has_iommu(group)").
  test('SET_CONTAINER twice is EINVAL', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const { container, group } = await holdGroup(a, g.group)
    expect(errnoOf(await setContainer(a, group, container))).toBe('EINVAL')
    const other = must(await openContainer(a), 'open a second container')
    expect(errnoOf(await setContainer(a, group, other))).toBe('EINVAL')
  })

  // vfio_group_ioctl_set_container with an fd that is neither a container nor an iommufd:
  // 6.1 (vfio_main.c) "ret = -EINVAL; if (container) ..."; since 6.2 (group.c, with the
  // iommufd compat branch) "The FD passed is not recognized. ret = -EBADFD".
  test('SET_CONTAINER with an fd that is not a container is EINVAL before 6.2, EBADFD since', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const fd = must(await openGroup(a, g.group), 'open group')
    const notContainer = must(await a.open('/dev/null', ['O_RDWR']), 'open /dev/null')
    const expected = kernelAtLeast(target.kernel.release, 6, 2) ? 'EBADFD' : 'EINVAL'
    expect(errnoOf(await setContainer(a, fd, notContainer))).toBe(expected)
    // The group stays free of any container.
    expect((await groupStatus(a, fd)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE)
  })

  // vfio_group_ioctl_unset_container: no container -> -EINVAL; container_users != 1 (an open
  // device fd is a user: vfio_group_use_container / 6.1 vfio_device_assign_container) -> -EBUSY.
  test('UNSET_CONTAINER with none set is EINVAL, and EBUSY while a device fd still uses the container', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const fd = must(await openGroup(a, g.group), 'open group')
    expect(errnoOf(await unsetContainer(a, fd))).toBe('EINVAL')
    const container = must(await openContainer(a), 'open container')
    must(await setContainer(a, fd, container), 'SET_CONTAINER')
    must(await setIommu(a, container), 'SET_IOMMU')
    const dfd = must(await getDeviceFd(a, fd, g.bdf(dev)), 'GET_DEVICE_FD')
    expect(errnoOf(await unsetContainer(a, fd))).toBe('EBUSY')
    must(await a.closeFd(dfd), 'close device fd')
    expect(errnoOf(await unsetContainer(a, fd))).toBe('OK')
    expect((await groupStatus(a, fd)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE)
  })

  // vfio_ioctl_set_iommu: "if (list_empty(&container->group_list) || container->iommu_driver)
  // return -EINVAL": an IOMMU is set only for a container that holds a group, and only once.
  test('SET_IOMMU on a container without a group is EINVAL, and a second SET_IOMMU is EINVAL', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const container = must(await openContainer(a), 'open container')
    expect(errnoOf(await setIommu(a, container))).toBe('EINVAL')
    const fd = must(await openGroup(a, g.group), 'open group')
    must(await setContainer(a, fd, container), 'SET_CONTAINER')
    expect(errnoOf(await setIommu(a, container))).toBe('OK')
    expect(errnoOf(await setIommu(a, container))).toBe('EINVAL')
  })

  // vfio_device_get_from_name: "device = ERR_PTR(-ENODEV)" unless a device of this group matches.
  test('GET_DEVICE_FD with a name that is no device of the group is ENODEV', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const a = await guest.agent()
    const { group } = await holdGroup(a, g.group)
    expect(errnoOf(await getDeviceFd(a, group, '0000:ff:1f.7'))).toBe('ENODEV')
    // A real device of another group is not a device of this one either.
    const [other] = castPart('multiDeviceGroup')
    expect(errnoOf(await getDeviceFd(a, group, await guest.bdf(other)))).toBe('ENODEV')
  })

  // A held group (SET_CONTAINER claimed DMA ownership) refuses host drivers on its other
  // devices: really_probe -> pci_dma_configure -> iommu_device_use_default_domain, which is
  // -EBUSY while the group has an owner; bind_store returns that error to the writer.
  test('while a group is held, binding a host driver to another of its devices is EBUSY; after release it binds', async ({ guest, skip, castPart }) => {
    const { device, hostDevice, driver } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device, { unbind: [hostDevice] })
    const nic = g.bdf(hostDevice)
    const holder = await guest.agent({ label: 'holder' })
    await holdGroup(holder, g.group)
    const admin = await guest.agent({ label: 'admin' })
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${driver}/bind`, nic))).toBe('EBUSY')
    expect(errnoOf(await admin.readlink(`/sys/bus/pci/devices/${nic}/driver`))).toBe('ENOENT')
    await holder.close()
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${driver}/bind`, nic))).toBe('OK')
    expect((await admin.readlink(`/sys/bus/pci/devices/${nic}/driver`)).target).toMatch(new RegExp(`/${driver}$`))
  })

  // iommu_group_store_type (/sys/kernel/iommu_groups/N/type): "!capable(CAP_SYS_ADMIN) ||
  // !capable(CAP_SYS_RAWIO)" -> -EACCES; a word that is no domain type -> -EINVAL; a group
  // with a DMA owner: 6.12 "list_empty(&group->devices) || group->owner_cnt" -> -EPERM; 6.1
  // refused it earlier, for the device bound to vfio-pci, "device_is_bound(dev)" -> -EBUSY
  // (the kernel between them that changed it was not bisected). The owner is claimed at
  // SET_CONTAINER with a VFIO container (vfio_container_attach_group ->
  // iommu_group_claim_dma_owner) but only at the device's open with iommufd's
  // /dev/vfio/vfio (the compat build: iommufd_device_bind -> iommu_device_claim_dma_owner),
  // so the test holds an open device fd: a held group without one takes a new type there.
  test('while a device of a group is open through VFIO, writing the group\'s sysfs type is refused (EPERM; EBUSY on 6.1); a word that is no type is EINVAL; without CAP_SYS_ADMIN and CAP_SYS_RAWIO EACCES', async ({ guest, castPart }) => {
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const type = `/sys/kernel/iommu_groups/${g.group}/type`
    const before = (await guest.run(`cat ${type}`)).trim()
    const holder = await guest.agent({ label: 'holder' })
    const { group } = await holdGroup(holder, g.group)
    must(await getDeviceFd(holder, group, g.bdf(dev)), 'GET_DEVICE_FD')
    const admin = await guest.agent({ label: 'admin' })
    const nocap = await guest.agent({ caps: 'none', label: 'root without capabilities' })
    expect({
      held: errnoOf(await admin.writeFile(type, 'identity')),
      noType: errnoOf(await admin.writeFile(type, 'bogus')),
      noCaps: errnoOf(await nocap.writeFile(type, 'identity')),
    }).toEqual({ held: kernelAtLeast(target.kernel.release, 6, 12) ? 'EPERM' : 'EBUSY', noType: 'EINVAL', noCaps: 'EACCES' })
    expect((await guest.run(`cat ${type}`)).trim(), 'the type is unchanged').toBe(before)
  })

  test('when the holder is killed (SIGKILL), a host driver binds to the group again', async ({ guest, skip, castPart }) => {
    const { device, hostDevice, driver } = castPart('hostDriverGroup')
    const g = await guest.vfioGroup(device, { unbind: [hostDevice] })
    const nic = g.bdf(hostDevice)
    const holder = await guest.agent({ label: 'holder' })
    await holdGroup(holder, g.group)
    await guest.killAgent(holder)
    const admin = await guest.agent({ label: 'admin' })
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${driver}/bind`, nic))).toBe('OK')
  })

  // The legacy path hands over the group, not a device: vfio_group_ioctl_get_device_fd
  // (6.12 drivers/vfio/group.c) resolves the name with vfio_device_get_from_name, which walks
  // every device of the group (group->device_list, matched by ops->match, vfio_pci_core_match
  // for vfio-pci) and opens whichever matches (vfio_device_open_file); nothing ties the group fd
  // to one of its devices. 6.1: vfio_group_get_device_fd / vfio_device_get_from_name in vfio_main.c.
  test('the holder of a group gets a device fd for every device of the group', async ({ guest, skip, castPart }) => {
    const [dev, mate] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(dev)
    const holder = await guest.agent({ label: 'holder' })
    const { group } = await holdGroup(holder, g.group)
    const fd0 = await getDeviceFd(holder, group, g.bdf(dev))
    const fd1 = await getDeviceFd(holder, group, g.bdf(mate))
    expect(errnoOf(fd0), `GET_DEVICE_FD ${dev}`).toBe('OK')
    expect(errnoOf(fd1), `GET_DEVICE_FD ${mate}`).toBe('OK')
    expect(fd1.ret).not.toBe(fd0.ret)
  })
})
