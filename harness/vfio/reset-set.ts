// Devices of a topology made ready for reset tests: put on vfio-pci (or deliberately not), their
// groups opened through the legacy path by one agent, and device fds taken. Works the same
// with a vIOMMU and in no-IOMMU mode, where every device bound to vfio-pci gets a group of its
// own named /dev/vfio/noiommu-N and the container takes VFIO_NOIOMMU_IOMMU
// (drivers/vfio/group.c vfio_group_find_or_alloc, vfio_noiommu_ops).
import type { GuestAgent } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../uapi/vfio.js'
import { HOST_DRIVER } from './host-driver.js'
import { getDeviceFd, must, openContainer, setContainer, setIommu } from './legacy.js'

export interface ResetMember {
  id: string
  bdf: string
  /** IOMMU group number; undefined for a device that has none (no-IOMMU mode, not on vfio-pci). */
  group?: number
  /** The group's node: /dev/vfio/N, or /dev/vfio/noiommu-N. */
  node?: string
}

/** What each device of the set is put on: vfio-pci (default), no driver, or the ordinary host driver. */
export type Placement = 'vfio-pci' | 'none' | typeof HOST_DRIVER

/**
 * Put each device where `place` says (vfio-pci unless named) and read back its group. Under a
 * vIOMMU a device already has its group; in no-IOMMU mode only vfio-pci gives it one.
 * Plumbing: failures are ERROR; the fixture puts every driver back after the test.
 */
export async function placeDevices(guest: GuestSession, ids: string[], place: Record<string, Placement> = {}): Promise<ResetMember[]> {
  for (const id of ids) {
    const bdf = await guest.bdf(id)
    const p = place[id] ?? 'vfio-pci'
    if (p === 'none') await guest.unbind(bdf)
    else await guest.bindDriver(bdf, p)
  }
  const scan = await guest.pciDevices()
  const out: ResetMember[] = []
  for (const id of ids) {
    const d = scan.find((x) => x.nodeId === id)!
    let node: string | undefined
    if (d.group !== undefined) {
      const name = (await guest.exec(`cat /sys/kernel/iommu_groups/${d.group}/name 2>/dev/null`)).stdout.toString().trim()
      node = name === 'vfio-noiommu' ? `/dev/vfio/noiommu-${d.group}` : `/dev/vfio/${d.group}`
      if ((place[id] ?? 'vfio-pci') === 'vfio-pci') {
        await guest.run(`for i in $(seq 50); do [ -e ${node} ] && exit 0; sleep 0.1; done; echo "${node} never appeared" >&2; exit 1`)
      }
    }
    out.push({ id, bdf: d.bdf, group: d.group, node })
  }
  return out
}

/** One agent's legacy view of some groups: one container, each group in it, device fds on demand. */
export class LegacyHold {
  private constructor(
    readonly agent: GuestAgent,
    readonly container: number,
    /** Group fd by node path. */
    readonly groups: Map<string, number>,
  ) {}

  /**
   * Open the groups of `members` (each node once), put them in one new container and set the
   * IOMMU type the groups call for (no-IOMMU groups: VFIO_NOIOMMU_IOMMU, which needs
   * CAP_SYS_RAWIO: vfio_noiommu_open).
   */
  static async open(agent: GuestAgent, members: ResetMember[]): Promise<LegacyHold> {
    const nodes = [...new Set(members.map((m) => m.node))]
    if (nodes.some((n) => !n)) throw new HarnessError(`${HARNESS_ERROR_TAG} a device to hold has no IOMMU group: ${members.filter((m) => !m.node).map((m) => m.id).join(', ')}`)
    const container = must(await openContainer(agent), 'open /dev/vfio/vfio')
    const groups = new Map<string, number>()
    for (const n of nodes as string[]) {
      const g = must(await agent.open(n, ['O_RDWR', 'O_CLOEXEC']), `open ${n}`)
      must(await setContainer(agent, g, container), `VFIO_GROUP_SET_CONTAINER (${n})`)
      groups.set(n, g)
    }
    const noiommu = (nodes as string[]).some((n) => n.includes('noiommu-'))
    must(await setIommu(agent, container, noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU), `VFIO_SET_IOMMU(${noiommu ? 'NOIOMMU' : 'TYPE1v2'})`)
    return new LegacyHold(agent, container, groups)
  }

  groupFd(m: ResetMember): number {
    const fd = this.groups.get(m.node!)
    if (fd === undefined) throw new HarnessError(`${HARNESS_ERROR_TAG} group of ${m.id} not held`)
    return fd
  }

  async deviceFd(m: ResetMember): Promise<number> {
    return must(await getDeviceFd(this.agent, this.groupFd(m), m.bdf), `VFIO_GROUP_GET_DEVICE_FD ${m.id}`)
  }
}

/**
 * Open a group node in an agent only (no container): enough to prove ownership of its
 * devices to VFIO_DEVICE_PCI_HOT_RESET (vfio_file_has_dev), and to keep others out (a group
 * opens once).
 */
export async function openGroupNode(agent: GuestAgent, m: ResetMember): Promise<number> {
  if (!m.node) throw new HarnessError(`${HARNESS_ERROR_TAG} ${m.id} has no IOMMU group`)
  return must(await agent.open(m.node, ['O_RDWR', 'O_CLOEXEC']), `open ${m.node}`)
}
