// What a conformance run is asked to do, as one typed object. `vfio-conform run` hands it to
// vitest (`provide`); global setup completes it and provides it to the suites, which read it
// with inject('vfioConformOptions'). A plain `vitest run` has no CLI (`npm test`,
// ci/run-shard.sh): there the same options come from the environment, and runOptionsFromEnv
// is the one place a run's VFIO_CONFORM_* variables are read. Provided values cross to the
// workers as JSON: strings and numbers only.
import path from 'node:path'
import { DEFAULT_TOPOLOGIES, type IommuModel } from '../../guests/topologies/index.js'
import { TEST_KERNELS } from '../kernel/resolve.js'
import { FULL_MODEL_BUDGET, NPM_TEST_MODEL_RUNS, type ModelBudget } from '../model/budget.js'

export interface RunOptions {
  /** Kernel entries, each "SPEC" or "SPEC@model+model" (the vIOMMU models it runs under). */
  kernels: string[]
  /** Topology names (guests/topologies/). */
  topologies: string[]
  /** vIOMMU models for every topology (--iommu); undefined: each topology's own. */
  iommus?: IommuModel[]
  /** Extra kernel arguments for every guest (--kernel-arg). */
  kernelArgs: string[]
  /** Results directory of this run (console logs, verdicts.json, targets.json, reports). */
  runDir: string
  /** --repeat N: each guest's tests N times over on the same guest (1: once). */
  repeat: number
  /** --allow-flaky: patterns (RegExp sources) of tests whose FLAKY verdict does not fail the run. */
  allowFlaky: string[]
  /** The ownership model's budget (suites/ownership-model.test.ts). */
  model: ModelBudget
  /** The main job (`vfio-conform run` with no kernel and no --matrix): its own model budget. */
  mainJob: boolean
  /**
   * Run the VF-token model (suites/sriov.test.ts; tens of seconds of guest time): in CLI runs
   * (`vfio-conform run/model`, ci/mutations), not in npm test (VFIO_CONFORM_VF_TOKEN_MODEL=1 turns it on).
   */
  vfTokenModel: boolean
}

declare module 'vitest' {
  export interface ProvidedContext {
    vfioConformOptions: RunOptions
  }
}

/** Results directory name of a run started now. */
export function defaultRunDir(now = new Date()): string {
  return path.resolve('vfio-conform-results', now.toISOString().replace(/[:.]/g, '-'))
}

const list = (v: string | undefined, sep: RegExp) => v?.split(sep).filter(Boolean)

/** A whole number from the environment, undefined when unset or empty. */
function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n)) throw new Error(`${name} must be a whole number, not "${v}"`)
  return n
}

/** The ownership model's budget set in the environment (VFIO_CONFORM_MODEL_RUNS / _STEPS / _SEED), field by field. */
export function modelBudgetFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ModelBudget> {
  const out: Partial<ModelBudget> = {}
  const runs = envNumber(env, 'VFIO_CONFORM_MODEL_RUNS')
  const steps = envNumber(env, 'VFIO_CONFORM_MODEL_STEPS')
  const seed = envNumber(env, 'VFIO_CONFORM_MODEL_SEED')
  if (runs !== undefined) out.runs = runs
  if (steps !== undefined) out.steps = steps
  if (seed !== undefined) out.seed = seed
  return out
}

/**
 * A run's options from the environment, for `vitest run` without the CLI: VFIO_CONFORM_KERNELS
 * (";"-separated entries), _TOPOLOGIES and _IOMMUS (","-separated), _KERNEL_ARGS, _RUN_DIR, _REPEAT,
 * _ALLOW_FLAKY (a JSON list) and the model's budget; the test set's defaults otherwise.
 */
export function runOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RunOptions {
  return {
    kernels: list(env.VFIO_CONFORM_KERNELS, /[\s;]+/) ?? [...TEST_KERNELS],
    topologies: list(env.VFIO_CONFORM_TOPOLOGIES, /[\s,]+/) ?? [...DEFAULT_TOPOLOGIES],
    iommus: list(env.VFIO_CONFORM_IOMMUS, /[\s,]+/) as IommuModel[] | undefined,
    kernelArgs: list(env.VFIO_CONFORM_KERNEL_ARGS, /\s+/) ?? [],
    runDir: env.VFIO_CONFORM_RUN_DIR ? path.resolve(env.VFIO_CONFORM_RUN_DIR) : defaultRunDir(),
    repeat: envNumber(env, 'VFIO_CONFORM_REPEAT') ?? 1,
    allowFlaky: env.VFIO_CONFORM_ALLOW_FLAKY ? (JSON.parse(env.VFIO_CONFORM_ALLOW_FLAKY) as string[]) : [],
    model: { ...FULL_MODEL_BUDGET, runs: NPM_TEST_MODEL_RUNS, ...modelBudgetFromEnv(env) },
    mainJob: false,
    vfTokenModel: env.VFIO_CONFORM_VF_TOKEN_MODEL === '1',
  }
}
