// RLIMIT_MEMLOCK accounting across an unmap: what MAP_DMA / IOAS_MAP charge for a user
// without CAP_IPC_LOCK, UNMAP_DMA / IOAS_UNMAP give back. The agent starts with a limit of
// 16 pages (the shell's `ulimit -l` before it execs the agent): it maps all of them, unmaps
// them and maps them again, which works only if the unmap uncharged what the map charged;
// then one page more is ENOMEM (the limit is in force). Milliseconds of ioctls.
// The charge and the uncharge run above the IOMMU driver (type1's vfio_lock_acct, iommufd's
// iopt_pages accounting), the same under every vIOMMU: the suite runs on each kernel's first
// guest, and not on a newer QEMU's guest of a kernel the host's QEMU runs too. The limit checks themselves (maps beyond the default limit) are in privileges.test.ts.
import { expect } from 'vitest'
import type { SysResult } from '../harness/agent/client.js'
import { guestUser } from '../guests/rootfs/recipe.js'
import { legacyMissing } from '../harness/vfio/capabilities.js'
import { ioasMap, ioasUnmap, IOMMUFD_PATH, openIommufd } from '../harness/vfio/iommufd.js'
import { errnoOf, getDeviceFd, groupPath, holdGroup, mapDma, must, openGroup, setContainer, setIommu, unmapDma } from '../harness/vfio/legacy.js'
import { cdevGivenTo, ioasAgent, memlockLimit, nodesFixture, type Nodes } from '../harness/vfio/privileges.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

const USER_A = guestUser('conform-a')
const PAGE = 4096n
const MEMLOCK_KIB = 64
const MEMLOCK_BYTES = BigInt(MEMLOCK_KIB) * 1024n
const IOVA = 0x100000

/**
 * Maps the whole limit and unmaps it, twice (the second map works only if the unmap gave the
 * pages back), then maps one page more than the limit: ENOMEM (the limit is in force).
 */
async function mapUnmapTwiceThenOver(what: { map: string; unmap: string }, map: (size: bigint) => Promise<SysResult>, unmap: () => Promise<SysResult & { unmapped?: bigint }>): Promise<void> {
  for (const round of [1, 2]) {
    expect(errnoOf(await map(MEMLOCK_BYTES)), `${what.map} of the whole limit, round ${round}`).toBe('OK')
    const un = await unmap()
    expect({ errno: errnoOf(un), unmapped: un.unmapped }, `${what.unmap}, round ${round}`).toEqual({ errno: 'OK', unmapped: MEMLOCK_BYTES })
  }
  expect(errnoOf(await map(MEMLOCK_BYTES + PAGE)), 'one page beyond the limit').toBe('ENOMEM')
}

forEachTarget(
  (_target, base) => {
    const test = base.extend<{ nodes: Nodes }>({ nodes: nodesFixture })

    // vfio_dma_do_unmap -> vfio_remove_dma -> vfio_unmap_unpin: "vfio_lock_acct(dma, -unlocked,
    // true)" gives the pages back to mm->locked_vm. Without it the second map's
    // vfio_pin_pages_remote ("mm->locked_vm + lock_acct + 1 > limit") is -ENOMEM.
    test('type1 UNMAP_DMA gives the locked memory back: a user without CAP_IPC_LOCK maps its whole RLIMIT_MEMLOCK, unmaps it, and maps it again', async ({ guest, kconfig, skip, nodes, castPart }) => {
      const missing = legacyMissing(kconfig)
      if (missing) skip(missing)
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      await nodes.give(groupPath(g.group), USER_A)
      const u = await guest.agent({ ...USER_A, caps: 'none', label: 'user', memlockKiB: MEMLOCK_KIB })
      expect(await memlockLimit(guest, u)).toBe(MEMLOCK_BYTES)
      const { container } = await holdGroup(u, g.group)
      const mem = await u.memAlloc(Number(MEMLOCK_BYTES + PAGE))
      await mapUnmapTwiceThenOver(
        { map: 'MAP_DMA', unmap: 'UNMAP_DMA' },
        (size) => mapDma(u, container, { vaddr: mem.addr, iova: IOVA, size }),
        () => unmapDma(u, container, IOVA, MEMLOCK_BYTES),
      )
    })

    // iommufd_ioas_unmap -> iopt_unmap_iova -> iopt_unmap_iova_range -> iopt_area_unfill_domains
    // -> __iopt_area_unfill_domain -> update_unpinned -> do_update_pinned -> decr_user_locked_vm
    // gives the pages back to the user's locked_vm (IOPT_PAGES_ACCOUNT_USER: the mapper lacks
    // CAP_IPC_LOCK, iopt_alloc_pages). Without it the second IOAS_MAP's incr_user_locked_vm
    // ("new_pages > lock_limit") is -ENOMEM.
    test('iommufd IOAS_UNMAP gives the locked memory back: a user without CAP_IPC_LOCK maps its whole RLIMIT_MEMLOCK, unmaps it, and maps it again', async ({ guest, skip, requireConfig, nodes, castPart }) => {
      requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
      const dev = castPart('singletonGroup')
      const cdev = await cdevGivenTo(guest, nodes, dev, USER_A)
      const u = await ioasAgent(guest, cdev, { ...USER_A, caps: 'none', label: 'user', memlockKiB: MEMLOCK_KIB })
      expect(await memlockLimit(guest, u.a)).toBe(MEMLOCK_BYTES)
      const mem = await u.a.memAlloc(Number(MEMLOCK_BYTES + PAGE))
      await mapUnmapTwiceThenOver(
        { map: 'IOAS_MAP', unmap: 'IOAS_UNMAP' },
        (size) => ioasMap(u.a, u.ictx, { ioasId: u.ioasId, userVa: mem.addr, iova: IOVA, length: size }),
        () => ioasUnmap(u.a, u.ictx, u.ioasId, IOVA, MEMLOCK_BYTES),
      )
    })

    // The same through an iommufd given to the group as its container (iommufd's VFIO
    // compat): iommufd_vfio_unmap_dma -> iopt_unmap_iova -> ... -> do_update_pinned ->
    // decr_user_locked_vm (an iommufd opened as /dev/iommu accounts per user here too,
    // iommufd_fops_open); the next MAP_DMA's incr_user_locked_vm ("new_pages > lock_limit") is
    // -ENOMEM without it.
    test('group + iommufd: UNMAP_DMA gives the locked memory back: a user without CAP_IPC_LOCK maps its whole RLIMIT_MEMLOCK, unmaps it, and maps it again', async ({ guest, nodes, castPart, requireConfig }) => {
      requireConfig('IOMMUFD')
      const dev = castPart('singletonGroup')
      const g = await guest.vfioGroup(dev)
      await nodes.give(groupPath(g.group), USER_A)
      await nodes.give(IOMMUFD_PATH, USER_A)
      const u = await guest.agent({ ...USER_A, caps: 'none', label: 'user', memlockKiB: MEMLOCK_KIB })
      expect(await memlockLimit(guest, u)).toBe(MEMLOCK_BYTES)
      const iommufd = must(await openIommufd(u), `open ${IOMMUFD_PATH}`)
      const group = must(await openGroup(u, g.group), `open group ${g.group}`)
      must(await setContainer(u, group, iommufd), 'SET_CONTAINER(iommufd)')
      must(await setIommu(u, iommufd), 'SET_IOMMU(TYPE1v2) on the iommufd')
      must(await getDeviceFd(u, group, g.bdf(dev)), 'GET_DEVICE_FD')
      const mem = await u.memAlloc(Number(MEMLOCK_BYTES + PAGE))
      await mapUnmapTwiceThenOver(
        { map: 'MAP_DMA', unmap: 'UNMAP_DMA' },
        (size) => mapDma(u, iommufd, { vaddr: mem.addr, iova: IOVA, size }),
        () => unmapDma(u, iommufd, IOVA, MEMLOCK_BYTES),
      )
    })
  },
  { oncePerKernel: true, qemuIndependent: true },
)
