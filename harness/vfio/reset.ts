// PCI resets through a VFIO device fd (include/uapi/linux/vfio.h; drivers/vfio/pci/vfio_pci_core.c):
// VFIO_DEVICE_RESET (the device's own function reset), VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (who
// a slot or bus reset would reach) and VFIO_DEVICE_PCI_HOT_RESET (do it, proving ownership of
// every device it reaches: their group fds, or an empty array from a cdev bound to iommufd).
// Each function is one ioctl and returns the raw SysResult plus what it decoded.
import type { GuestAgent, SysResult } from '../agent/client.js'
import { decode, encode } from '../uapi/struct.js'
import {
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  vfio_pci_dependent_device,
  vfio_pci_hot_reset,
  vfio_pci_hot_reset_info,
} from '../uapi/vfio.js'

/** One entry of the hot-reset info: the device's BDF and either its group id or its dev id. */
export interface DependentDevice {
  bdf: string
  /** group_id (legacy) or devid (cdev, VFIO_PCI_HOT_RESET_FLAG_DEV_ID): the same u32 field. */
  id: number
}

export interface HotResetInfo extends SysResult {
  flags?: number
  /** The kernel's count: on ENOSPC, how many entries it needs. */
  count?: number
  devices?: DependentDevice[]
}

/** "0000:01:00.1" from a dependent device's segment, bus and devfn. */
export function bdfOf(segment: number, bus: number, devfn: number): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0')
  return `${hex(segment, 4)}:${hex(bus, 2)}:${hex(devfn >> 3, 2)}.${devfn & 7}`
}

/**
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO with room for `room` entries (argsz = header + room x 8).
 * `count` is decoded on success and on ENOSPC (the kernel writes the header back then).
 */
export async function hotResetInfo(a: GuestAgent, devfd: number, room = 8): Promise<HotResetInfo> {
  const tail = Buffer.alloc(room * vfio_pci_dependent_device.size)
  const r = await a.ioctl(devfd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encode(vfio_pci_hot_reset_info, {}, { tail }))
  if (r.errno && r.errno !== 'ENOSPC') return r
  const hdr = decode(vfio_pci_hot_reset_info, r.data!)
  if (r.errno) return { ...r, count: hdr.count }
  const devices: DependentDevice[] = []
  for (let i = 0; i < hdr.count; i++) {
    const e = decode(vfio_pci_dependent_device, r.data!.subarray(vfio_pci_hot_reset_info.size + i * vfio_pci_dependent_device.size))
    devices.push({ bdf: bdfOf(e.segment, e.bus, e.devfn), id: e.group_id >>> 0 })
  }
  return { ...r, flags: hdr.flags, count: hdr.count, devices }
}

/**
 * VFIO_DEVICE_PCI_HOT_RESET with these group fds (legacy; an empty list is the cdev form).
 * `count` and `flags` override what the header says (argument-rule tests).
 */
export function hotReset(a: GuestAgent, devfd: number, groupFds: number[], opts: { count?: number; flags?: number } = {}): Promise<SysResult> {
  const tail = Buffer.alloc(groupFds.length * 4)
  groupFds.forEach((fd, i) => tail.writeInt32LE(fd, i * 4))
  const hdr = encode(vfio_pci_hot_reset, { count: opts.count ?? groupFds.length, flags: opts.flags ?? 0 }, { tail })
  return a.ioctl(devfd, VFIO_DEVICE_PCI_HOT_RESET, hdr)
}

/** VFIO_DEVICE_RESET: no argument. */
export const deviceReset = (a: GuestAgent, devfd: number) => a.ioctl(devfd, VFIO_DEVICE_RESET)
