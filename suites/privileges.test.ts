// Privileges: VFIO needs no capability, only access to the device nodes. The kernel's default
// node modes, EACCES for a user the node does not belong to, the whole legacy and cdev paths
// for an unprivileged user once root chowned the nodes, two users on two devices of one
// group (DMA ownership), and RLIMIT_MEMLOCK accounting for users without CAP_IPC_LOCK.
// Every errno below was read in the 6.12 source, function named. Ownership the tests change
// is put back after every test (the `nodes` fixture).
import { expect } from 'vitest'
import type { GuestSession } from '../harness/guest/session.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import { legacyMissing } from '../harness/vfio/capabilities.js'
import { errnoOf, getDeviceFd, groupPath, holdGroup, mapDma, must, openContainer, openGroup, setContainer, setIommu, VFIO_CONTAINER_PATH } from '../harness/vfio/legacy.js'
import { attachPt, bindIommufd, cdevPath, ioasAlloc, ioasMap, IOMMUFD_PATH, openCdev, openIommufd } from '../harness/vfio/iommufd.js'
import { cdevGivenTo, ioasAgent, memlockLimit, nodesFixture, statNode, type Nodes } from '../harness/vfio/privileges.js'
import { guestUser } from '../guests/rootfs/recipe.js'

const USER_A = guestUser('conform-a')
const USER_B = guestUser('conform-b')
const PAGE = 4096n

// Node modes, capabilities and RLIMIT_MEMLOCK are the kernel's: nothing here depends on QEMU's
// emulation, so a newer QEMU's guest of a kernel the run also boots on the host's QEMU would
// only repeat it (fixtures.ts).
forEachTarget((target, base) => {
  const test = base.extend<{ nodes: Nodes }>({ nodes: nodesFixture })
  const needLegacy = (kconfig: Parameters<typeof legacyMissing>[0], skip: (note: string) => never) => {
    const missing = legacyMissing(kconfig)
    if (missing) skip(missing)
  }
  const unprivileged = (guest: GuestSession, who = USER_A, label = 'user') => guest.agent({ ...who, caps: 'none', label })

  // ---- (14) default modes, EACCES, and the paths an unprivileged owner may use ----

  // devtmpfs_create_node: a node whose devnode callback sets no mode is 0600 (uid/gid 0);
  // vfio_devnode (group.c) and vfio_device_devnode (device_cdev.c) only name the node.
  // misc_devnode applies the miscdevice's .mode: container.c vfio_dev "S_IRUGO | S_IWUGO"
  // (0666) and iommufd/main.c iommu_misc_dev 0660.
  test('default nodes: /dev/vfio/vfio 0666, /dev/vfio/N 0600, /dev/vfio/devices/vfioN 0600, /dev/iommu 0660, all root:root', async ({ guest, kconfig, skip, requireConfig, castPart }) => {
    needLegacy(kconfig, skip)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const expectNode = async (path: string, mode: number) => {
      const st = await statNode(guest, path)
      expect({ path, mode: st.mode.toString(8), uid: st.uid, gid: st.gid, type: st.type }).toEqual({ path, mode: mode.toString(8), uid: 0, gid: 0, type: 'character special file' })
    }
    await expectNode(VFIO_CONTAINER_PATH, 0o666)
    await expectNode(groupPath(g.group), 0o600)
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    await expectNode(await cdevPath(guest, g.bdf(dev)), 0o600)
    await expectNode(IOMMUFD_PATH, 0o660)
  })

  // may_open -> inode_permission -> generic_permission: no owner/group match and no "other"
  // bits (0600 / 0660 root:root), and the agent has no CAP_DAC_OVERRIDE -> -EACCES. The
  // container node is 0666: anyone opens it.
  test('an unprivileged user opening /dev/vfio/N, its cdev or /dev/iommu gets EACCES; /dev/vfio/vfio opens', async ({ guest, kconfig, skip, requireConfig, castPart }) => {
    needLegacy(kconfig, skip)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    const u = await unprivileged(guest)
    expect(u.hello!.caps).toEqual([])
    expect(errnoOf(await openGroup(u, g.group))).toBe('EACCES')
    expect(errnoOf(await openContainer(u))).toBe('OK')
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    expect(errnoOf(await openCdev(u, await cdevPath(guest, g.bdf(dev))))).toBe('EACCES')
    expect(errnoOf(await openIommufd(u))).toBe('EACCES')
  })

  // No VFIO ioctl of the legacy path checks a capability: vfio_group_fops_open only wants
  // CAP_SYS_RAWIO for a no-IOMMU group; SET_CONTAINER, SET_IOMMU (type1 attach) and
  // GET_DEVICE_FD check none. Node ownership is the whole access control.
  test('after /dev/vfio/N is chowned to a user, that user without any capability opens the group, sets container and IOMMU, and gets the device fd', async ({ guest, kconfig, skip, nodes, castPart }) => {
    needLegacy(kconfig, skip)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    await nodes.give(groupPath(g.group), USER_A)
    const u = await unprivileged(guest)
    const container = must(await openContainer(u), 'open container')
    const fd = await openGroup(u, g.group)
    expect(errnoOf(fd)).toBe('OK')
    expect(errnoOf(await setContainer(u, fd.ret, container))).toBe('OK')
    expect(errnoOf(await setIommu(u, container))).toBe('OK')
    const dfd = await getDeviceFd(u, fd.ret, g.bdf(dev))
    expect(errnoOf(dfd)).toBe('OK')
    // Another unprivileged user still cannot open the node (it is A's, 0600).
    const b = await unprivileged(guest, USER_B, 'user-b')
    expect(errnoOf(await openGroup(b, g.group))).toBe('EACCES')
  })

  // vfio_device_fops_cdev_open, vfio_df_ioctl_bind_iommufd, iommufd_ioas_alloc_ioctl and
  // vfio_df_ioctl_attach_pt check no capability either; iommufd_fops_open neither.
  test('after the cdev and /dev/iommu are chowned to a user, that user without any capability binds, allocates an IOAS and attaches', async ({ guest, skip, requireConfig, nodes, castPart }) => {
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    const dev = castPart('singletonGroup')
    const cdev = await cdevGivenTo(guest, nodes, dev, USER_A)
    const u = await unprivileged(guest)
    const dfd = await openCdev(u, cdev)
    expect(errnoOf(dfd)).toBe('OK')
    const ictx = await openIommufd(u)
    expect(errnoOf(ictx)).toBe('OK')
    const bind = await bindIommufd(u, dfd.ret, ictx.ret)
    expect(errnoOf(bind)).toBe('OK')
    const ioas = await ioasAlloc(u, ictx.ret)
    expect(errnoOf(ioas)).toBe('OK')
    expect(errnoOf(await attachPt(u, dfd.ret, ioas.ioasId!))).toBe('OK')
  })

  // ---- (15) two users, two devices of one group ----

  // Bind claims DMA ownership of the whole group for the binder's iommufd:
  // vfio_df_ioctl_bind_iommufd -> vfio_df_open -> vfio_iommufd_physical_bind ->
  // iommufd_device_bind -> iommu_device_claim_dma_owner(dev, ictx): the group already has an
  // owner (A's ictx) and "group->owner != owner" -> -EPERM. A's exit releases it
  // (vfio_df_unbind_iommufd -> iommufd_device_unbind -> iommu_device_release_dma_owner).
  test('two users with one device each of a multi-device group: A binds, B\'s bind is EPERM; after A exits, B binds', async ({ guest, skip, requireConfig, nodes, castPart }) => {
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    const [devA, devB] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(devA)
    const cdevA = await cdevPath(guest, g.bdf(devA))
    const cdevB = await cdevPath(guest, g.bdf(devB))
    await nodes.give(cdevA, USER_A)
    await nodes.give(cdevB, USER_B)
    await nodes.give(IOMMUFD_PATH, { mode: 0o666 })
    const a = await unprivileged(guest, USER_A, 'user-a')
    const b = await unprivileged(guest, USER_B, 'user-b')
    // Each user can open only its own cdev.
    expect(errnoOf(await openCdev(a, cdevB))).toBe('EACCES')
    const fa = must(await openCdev(a, cdevA), `A open ${cdevA}`)
    const ia = must(await openIommufd(a), 'A open /dev/iommu')
    const fb = must(await openCdev(b, cdevB), `B open ${cdevB}`)
    const ib = must(await openIommufd(b), 'B open /dev/iommu')
    expect(errnoOf(await bindIommufd(a, fa, ia)), 'A bind').toBe('OK')
    expect(errnoOf(await bindIommufd(b, fb, ib)), 'B bind while A holds the group').toBe('EPERM')
    await a.close()
    expect(errnoOf(await bindIommufd(b, fb, ib)), 'B bind after A exited').toBe('OK')
  })

  // ---- (17) RLIMIT_MEMLOCK accounting without CAP_IPC_LOCK ----
  // The agent inherits the kernel's default RLIMIT_MEMLOCK (MLOCK_LIMIT, 8 MiB); the tests
  // read the agent's actual soft limit from /proc/PID/limits and map one page beyond it.

  // vfio_dma_do_map -> vfio_pin_map_dma -> vfio_pin_pages_remote: "!dma->lock_cap &&
  // mm->locked_vm + lock_acct + 1 > limit" -> -ENOMEM (then vfio_lock_acct /
  // __account_locked_vm enforce the same limit); lock_cap is capable(CAP_IPC_LOCK) at map time.
  test('type1 MAP_DMA beyond RLIMIT_MEMLOCK is ENOMEM for a user without CAP_IPC_LOCK; within it, and with CAP_IPC_LOCK, it maps', async ({ guest, kconfig, skip, nodes, castPart }) => {
    needLegacy(kconfig, skip)
    const dev = castPart('singletonGroup')
    const g = await guest.vfioGroup(dev)
    await nodes.give(groupPath(g.group), USER_A)
    const u = await unprivileged(guest)
    const limit = await memlockLimit(guest, u)
    if (limit === undefined || limit > 64n << 20n) skip(`the agent's RLIMIT_MEMLOCK is ${limit ?? 'unlimited'}: too large to exceed here`)
    const { container } = await holdGroup(u, g.group)
    const over = limit! + PAGE
    const mem = await u.memAlloc(Number(over))
    expect(errnoOf(await mapDma(u, container, { vaddr: mem.addr, iova: 0x100000, size: over }))).toBe('ENOMEM')
    expect(errnoOf(await mapDma(u, container, { vaddr: mem.addr, iova: 0x100000, size: limit! / 2n }))).toBe('OK')
    await u.close()

    // Same user, same limit, with CAP_IPC_LOCK: lock_cap bypasses the rlimit.
    const c = await guest.agent({ ...USER_A, caps: ['cap_ipc_lock'], label: 'user+ipc_lock' })
    expect(await memlockLimit(guest, c)).toBe(limit)
    const held = await holdGroup(c, g.group)
    const mem2 = await c.memAlloc(Number(over))
    expect(errnoOf(await mapDma(c, held.container, { vaddr: mem2.addr, iova: 0x100000, size: over }))).toBe('OK')
  })

  // iopt_alloc_pages: account_mode = IOPT_PAGES_ACCOUNT_USER unless capable(CAP_IPC_LOCK)
  // (then NONE). With a device attached, IOAS_MAP pins at once (iopt_map_pages ->
  // iopt_fill_domains_pages) and do_update_pinned -> incr_user_locked_vm: "new_pages >
  // lock_limit" -> -ENOMEM (the limit is the mapping task's RLIMIT_MEMLOCK, the count the
  // user's locked_vm).
  test('iommufd IOAS_MAP beyond RLIMIT_MEMLOCK is ENOMEM for a user without CAP_IPC_LOCK; within it, and with CAP_IPC_LOCK, it maps', async ({ guest, skip, requireConfig, nodes, castPart }) => {
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    const dev = castPart('singletonGroup')
    const cdev = await cdevGivenTo(guest, nodes, dev, USER_A)
    const setup = (caps: 'none' | string[], label: string) => ioasAgent(guest, cdev, { ...USER_A, caps, label })
    const u = await setup('none', 'user')
    const limit = await memlockLimit(guest, u.a)
    if (limit === undefined || limit > 64n << 20n) skip(`the agent's RLIMIT_MEMLOCK is ${limit ?? 'unlimited'}: too large to exceed here`)
    const over = limit! + PAGE
    const mem = await u.a.memAlloc(Number(over))
    expect(errnoOf(await ioasMap(u.a, u.ictx, { ioasId: u.ioasId, userVa: mem.addr, iova: 0x100000, length: over }))).toBe('ENOMEM')
    expect(errnoOf(await ioasMap(u.a, u.ictx, { ioasId: u.ioasId, userVa: mem.addr, iova: 0x100000, length: limit! / 2n }))).toBe('OK')
    await u.a.close()

    const c = await setup(['cap_ipc_lock'], 'user+ipc_lock')
    const mem2 = await c.a.memAlloc(Number(over))
    expect(errnoOf(await ioasMap(c.a, c.ictx, { ioasId: c.ioasId, userVa: mem2.addr, iova: 0x100000, length: over }))).toBe('OK')
  })

  // ---- the device nodes of one group are independent ----

  // Nothing in the kernel relates the cdev nodes of one group: each device gets its own dev_t
  // (vfio_init_device_cdev, device_cdev.c: MKDEV(major, device->index)) and its own node
  // (__vfio_register_dev -> vfio_device_add -> cdev_device_add, vfio.h; vfio_device_devnode
  // only names it), and chown/chmod act on that one devtmpfs inode (notify_change ->
  // setattr_prepare, fs/attr.c: CAP_CHOWN / owner checks, no VFIO hook). Keeping the nodes
  // consistent is the admin's job; the ownership rule itself (one owner per group) is the
  // bind check in the two-users test above.
  test('the device nodes of one group are not tied: their cdevs take different owners and modes, keep them, and each opens only for its own owner', async ({ guest, skip, requireConfig, nodes, castPart }) => {
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    const [devA, devB] = castPart('multiDeviceGroup')
    const g = await guest.vfioGroup(devA)
    const cdevA = await cdevPath(guest, g.bdf(devA))
    const cdevB = await cdevPath(guest, g.bdf(devB))
    expect(g.devices.some((d) => d.nodeId === devB), `${devB} should share ${devA}'s group`).toBe(true)
    await nodes.give(cdevA, { ...USER_A, mode: 0o600 })
    await nodes.give(cdevB, { ...USER_B, mode: 0o640 })
    const want = {
      [cdevA]: { mode: 0o600, uid: USER_A.uid, gid: USER_A.gid },
      [cdevB]: { mode: 0o640, uid: USER_B.uid, gid: USER_B.gid },
    }
    const seen = async () => {
      const out: Record<string, { mode: number; uid: number; gid: number }> = {}
      for (const p of [cdevA, cdevB]) {
        const st = await statNode(guest, p)
        out[p] = { mode: st.mode, uid: st.uid, gid: st.gid }
      }
      return out
    }
    expect(await seen()).toEqual(want)
    // Each user opens its own node and not the other's: access follows each node separately.
    const a = await unprivileged(guest, USER_A, 'user-a')
    const b = await unprivileged(guest, USER_B, 'user-b')
    expect(errnoOf(await openCdev(a, cdevA)), `A opens ${cdevA}`).toBe('OK')
    expect(errnoOf(await openCdev(a, cdevB)), `A opens ${cdevB}`).toBe('EACCES')
    expect(errnoOf(await openCdev(b, cdevB)), `B opens ${cdevB}`).toBe('OK')
    expect(errnoOf(await openCdev(b, cdevA)), `B opens ${cdevA}`).toBe('EACCES')
    // Using them changes nothing: the kernel does not bring the two nodes back in line.
    expect(await seen()).toEqual(want)
  })
}, { qemuIndependent: true })
