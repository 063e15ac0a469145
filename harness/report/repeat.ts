// The same tests run more than once (`vfio-conform run --repeat N`): one verdict per test over
// the rounds. A test whose verdict is the same in every round keeps it; one whose verdict
// varies is FLAKY, with how many times each verdict came out. A FLAKY test counts as a FAIL
// (exit 1) unless --allow-flaky names it: a CI gate that passes a test which fails one run in
// three has not shown that the kernel is right.
//
// Rounds on the same guests are describe blocks "round k/N" inside each guest's block
// (harness/vitest/fixtures.ts), so a test's full name is "<key> > round k/N > <name>";
// rounds on fresh boots (--repeat-boot) are whole runs, whose names get the same segment.
import { ownName, type RoundVerdict, type TestVerdict } from './verdict.js'

const ROUND = / > round (\d+)\/(\d+)(?= > )/

export const roundName = (k: number, n: number) => `round ${k}/${n}`

/** "PASS 2, FAIL 1": how many times each verdict came out. */
export function countsText(rounds: Partial<Record<RoundVerdict, number>> | undefined): string {
  return Object.entries(rounds ?? {}).map(([verdict, n]) => `${verdict} ${n}`).join(', ')
}

/** A test's name without its round, and the round (undefined when the run was not repeated). */
export function splitRound(name: string): { base: string; round?: number; of?: number } {
  const m = ROUND.exec(name)
  if (!m) return { base: name }
  return { base: name.slice(0, m.index) + name.slice(m.index + m[0].length), round: Number(m[1]), of: Number(m[2]) }
}

/** Insert the round segment after the target key (the first " > "), for whole-run rounds. */
export function withRound(name: string, k: number, n: number): string {
  const i = name.indexOf(' > ')
  return i < 0 ? `${roundName(k, n)} > ${name}` : `${name.slice(0, i)} > ${roundName(k, n)}${name.slice(i)}`
}

/**
 * One verdict per test from the rounds' verdicts. Tests without a round segment pass through
 * unchanged. `allow`: FLAKY tests whose name (without the target key) matches one are marked
 * flakyAllowed.
 */
export function mergeRounds(verdicts: TestVerdict[], allow: RegExp[] = []): TestVerdict[] {
  const out: TestVerdict[] = []
  const groups = new Map<string, Array<{ round: number; v: TestVerdict }>>()
  for (const v of verdicts) {
    const { base, round } = splitRound(v.name)
    if (round === undefined) {
      out.push(v)
      continue
    }
    let g = groups.get(base)
    if (!g) {
      g = []
      groups.set(base, g)
      // Keeps the order of first appearance.
      out.push({ ...v, name: base })
    }
    g.push({ round, v })
  }
  return out.map((v) => {
    const g = groups.get(v.name)
    return g ? merge(v.name, g, allow) : v
  })
}

function merge(name: string, rounds: Array<{ round: number; v: TestVerdict }>, allow: RegExp[]): TestVerdict {
  rounds.sort((a, b) => a.round - b.round)
  const counts: Partial<Record<RoundVerdict, number>> = {}
  for (const { v } of rounds) {
    const k = v.verdict as RoundVerdict
    counts[k] = (counts[k] ?? 0) + 1
  }
  const kinds = Object.keys(counts) as RoundVerdict[]
  const first = rounds[0]!.v
  const durationMs = rounds.reduce((a, { v }) => a + (v.durationMs ?? 0), 0) / rounds.length
  const annotations = [...new Set(rounds.flatMap(({ v }) => v.annotations ?? []))]
  if (kinds.length === 1) {
    // The same every time: that verdict, with the last round's reason and detail.
    const last = rounds[rounds.length - 1]!.v
    return { ...last, name, durationMs, annotations, rounds: counts }
  }
  const countText = countsText(counts)
  // The rounds that did not pass, each with its reason: what a maintainer reads first.
  const odd = rounds.filter(({ v }) => v.verdict !== 'PASS' && v.verdict !== 'XFAIL')
  const own = ownName(name)
  return {
    project: first.project,
    file: first.file,
    name,
    verdict: 'FLAKY',
    reason: `FLAKY over ${rounds.length} rounds (${countText})${odd[0] ? `: round ${odd[0].round} ${odd[0].v.verdict}: ${firstLine(odd[0].v.reason ?? '')}` : ''}`,
    detail: rounds.map(({ round, v }) => `round ${round}: ${v.verdict}${v.reason ? ` — ${v.detail ?? v.reason}` : ''}`).join('\n\n'),
    durationMs,
    startedAt: first.startedAt,
    timings: first.timings,
    annotations,
    knownIssue: rounds.find(({ v }) => v.knownIssue)?.v.knownIssue,
    rounds: counts,
    flakyAllowed: allow.some((re) => re.test(own)) || undefined,
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? ''
}
