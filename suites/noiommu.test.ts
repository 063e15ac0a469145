// VFIO's unsafe no-IOMMU mode (guest without a vIOMMU, vfio.enable_unsafe_noiommu_mode=1,
// conform builds only: Debian's kernels have CONFIG_VFIO_NOIOMMU unset and SKIP): the group
// VFIO invents, the capability it demands, and the taint it leaves.
import { expect } from 'vitest'
import { errnoOf, type SysResult } from '../harness/agent/client.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { checkExtension, getDeviceFd, must, openContainer, setContainer, setIommu } from '../harness/vfio/legacy.js'
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../harness/uapi/vfio.js'
import { IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_SET } from '../harness/uapi/iommufd.js'
import { ioasAlloc, openIommufd, vfioIoas } from '../harness/vfio/iommufd.js'

/** include/linux/panic.h: TAINT_USER is bit 6. */
const TAINT_USER = 1 << 6

forEachTarget(
  (_target, test) => {
    /** Bind the cast device to vfio-pci and return its BDF and no-IOMMU group number. */
    const bindNoiommu = async (guest: import('../harness/guest/session.js').GuestSession, dev: string) => {
      const bdf = await guest.bdf(dev)
      await guest.bindDriver(bdf, 'vfio-pci')
      const link = (await guest.run(`readlink /sys/bus/pci/devices/${bdf}/iommu_group`)).trim()
      return { bdf, group: Number(link.split('/').pop()) }
    }

    // vfio_group_find_or_alloc: a device without an IOMMU group, with noiommu enabled, gets
    // vfio_noiommu_group_alloc (iommu_group_set_name "vfio-noiommu"), a node named
    // "noiommu-%d" (vfio_group_alloc: dev_set_name), and add_taint(TAINT_USER).
    test('binding to vfio-pci without an IOMMU creates a vfio-noiommu group at /dev/vfio/noiommu-N and taints the kernel', async ({ guest, castPart }) => {
      const dev = castPart('singletonGroup')
      const a = await guest.agent()
      expect(errnoOf(await a.readlink(`/sys/bus/pci/devices/${await guest.bdf(dev)}/iommu_group`)), 'no group before the bind').toBe('ENOENT')
      const { group } = await bindNoiommu(guest, dev)
      expect((await guest.run(`cat /sys/kernel/iommu_groups/${group}/name`)).trim()).toBe('vfio-noiommu')
      expect((await guest.exec(`[ -c /dev/vfio/noiommu-${group} ]`)).code, `/dev/vfio/noiommu-${group} is a character device`).toBe(0)
      expect((await guest.exec(`[ -e /dev/vfio/${group} ]`)).code, `no plain /dev/vfio/${group}`).not.toBe(0)
      const tainted = Number((await guest.run('cat /proc/sys/kernel/tainted')).trim())
      expect(tainted & TAINT_USER).toBe(TAINT_USER)
    })

    // vfio_group_fops_open: "group->type == VFIO_NO_IOMMU && !capable(CAP_SYS_RAWIO)" -> -EPERM,
    // even for root (the node is root's own, 0600, so DAC is no obstacle).
    test('opening a no-IOMMU group without CAP_SYS_RAWIO is EPERM, even as root', async ({ guest, castPart }) => {
      const { group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const noRawio = await guest.agent({ caps: 'none', label: 'root without caps' })
      expect(errnoOf(await noRawio.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']))).toBe('EPERM')
      const rawio = await guest.agent({ caps: ['cap_sys_rawio'], label: 'root with cap_sys_rawio' })
      expect(errnoOf(await rawio.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']))).toBe('OK')
    })

    // With CAP_SYS_RAWIO the whole path works, but only with the no-IOMMU "IOMMU":
    // vfio_noiommu_ioctl reports the extension; vfio_noiommu_open accepts only
    // VFIO_NOIOMMU_IOMMU; vfio_container_attach_group / vfio_group_use_container re-check RAWIO.
    test('with CAP_SYS_RAWIO the no-IOMMU group takes a container, SET_IOMMU(VFIO_NOIOMMU_IOMMU) and hands out the device fd', async ({ guest, castPart }) => {
      const { bdf, group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const container = must(await openContainer(a), 'open container')
      expect((await checkExtension(a, container, VFIO_NOIOMMU_IOMMU)).ret).toBe(1)
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      expect(errnoOf(await setContainer(a, g, container))).toBe('OK')
      expect(errnoOf(await setIommu(a, container, VFIO_NOIOMMU_IOMMU))).toBe('OK')
      const dfd = await getDeviceFd(a, g, bdf)
      expect(errnoOf(dfd)).toBe('OK')
      expect(dfd.ret).toBeGreaterThan(2)
    })

    // vfio_ioctl_set_iommu (container.c) offers SET_IOMMU's argument only to the drivers
    // vfio_iommu_driver_allowed lets a no-IOMMU container use (the no-IOMMU driver alone), and
    // only to one whose CHECK_EXTENSION reports it: vfio_noiommu_ioctl reports nothing but
    // VFIO_NOIOMMU_IOMMU, so no driver is opened and ret stays at its -ENODEV. (So
    // vfio_noiommu_open's own "arg != VFIO_NOIOMMU_IOMMU" -> -EINVAL is never reached from
    // user space.) The container stays unset: SET_IOMMU(VFIO_NOIOMMU_IOMMU) then succeeds.
    test('a no-IOMMU container takes no real IOMMU: SET_IOMMU(VFIO_TYPE1v2_IOMMU) is ENODEV, then SET_IOMMU(VFIO_NOIOMMU_IOMMU) succeeds', async ({ guest, castPart }) => {
      const { group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const container = must(await openContainer(a), 'open container')
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      must(await setContainer(a, g, container), 'SET_CONTAINER')
      expect(errnoOf(await setIommu(a, container, VFIO_TYPE1v2_IOMMU)), 'type1v2').toBe('ENODEV')
      expect(errnoOf(await setIommu(a, container, VFIO_NOIOMMU_IOMMU)), 'no-IOMMU').toBe('OK')
    })

    // Every step of the no-IOMMU path checks CAP_SYS_RAWIO in the caller's effective set
    // again, not only the group open (vfio_group_fops_open): SET_CONTAINER
    // (vfio_container_attach_group: "group->type == VFIO_NO_IOMMU && !capable(CAP_SYS_RAWIO)"
    // -> -EPERM), SET_IOMMU (vfio_noiommu_open: "!capable(CAP_SYS_RAWIO)" -> -EPERM) and
    // GET_DEVICE_FD (vfio_df_group_open -> vfio_device_group_use_iommu ->
    // vfio_group_use_container: the same condition -> -EPERM). A process that opened the
    // group with the capability and lowered it gets EPERM at each, and OK once it raises it.
    test('a no-IOMMU group\'s SET_CONTAINER, SET_IOMMU(VFIO_NOIOMMU_IOMMU) and GET_DEVICE_FD each need CAP_SYS_RAWIO at that call: EPERM after the group was opened with it and it was dropped', async ({ guest, castPart }) => {
      const { bdf, group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const container = must(await openContainer(a), 'open container')
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      /** The step's errno without CAP_SYS_RAWIO in the effective set, then with it again. */
      const withoutThenWith = async (step: () => Promise<SysResult>) => {
        must(await a.capsEffective('none'), 'drop CAP_SYS_RAWIO from the effective set')
        const without = errnoOf(await step())
        must(await a.capsEffective(['cap_sys_rawio']), 'raise it again')
        return [without, errnoOf(await step())]
      }
      expect(await withoutThenWith(() => setContainer(a, g, container)), 'SET_CONTAINER').toEqual(['EPERM', 'OK'])
      expect(await withoutThenWith(() => setIommu(a, container, VFIO_NOIOMMU_IOMMU)), 'SET_IOMMU').toEqual(['EPERM', 'OK'])
      expect(await withoutThenWith(() => getDeviceFd(a, g, bdf)), 'GET_DEVICE_FD').toEqual(['EPERM', 'OK'])
    })

    // ---- the cdev / iommufd side (16: "cdev behaviour as the kernel version documents") ----

    // Documentation/driver-api/vfio.rst: "cdev interface does not support noiommu devices, so
    // user should use the legacy group interface". drivers/vfio/vfio.h vfio_device_add: a
    // no-IOMMU device is registered with device_add() instead of cdev_device_add(), and
    // vfio_init_device_cdev (which gives the device its dev_t) is never called: the
    // vfio-dev/vfioN device exists, without a device number and without a node. Read in
    // the 6.12 and the 7.2 source (unchanged).
    test('a no-IOMMU device gets no cdev: vfio-dev/vfioN exists without a device number, and /dev/vfio/devices has no node for it', async ({ guest, castPart, requireConfig }) => {
      requireConfig('VFIO_DEVICE_CDEV')
      const { bdf } = await bindNoiommu(guest, castPart('singletonGroup'))
      const names = (await guest.run(`ls /sys/bus/pci/devices/${bdf}/vfio-dev`)).split(/\s+/).filter(Boolean)
      expect(names, 'vfio-dev entries of the device').toHaveLength(1)
      expect(names[0]).toMatch(/^vfio\d+$/)
      const name = names[0]!
      expect((await guest.exec(`[ -e /sys/bus/pci/devices/${bdf}/vfio-dev/${name}/dev ]`)).code, `sysfs ${name}/dev exists`).not.toBe(0)
      expect((await guest.exec(`[ -e /dev/vfio/devices/${name} ]`)).code, `/dev/vfio/devices/${name} exists`).not.toBe(0)
    })

    // drivers/vfio/group.c vfio_group_ioctl_set_container: an iommufd given to a VFIO_NO_IOMMU
    // group goes to iommufd_vfio_compat_set_no_iommu (no_iommu_mode, no IOAS); the device
    // open (vfio_df_group_open) then needs CAP_SYS_RAWIO and no compat IOAS, and attaches
    // nothing (vfio_iommufd_compat_attach_ioas: "compat noiommu does not need to do ioas attach").
    test('an iommufd as a no-IOMMU group\'s container: SET_CONTAINER succeeds, the device fd opens with CAP_SYS_RAWIO, and no compat IOAS is created', async ({ guest, castPart, requireConfig }) => {
      requireConfig('IOMMUFD')
      const { bdf, group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const iommufd = must(await openIommufd(a), 'open /dev/iommu')
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      expect(errnoOf(await setContainer(a, g, iommufd)), 'SET_CONTAINER with the iommufd').toBe('OK')
      const dfd = await getDeviceFd(a, g, bdf)
      expect(errnoOf(dfd), 'GET_DEVICE_FD').toBe('OK')
      expect(dfd.ret).toBeGreaterThan(2)
      // get_compat_ioas: no vfio_ioas -> ENODEV.
      expect(errnoOf(await vfioIoas(a, iommufd, IOMMU_VFIO_IOAS_GET)), 'IOMMU_VFIO_IOAS GET after the open').toBe('ENODEV')
    })

    // iommufd_vfio_compat_set_no_iommu: "if (!ictx->vfio_ioas) ... else ret = -EINVAL".
    test('an iommufd that already has a compat IOAS is refused as a no-IOMMU group\'s container: EINVAL', async ({ guest, castPart, requireConfig }) => {
      requireConfig('IOMMUFD')
      const { group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const iommufd = must(await openIommufd(a), 'open /dev/iommu')
      const ioas = await ioasAlloc(a, iommufd)
      must(ioas, 'IOAS_ALLOC')
      must(await vfioIoas(a, iommufd, IOMMU_VFIO_IOAS_SET, ioas.ioasId), 'IOMMU_VFIO_IOAS SET')
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      expect(errnoOf(await setContainer(a, g, iommufd))).toBe('EINVAL')
    })

    // vfio_df_group_open: "if (!capable(CAP_SYS_RAWIO) || vfio_iommufd_device_has_compat_ioas())
    // -> -EPERM": a compat IOAS set after SET_CONTAINER means the user expects translation
    // that a no-IOMMU device cannot give.
    test('a compat IOAS set on the iommufd after SET_CONTAINER makes the no-IOMMU device open EPERM', async ({ guest, castPart, requireConfig }) => {
      requireConfig('IOMMUFD')
      const { bdf, group } = await bindNoiommu(guest, castPart('singletonGroup'))
      const a = await guest.agent({ caps: ['cap_sys_rawio'] })
      const iommufd = must(await openIommufd(a), 'open /dev/iommu')
      const g = must(await a.open(`/dev/vfio/noiommu-${group}`, ['O_RDWR']), 'open group')
      must(await setContainer(a, g, iommufd), 'SET_CONTAINER with the iommufd')
      const ioas = await ioasAlloc(a, iommufd)
      must(ioas, 'IOAS_ALLOC')
      must(await vfioIoas(a, iommufd, IOMMU_VFIO_IOAS_SET, ioas.ioasId), 'IOMMU_VFIO_IOAS SET')
      expect(errnoOf(await getDeviceFd(a, g, bdf))).toBe('EPERM')
    })
  },
  { dedicatedTo: 'noiommu' },
)
