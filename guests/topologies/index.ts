import { defaultTopology } from './default.js'
import { igbTopology } from './igb.js'
import { noiommuTopology } from './noiommu.js'
import type { Topology } from './types.js'
export * from './types.js'
export { IOMMU_MODELS, isIommuModel, UNSAFE_INTERRUPTS_ARGS, VIOMMU_LIST, VIOMMUS } from '../viommus/index.js'

export const TOPOLOGIES: Record<string, Topology> = {
  [defaultTopology.name]: defaultTopology,
  [noiommuTopology.name]: noiommuTopology,
  [igbTopology.name]: igbTopology,
}
export const DEFAULT_TOPOLOGY = defaultTopology.name
/** What a run covers when no topology is named. */
export const DEFAULT_TOPOLOGIES = [defaultTopology.name, noiommuTopology.name]
