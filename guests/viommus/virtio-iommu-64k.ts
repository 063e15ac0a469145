import { virtioIommu } from './virtio-iommu.js'
import { defineViommu } from './types.js'

/**
 * QEMU's virtio-iommu-pci with a 64 KiB granule: the device's config page_size_mask is
 * -64 KiB. QEMU 9.0 added the granule property (hw/virtio/virtio-iommu.c
 * virtio_iommu_device_realize: 4k/8k/16k/64k/host -> config.page_size_mask, default host;
 * hw/core/machine.c hw_compat_8_2 pins 4k for older machine types); 7.2 has none, so its
 * guests SKIP naming the version. An x86_64 guest has 4 KiB pages, and Linux's driver
 * refuses a granule larger than PAGE_SIZE (iommuPageSize; measured: docs/findings.md).
 */
export const virtioIommu64k = defineViommu({
  ...virtioIommu,
  name: 'virtio-iommu-64k',
  description: 'virtio-iommu-pci (ACPI VIOT) with a 64 KiB granule, no MSI isolation',
  qemuDevice: 'virtio-iommu-pci,addr=1e.0,granule=64k',
  minQemu: 900,
  iommuPageSize: 0x10000,
  limits: [],
})
