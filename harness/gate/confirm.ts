// Confirm before blaming: a test that FAILed once on head (gate) or on a bisect step is run K
// more times (`vfio-conform run --repeat K`, merged per test by harness/report/repeat.ts) before
// the series or the commit is held responsible. Only a failure that comes back in every one of
// the K rounds on head, and in none on base, is a regression; anything else is flaky, reported
// with its counts and not blamed. Pure: harness/cli/gate.ts and bisect-run.ts run the rounds.
import { ownName, type RoundVerdict, type TestVerdict } from '../report/verdict.js'
import { UsageError } from '../util/errors.js'
import { countsText } from '../report/repeat.js'
import { escapeRegExp } from '../util/regex.js'
import { testId, type Confirmation, type GateComparison, type TestChange } from './test-change.js'

/** Default K of `gate --confirm K` and `bisect-run --confirm K`. */
export const DEFAULT_CONFIRM = 3

/** --confirm K takes 0..CONFIRM_MAX (0: blame a single FAIL); default DEFAULT_CONFIRM. */
export const CONFIRM_MAX = 20

export { ownName }

/**
 * A --filter pattern that selects exactly these tests (by their own names) on any guest: vitest
 * matches it against "<key> [round k/N] <name>", so each name is anchored at the end.
 */
export function confirmPattern(names: readonly string[]): string {
  return [...new Set(names.map(ownName))].map((n) => `(?:${escapeRegExp(n)})$`).join('|')
}

/** Whether every one of `k` rounds FAILed. */
export function failedEveryRound(v: TestVerdict | undefined, k: number): boolean {
  if (!v) return false
  if (v.rounds) return (v.rounds.FAIL ?? 0) + (v.rounds.XPASS ?? 0) === k
  return k === 1 && (v.verdict === 'FAIL' || v.verdict === 'XPASS')
}

/** Whether any round FAILed. */
export function failedAnyRound(v: TestVerdict | undefined): boolean {
  if (!v) return false
  if (v.rounds) return (v.rounds.FAIL ?? 0) + (v.rounds.XPASS ?? 0) > 0
  return v.verdict === 'FAIL' || v.verdict === 'XPASS'
}

/** "FAIL 2, PASS 1 of 3" */
export function roundsText(v: TestVerdict | undefined, k: number): string {
  if (!v) return `no verdict in ${k} round(s)`
  return `${countsText(v.rounds ?? { [v.verdict as RoundVerdict]: 1 })} of ${k}`
}

/**
 * Sort the gate's new failures and new splats by their confirmation rounds: one that FAILed in
 * every head round and in no base round stays; one that did not come back every time, or that
 * fails on base too, moves to `flaky`; one the rounds gave no verdict for (ERROR, absent)
 * moves to `undetermined`. Each change keeps its confirmation for the report.
 */
export function applyConfirmation(c: GateComparison, headRounds: readonly TestVerdict[], baseRounds: readonly TestVerdict[], k: number): void {
  const h = new Map(headRounds.map((v) => [testId(v.name), v]))
  const b = new Map(baseRounds.map((v) => [testId(v.name), v]))
  const sort = (list: TestChange[]): TestChange[] => {
    const keep: TestChange[] = []
    for (const ch of list) {
      const conf: Confirmation = { rounds: k, head: h.get(ch.test), base: b.get(ch.test) }
      ch.confirm = conf
      if (!conf.head || conf.head.verdict === 'ERROR' || conf.head.verdict === 'SKIP') {
        if (!c.undetermined.includes(ch)) c.undetermined.push(ch)
      } else if (failedEveryRound(conf.head, k) && !failedAnyRound(conf.base)) keep.push(ch)
      else if (!c.flaky.includes(ch)) c.flaky.push(ch)
    }
    return keep
  }
  c.newFailures = sort(c.newFailures)
  c.newSplats = sort(c.newSplats)
}

/** Why a change is flaky rather than a regression, for the report. */
export function flakyWhy(ch: TestChange): string {
  const conf = ch.confirm
  if (!conf) return ''
  const head = `head: ${ch.head?.verdict ?? '?'} then ${roundsText(conf.head, conf.rounds)} on confirmation`
  const base = `base: ${ch.base?.verdict ?? '(absent)'} then ${roundsText(conf.base, conf.rounds)}`
  return ` — ${head}; ${base}`
}
