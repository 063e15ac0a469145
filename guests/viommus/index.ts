// The vIOMMU models, one record each. Everything that lists or switches on models derives
// from VIOMMU_LIST: adding a model is one record file, one line here, and its measured
// expectations in the topologies (guests/topologies/).
import { amdIommu } from './amd-iommu.js'
import { intelIommu } from './intel-iommu.js'
import { intelIommuFs } from './intel-iommu-fs.js'
import { intelIommuSm } from './intel-iommu-sm.js'
import { noViommu } from './none.js'
import { virtioIommu } from './virtio-iommu.js'
import { virtioIommu64k } from './virtio-iommu-64k.js'
import type { ViommuRecord } from './types.js'
export type * from './types.js'

/** Every model, in the order lists and help texts show them. */
export const VIOMMU_LIST = [intelIommu, virtioIommu, amdIommu, noViommu, intelIommuSm, intelIommuFs, virtioIommu64k] as const

export type IommuModel = (typeof VIOMMU_LIST)[number]['name']

/** Model name -> record. */
export const VIOMMUS = Object.fromEntries(VIOMMU_LIST.map((m) => [m.name, m])) as Record<IommuModel, ViommuRecord>

/** Every model's name. */
export const IOMMU_MODELS: IommuModel[] = VIOMMU_LIST.map((m) => m.name)

/** The smallest IOMMU page a model offers (its record's iommuPageSize; 4 KiB unless it says). */
export function iommuPageSize(model: IommuModel): number {
  return VIOMMUS[model].iommuPageSize ?? 0x1000
}

export function isIommuModel(name: string): name is IommuModel {
  return (IOMMU_MODELS as string[]).includes(name)
}

/** The admin's override on platforms without MSI isolation; init applies module.param= args. */
export const UNSAFE_INTERRUPTS_ARGS = ['vfio_iommu_type1.allow_unsafe_interrupts=1', 'iommufd.allow_unsafe_interrupts=1']
