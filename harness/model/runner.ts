// One sequence on the real guest, checked step by step against the model's prediction: the
// first step whose outcome differs ends it with a Divergence (the steps so far).
import type { GuestSession } from '../guest/session.js'
import { applicable, describeOp, initialState, next, predict, type ModelKernel, type ModelState, type Op } from './ownership.js'
import { MODEL_IOVA, RealSystem, type ModelTarget } from './real-system.js'

export interface StepLog {
  op: Op
  expected: string
  actual: string
  rule: string
}

/** The outcomes that say the deep rules were exercised, and where the time went, for the test's annotation. */
export function statsSummary({ outcomes, ms }: ModelStats): string {
  const n = (k: string) => outcomes.get(k) ?? 0
  const errors = [...outcomes].filter(([k]) => /\bE[A-Z]+$/.test(k)).reduce((a, [, v]) => a + v, 0)
  const total = [...ms.values()].reduce((a, v) => a + v, 0)
  const top = [...ms].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
  return (
    `DMA reached ${n('dma reached')} / blocked ${n('dma blocked')}, unmaps ${n('unmap OK')}, unbinds of a device in use ${n('unbindVfio requested')}, errno results ${errors}; ` +
    `guest time ${(total / 1000).toFixed(1)} s, most in ${top.join(', ')}`
  )
}

export class Divergence extends Error {
  constructor(readonly steps: StepLog[]) {
    super(renderSteps(steps))
    this.name = 'ModelDivergence'
  }
}

export function renderSteps(steps: StepLog[]): string {
  return steps
    .map((s, i) => `${String(i + 1).padStart(2)}. ${describeOp(s.op).padEnd(22)} expected ${s.expected.padEnd(6)} got ${s.actual.padEnd(6)}${s.expected !== s.actual ? '  <-- ' + s.rule : ''}`)
    .join('\n')
}

/** One sequence: each applicable op on the guest, checked against the model; throws a Divergence. */
export async function runSequence(guest: GuestSession, k: ModelKernel, t: ModelTarget, ops: Op[], stats?: ModelStats): Promise<StepLog[]> {
  const sys = new RealSystem(guest, t)
  const count = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + n)
  const log: StepLog[] = []
  let s: ModelState = initialState(k)
  try {
    for (const o of ops) {
      if (!applicable(s, k, o)) continue
      const want = predict(s, o)
      // A DMA the IOMMU must block faults: the fault line is expected (the fixture fails a
      // test on an IOMMU fault nobody declared).
      if (o.op === 'dma' && want.errno === 'blocked') guest.expected.expectFault({ bdf: t.bdfs[o.d], iova: MODEL_IOVA, access: 'write' })
      const t0 = performance.now()
      const got = await sys.exec(o)
      if (stats) count(stats.ms, o.op, performance.now() - t0)
      log.push({ op: o, expected: want.errno, actual: got, rule: want.rule })
      if (stats) count(stats.outcomes, `${o.op} ${got.startsWith('reached') ? 'reached' : got}`, 1)
      if (got !== want.errno) throw new Divergence(log)
      s = next(s, o, got)
    }
    return log
  } finally {
    const t0 = performance.now()
    await sys.end()
    if (stats) count(stats.ms, 'reset', performance.now() - t0)
  }
}

/** What a run did: outcomes per op ("dma reached": 40) and guest time per op kind (ms). */
export interface ModelStats {
  outcomes: Map<string, number>
  ms: Map<string, number>
}
