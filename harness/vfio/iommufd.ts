// The iommufd path (Documentation/userspace-api/iommufd.rst, driver-api/vfio.rst "VFIO
// device cdev"): /dev/iommu, the device cdev /dev/vfio/devices/vfioN, BIND_IOMMUFD, IOAS
// and HWPT objects, ATTACH/DETACH_IOMMUFD_PT. Like legacy.ts, each function is one ioctl
// and returns the raw SysResult (plus the decoded output when it succeeded), so a suite
// asserts the exact errno; `must()` (from legacy.ts) is for the steps a test depends on.
import type { GuestAgent, SysResult } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { decode, encode } from '../uapi/struct.js'
import {
  IOMMU_DESTROY,
  IOMMU_HWPT_ALLOC,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_ALLOW_IOVAS,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  IOMMU_VFIO_IOAS,
  IOMMU_VFIO_IOAS_GET,
  iommu_destroy,
  iommu_hwpt_alloc,
  iommu_ioas_alloc,
  iommu_ioas_allow_iovas,
  iommu_ioas_iova_ranges,
  iommu_ioas_map,
  iommu_ioas_unmap,
  iommu_iova_range,
  iommu_vfio_ioas,
} from '../uapi/iommufd.js'
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfio_device_attach_iommufd_pt,
  vfio_device_bind_iommufd,
  vfio_device_detach_iommufd_pt,
} from '../uapi/vfio.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { must } from './legacy.js'

export { errnoOf } from '../agent/client.js'
export { must } from './legacy.js'

/** drivers/iommu/iommufd/main.c registers the misc device "iommu". */
export const IOMMUFD_PATH = '/dev/iommu'

export const openIommufd = (a: GuestAgent) => a.open(IOMMUFD_PATH, ['O_RDWR', 'O_CLOEXEC'])

/**
 * The device cdev of a PCI device on vfio-pci: sysfs <bdf>/vfio-dev/vfioN names the node
 * /dev/vfio/devices/vfioN (drivers/vfio/device_cdev.c vfio_device_devnode). Plumbing: a
 * device without one is a HarnessError.
 */
export async function cdevPath(guest: GuestSession, bdf: string): Promise<string> {
  const out = (await guest.exec(`ls /sys/bus/pci/devices/${bdf}/vfio-dev 2>/dev/null`)).stdout.toString().trim()
  if (!/^vfio\d+$/.test(out)) {
    throw new HarnessError(`${HARNESS_ERROR_TAG} ${guest.target.key}: ${bdf} has no vfio-dev/vfioN in sysfs (got ${JSON.stringify(out)}); is it on vfio-pci?`)
  }
  // devtmpfs creates the node right after the sysfs entry; wait for it briefly.
  await guest.run(`for i in $(seq 50); do [ -e /dev/vfio/devices/${out} ] && exit 0; sleep 0.1; done; echo "/dev/vfio/devices/${out} never appeared" >&2; exit 1`)
  return `/dev/vfio/devices/${out}`
}

export const openCdev = (a: GuestAgent, path: string) => a.open(path, ['O_RDWR', 'O_CLOEXEC'])

/** VFIO_DEVICE_BIND_IOMMUFD; `devid` is the kernel's out_devid when it succeeded. */
export async function bindIommufd(
  a: GuestAgent,
  devfd: number,
  iommufd: number,
  opts: { flags?: number; argsz?: number } = {},
): Promise<SysResult & { devid?: number }> {
  const r = await a.ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, encode(vfio_device_bind_iommufd, { flags: opts.flags ?? 0, iommufd, ...(opts.argsz !== undefined ? { argsz: opts.argsz } : {}) }))
  return { ...r, devid: r.errno ? undefined : decode(vfio_device_bind_iommufd, r.data!).out_devid }
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT; `ptId` is the pt_id the kernel wrote back (the HWPT actually attached). */
export async function attachPt(a: GuestAgent, devfd: number, ptId: number, opts: { flags?: number } = {}): Promise<SysResult & { ptId?: number }> {
  const r = await a.ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, encode(vfio_device_attach_iommufd_pt, { flags: opts.flags ?? 0, pt_id: ptId }))
  return { ...r, ptId: r.errno ? undefined : decode(vfio_device_attach_iommufd_pt, r.data!).pt_id }
}

export const detachPt = (a: GuestAgent, devfd: number) => a.ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, encode(vfio_device_detach_iommufd_pt))

/** IOMMU_IOAS_ALLOC. */
export async function ioasAlloc(a: GuestAgent, iommufd: number): Promise<SysResult & { ioasId?: number }> {
  const r = await a.ioctl(iommufd, IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc))
  return { ...r, ioasId: r.errno ? undefined : decode(iommu_ioas_alloc, r.data!).out_ioas_id }
}

/**
 * IOMMU_VFIO_IOAS: get, set or clear the IOAS that the VFIO compatibility paths (a group's
 * SET_CONTAINER with an iommufd, iommufd's /dev/vfio/vfio) use (iommufd/vfio_compat.c
 * iommufd_vfio_ioas). GET returns the id in `ioasId`.
 */
export async function vfioIoas(a: GuestAgent, iommufd: number, op: number, ioasId = 0): Promise<SysResult & { ioasId?: number }> {
  const r = await a.ioctl(iommufd, IOMMU_VFIO_IOAS, encode(iommu_vfio_ioas, { ioas_id: ioasId, op }))
  return { ...r, ioasId: r.errno || op !== IOMMU_VFIO_IOAS_GET ? undefined : decode(iommu_vfio_ioas, r.data!).ioas_id }
}

/** IOMMU_DESTROY of any object id. */
export const destroy = (a: GuestAgent, iommufd: number, id: number) => a.ioctl(iommufd, IOMMU_DESTROY, encode(iommu_destroy, { id }))

/** Read+write, at a fixed IOVA unless `iova` is undefined (then the kernel picks one). */
export const MAP_RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE

/**
 * IOMMU_IOAS_MAP of `length` bytes at `userVa` (memory from agent.memAlloc). With an `iova`
 * the map is FIXED_IOVA; `iova` in the result is the IOVA the kernel used.
 */
export async function ioasMap(
  a: GuestAgent,
  iommufd: number,
  m: { ioasId: number; userVa: bigint; length: bigint | number; iova?: bigint | number; flags?: number },
): Promise<SysResult & { iova?: bigint }> {
  const flags = m.flags ?? (MAP_RW | (m.iova !== undefined ? IOMMU_IOAS_MAP_FIXED_IOVA : 0))
  const r = await a.ioctl(iommufd, IOMMU_IOAS_MAP, encode(iommu_ioas_map, { flags, ioas_id: m.ioasId, user_va: m.userVa, length: m.length, iova: m.iova ?? 0 }))
  return { ...r, iova: r.errno ? undefined : decode(iommu_ioas_map, r.data!).iova }
}

/** IOMMU_IOAS_UNMAP; `unmapped` is the length the kernel reports it unmapped. */
export async function ioasUnmap(a: GuestAgent, iommufd: number, ioasId: number, iova: bigint | number, length: bigint | number): Promise<SysResult & { unmapped?: bigint }> {
  const r = await a.ioctl(iommufd, IOMMU_IOAS_UNMAP, encode(iommu_ioas_unmap, { ioas_id: ioasId, iova, length }))
  return { ...r, unmapped: r.errno ? undefined : decode(iommu_ioas_unmap, r.data!).length }
}

export interface IovaRange {
  start: bigint
  last: bigint
}

/**
 * IOMMU_IOAS_IOVA_RANGES with room for `max` ranges (in agent memory). `ranges` are the
 * allowed IOVA ranges (inclusive `last`), `numIovas` how many the kernel has in total.
 */
export async function ioasIovaRanges(
  a: GuestAgent,
  iommufd: number,
  ioasId: number,
  max = 16,
): Promise<SysResult & { ranges?: IovaRange[]; numIovas?: number; alignment?: bigint }> {
  const mem = await a.memAlloc(Math.max(4096, max * iommu_iova_range.size))
  const r = await a.ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, encode(iommu_ioas_iova_ranges, { ioas_id: ioasId, num_iovas: max, allowed_iovas: mem.addr }))
  if (r.errno) return r
  const out = decode(iommu_ioas_iova_ranges, r.data!)
  const n = Math.min(out.num_iovas, max)
  const raw = await a.memRead(mem.addr, n * iommu_iova_range.size)
  const ranges: IovaRange[] = []
  for (let i = 0; i < n; i++) {
    const e = decode(iommu_iova_range, raw.subarray(i * iommu_iova_range.size))
    ranges.push({ start: e.start, last: e.last })
  }
  return { ...r, ranges, numIovas: out.num_iovas, alignment: out.out_iova_alignment }
}

/** IOMMU_IOAS_ALLOW_IOVAS with the given ranges (inclusive `last`). */
export async function allowIovas(a: GuestAgent, iommufd: number, ioasId: number, ranges: IovaRange[]): Promise<SysResult> {
  const buf = Buffer.concat(ranges.map((x) => encode(iommu_iova_range, { start: x.start, last: x.last })))
  const mem = await a.memAlloc(Math.max(4096, buf.length))
  if (buf.length) await a.memWrite(mem.addr, buf)
  return a.ioctl(iommufd, IOMMU_IOAS_ALLOW_IOVAS, encode(iommu_ioas_allow_iovas, { ioas_id: ioasId, num_iovas: ranges.length, allowed_iovas: mem.addr }))
}

/** IOMMU_HWPT_ALLOC of a paging HWPT for device `devId` on `ptId` (an IOAS). */
export async function hwptAlloc(a: GuestAgent, iommufd: number, devId: number, ptId: number, flags = 0): Promise<SysResult & { hwptId?: number }> {
  const r = await a.ioctl(iommufd, IOMMU_HWPT_ALLOC, encode(iommu_hwpt_alloc, { flags, dev_id: devId, pt_id: ptId }))
  return { ...r, hwptId: r.errno ? undefined : decode(iommu_hwpt_alloc, r.data!).out_hwpt_id }
}

export interface OwnedCdev {
  iommufd: number
  devfd: number
  devid: number
  ioasId: number
  /** The HWPT the device ended up attached to (ATTACH writes back the auto domain's id). */
  hwptId: number
  cdev: string
}

/**
 * A device "owned" through the cdev path, for tests that need that state: open /dev/iommu
 * and the device's cdev, BIND_IOMMUFD (this is where the kernel claims DMA ownership of the
 * group for the iommufd context: iommufd_device_bind -> iommu_device_claim_dma_owner),
 * IOAS_ALLOC and ATTACH_IOMMUFD_PT to that IOAS. The device must already be on vfio-pci.
 * Pass `iommufd` to bind into an existing context.
 */
export async function ownCdev(a: GuestAgent, guest: GuestSession, nodeId: string, opts: { iommufd?: number; ioasId?: number } = {}): Promise<OwnedCdev> {
  const bound = await bindCdev(a, guest, nodeId, opts)
  const at = await attachPt(a, bound.devfd, bound.ioasId)
  must(at, `VFIO_DEVICE_ATTACH_IOMMUFD_PT (${nodeId} to IOAS ${bound.ioasId})`)
  return { ...bound, hwptId: at.ptId! }
}

/** ownCdev's steps up to the ATTACH: the cdev bound to an iommufd, with an IOAS (new, or `ioasId`) not yet attached. */
export async function bindCdev(a: GuestAgent, guest: GuestSession, nodeId: string, opts: { iommufd?: number; ioasId?: number } = {}): Promise<Omit<OwnedCdev, 'hwptId'>> {
  const cdev = await cdevPath(guest, await guest.bdf(nodeId))
  const iommufd = opts.iommufd ?? must(await openIommufd(a), `open ${IOMMUFD_PATH}`)
  const devfd = must(await openCdev(a, cdev), `open ${cdev}`)
  const b = await bindIommufd(a, devfd, iommufd)
  must(b, `VFIO_DEVICE_BIND_IOMMUFD (${nodeId})`)
  let ioasId = opts.ioasId
  if (ioasId === undefined) {
    const io = await ioasAlloc(a, iommufd)
    must(io, 'IOMMU_IOAS_ALLOC')
    ioasId = io.ioasId!
  }
  return { iommufd, devfd, devid: b.devid!, ioasId, cdev }
}
