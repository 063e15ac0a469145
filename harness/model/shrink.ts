// Shrinking a diverging sequence: delta debugging over its operations on the real guest, and
// the model's own shortest way to the diverging step.
import type { GuestSession } from '../guest/session.js'
import { applicable, describeOp, initialState, next, predict, type ModelKernel, type ModelState, type Op } from './ownership.js'
import type { ModelTarget } from './real-system.js'
import { Divergence, runSequence, type StepLog } from './runner.js'

/**
 * Delta debugging over a list: deletes halves, quarters, ... single items (never the last
 * one, the diverging step), keeping a deletion when `test` still says "diverges" (and
 * returns the list it actually ran, which may be shorter: skipped or cut-off steps).
 */
async function ddmin<T>(start: T[], test: (candidate: T[]) => Promise<T[] | undefined>, deadline: number): Promise<T[]> {
  let best = start
  for (let size = Math.max(1, best.length >> 1); ; size = Math.max(1, size >> 1)) {
    let progress = false
    // From the end: late operations are the likeliest to be incidental to an early divergence.
    for (let i = best.length - 1 - size; i >= 0 && Date.now() < deadline; i--) {
      const got = await test([...best.slice(0, i), ...best.slice(i + size)])
      if (got && got.length < best.length) {
        best = got
        progress = true
        i = Math.min(i, best.length - 1 - size) + 1
      }
    }
    if (Date.now() >= deadline || (size === 1 && !progress)) break
  }
  return best
}

/** The model's own answers to `ops` (those it can issue), as step logs, and its state after. */
export function modelTrace(k: ModelKernel, ops: Op[]): { steps: StepLog[]; state: ModelState } {
  let s = initialState(k)
  const steps: StepLog[] = []
  for (const o of ops) {
    if (!applicable(s, k, o)) continue
    const p = predict(s, o)
    steps.push({ op: o, expected: p.errno, actual: p.errno, rule: p.rule })
    s = next(s, o, p.errno)
  }
  return { steps, state: s }
}

/**
 * The shortest subsequence, by the model alone, after which the diverging operation can
 * still be issued with the same expected answer: the shortest way the model knows to the
 * step where the kernel answered otherwise.
 */
export function modelPath(k: ModelKernel, failing: StepLog[]): Promise<StepLog[]> {
  const last = failing.at(-1)!
  const test = async (candidate: StepLog[]) => {
    const { steps, state } = modelTrace(
      k,
      candidate.slice(0, -1).map((x) => x.op),
    )
    if (!applicable(state, k, last.op) || predict(state, last.op).errno !== last.expected) return undefined
    return [...steps, last]
  }
  return ddmin(failing, test, Number.POSITIVE_INFINITY)
}

export interface Shrunk {
  /** The shortest sequence that diverged the same way on the guest. */
  steps: StepLog[]
  attempts: number
  /**
   * False when the failing sequence, run again at once, did not diverge the same way: the
   * first divergence changed the kernel's state (a mutant can leave a group broken), so
   * shorter sequences cannot be confirmed on this boot; `modelPath` is then the model's
   * shortest way to the same step, to be tried on a fresh boot.
   */
  reproducible: boolean
  modelPath?: StepLog[]
}

/**
 * Shrinks a diverging sequence on the real guest by deleting operations (delta debugging).
 * Works on the operations, not on fast-check's choices: deleting one choice re-maps every
 * later choice to another operation, so fast-check's own shrinking of the choice list mostly
 * produces unrelated sequences (measured: 15 shrinks in 120 s left 23 steps). An operation
 * that a deletion makes impossible (its fd no longer exists) is skipped by runSequence. Only
 * the same divergence counts (the same operation, expected and actual answer): a mutant can
 * leave the guest broken for later sequences (unset-container-busy: the group's container
 * count goes wrong), and a divergence that damage causes is not the counterexample. The
 * model's own shortest path to the diverging step is tried first.
 */
export async function shrinkOps(guest: GuestSession, k: ModelKernel, t: ModelTarget, failing: StepLog[], deadline: number): Promise<Shrunk> {
  let attempts = 0
  const last = failing.at(-1)!
  const same = (x: StepLog) => describeOp(x.op) === describeOp(last.op) && x.expected === last.expected && x.actual === last.actual
  const tryOps = async (ops: Op[]): Promise<StepLog[] | undefined> => {
    attempts++
    try {
      await runSequence(guest, k, t, ops)
      return undefined
    } catch (e) {
      if (e instanceof Divergence) return same(e.steps.at(-1)!) ? e.steps : undefined
      throw e
    }
  }
  const path = await modelPath(k, failing)
  const again = await tryOps(failing.map((x) => x.op))
  if (!again) return { steps: failing, attempts, reproducible: false, modelPath: path }
  const start = (await tryOps(path.map((x) => x.op))) ?? again
  const steps = await ddmin(start, (candidate) => tryOps(candidate.map((x) => x.op)), deadline)
  return { steps, attempts, reproducible: true }
}
