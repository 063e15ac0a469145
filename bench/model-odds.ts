// Benchmark (no guest): how likely is the ownership model's random search to reach the step
// at which each ci/mutations patch makes the kernel diverge? Samples sequences exactly as
// the model test generates them (harness/model/run.ts sequenceArb, opsOf, OP_WEIGHTS) and runs
// them through the model alone; a mutant is reached when a sequence issues the operation whose
// answer that patch changes (MUTANT_STEPS below). Prints, per patch, the share of sequences
// that reach it and the odds that a run of the budget's sequences reaches it at least once.
// These figures chose OP_WEIGHTS and FULL_MODEL_BUDGET; the real check stays ci/mutations/run.sh.
//   npx tsx bench/model-odds.ts [--no-record] [SAMPLES] [RUNS] [STEPS]   (default 3000, the whole budget)
// The figures are written into docs/measurements.md unless --no-record.
import fc from 'fast-check'
import { fileURLToPath } from 'node:url'
import { dmaSpace, initialState, next, predict, type ModelKernel, type ModelState, type Op, type Prediction } from '../harness/model/ownership.js'
import { FULL_MODEL_BUDGET, opMenu, opsOf, resetPairRuns, sequenceArb } from '../harness/model/run.js'
import { printAndRecord, recordFlag } from '../harness/report/measurements-file.js'

/** A step at which the patched kernel answers differently from the model. */
type Reached = (o: Op, p: Prediction, s: ModelState) => boolean

/** Per ci/mutations patch that selects the model test: the step its mutant diverges on. */
export const MUTANT_STEPS: Record<string, Reached | 'iotlb'> = {
  'group-open-once': (o, p) => o.op === 'openGroup' && /opened_file/.test(p.rule),
  'group-cdev-exclusion': (o, p) => o.op === 'openGroup' && /cdev_device_open_cnt/.test(p.rule),
  'iommufd-one-owner': (o, p) => o.op === 'bindCdev' && /another iommufd/.test(p.rule),
  'host-driver-bind': (o, p) => o.op === 'hostBind' && p.errno === 'EBUSY',
  viability: (o, p) => o.op === 'groupStatus' && p.errno === 'flags=0',
  'unset-container-busy': (o, p) => o.op === 'unsetContainer' && p.errno === 'EBUSY',
  'vfio-request-on-remove': (o, p) => o.op === 'unbindVfio' && p.errno === 'requested',
  // A DMA after UNMAP through the space whose translation an earlier DMA cached.
  'iotlb-flush-on-unmap': 'iotlb',
}

/** The same for the patches the model catches on the reset pair (its share of a run's sequences). */
export const PAIR_MUTANT_STEPS: Record<string, Reached> = {
  'hot-reset-dev-set-model': (o, p) => o.op === 'hotReset' && /vfio_pci_dev_set_resettable/.test(p.rule),
}

/** The same for the VF-token model (suites/sriov.test.ts: a tenth of the budget's sequences, at least 2). */
export const VF_MUTANT_STEPS: Record<string, Reached> = {
  'vf-token-pf-in-use-model': (o, p) => o.op === 'bindCdev' && /the PF has VFs in use/.test(p.rule),
}
/** As suites/sriov.test.ts VF_MODEL_SHARE. */
const vfModelRuns = (runs: number) => Math.max(2, Math.round(runs / 10))

function sampleHits(k: ModelKernel, samples: number, steps: number, seed: number, reached: Record<string, Reached | 'iotlb'>): Map<string, number> {
  const menu = opMenu(k)
  const hits = new Map<string, number>()
  for (const { choices, oneProcess } of fc.sample(sequenceArb(steps), { numRuns: samples, seed })) {
    let s = initialState(k)
    let cached: string | undefined
    const seen = new Set<string>()
    for (const o of opsOf(choices, k, menu, oneProcess)) {
      const p = predict(s, o)
      const space = dmaSpace(s)
      const where = space && `${space.owner}/${space.space}`
      if (o.op === 'dma') {
        if (p.errno.startsWith('reached')) cached = where
        else if (cached && cached === where) seen.add('iotlb-flush-on-unmap')
      }
      if (o.op === 'map') cached = undefined
      for (const [patch, f] of Object.entries(reached)) if (f !== 'iotlb' && f(o, p, s)) seen.add(patch)
      s = next(s, o, p.errno)
      if (!dmaSpace(s)) cached = undefined
    }
    for (const x of seen) hits.set(x, (hits.get(x) ?? 0) + 1)
  }
  return hits
}

export function mutantOdds(samples: number, runs = FULL_MODEL_BUDGET.runs, steps = FULL_MODEL_BUDGET.steps, seed = 1): Array<{ patch: string; share: number; odds: number }> {
  const k: ModelKernel = { legacy: true, cdev: true, hostDriver: true }
  const pairRuns = resetPairRuns(runs)
  const hits = sampleHits(k, samples, steps, seed, MUTANT_STEPS)
  const pairHits = sampleHits({ ...k, hotReset: true, noDma: true }, samples, steps, seed, PAIR_MUTANT_STEPS)
  const odds = (patch: string, h: Map<string, number>, n: number) => {
    const share = (h.get(patch) ?? 0) / samples
    return { patch, share, odds: 1 - (1 - share) ** n }
  }
  const vfHits = sampleHits({ legacy: false, cdev: true, vfToken: true }, samples, steps, seed, VF_MUTANT_STEPS)
  return [
    ...Object.keys(MUTANT_STEPS).map((p) => odds(p, hits, runs - pairRuns)),
    ...Object.keys(PAIR_MUTANT_STEPS).map((p) => odds(p, pairHits, pairRuns)),
    ...Object.keys(VF_MUTANT_STEPS).map((p) => odds(p, vfHits, vfModelRuns(runs))),
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { record, rest } = recordFlag(process.argv.slice(2))
  const [samples = 3000, runs = FULL_MODEL_BUDGET.runs, steps = FULL_MODEL_BUDGET.steps] = rest.map(Number)
  const lines = [`model odds: ${samples} sampled sequences of up to ${steps} steps; a run is ${runs} sequences (${resetPairRuns(runs)} of them on the reset pair, for the hot-reset patch)`]
  for (const r of mutantOdds(samples, runs, steps)) {
    lines.push(`  ${r.patch.padEnd(24)} reached by ${(r.share * 100).toFixed(1).padStart(5)}% of sequences; a run reaches it with odds ${(r.odds * 100).toFixed(2)}%`)
  }
  const command = `npx tsx bench/model-odds.ts ${process.argv.slice(2).join(' ')}`.trim()
  process.exitCode = await printAndRecord({ id: 'bench-model-odds', title: "The ownership model's odds of reaching each mutation (no guest)", command, lines }, { record, exitCode: 0 })
}
