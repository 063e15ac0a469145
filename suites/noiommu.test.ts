// VFIO's unsafe no-IOMMU mode (guest without a vIOMMU, vfio.enable_unsafe_noiommu_mode=1,
// conform builds only: Debian's kernels have CONFIG_VFIO_NOIOMMU unset and SKIP): the group
// VFIO invents, the capability it demands, and the taint it leaves.
import { expect } from 'vitest'
import { errnoOf } from '../harness/agent/client.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { checkExtension, getDeviceFd, must, openContainer, setContainer, setIommu } from '../harness/vfio/legacy.js'
import { VFIO_NOIOMMU_IOMMU } from '../harness/uapi/vfio.js'

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

  },
  { dedicatedTo: 'noiommu' },
)
