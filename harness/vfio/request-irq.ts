// The device request interrupt: vfio-pci's way to ask the user of a device to let it go
// (the device is being removed, e.g. hot-unplugged). The user gives an eventfd for
// VFIO_PCI_REQ_IRQ_INDEX; the kernel signals it while the removal waits for the device fd to
// close (vfio_unregister_group_dev -> vfio_pci_core_request). The same ioctl works on a
// device fd from the group (legacy) and from a cdev bound to iommufd.
import type { GuestAgent, SysResult } from '../agent/client.js'
import { encode } from '../uapi/struct.js'
import {
  VFIO_DEVICE_SET_IRQS,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_PCI_REQ_IRQ_INDEX,
  vfio_irq_set,
} from '../uapi/vfio.js'

/**
 * vfio_pci_core_request (drivers/vfio/pci/vfio_pci_core.c), called by the removal's wait
 * loop in vfio_unregister_group_dev when no request eventfd is registered (count 0 only).
 */
export const NO_REQUEST_CHANNEL = /No device request channel registered, blocked until released by user/

/** VFIO_DEVICE_SET_IRQS: index REQ, start 0, count 1, data = the eventfd (an s32). */
export async function setRequestEventfd(a: GuestAgent, devfd: number, eventfd: number): Promise<SysResult> {
  const fd = Buffer.alloc(4)
  fd.writeInt32LE(eventfd)
  return a.ioctl(
    devfd,
    VFIO_DEVICE_SET_IRQS,
    encode(vfio_irq_set, { flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index: VFIO_PCI_REQ_IRQ_INDEX, start: 0, count: 1 }, { tail: fd }),
  )
}
