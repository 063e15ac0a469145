// How much of the ownership model a run checks: sequences and their length (the suite's test,
// `vfio-conform model --runs/--steps/--seed`, the main job's share).

export interface ModelBudget {
  /** Sequences per run. */
  runs: number
  /** Operations per sequence, at most. */
  steps: number
  seed?: number
  /** Stop shrinking after this long and report the shortest found so far. */
  shrinkMs?: number
}

/**
 * What `npm test` spends per guest: 60 sequences of up to 64 steps (31 on average). On the
 * model alone (bench/model-odds.ts, 3000 samples), each ci/mutations patch's diverging step
 * is in at least 8.4% of sequences: a run of 60 misses one with odds under 0.6%.
 */
export const NPM_TEST_BUDGET: ModelBudget = { runs: 60, steps: 64 }

/**
 * The main job's share (`vfio-conform run` with no kernel given: the first look, whose wall
 * time is the intel guest's): 20 sequences, about 20 s instead of 60 (measured: the main job
 * took 148 s with 60, against 76–85 s before the model had DMA). Each mutation's odds are
 * then 83% or more; `npm test`, `vfio-conform model` and ci/mutations run the whole budget.
 */
export const MAIN_JOB_MODEL_RUNS = 20
