// What a run covers: kernels x topologies x vIOMMU models, from the CLI (through the
// environment, since vitest runs the suites) or from defaults.
import path from 'node:path'
import { DEFAULT_TOPOLOGIES, TOPOLOGIES, type IommuModel, type Topology } from '../../guests/topologies/index.js'
import { kernelSpecsFromEnv, TEST_KERNELS } from '../kernel/resolve.js'
import { UsageError } from '../util/errors.js'

export interface RunPlan {
  kernels: string[]
  combos: Array<{ topology: Topology; iommu: IommuModel }>
  runDir: string
}

export function runPlanFromEnv(): RunPlan {
  const kernels = kernelSpecsFromEnv(TEST_KERNELS)
  const topoNames = (process.env.VFIO_CONFORM_TOPOLOGIES ?? DEFAULT_TOPOLOGIES.join(',')).split(/[\s,]+/).filter(Boolean)
  const iommuOverride = process.env.VFIO_CONFORM_IOMMUS?.split(/[\s,]+/).filter(Boolean) as IommuModel[] | undefined
  const combos: RunPlan['combos'] = []
  for (const name of topoNames) {
    const topology = TOPOLOGIES[name]
    if (!topology) throw new UsageError(`unknown topology "${name}" (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    // Every vIOMMU model the topology is meant for (kselftest's FIXTURE_VARIANT as data); a
    // kernel that cannot drive one SKIPs it with the missing option (global setup).
    for (const iommu of iommuOverride ?? topology.iommus) combos.push({ topology, iommu })
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const runDir = path.resolve(process.env.VFIO_CONFORM_RUN_DIR ?? path.join('vfio-conform-results', stamp))
  return { kernels, combos, runDir }
}
