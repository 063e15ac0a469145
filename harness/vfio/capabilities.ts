// What a kernel must have for a family of tests, as SKIP reasons read from its config.
import type { KernelConfig } from '../kernel/config.js'

/**
 * The legacy group/container path: VFIO + vfio-pci, groups (/dev/vfio/N) and a provider of
 * /dev/vfio/vfio (the VFIO container with type1, or iommufd's compat container). Kernels
 * before 6.2 have neither VFIO_GROUP nor VFIO_CONTAINER: groups and the container were
 * unconditional there, so an absent option is not a missing feature.
 */
export function legacyMissing(c: KernelConfig | undefined): string | undefined {
  if (!c) return 'kernel config unknown (no .config and no /proc/config.gz)'
  const base = c.missing('VFIO', 'VFIO_PCI')
  if (base) return base
  if (c.values.has('VFIO_GROUP') && !c.enabled('VFIO_GROUP')) return 'CONFIG_VFIO_GROUP not set'
  const hasContainerOpt = c.values.has('VFIO_CONTAINER')
  if (!hasContainerOpt) return c.missing('VFIO_IOMMU_TYPE1')
  if (c.enabled('VFIO_CONTAINER')) return c.missing('VFIO_IOMMU_TYPE1')
  if (c.enabled('IOMMUFD_VFIO_CONTAINER')) return undefined
  return 'CONFIG_VFIO_CONTAINER not set and CONFIG_IOMMUFD_VFIO_CONTAINER not set (no /dev/vfio/vfio)'
}
