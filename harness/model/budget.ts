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
 * The whole budget per guest (`vfio-conform model`, `vfio-conform run --kernel ...`,
 * ci/mutations): 60 sequences of up to 64 steps (31 on average), 12 of them on the reset pair
 * where the topology has one (RESET_PAIR_SHARE). On the model alone (bench/model-odds.ts, 3000
 * samples), each ci/mutations patch's diverging step is in at least 8.4% of sequences: the 48
 * on the multi-device group miss one with odds under 1.5%; the hot-reset patch's step is in
 * 26.5% of the pair's, the 12 miss it with odds of 2.5%.
 */
export const FULL_MODEL_BUDGET: ModelBudget = { runs: 60, steps: 64 }

/**
 * `npm test`'s share (plain vitest: the README's test command and .ci/run): 40 sequences, 8 of
 * them on the reset pair. The model test is npm test's longest file (4 kernels, its wall time
 * that of the slowest guest: 98 s of guest time on conform 7.2 with 60 and seed 20261207,
 * measured 2026-12-07), and with random seeds its length varied by 40 s from run to run; at 40
 * the weakest patch's odds per run are 91.5% (hot-reset-dev-set-model) and the others' 94% or
 * more (bench/model-odds.ts 3000 40). ci/mutations and `vfio-conform model` run the whole budget.
 */
export const NPM_TEST_MODEL_RUNS = 40

/**
 * The main job's share (`vfio-conform run` with no kernel given: the first look, whose wall
 * time is the intel guest's): 20 sequences, about 20 s instead of 60 (measured: the main job
 * took 148 s with 60, against 76–85 s before the model had DMA). Each mutation's odds are
 * then 75% or more (16 sequences on the group, 4 on the reset pair; 83% before the pair took
 * its share); `npm test`, `vfio-conform model` and ci/mutations run the whole budget.
 */
export const MAIN_JOB_MODEL_RUNS = 20

/**
 * Where the topology's reset set is two devices of one group (the default topology's rp-mix
 * pair), one sequence in this many runs there (hot resets, no DMA) instead of on the
 * multi-device group: the run's total stays the budget's.
 */
export const RESET_PAIR_SHARE = 5

/** The sequences of a run of `runs` that go to the reset pair. */
export const resetPairRuns = (runs: number): number => Math.max(1, Math.round(runs / RESET_PAIR_SHARE))
