// What a run covers: kernels x topologies x vIOMMU models, from the run's options
// (harness/vitest/run-options.ts).
import { TOPOLOGIES, type IommuModel, type Topology } from '../../guests/topologies/index.js'
import { UsageError } from '../util/errors.js'
import type { RunOptions } from './run-options.js'

export interface RunPlan {
  kernels: string[]
  combos: Array<{ topology: Topology; iommu: IommuModel }>
  runDir: string
}

export function runPlan(opts: RunOptions): RunPlan {
  const combos: RunPlan['combos'] = []
  for (const name of opts.topologies) {
    const topology = TOPOLOGIES[name]
    if (!topology) throw new UsageError(`unknown topology "${name}" (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    // Every vIOMMU model the topology is meant for (kselftest's FIXTURE_VARIANT as data); a
    // kernel that cannot drive one SKIPs it with the missing option (global setup).
    for (const iommu of opts.iommus ?? topology.iommus) combos.push({ topology, iommu })
  }
  return { kernels: opts.kernels, combos, runDir: opts.runDir }
}
