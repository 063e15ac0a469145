// The ordinary host driver the suites and the ownership model give a device to, to see whether
// the kernel lets a host driver into a group userspace owns.
import type { GuestAgent } from '../agent/client.js'

/**
 * Takes any device offered through driver_override (edu has no driver of its own) and is not
 * driver_managed_dma, so its probe goes through iommu_device_use_default_domain. Not pci-stub:
 * that one is driver_managed_dma (drivers/pci/pci-stub.c) and binds into a held group.
 */
export const HOST_DRIVER = 'uio_pci_generic'

/** The name of the driver a PCI device is bound to, or undefined. */
export async function driverOf(a: GuestAgent, bdf: string): Promise<string | undefined> {
  return (await a.readlink(`/sys/bus/pci/devices/${bdf}/driver`)).target?.split('/').pop()
}
