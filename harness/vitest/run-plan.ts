// What a run covers: kernels x topologies x vIOMMU models, from the run's options
// (harness/vitest/run-options.ts).
import { TOPOLOGIES, type IommuModel, type Topology } from '../../guests/topologies/index.js'
import { splitKernelEntry } from '../kernel/resolve.js'
import { UsageError } from '../util/errors.js'
import type { RunOptions } from './run-options.js'

export type Combo = { topology: Topology; iommu: IommuModel }

export interface RunPlan {
  kernels: string[]
  combos: Combo[]
  runDir: string
}

/**
 * The models a topology can run under: those it runs under by default (`iommus`) and those it
 * has measured group expectations for (`expectedGroups`, e.g. intel-iommu-sm on default), which
 * run only where a kernel entry's "@model" list or --iommu names them.
 */
export function topologyModels(t: Topology): IommuModel[] {
  return [...new Set([...t.iommus, ...(Object.keys(t.expectedGroups) as IommuModel[])])]
}

/**
 * The vIOMMU models of one topology for one kernel entry: --iommu when given (every topology),
 * else the topology's defaults; an entry's "@model" list picks from the topology's models
 * (topologyModels), in the entry's order, so "SPEC@intel-iommu-sm" runs scalable mode on default
 * without --iommu. The order matters: suites that run once per kernel and QEMU (the ownership
 * model, the kernel's selftests) run on a kernel's first guest of the default topology on each QEMU.
 */
export function modelsFor(t: Topology, only: readonly IommuModel[] | undefined, iommus?: readonly IommuModel[]): IommuModel[] {
  if (iommus) return iommus.filter((m) => !only || only.includes(m))
  if (!only) return [...t.iommus]
  const can = topologyModels(t)
  return only.filter((m) => can.includes(m))
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

/**
 * The guests of one kernel entry of the plan: each topology (the entry's own "@topology=" list,
 * else the run's) under the entry's models (modelsFor).
 */
export function entryCombos(plan: RunPlan, opts: Pick<RunOptions, 'topologies' | 'iommus'>, entry: string): Combo[] {
  const { iommus: only, topologies } = splitKernelEntry(entry)
  if (!only && !topologies) return plan.combos
  const out: Combo[] = []
  for (const name of topologies ?? opts.topologies) {
    const topology = TOPOLOGIES[name]
    if (!topology) throw new UsageError(`kernel entry ${entry}: unknown topology "${name}" (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
    for (const iommu of modelsFor(topology, only, opts.iommus)) out.push({ topology, iommu })
  }
  return out
}
