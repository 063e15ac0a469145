// Random multi-process sequences of ownership operations on a real guest, checked step by step
// against the model (harness/model/ownership.ts), with fast-check generating the sequences and
// shrinking a diverging one to the shortest that still diverges. Each sequence starts from a
// clean guest (its processes are gone: every fd they held is closed) so that runs are
// independent; the seed is printed, and `vfio-conform model --seed S` replays it.
import fc from 'fast-check'
import type { GuestAgent } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { attachPt, bindIommufd, cdevPath, destroy, detachPt, errnoOf as errnoOfCdev, ioasAlloc, openCdev, openIommufd } from '../vfio/iommufd.js'
import { errnoOf, getDeviceFd, groupStatus, openContainer, openGroup, setContainer, setIommu } from '../vfio/legacy.js'
import { driverOf, HOST_DRIVER } from '../vfio/host-driver.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { applicable, describeOp, DEVS, initialState, next, predict, PROCS, type Dev, type ModelKernel, type ModelState, type Op, type Proc } from './ownership.js'

export interface ModelBudget {
  /** Sequences per run. */
  runs: number
  /** Operations per sequence, at most. */
  steps: number
  seed?: number
  /** Stop shrinking after this long and report the shortest found so far. */
  shrinkMs?: number
}

/** What `npm test` spends per guest (measured: about 0.6 s per sequence of 12 on a TCG guest). */
export const NPM_TEST_BUDGET: ModelBudget = { runs: 50, steps: 24 }

export interface ModelTarget {
  group: number
  bdfs: [string, string]
  /** The cdev nodes of the two devices, when the kernel has the cdev path. */
  cdevs?: [string, string]
}

export interface StepLog {
  op: Op
  expected: string
  actual: string
  rule: string
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

/**
 * Every operation the kernel's paths offer, weighted by repetition so that a sequence builds
 * up state (opens, containers, binds) more often than it tears it down: the interleavings the
 * rules are about need both processes to hold something.
 */
export function opMenu(k: ModelKernel): Op[] {
  const out: Op[] = []
  const add = (weight: number, ops: Op[]) => {
    for (let i = 0; i < weight; i++) out.push(...ops)
  }
  if (k.hostDriver) for (const d of DEVS) add(1, [{ op: 'hostBind', d }]), add(2, [{ op: 'toVfio', d }])
  for (const p of PROCS) {
    add(1, [{ op: 'exit', p }, { op: 'kill', p }])
    if (k.legacy) add(1, [{ op: 'groupStatus', p }])
    if (k.legacy) {
      add(3, [{ op: 'openGroup', p }, { op: 'setContainer', p }])
      add(1, [{ op: 'closeGroup', p }])
      for (const d of DEVS) add(3, [{ op: 'getDeviceFd', p, d }]), add(1, [{ op: 'closeDeviceFd', p, d }])
    }
    if (k.cdev) {
      for (const d of DEVS) add(3, [{ op: 'openCdev', p, d }]), add(4, [{ op: 'bindCdev', p, d }]), add(1, [{ op: 'closeCdev', p, d }])
      for (const d of DEVS) add(6, [{ op: 'attach', p, d }]), add(2, [{ op: 'detach', p, d }])
      add(2, [{ op: 'ioasAlloc', p }]), add(1, [{ op: 'destroyIoas', p }])
    }
  }
  return out
}

/**
 * A sequence is a list of choices; each picks one of the operations that can be issued in the
 * model's state at that point (one whose fds exist), so every step is checked. fast-check
 * shrinks the list; the counterexample is printed as the operations the choices made.
 */
export function opsOf(choices: readonly number[], k: ModelKernel, menu = opMenu(k)): Op[] {
  let s = initialState()
  const ops: Op[] = []
  for (const c of choices) {
    const options = menu.filter((o) => applicable(s, k, o))
    const o = options[c % options.length]!
    ops.push(o)
    s = next(s, o, predict(s, o).errno)
  }
  return ops
}

/** The processes of one sequence and the fds they hold, as the model names them. */
class RealSystem {
  private agents: Partial<Record<Proc, GuestAgent>> = {}
  private group: Partial<Record<Proc, number>> = {}
  private container: Partial<Record<Proc, number>> = {}
  private deviceFds: Record<Proc, [number[], number[]]> = { A: [[], []], B: [[], []] }
  private cdev: Record<Proc, [number | undefined, number | undefined]> = { A: [undefined, undefined], B: [undefined, undefined] }
  private iommufd: Partial<Record<Proc, number>> = {}
  private ioasId: Partial<Record<Proc, number>> = {}
  private adminAgent?: GuestAgent

  constructor(
    private readonly guest: GuestSession,
    private readonly t: ModelTarget,
  ) {}

  private async agent(p: Proc): Promise<GuestAgent> {
    return (this.agents[p] ??= await this.guest.agent({ label: `model ${p}` }))
  }

  /** Run one op; its errno ("OK" on success). */
  async exec(o: Op): Promise<string> {
    if (o.op === 'hostBind' || o.op === 'toVfio') return this.admin(o)
    const a = await this.agent(o.p)
    const must = (fd: number | undefined, what: string): number => {
      if (fd === undefined) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: ${describeOp(o)} has no ${what} fd (the model offered an op the runner cannot express)`)
      return fd
    }
    switch (o.op) {
      case 'openGroup': {
        const r = await openGroup(a, this.t.group)
        // A second group fd of the same process (never OK while held) would be kept as well.
        if (r.ret >= 0 && this.group[o.p] === undefined) this.group[o.p] = r.ret
        return errnoOf(r)
      }
      case 'closeGroup': {
        const r = await a.closeFd(must(this.group[o.p], 'group'))
        delete this.group[o.p]
        return errnoOf(r)
      }
      case 'setContainer': {
        const c = this.container[o.p] ?? (await openContainer(a)).ret
        if (c < 0) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: open /dev/vfio/vfio failed`)
        this.container[o.p] = c
        const r = await setContainer(a, must(this.group[o.p], 'group'), c)
        if (r.ret === 0) {
          const io = await setIommu(a, c)
          if (io.ret !== 0) return `SET_IOMMU ${errnoOf(io)}`
        }
        return errnoOf(r)
      }
      case 'getDeviceFd': {
        const r = await getDeviceFd(a, must(this.group[o.p], 'group'), this.t.bdfs[o.d])
        if (r.ret >= 0) this.deviceFds[o.p][o.d].push(r.ret)
        return errnoOf(r)
      }
      case 'closeDeviceFd':
        return errnoOf(await a.closeFd(must(this.deviceFds[o.p][o.d].pop(), 'device')))
      case 'openCdev': {
        const r = await openCdev(a, this.t.cdevs![o.d])
        if (r.ret >= 0) this.cdev[o.p][o.d] = r.ret
        return errnoOfCdev(r)
      }
      case 'bindCdev':
        return errnoOfCdev(await bindIommufd(a, must(this.cdev[o.p][o.d], 'cdev'), await this.ictx(o.p)))
      case 'closeCdev': {
        const r = await a.closeFd(must(this.cdev[o.p][o.d], 'cdev'))
        this.cdev[o.p][o.d] = undefined
        return errnoOf(r)
      }
      case 'exit': {
        await a.close()
        this.forget(o.p)
        return 'OK'
      }
      case 'kill': {
        // SIGKILL, and wait until do_exit has closed the process's fds.
        await this.guest.killAgent(a)
        this.forget(o.p)
        return 'OK'
      }
      case 'ioasAlloc': {
        const r = await ioasAlloc(a, await this.ictx(o.p))
        if (r.ioasId !== undefined) this.ioasId[o.p] = r.ioasId
        return errnoOfCdev(r)
      }
      case 'attach':
        return errnoOfCdev(await attachPt(a, must(this.cdev[o.p][o.d], 'cdev'), must(this.ioasId[o.p], 'IOAS')))
      case 'detach':
        return errnoOfCdev(await detachPt(a, must(this.cdev[o.p][o.d], 'cdev')))
      case 'destroyIoas': {
        const r = await destroy(a, await this.ictx(o.p), must(this.ioasId[o.p], 'IOAS'))
        if (r.ret === 0) delete this.ioasId[o.p]
        return errnoOfCdev(r)
      }
      case 'groupStatus': {
        const r = await groupStatus(a, must(this.group[o.p], 'group'))
        return r.ret < 0 ? errnoOf(r) : `flags=${r.flags}`
      }
    }
  }

  /** The process's iommufd context, opened on first use. */
  private async ictx(p: Proc): Promise<number> {
    if (this.iommufd[p] === undefined) {
      const r = await openIommufd(await this.agent(p))
      if (r.ret < 0) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: open /dev/iommu failed: ${errnoOf(r)}`)
      this.iommufd[p] = r.ret
    }
    return this.iommufd[p]!
  }

  /** The administrator's driver moves (root, its own process). */
  private async admin(o: Extract<Op, { op: 'hostBind' | 'toVfio' }>): Promise<string> {
    const a = (this.adminAgent ??= await this.guest.agent({ label: 'model admin' }))
    const bdf = this.t.bdfs[o.d]
    const dev = `/sys/bus/pci/devices/${bdf}`
    const driver = () => driverOf(a, bdf)
    const plumbing = async (file: string, data: string) => {
      const r = await a.writeFile(file, data)
      if (r.ret < 0) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: write ${data.trim()} to ${file}: ${errnoOf(r)}`)
    }
    if (o.op === 'hostBind') {
      await plumbing(`${dev}/driver/unbind`, bdf)
      await plumbing(`${dev}/driver_override`, `${HOST_DRIVER}\n`)
      return errnoOf(await a.writeFile(`/sys/bus/pci/drivers/${HOST_DRIVER}/bind`, bdf))
    }
    if (await driver()) await plumbing(`${dev}/driver/unbind`, bdf)
    await plumbing(`${dev}/driver_override`, 'vfio-pci\n')
    await a.writeFile('/sys/bus/pci/drivers_probe', bdf)
    const now = await driver()
    // Its cdev comes back under a new vfioN.
    if (now === 'vfio-pci' && this.t.cdevs) this.t.cdevs[o.d] = await cdevPath(this.guest, bdf)
    return now === 'vfio-pci' ? 'OK' : `driver ${now ?? 'none'}`
  }

  private forget(p: Proc): void {
    delete this.agents[p]
    delete this.group[p]
    delete this.container[p]
    delete this.iommufd[p]
    delete this.ioasId[p]
    this.deviceFds[p] = [[], []]
    this.cdev[p] = [undefined, undefined]
  }

  /** Every process of the sequence exits: the group and the devices go back to the kernel. */
  async end(): Promise<void> {
    for (const p of PROCS) {
      await this.agents[p]?.close()
      this.forget(p)
    }
    // Both devices back on vfio-pci for the next sequence.
    for (const d of DEVS) {
      if ((await this.guest.pciDevices()).find((x) => x.bdf === this.t.bdfs[d])?.driver !== 'vfio-pci') {
        await this.guest.bindDriver(this.t.bdfs[d], 'vfio-pci')
        if (this.t.cdevs) this.t.cdevs[d] = await cdevPath(this.guest, this.t.bdfs[d])
      }
    }
    await this.adminAgent?.close()
    this.adminAgent = undefined
  }
}

/** One sequence: each applicable op on the guest, checked against the model; throws a Divergence. */
export async function runSequence(guest: GuestSession, k: ModelKernel, t: ModelTarget, ops: Op[]): Promise<StepLog[]> {
  const sys = new RealSystem(guest, t)
  const log: StepLog[] = []
  let s: ModelState = initialState()
  try {
    for (const o of ops) {
      if (!applicable(s, k, o)) continue
      const want = predict(s, o)
      const got = await sys.exec(o)
      log.push({ op: o, expected: want.errno, actual: got, rule: want.rule })
      if (got !== want.errno) throw new Divergence(log)
      s = next(s, o, got)
    }
    return log
  } finally {
    await sys.end()
  }
}

export interface ModelResult {
  seed: number
  runs: number
  steps: number
  /** The shortest diverging sequence fast-check found, with its step log. */
  counterexample?: { steps: StepLog[]; shrinks: number }
}

/** `budget.runs` random sequences; the first divergence is shrunk and returned. */
export async function checkModel(guest: GuestSession, k: ModelKernel, t: ModelTarget, budget: ModelBudget): Promise<ModelResult> {
  let ran = 0
  let steps = 0
  const menu = opMenu(k)
  const prop = fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: budget.steps, size: 'max' }), async (choices) => {
    ran++
    steps += (await runSequence(guest, k, t, opsOf(choices, k, menu))).length
  })
  const seed = budget.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
  const out = await fc.check(prop, { seed, numRuns: budget.runs, interruptAfterTimeLimit: budget.shrinkMs ?? 120_000, markInterruptAsFailure: false })
  const result: ModelResult = { seed, runs: ran, steps }
  if (out.failed) {
    const err = out.errorInstance
    if (!(err instanceof Divergence)) throw err instanceof Error ? err : new Error(String(err))
    result.counterexample = { steps: err.steps, shrinks: out.numShrinks }
  }
  return result
}
