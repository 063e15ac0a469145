// Who may use VFIO: device node ownership (changed by root through guest.run, always put back)
// and the few iommufd/cdev ioctls the privilege and mdev suites need, one ioctl per function
// returning the raw SysResult (so that a suite asserts the exact errno).
//
// The iommufd calls are written here on purpose (not shared with harness/vfio/iommufd.ts):
// VFIO_DEVICE_BIND_IOMMUFD / VFIO_DEVICE_ATTACH_IOMMUFD_PT on a device cdev
// (drivers/vfio/device_cdev.c), IOMMU_IOAS_ALLOC / IOMMU_IOAS_MAP on /dev/iommu
// (drivers/iommu/iommufd/ioas.c).
import type { GuestAgent, SysResult } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { decode, encode } from '../uapi/struct.js'
import {
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  iommu_ioas_alloc,
  iommu_ioas_map,
} from '../uapi/iommufd.js'
import { VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD, vfio_device_attach_iommufd_pt, vfio_device_bind_iommufd } from '../uapi/vfio.js'

export const IOMMUFD_PATH = '/dev/iommu'

// ---- device nodes ----

export interface NodeStat {
  /** Permission bits, e.g. 0o600. */
  mode: number
  uid: number
  gid: number
  /** stat's %F, e.g. "character special file". */
  type: string
}

/** stat(1) of a node in the guest (busybox stat -c). */
export async function statNode(guest: GuestSession, path: string): Promise<NodeStat> {
  const out = (await guest.run(`stat -c '%a %u %g %F' ${path}`)).trim()
  const m = /^([0-7]+) (\d+) (\d+) (.+)$/.exec(out)
  if (!m) throw new HarnessError(`${HARNESS_ERROR_TAG} stat ${path}: unexpected output ${JSON.stringify(out)}`)
  return { mode: parseInt(m[1]!, 8), uid: Number(m[2]), gid: Number(m[3]), type: m[4]! }
}

/**
 * Gives a node to a user (chown uid:gid and/or chmod, as root) and returns what puts it back
 * exactly as it was. Plumbing: a failure is ERROR.
 */
export async function giveNode(guest: GuestSession, path: string, to: { uid?: number; gid?: number; mode?: number }): Promise<() => Promise<void>> {
  const before = await statNode(guest, path)
  const cmds: string[] = []
  if (to.uid !== undefined || to.gid !== undefined) cmds.push(`chown ${to.uid ?? before.uid}:${to.gid ?? to.uid ?? before.gid} ${path}`)
  if (to.mode !== undefined) cmds.push(`chmod ${to.mode.toString(8)} ${path}`)
  if (cmds.length) await guest.run(cmds.join(' && '))
  return async () => {
    // The node may be gone (e.g. an mdev removed by the test): nothing to restore then.
    await guest.run(`[ -e ${path} ] || exit 0; chown ${before.uid}:${before.gid} ${path} && chmod ${before.mode.toString(8)} ${path}`)
  }
}

/** A guest PCI device's VFIO cdev (/dev/vfio/devices/vfioN), read from its sysfs vfio-dev directory. */
export async function pciCdev(guest: GuestSession, bdf: string): Promise<string> {
  const n = (await guest.run(`ls /sys/bus/pci/devices/${bdf}/vfio-dev 2>/dev/null`)).trim()
  if (!/^vfio\d+$/.test(n)) throw new HarnessError(`${HARNESS_ERROR_TAG} ${bdf}: no vfio-dev/vfioN in sysfs (is it on vfio-pci?)`)
  await guest.run(`for i in $(seq 50); do [ -e /dev/vfio/devices/${n} ] && exit 0; sleep 0.1; done; echo "/dev/vfio/devices/${n} never appeared" >&2; exit 1`)
  return `/dev/vfio/devices/${n}`
}

/** The agent's soft RLIMIT_MEMLOCK in bytes (from /proc/PID/limits), or undefined when unlimited. */
export async function memlockLimit(guest: GuestSession, a: GuestAgent): Promise<bigint | undefined> {
  const line = (await guest.run(`grep '^Max locked memory' /proc/${a.pid}/limits`)).trim()
  const soft = line.replace(/^Max locked memory\s+/, '').split(/\s+/)[0]
  if (soft === 'unlimited') return undefined
  if (!soft || !/^\d+$/.test(soft)) throw new HarnessError(`${HARNESS_ERROR_TAG} /proc/${a.pid}/limits: unexpected line ${JSON.stringify(line)}`)
  return BigInt(soft)
}

// ---- iommufd and the device cdev ----

export const openIommufd = (a: GuestAgent) => a.open(IOMMUFD_PATH, ['O_RDWR', 'O_CLOEXEC'])
export const openCdev = (a: GuestAgent, path: string) => a.open(path, ['O_RDWR', 'O_CLOEXEC'])

/** VFIO_DEVICE_BIND_IOMMUFD on a cdev fd; `devid` is out_devid when it succeeded. */
export async function bindIommufd(a: GuestAgent, device: number, iommufd: number): Promise<SysResult & { devid?: number }> {
  const r = await a.ioctl(device, VFIO_DEVICE_BIND_IOMMUFD, encode(vfio_device_bind_iommufd, { iommufd }))
  return { ...r, devid: r.errno ? undefined : decode(vfio_device_bind_iommufd, r.data!).out_devid }
}

/** IOMMU_IOAS_ALLOC; `ioasId` is out_ioas_id when it succeeded. */
export async function ioasAlloc(a: GuestAgent, iommufd: number): Promise<SysResult & { ioasId?: number }> {
  const r = await a.ioctl(iommufd, IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc))
  return { ...r, ioasId: r.errno ? undefined : decode(iommu_ioas_alloc, r.data!).out_ioas_id }
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT; `ptId` is what the kernel wrote back (the hwpt for an IOAS). */
export async function attachPt(a: GuestAgent, device: number, ptId: number): Promise<SysResult & { ptId?: number }> {
  const r = await a.ioctl(device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, encode(vfio_device_attach_iommufd_pt, { pt_id: ptId }))
  return { ...r, ptId: r.errno ? undefined : decode(vfio_device_attach_iommufd_pt, r.data!).pt_id }
}

/** IOMMU_IOAS_MAP at a fixed IOVA, readable and writeable. */
export function ioasMap(a: GuestAgent, iommufd: number, m: { ioasId: number; vaddr: bigint; iova: bigint | number; length: bigint | number }) {
  return a.ioctl(
    iommufd,
    IOMMU_IOAS_MAP,
    encode(iommu_ioas_map, {
      flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
      ioas_id: m.ioasId,
      user_va: m.vaddr,
      iova: m.iova,
      length: m.length,
    }),
  )
}
