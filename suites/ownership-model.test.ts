// The kernel against an executable model of the ownership rules (harness/model/ownership.ts):
// random sequences of operations by two processes (A root, B an ordinary user without
// capabilities) on the devices of a multi-device group
// (group open/close/status, SET_CONTAINER, GET_DEVICE_FD, cdev open/BIND/close, IOAS
// alloc/attach/detach/destroy, map/unmap of a buffer and a device's DMA to it, exit, SIGKILL)
// and an administrator moving a device to a host driver and back or unbinding it from
// vfio-pci while it is in use, each errno (and whose buffer a DMA reached)
// checked against the model's prediction; fast-check generates the sequences, and a
// divergence is shrunk on the guest to the shortest sequence that still diverges. Where the
// topology's reset set is one group of two devices (default: rp-mix's edu + e1000e), a fifth of
// the sequences run there instead, without DMA and with VFIO_DEVICE_PCI_HOT_RESET (legacy and
// cdev) among the operations: who may reset is the model's too. Replay a run: `vfio-conform model --seed S`. Budget: the
// run's options (harness/vitest/run-options.ts: `vfio-conform model --runs/--steps/--seed`, the
// main job's share, or VFIO_CONFORM_MODEL_RUNS / _STEPS / _SEED for a plain vitest run).
import { forEachTarget, runOptions } from '../harness/vitest/fixtures.js'
import { qemuLimit } from '../harness/vitest/known-issues.js'
import { guestUser } from '../guests/rootfs/recipe.js'
import { legacyMissing } from '../harness/vfio/capabilities.js'
import { cdevPath, IOMMUFD_PATH } from '../harness/vfio/iommufd.js'
import { groupPath } from '../harness/vfio/legacy.js'
import { NodeGrants } from '../harness/vfio/privileges.js'
import { checkModel, renderSteps, resetPairRuns, statsSummary, type ModelResult } from '../harness/model/run.js'
import type { ModelKernel } from '../harness/model/ownership.js'
import type { GuestSession } from '../harness/guest/session.js'
import { placeDevices } from '../harness/vfio/reset-set.js'

/** Process B's user. */
const USER_B = guestUser('conform-b')

/**
 * The topology's reset set when it is two devices of one IOMMU group (the model's shape), put on
 * vfio-pci (the fixture puts the drivers back after the test); undefined elsewhere (noiommu: a
 * group each; igb: no reset set).
 */
async function resetPair(guest: GuestSession): Promise<{ group: number; bdfs: [string, string] } | undefined> {
  const set = guest.topology.cast?.resetSet
  if (set?.length !== 2 || guest.target.iommu === 'none') return undefined
  const [m0, m1] = await placeDevices(guest, set)
  if (m0!.group === undefined || m0!.group !== m1!.group) return undefined
  return { group: m0!.group, bdfs: [m0!.bdf, m1!.bdf] }
}

/** The divergence as the test's error. */
function divergenceError(r: ModelResult, runs: number, steps: number, where: string): Error | undefined {
  if (!r.counterexample) return undefined
  const c = r.counterexample
  const replay = `replay: vfio-conform model --seed ${r.seed} --runs ${runs} --steps ${steps}`
  return new Error(
    c.reproducible
      ? `the kernel diverged from the ownership model on ${where} (seed ${r.seed}; diverged at step ${c.found}, shrunk in ${c.attempts} reruns to ${c.steps.length} steps; ${replay}):\n${renderSteps(c.steps)}`
      : `the kernel diverged from the ownership model on ${where} (seed ${r.seed}; at step ${c.found}; ${replay}). Run again at once, the sequence did not diverge the same ` +
          `way: the divergence changed the kernel's state, so shorter sequences cannot be confirmed on this boot. The sequence:\n${renderSteps(c.steps)}\n` +
          `The model's shortest way to the same step (${c.modelPath!.length} steps; try it on a fresh boot):\n${renderSteps(c.modelPath!)}`,
  )
}

forEachTarget(
  (target, test) => {
    test(
      'ownership model: random two-process sequences on a multi-device group agree with the model',
      // About 1.2 s per sequence on a TCG guest (2 s with another guest on the core), and up
      // to 180 s of shrinking: a soak from the CLI (--runs 300) must not time out.
      { timeout: Math.max(600_000, runOptions().model.runs * 2_000 + 240_000) },
      async ({ guest, castPart, kconfig, skip, annotate }) => {
        const [d0, d1] = castPart('multiDeviceGroup')
        const k: ModelKernel = {
          legacy: !legacyMissing(kconfig),
          cdev: !!kconfig && !kconfig.missing('IOMMUFD', 'VFIO_DEVICE_CDEV'),
          hostDriver: !!kconfig?.enabled('UIO_PCI_GENERIC'),
        }
        // iommufd's compat container claims DMA ownership at device open, not at
        // SET_CONTAINER (known issue iommufd-compat-ownership-at-device-open): not modelled yet.
        if (kconfig?.enabled('IOMMUFD_VFIO_CONTAINER') && !kconfig.enabled('VFIO_CONTAINER')) {
          skip('the model does not cover the iommufd compat container yet (ownership at device open)')
        }
        if (!k.legacy && !k.cdev) skip('neither the legacy nor the cdev path: nothing to model')
        // The model drives DMA from devices the kernel holds blocked; where QEMU lets such a DMA
        // through, it writes into the guest's own memory (and has crashed the guest).
        const passes = qemuLimit(target, 'blocked-dma-passes-through')
        if (passes) skip(`QEMU ${target.qemu}'s ${target.iommu}: ${passes.what} (${passes.source.split(':')[0]})`)
        const g = await guest.vfioGroup(d0)
        const bdfs: [string, string] = [g.bdf(d0), g.bdf(d1)]
        const cdevs = k.cdev ? ([await cdevPath(guest, bdfs[0]), await cdevPath(guest, bdfs[1])] as [string, string]) : undefined
        const budget = runOptions().model
        // The reset pair takes its share of the sequences (the same seed, the same total).
        const pair = await resetPair(guest)
        const pairRuns = pair ? resetPairRuns(budget.runs) : 0
        // Process B is an ordinary user (conform-b) with no
        // capability; the nodes it needs are given to it as the privileges suite does, and
        // put back after.
        const grants = new NodeGrants(guest)
        const give = (path: string) => grants.give(path, USER_B)
        const paths = [k.legacy && 'legacy', k.cdev && 'cdev', k.hostDriver && 'host driver'].filter(Boolean).join(', ')
        let r: ModelResult
        let rp: ModelResult | undefined
        try {
          if (k.legacy) await give(groupPath(g.group))
          if (k.cdev) for (const path of [IOMMUFD_PATH, ...cdevs!]) await give(path)
          r = await checkModel(guest, k, { group: g.group, bdfs, cdevs, userB: USER_B, onNewCdev: give }, { ...budget, runs: budget.runs - pairRuns })
          if (pair && !r.counterexample) {
            const pk: ModelKernel = { ...k, hotReset: true, noDma: true }
            const pcdevs = k.cdev ? ([await cdevPath(guest, pair.bdfs[0]), await cdevPath(guest, pair.bdfs[1])] as [string, string]) : undefined
            if (k.legacy) await give(groupPath(pair.group))
            if (pcdevs) for (const path of pcdevs) await give(path)
            rp = await checkModel(guest, pk, { group: pair.group, bdfs: pair.bdfs, cdevs: pcdevs, userB: USER_B, onNewCdev: give }, { ...budget, runs: pairRuns, seed: r.seed })
          }
        } finally {
          await grants.restore()
        }
        await annotate(`model: seed ${r.seed}, ${r.runs} sequences, ${r.steps} steps checked (paths: ${paths}; ${statsSummary(r.stats)})`)
        if (rp) await annotate(`model on the reset pair (${guest.topology.cast!.resetSet!.join(' + ')}, hot reset, no DMA): ${rp.runs} sequences, ${rp.steps} steps; hot resets ${[...rp.stats.outcomes].filter(([o]) => o.startsWith('hotReset')).map(([o, n]) => `${o.slice('hotReset '.length)} ${n}`).join(', ') || 'none'}`)
        const e = divergenceError(r, budget.runs, budget.steps, 'the multi-device group') ?? (rp && divergenceError(rp, budget.runs, budget.steps, 'the reset pair'))
        if (e) throw e
      },
    )
  },
  { oncePerKernel: true },
)
