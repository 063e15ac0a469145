import { defaultTopology } from './default.js'
import type { Topology } from './types.js'
export * from './types.js'

export const TOPOLOGIES: Record<string, Topology> = {
  [defaultTopology.name]: defaultTopology,
}
export const DEFAULT_TOPOLOGY = defaultTopology.name
