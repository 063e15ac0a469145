// Devices that arrive in, or leave, a group while the guest runs (QMP device_add /
// device_del; the guest hot-plugs through ACPI, acpiphp). The review thread's promise is that
// while userspace uses one device of a multi-device group, no other userspace can open the
// group's devices and no kernel driver can *later* be attached to them: here "later" includes
// a device that did not exist when the group was taken. And a device in use that is
// unplugged: the kernel waits for its user, asking through the request eventfd when there is
// one. Every errno and console line below was read in the 6.12 and 7.2 sources (functions
// named per test).
import { expect } from 'vitest'
import { TOPOLOGIES, VIOMMUS, type HotplugSlot } from '../guests/topologies/index.js'
import type { GuestHotplug } from '../harness/guest/hotplug.js'
import type { GuestSession } from '../harness/guest/session.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { cdevPathFixture, hotplugFixture, legacyPathFixture } from '../harness/vitest/path-fixtures.js'
import { bindIommufd, cdevPath, destroy, errnoOf, IOMMUFD_PATH, must, openCdev, openIommufd, ownCdev } from '../harness/vfio/iommufd.js'
import { deviceInfo, getDeviceFd, groupPath, groupStatus, holdGroup, openGroup } from '../harness/vfio/legacy.js'
import { NO_REQUEST_CHANNEL, setRequestEventfd } from '../harness/vfio/request-irq.js'
import { driverOf, HOST_DRIVER } from '../harness/vfio/host-driver.js'
import { VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE } from '../harness/uapi/vfio.js'
import type { GuestAgent } from '../harness/agent/client.js'
import type { SuiteCast } from '../guests/topologies/index.js'

type CastPart = <K extends keyof SuiteCast>(part: K) => NonNullable<SuiteCast[K]>

/** How long a request eventfd may take to be signalled: the first request is made at once. */
const SIGNAL_DEADLINE_MS = 20_000

forEachTarget((target, base) => {
  const topology = TOPOLOGIES[target.topology]!
  const test = base.extend<{ hotplug: GuestHotplug }>({
    // The guest's QEMU through the supervisor; every device a test added is removed again
    // after the test's processes are gone (they may hold it).
    hotplug: hotplugFixture,
  })
  const legacyTest = test.extend<{ legacy: void }>({ legacy: legacyPathFixture })
  const cdevTest = test.extend<{ cdev: void }>({ cdev: cdevPathFixture })

  /** The cast's held group for hot-adds, or SKIP where the vIOMMU model cannot hand it out. */
  const intoGroup = (castPart: CastPart, skip: (why: string) => never) => {
    const c = castPart('hotplugIntoGroup')
    const why = c.unusableUnder?.[target.iommu]
    if (why) skip(why)
    return c
  }

  /**
   * The holder exits (its fds close: the group goes back to the kernel). A kernel that
   * splats on the way FAILs the test here, with the splat, rather than hanging its next step.
   */
  const release = async (guest: GuestSession, holder: GuestAgent) => {
    await holder.close()
    await guest.expectNoKernelSplat('the holder exited')
  }

  /**
   * Put a hot-added device on vfio-pci. Whether the kernel lets vfio-pci take a device that
   * arrived later is part of what is tested (a group must form for it at that probe), so a
   * probe that fails is a FAIL here, with the driver the device has, not a harness ERROR.
   */
  const toVfio = async (guest: GuestSession, bdf: string) => {
    await guest.offerDriver(bdf, 'vfio-pci')
    const d = (await guest.pciDevices()).find((x) => x.bdf === bdf)
    expect(d?.driver, `vfio-pci did not take the hot-added ${bdf} (IOMMU group: ${d?.group ?? 'none'}; see the console for the probe's error)`).toBe('vfio-pci')
  }

  /** The group number of a device now, or undefined (a model that forms groups at probe). */
  const groupNow = async (guest: GuestSession, nodeId: string) => (await guest.pciDevices()).find((d) => d.nodeId === nodeId)?.group

  /** Offer a device to the host driver the way an admin would: driver_override, then bind. */
  const hostDriverBind = async (admin: GuestAgent, bdf: string) => {
    must(await admin.writeFile(`/sys/bus/pci/devices/${bdf}/driver_override`, `${HOST_DRIVER}\n`), `driver_override of ${bdf}`)
    return admin.writeFile(`/sys/bus/pci/drivers/${HOST_DRIVER}/bind`, bdf)
  }

  /** Wait for the kernel's request on the eventfd (the first comes at once); its count, 0 if none came. */
  const requestSignalled = async (guest: GuestSession, holder: GuestAgent, efd: number) => {
    const t0 = performance.now()
    let signalled = 0
    while (!(signalled = await holder.eventfdCount(efd)) && performance.now() - t0 < SIGNAL_DEADLINE_MS) await new Promise((r) => setTimeout(r, 100))
    guest.waited('request eventfd', performance.now() - t0)
    return signalled
  }

  // ---- groups of hot-added devices ----

  // iommu_probe_device, from the PCI bus notifier when the device is added (intel, amd) or
  // at its first driver probe (virtio-iommu: dma_configure), puts it in the group
  // pci_device_group finds, by the same rules as at boot: the DMA alias of a conventional
  // bridge, the first port upstream with ACS.
  const slots: HotplugSlot[] = topology.hotplugSlots ?? []
  if (slots.length) {
    test.for(slots.map((s) => [`${s.id} (${s.device.id} on ${s.bus})`, s] as const))(
      'hot-add at %s: the device is grouped as the topology says, and device_del removes it',
      async ([, slot], { guest, hotplug }) => {
        const bdf = await hotplug.add(slot.id)
        if (VIOMMUS[target.iommu].groupsFormAtProbe) await guest.offerDriver(bdf, 'vfio-pci')
        const devices = await guest.pciDevices()
        const groupOf = new Map(devices.filter((d) => d.nodeId).map((d) => [d.nodeId!, d.group]))
        const mine = groupOf.get(slot.device.id)
        expect(mine, `${slot.device.id} (${bdf}) has no IOMMU group`).toBeDefined()
        const members = devices.filter((d) => d.group === mine).map((d) => d.nodeId ?? d.bdf)
        expect(members.sort()).toEqual([...slot.groupAfterAdd].sort())
        await hotplug.remove(slot.device.id)
        expect((await guest.pciDevices()).find((d) => d.nodeId === slot.device.id), `${slot.device.id} is still in the guest`).toBeUndefined()
      },
    )
  } else {
    test('hot-add: the topology has free slots', ({ skip }) => skip(`topology ${topology.name} has no hot-plug slots`))
  }

  // ---- a device that arrives in a group userspace holds ----

  /** The cast's group held the legacy way (group fd, container, type1), with a device fd of its device present at boot. */
  const heldGroup = async (guest: GuestSession, castPart: CastPart, skip: (why: string) => never) => {
    const { slot, owned } = intoGroup(castPart, skip)
    const g = await guest.vfioGroup(owned)
    const holder = await guest.agent({ label: 'holder' })
    const { group } = await holdGroup(holder, g.group)
    const ownedFd = must(await getDeviceFd(holder, group, g.bdf(owned)), `GET_DEVICE_FD ${owned}`)
    return { slot, owned, g, holder, group, ownedFd }
  }

  // A host driver's probe of the new device: really_probe -> pci_dma_configure ->
  // iommu_device_use_default_domain, -EBUSY while the group has an owner (the legacy
  // container's or iommufd's claim); bind_store hands that errno to the writer. The new device
  // joins the owner's group (and domain) when it is probed into it (__iommu_probe_device).
  // vfio_group_ioctl_get_status: a group with a container is VIABLE whatever its devices do.
  legacyTest("legacy: a device hot-added into a held group joins it; a host driver's probe is EBUSY; the group stays viable and held; once the holder lets go a host driver binds", async ({ guest, hotplug, castPart, skip }) => {
    const { slot, g, holder, group, ownedFd } = await heldGroup(guest, castPart, skip)
    const bdf = await hotplug.add(slot)
    const admin = await guest.agent({ label: 'admin' })
    expect(errnoOf(await hostDriverBind(admin, bdf))).toBe('EBUSY')
    expect(await driverOf(admin, bdf), `${bdf} should stay driverless`).toBeUndefined()
    expect(await groupNow(guest, hotplug.slot(slot).device.id)).toBe(g.group)
    expect((await groupStatus(holder, group)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET)
    expect(errnoOf(await deviceInfo(holder, ownedFd))).toBe('OK')
    await release(guest, holder)
    expect(errnoOf(await admin.writeFile(`/sys/bus/pci/drivers/${HOST_DRIVER}/bind`, bdf))).toBe('OK')
    expect(await driverOf(admin, bdf)).toBe(HOST_DRIVER)
  })

  // vfio-pci is driver_managed_dma: its probe skips iommu_device_use_default_domain and
  // joins the held vfio_group (vfio_group_find_or_alloc finds it by iommu_group).
  // vfio_group_ioctl_get_device_fd then gives the holder the new device; nobody else can
  // reach it: vfio_group_fops_open is -EBUSY for a second opener (group->opened_file).
  legacyTest('legacy: vfio-pci binds a device hot-added into a held group; the holder gets its device fd, another process cannot open the group (EBUSY)', async ({ guest, hotplug, castPart, skip }) => {
    const { slot, owned } = intoGroup(castPart, skip)
    const g = await guest.vfioGroup(owned)
    const holder = await guest.agent({ label: 'holder' })
    const { group } = await holdGroup(holder, g.group)
    const bdf = await hotplug.add(slot)
    await toVfio(guest, bdf)
    expect(await groupNow(guest, hotplug.slot(slot).device.id)).toBe(g.group)
    const fd = await getDeviceFd(holder, group, bdf)
    expect(errnoOf(fd)).toBe('OK')
    expect(errnoOf(await deviceInfo(holder, fd.ret))).toBe('OK')
    const other = await guest.agent({ label: 'other' })
    expect(errnoOf(await openGroup(other, g.group))).toBe('EBUSY')
    await release(guest, holder)
  })

  // The same through iommufd. The owner is the iommufd context that bound the group's first
  // device (iommufd_device_bind -> iommu_device_claim_dma_owner): the new device binds to that
  // context; another context is -EPERM ("group->owner != owner"); a host driver's probe is
  // -EBUSY (iommu_device_use_default_domain) until the owner's fds are closed.
  cdevTest("iommufd: a device hot-added while a group mate is bound: a host driver's probe is EBUSY; on vfio-pci it binds to the owner's iommufd, another iommufd is EPERM; once the owner lets go a host driver binds", async ({ guest, hotplug, castPart, skip }) => {
    const { slot, owned } = intoGroup(castPart, skip)
    await guest.vfioGroup(owned)
    const holder = await guest.agent({ label: 'holder' })
    const own = await ownCdev(holder, guest, owned)
    const bdf = await hotplug.add(slot)
    const admin = await guest.agent({ label: 'admin' })
    expect(errnoOf(await hostDriverBind(admin, bdf))).toBe('EBUSY')
    expect(await driverOf(admin, bdf), `${bdf} should stay driverless`).toBeUndefined()
    await toVfio(guest, bdf)
    const cdev = await cdevPath(guest, bdf)
    const other = await guest.agent({ label: 'other' })
    const otherFd = must(await openCdev(other, cdev), `open ${cdev} (other)`)
    const otherIommufd = must(await openIommufd(other), `open ${IOMMUFD_PATH} (other)`)
    expect(errnoOf(await bindIommufd(other, otherFd, otherIommufd))).toBe('EPERM')
    const fd = must(await openCdev(holder, cdev), `open ${cdev} (holder)`)
    expect(errnoOf(await bindIommufd(holder, fd, own.iommufd))).toBe('OK')
    await release(guest, holder)
    await other.close()
    await guest.unbind(bdf)
    expect(errnoOf(await hostDriverBind(admin, bdf))).toBe('OK')
    expect(await driverOf(admin, bdf)).toBe(HOST_DRIVER)
  })

  // ---- a device in use that is unplugged ----

  /** A device hot-added into the held group, on vfio-pci, with its device fd in the holder. */
  const heldHotDevice = async (guest: GuestSession, hotplug: GuestHotplug, castPart: CastPart, skip: (why: string) => never) => {
    const { slot, g, holder, group, ownedFd } = await heldGroup(guest, castPart, skip)
    const bdf = await hotplug.add(slot)
    await toVfio(guest, bdf)
    const fd = must(await getDeviceFd(holder, group, bdf), `GET_DEVICE_FD ${bdf}`)
    return { id: hotplug.slot(slot).device.id, bdf, holder, group, groupNumber: g.group, ownedFd, fd }
  }

  /** What must hold for the rest of the group after one of its devices left. */
  const matesStillHeld = async (holder: GuestAgent, group: number, groupNumber: number, ownedFd: number, admin: GuestAgent) => {
    expect((await groupStatus(holder, group)).flags).toBe(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET)
    expect(errnoOf(await deviceInfo(holder, ownedFd))).toBe('OK')
    expect(errnoOf(await openGroup(admin, groupNumber))).toBe('EBUSY')
  }

  // vfio_pci_remove -> vfio_unregister_group_dev waits for the last device fd to close,
  // calling vfio_pci_core_request every 10 s (the first time at once), which signals the
  // eventfd registered for VFIO_PCI_REQ_IRQ_INDEX (vfio_pci_set_req_trigger). QEMU drops the
  // device when acpiphp's eject finishes, after that wait.
  legacyTest('legacy: hot-remove of a device whose fd is open, with a request eventfd: the user is signalled, the removal completes when the fd closes, the group mates stay held', async ({ guest, hotplug, castPart, skip }) => {
    const d = await heldHotDevice(guest, hotplug, castPart, skip)
    const efd = must(await d.holder.eventfd(), 'eventfd')
    must(await setRequestEventfd(d.holder, d.fd, efd), 'SET_IRQS (REQ eventfd)')
    await hotplug.requestRemoval(d.id)
    expect(await requestSignalled(guest, d.holder, efd), 'the request eventfd was never signalled').toBeGreaterThan(0)
    expect(await hotplug.inQemu(d.id), 'the removal completed while the device fd was open').toBe(true)
    must(await d.holder.closeFd(d.fd), 'close the device fd')
    expect(await hotplug.waitGone(d.id), 'the removal did not complete after the device fd closed').toBe(true)
    await matesStillHeld(d.holder, d.group, d.groupNumber, d.ownedFd, await guest.agent({ label: 'admin' }))
    await release(guest, d.holder)
  })

  // Without a request channel vfio_pci_core_request says so once (count 0) and the removal
  // goes on waiting (wait_for_completion_interruptible_timeout in a kernel worker, which no
  // signal interrupts) until the user closes the device fd.
  legacyTest('legacy: hot-remove of a device whose fd is open, without a request eventfd: the kernel says it is blocked, the removal waits for the fd, the group mates stay held', async ({ guest, hotplug, castPart, skip }) => {
    const d = await heldHotDevice(guest, hotplug, castPart, skip)
    const from = await guest.console.size()
    await hotplug.requestRemoval(d.id)
    const line = await guest.console.waitFor(NO_REQUEST_CHANNEL, { from, deadlineMs: SIGNAL_DEADLINE_MS }).catch(() => undefined)
    expect(line?.line, `no "${NO_REQUEST_CHANNEL.source}" on the console`).toContain(d.bdf)
    expect(await hotplug.inQemu(d.id), 'the removal completed while the device fd was open').toBe(true)
    expect(errnoOf(await deviceInfo(d.holder, d.fd)), 'the device fd still works while the removal waits').toBe('OK')
    must(await d.holder.closeFd(d.fd), 'close the device fd')
    expect(await hotplug.waitGone(d.id), 'the removal did not complete after the device fd closed').toBe(true)
    await matesStillHeld(d.holder, d.group, d.groupNumber, d.ownedFd, await guest.agent({ label: 'admin' }))
    await release(guest, d.holder)
  })

  // A group ends with its last device: vfio_device_remove_group (vfio_group_put ->
  // cdev_device_del) takes /dev/vfio/N away when the hot-removed device was its only one.
  legacyTest('legacy: the group node of a hot-added device alone in its group goes with the device', async ({ guest, hotplug, castPart, skip }) => {
    const slot = castPart('hotplugSingleton')
    const id = hotplug.slot(slot).device.id
    const bdf = await hotplug.add(slot)
    await toVfio(guest, bdf)
    const g = await guest.vfioGroup(id)
    const a = await guest.agent()
    expect(errnoOf(await a.readlink(groupPath(g.group))), `${groupPath(g.group)} should exist`).not.toBe('ENOENT')
    await hotplug.remove(id)
    expect(errnoOf(await a.open(groupPath(g.group), ['O_RDWR']))).toBe('ENOENT')
  })

  // The cdev path: the same wait in vfio_unregister_group_dev; the cdev node goes first
  // (vfio_device_del -> cdev_device_del, before the wait), the open fd keeps working. While the
  // bound device is attached, its IOAS has users and IOMMU_DESTROY is -EBUSY
  // (iommufd_object_remove); closing the fd unbinds the device (vfio_df_unbind_iommufd ->
  // iommufd_device_unbind), after which the IOAS is destroyed.
  cdevTest('iommufd: hot-remove of a bound cdev: the user is signalled, the removal waits for the fd; then the cdev node is gone and the IOAS can be destroyed', async ({ guest, hotplug, castPart, skip }) => {
    const slot = castPart('hotplugSingleton')
    const id = hotplug.slot(slot).device.id
    const bdf = await hotplug.add(slot)
    await toVfio(guest, bdf)
    const holder = await guest.agent({ label: 'holder' })
    const own = await ownCdev(holder, guest, id)
    const efd = must(await holder.eventfd(), 'eventfd')
    must(await setRequestEventfd(holder, own.devfd, efd), 'SET_IRQS (REQ eventfd)')
    await hotplug.requestRemoval(id)
    expect(await requestSignalled(guest, holder, efd), 'the request eventfd was never signalled').toBeGreaterThan(0)
    expect(await hotplug.inQemu(id), 'the removal completed while the cdev fd was open').toBe(true)
    // vfio_unregister_group_dev removes the node (vfio_device_del) before it waits.
    expect(errnoOf(await holder.open(own.cdev, ['O_RDWR'])), `${own.cdev} while the removal waits`).toBe('ENOENT')
    expect(errnoOf(await destroy(holder, own.iommufd, own.ioasId))).toBe('EBUSY')
    must(await holder.closeFd(own.devfd), 'close the cdev fd')
    expect(await hotplug.waitGone(id), 'the removal did not complete after the cdev fd closed').toBe(true)
    expect(errnoOf(await holder.open(own.cdev, ['O_RDWR']))).toBe('ENOENT')
    expect(errnoOf(await destroy(holder, own.iommufd, own.ioasId))).toBe('OK')
    await release(guest, holder)
  })
})
