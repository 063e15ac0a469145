// The random sequences of the ownership model: how often each operation is offered
// (OP_WEIGHTS), the menu of a kernel's paths, fast-check's arbitrary of choice lists, and the
// mapping of choices to operations the model can issue at each point.
import fc from 'fast-check'
import { applicable, DEVS, initialState, next, predict, PROCS, type ModelKernel, type Op } from './ownership.js'

/**
 * How often each kind of operation is offered, per instance (per process, device, space),
 * against the others that can be issued at that point. Set-up weighs more than tear-down so
 * that a sequence gets deep (both processes holding something); the DMA operations weigh most
 * because they can be issued only in deep states and there they are the point. Tuned on the
 * model alone (bench/model-odds.ts: how many random sequences reach each mutant's diverging
 * step) for the weakest mutation's odds, not for any one.
 */
export const OP_WEIGHTS: Record<Op['op'], number> = {
  openGroup: 2, closeGroup: 1, setContainer: 18, setIommu: 24, unsetContainer: 8, getDeviceFd: 12, closeDeviceFd: 1, groupStatus: 8,
  openCdev: 3, bindCdev: 16, closeCdev: 1, ioasAlloc: 2, attach: 6, detach: 2, destroyIoas: 2,
  map: 32, unmap: 8, dma: 40,
  exit: 1, kill: 1,
  hostBind: 1, toVfio: 2, unbindVfio: 1,
  hotReset: 6, setToken: 6,
}

/** Every operation the kernel's paths offer, each repeated by its weight. */
export function opMenu(k: ModelKernel, weights = OP_WEIGHTS): Op[] {
  if (k.vfToken) return sriovMenu().flatMap((o) => Array<Op>(weights[o.op]).fill(o))
  const all: Op[] = []
  if (k.hostDriver) for (const d of DEVS) all.push({ op: 'hostBind', d }, { op: 'toVfio', d })
  for (const d of DEVS) all.push({ op: 'unbindVfio', d })
  for (const p of PROCS) {
    all.push({ op: 'exit', p }, { op: 'kill', p })
    if (k.legacy) {
      all.push({ op: 'groupStatus', p }, { op: 'openGroup', p }, { op: 'setContainer', p }, { op: 'setIommu', p }, { op: 'closeGroup', p }, { op: 'unsetContainer', p })
      if (!k.noDma) all.push({ op: 'map', p, space: 'container' }, { op: 'unmap', p, space: 'container' })
      for (const d of DEVS) all.push({ op: 'getDeviceFd', p, d }, { op: 'closeDeviceFd', p, d })
      if (k.hotReset) for (const d of DEVS) all.push({ op: 'hotReset', p, d, via: 'device' })
    }
    if (k.cdev) {
      all.push({ op: 'ioasAlloc', p }, { op: 'destroyIoas', p })
      if (!k.noDma) all.push({ op: 'map', p, space: 'ioas' }, { op: 'unmap', p, space: 'ioas' })
      for (const d of DEVS) all.push({ op: 'openCdev', p, d }, { op: 'bindCdev', p, d }, { op: 'closeCdev', p, d }, { op: 'attach', p, d }, { op: 'detach', p, d })
      if (k.hotReset) for (const d of DEVS) all.push({ op: 'hotReset', p, d, via: 'cdev' })
    }
    if (!k.noDma) for (const d of DEVS) all.push({ op: 'dma', p, d })
  }
  return all.flatMap((o) => Array<Op>(weights[o.op]).fill(o))
}

/**
 * ModelKernel.vfToken (an SR-IOV PF and its VF, a group each): cdev open/bind (no token, either
 * of the two tokens)/close, the token's SET on either device, exit, SIGKILL.
 */
function sriovMenu(): Op[] {
  const all: Op[] = []
  for (const p of PROCS) {
    all.push({ op: 'exit', p }, { op: 'kill', p })
    for (const d of DEVS) {
      all.push({ op: 'openCdev', p, d }, { op: 'closeCdev', p, d }, { op: 'bindCdev', p, d }, { op: 'bindCdev', p, d, token: 'T1' }, { op: 'bindCdev', p, d, token: 'T2' })
      all.push({ op: 'setToken', p, d, token: 'T1' }, { op: 'setToken', p, d, token: 'T2' })
    }
  }
  return all
}

/**
 * The sequences: lists of choices, of 1 to `maxSteps` (uniform), a third of them by process A
 * alone. Long ones matter: the DMA rules need about eight steps of set-up before they can be
 * broken (open, container, IOMMU, device fd, map, DMA, unmap, DMA); measured on the model
 * alone (2000 sampled sequences) that pattern is in 0.8% of sequences of up to 24 steps, 5%
 * of up to 48, 8% of up to 64. One process alone gets deep more often (nobody else's EBUSY),
 * two are needed for the rules between owners: the mix raised the weakest mutation's share
 * by about a third (bench/model-odds.ts). (Swarm testing, leaving random kinds of op out of a
 * sequence, measured worse: the DMA pattern needs six kinds at once.)
 */
export const sequenceArb = (maxSteps: number) =>
  fc.record({
    oneProcess: fc.integer({ min: 0, max: 2 }).map((x) => x === 0),
    choices: fc.array(fc.nat(), { minLength: 1, maxLength: maxSteps, size: 'max' }),
  })

/**
 * A sequence is a list of choices; each picks one of the operations that can be issued in the
 * model's state at that point (one whose fds exist), so every step is checked. fast-check shrinks
 * the list; the counterexample is printed as the operations the choices made.
 */
export function opsOf(choices: readonly number[], k: ModelKernel, menu = opMenu(k), oneProcess = false): Op[] {
  if (oneProcess) menu = menu.filter((o) => !('p' in o) || o.p === 'A')
  let s = initialState(k)
  const ops: Op[] = []
  for (const c of choices) {
    // The same device's DMA twice in a row checks nothing new (nothing changed in between,
    // the first already filled the vIOMMU's IOTLB) and costs 100 ms of edu's DMA timer
    // (hw/misc/edu.c: the transfer runs 100 ms after the command): it is not offered.
    const prev = ops.at(-1)
    const repeat = (o: Op) => o.op === 'dma' && prev?.op === 'dma' && prev.p === o.p && prev.d === o.d
    const options = menu.filter((o) => applicable(s, k, o) && !repeat(o))
    const o = options[c % options.length]!
    ops.push(o)
    s = next(s, o, predict(s, o).errno)
  }
  return ops
}
