// Random multi-process sequences of ownership operations on a real guest, checked step by step
// against the model (harness/model/ownership.ts), with fast-check generating the sequences and
// shrinking a diverging one to the shortest that still diverges. Each sequence starts from a
// clean guest (its processes are gone: every fd they held is closed) so that runs are
// independent; the seed is printed, and `vfio-conform model --seed S` replays it.
//
// The parts, one job each: budget.ts (how much), generators.ts (weights and sequences),
// real-system.ts (the operations on the guest), runner.ts (one sequence against the model),
// shrink.ts (the shortest divergence); this file runs the property.
import fc from 'fast-check'
import type { GuestSession } from '../guest/session.js'
import type { ModelBudget } from './budget.js'
import { opMenu, opsOf, sequenceArb } from './generators.js'
import type { ModelKernel } from './ownership.js'
import type { ModelTarget } from './real-system.js'
import { Divergence, runSequence, type ModelStats } from './runner.js'
import { shrinkOps, type Shrunk } from './shrink.js'

export { MAIN_JOB_MODEL_RUNS, NPM_TEST_MODEL_RUNS, FULL_MODEL_BUDGET, RESET_PAIR_SHARE, resetPairRuns, type ModelBudget } from './budget.js'
export { OP_WEIGHTS, opMenu, opsOf, sequenceArb } from './generators.js'
export { MODEL_IOVA, type ModelTarget } from './real-system.js'
export { Divergence, renderSteps, runSequence, statsSummary, type ModelStats, type StepLog } from './runner.js'
export { modelPath, modelTrace, shrinkOps, type Shrunk } from './shrink.js'

export interface ModelResult {
  seed: number
  runs: number
  steps: number
  stats: ModelStats
  /** The shortest diverging sequence fast-check found, with its step log. */
  /** Found at step `found` of a random sequence, shrunk in `attempts` runs on the guest. */
  counterexample?: Shrunk & { found: number }
}

/** `budget.runs` random sequences; the first divergence is shrunk and returned. */
export async function checkModel(guest: GuestSession, k: ModelKernel, t: ModelTarget, budget: ModelBudget): Promise<ModelResult> {
  let ran = 0
  let steps = 0
  const menu = opMenu(k)
  const stats: ModelStats = { outcomes: new Map(), ms: new Map() }
  const prop = fc.asyncProperty(sequenceArb(budget.steps), async ({ choices, oneProcess }) => {
    ran++
    steps += (await runSequence(guest, k, t, opsOf(choices, k, menu, oneProcess), stats)).length
  })
  const seed = budget.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
  // fast-check generates and finds; shrinkOps shrinks (see there why not fast-check).
  const out = await fc.check(prop, { seed, numRuns: budget.runs, endOnFailure: true })
  const result: ModelResult = { seed, runs: ran, steps, stats }
  if (out.failed) {
    const err = out.errorInstance
    if (!(err instanceof Divergence)) throw err instanceof Error ? err : new Error(String(err))
    const shrunk = await shrinkOps(guest, k, t, err.steps, Date.now() + (budget.shrinkMs ?? 180_000))
    result.counterexample = { ...shrunk, found: err.steps.length }
  }
  return result
}
