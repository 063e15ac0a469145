// Random multi-process sequences of ownership operations on a real guest, checked step by step
// against the model (harness/model/ownership.ts), with fast-check generating the sequences and
// shrinking a diverging one to the shortest that still diverges. Each sequence starts from a
// clean guest (its processes are gone: every fd they held is closed) so that runs are
// independent; the seed is printed, and `vfio-conform model --seed S` replays it.
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { EduDevice } from '../dma/edu.js'
import type { GuestAgent } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { attachPt, bindIommufd, cdevPath, destroy, detachPt, errnoOf as errnoOfCdev, ioasAlloc, ioasMap, ioasUnmap, openCdev, openIommufd } from '../vfio/iommufd.js'
import { errnoOf, getDeviceFd, groupStatus, mapDma, openContainer, openGroup, setContainer, setIommu, unmapDma, unsetContainer } from '../vfio/legacy.js'
import { NO_REQUEST_CHANNEL } from '../vfio/request-irq.js'
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/iommufd.js'
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

/**
 * What `npm test` spends per guest: 60 sequences of up to 64 steps (31 on average). On the
 * model alone (bench/model-odds.ts, 3000 samples), each ci/mutations patch's diverging step
 * is in at least 8.4% of sequences: a run of 60 misses one with odds under 0.6%.
 */
export const NPM_TEST_BUDGET: ModelBudget = { runs: 60, steps: 64 }

/**
 * The main job's share (`vfio-conform run` with no kernel given: the first look, whose wall
 * time is the intel guest's): 20 sequences, about 20 s instead of 60 (measured: the main job
 * took 148 s with 60, against 76–85 s before the model had DMA). Each mutation's odds are
 * then 83% or more; `npm test`, `vfio-conform model` and ci/mutations run the whole budget.
 */
export const MAIN_JOB_MODEL_RUNS = 20

/** The model's one IOVA: below edu's 28-bit dma_mask, far from reserved regions. */
export const MODEL_IOVA = 0x100000n
const PAGE = 4096
/**
 * Bytes per DMA: one access. A blocked DMA faults per access on virtio-iommu, and every
 * fault line counts against the drivers' shared rate limit; reaching is judged per page.
 */
const DMA_LEN = 4
/**
 * How long the kernel may take to ask a device's users to let go: vfio_unregister_group_dev
 * makes its first request before it first waits.
 */
const REQUEST_DEADLINE_MS = 5_000

export interface ModelTarget {
  group: number
  bdfs: [string, string]
  /** The cdev nodes of the two devices, when the kernel has the cdev path. */
  cdevs?: [string, string]
  /**
   * Process B runs as this user, without any capability (the nodes it opens given to it by
   * the caller, as the privileges suite does); A stays root. The ownership rules check no
   * capability (vfio_group_fops_open, vfio_device_fops_cdev_open, iommufd_fops_open: only the
   * node's permissions), so the model's answers are the same for both.
   */
  userB?: { uid: number; gid: number }
  /** Called with a device's new cdev node after it came back to vfio-pci (a new vfioN). */
  onNewCdev?: (path: string) => Promise<void>
}

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
}

/** Every operation the kernel's paths offer, each repeated by its weight. */
export function opMenu(k: ModelKernel, weights = OP_WEIGHTS): Op[] {
  const all: Op[] = []
  if (k.hostDriver) for (const d of DEVS) all.push({ op: 'hostBind', d }, { op: 'toVfio', d })
  for (const d of DEVS) all.push({ op: 'unbindVfio', d })
  for (const p of PROCS) {
    all.push({ op: 'exit', p }, { op: 'kill', p })
    if (k.legacy) {
      all.push({ op: 'groupStatus', p }, { op: 'openGroup', p }, { op: 'setContainer', p }, { op: 'setIommu', p }, { op: 'closeGroup', p }, { op: 'unsetContainer', p })
      all.push({ op: 'map', p, space: 'container' }, { op: 'unmap', p, space: 'container' })
      for (const d of DEVS) all.push({ op: 'getDeviceFd', p, d }, { op: 'closeDeviceFd', p, d })
    }
    if (k.cdev) {
      all.push({ op: 'ioasAlloc', p }, { op: 'destroyIoas', p }, { op: 'map', p, space: 'ioas' }, { op: 'unmap', p, space: 'ioas' })
      for (const d of DEVS) all.push({ op: 'openCdev', p, d }, { op: 'bindCdev', p, d }, { op: 'closeCdev', p, d }, { op: 'attach', p, d }, { op: 'detach', p, d })
    }
    for (const d of DEVS) all.push({ op: 'dma', p, d })
  }
  return all.flatMap((o) => Array<Op>(weights[o.op]).fill(o))
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
  let s = initialState()
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

/** The processes of one sequence and the fds they hold, as the model names them. */
class RealSystem {
  private agents: Partial<Record<Proc, GuestAgent>> = {}
  private group: Partial<Record<Proc, number>> = {}
  private container: Partial<Record<Proc, number>> = {}
  private deviceFds: Record<Proc, [number[], number[]]> = { A: [[], []], B: [[], []] }
  private cdev: Record<Proc, [number | undefined, number | undefined]> = { A: [undefined, undefined], B: [undefined, undefined] }
  private iommufd: Partial<Record<Proc, number>> = {}
  private ioasId: Partial<Record<Proc, number>> = {}
  /** Each process's one page of memory that it maps at MODEL_IOVA. */
  private buffer: Partial<Record<Proc, bigint>> = {}
  /** The edu devices as seen through each process's fds ("A/0/7": A's fd 7 of dev0). */
  private edu = new Map<string, EduDevice>()
  private adminAgent?: GuestAgent

  constructor(
    private readonly guest: GuestSession,
    private readonly t: ModelTarget,
  ) {}

  private async agent(p: Proc): Promise<GuestAgent> {
    const user = p === 'B' && this.t.userB ? { ...this.t.userB, caps: 'none' as const } : {}
    return (this.agents[p] ??= await this.guest.agent({ label: `model ${p}`, ...user }))
  }

  /** Device d is back on vfio-pci: its cdev node is a new one. */
  private async newCdev(d: Dev): Promise<void> {
    if (!this.t.cdevs) return
    this.t.cdevs[d] = await cdevPath(this.guest, this.t.bdfs[d])
    await this.t.onNewCdev?.(this.t.cdevs[d])
  }

  /** Run one op; its errno ("OK" on success), or what a DMA reached. */
  async exec(o: Op): Promise<string> {
    if (o.op === 'hostBind' || o.op === 'toVfio') return this.admin(o)
    if (o.op === 'unbindVfio') return this.unbindVfio(o.d)
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
        return errnoOf(await setContainer(a, must(this.group[o.p], 'group'), c))
      }
      case 'setIommu':
        return errnoOf(await setIommu(a, must(this.container[o.p], 'container')))
      case 'unsetContainer':
        return errnoOf(await unsetContainer(a, must(this.group[o.p], 'group')))
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
      case 'map': {
        const va = await this.bufferOf(o.p)
        const r =
          o.space === 'container'
            ? await mapDma(a, must(this.container[o.p], 'container'), { vaddr: va, iova: MODEL_IOVA, size: PAGE, write: true })
            : await ioasMap(a, await this.ictx(o.p), {
                ioasId: must(this.ioasId[o.p], 'IOAS'),
                userVa: va,
                length: PAGE,
                iova: MODEL_IOVA,
                flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
              })
        return errnoOf(r)
      }
      case 'unmap': {
        const r =
          o.space === 'container'
            ? await unmapDma(a, must(this.container[o.p], 'container'), MODEL_IOVA, PAGE)
            : await ioasUnmap(a, await this.ictx(o.p), must(this.ioasId[o.p], 'IOAS'), MODEL_IOVA, PAGE)
        if (r.ret >= 0 && r.unmapped !== BigInt(PAGE)) return `unmapped ${r.unmapped} bytes`
        return errnoOf(r)
      }
      case 'dma':
        return this.dma(o.p, o.d, a)
    }
  }

  private async bufferOf(p: Proc): Promise<bigint> {
    return (this.buffer[p] ??= (await (await this.agent(p)).memAlloc(PAGE)).addr)
  }

  /**
   * Device d, driven through one of p's fds, writes DMA_LEN bytes to MODEL_IOVA. Every
   * process's buffer is filled with fresh random bytes first; the result names the buffers
   * the write changed ("reached A"), or "blocked" when none changed.
   */
  private async dma(p: Proc, d: Dev, a: GuestAgent): Promise<string> {
    const fd = this.deviceFds[p][d].at(-1) ?? this.cdev[p][d]
    if (fd === undefined) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: ${p} has no fd of dev${d} to drive a DMA with`)
    const key = `${p}/${d}/${fd}`
    let dev = this.edu.get(key)
    if (!dev) this.edu.set(key, (dev = await EduDevice.open(a, fd, `${p}'s dev${d} (fd ${fd})`)))
    await dev.enableBusMaster()
    const fills = new Map<Proc, Buffer>()
    for (const q of PROCS) {
      const va = this.buffer[q]
      if (va === undefined || !this.agents[q]) continue
      const fill = randomBytes(DMA_LEN)
      await this.agents[q]!.memWrite(va, fill)
      fills.set(q, fill)
    }
    const r = await dev.dmaFromDevice(MODEL_IOVA, DMA_LEN)
    if (!r.completed) return `DMA did not complete (${r.note ?? ''})`
    const reached: Proc[] = []
    for (const [q, fill] of fills) if (!(await this.agents[q]!.memRead(this.buffer[q]!, DMA_LEN)).equals(fill)) reached.push(q)
    return reached.length ? `reached ${reached.join('+')}` : 'blocked'
  }

  /** Whether any process holds an fd naming device d (a device fd or a cdev). */
  private holds(d: Dev): boolean {
    return PROCS.some((p) => this.deviceFds[p][d].length > 0 || this.cdev[p][d] !== undefined)
  }

  /**
   * The administrator unbinds vfio-pci from device d. The write blocks while the device is
   * in use (vfio_unregister_group_dev waits), so it runs in a process of its own; the kernel
   * must ask the users to let go (the console line, none of the model's users registers a
   * request eventfd), and they do: every fd naming the device closes, then the unbind ends.
   */
  private async unbindVfio(d: Dev): Promise<string> {
    const bdf = this.t.bdfs[d]
    const inUse = this.holds(d)
    const from = await this.guest.console.size()
    const unbinder = await this.guest.agent({ label: 'model unbinder' })
    try {
      const done = unbinder.writeFile(`/sys/bus/pci/devices/${bdf}/driver/unbind`, bdf)
      let result = 'OK'
      if (inUse) {
        const line = await this.guest.console.waitFor(NO_REQUEST_CHANNEL, { from, deadlineMs: REQUEST_DEADLINE_MS }).catch(() => undefined)
        result = line?.line.includes(bdf) ? 'requested' : 'not asked'
        for (const p of PROCS) {
          const a = this.agents[p]
          if (!a) continue
          for (const fd of this.deviceFds[p][d].splice(0)) await a.closeFd(fd)
          const c = this.cdev[p][d]
          if (c !== undefined) await a.closeFd(c)
          this.cdev[p][d] = undefined
        }
      }
      const r = await done
      if (r.ret < 0) throw new HarnessError(`${HARNESS_ERROR_TAG} model runner: unbind ${bdf} from vfio-pci: ${errnoOf(r)}`)
      return result
    } finally {
      await unbinder.close()
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
    if (now === 'vfio-pci') await this.newCdev(o.d)
    return now === 'vfio-pci' ? 'OK' : `driver ${now ?? 'none'}`
  }

  private forget(p: Proc): void {
    delete this.agents[p]
    delete this.group[p]
    delete this.container[p]
    delete this.iommufd[p]
    delete this.ioasId[p]
    delete this.buffer[p]
    for (const key of [...this.edu.keys()]) if (key.startsWith(`${p}/`)) this.edu.delete(key)
    this.deviceFds[p] = [[], []]
    this.cdev[p] = [undefined, undefined]
  }

  /** Every process of the sequence exits: the group and the devices go back to the kernel. */
  async end(): Promise<void> {
    for (const p of PROCS) {
      await this.agents[p]?.close()
      this.forget(p)
    }
    // Both devices back on vfio-pci for the next sequence (one scan of the guest's PCI devices).
    const pci = await this.guest.pciDevices()
    for (const d of DEVS) {
      if (pci.find((x) => x.bdf === this.t.bdfs[d])?.driver !== 'vfio-pci') {
        await this.guest.bindDriver(this.t.bdfs[d], 'vfio-pci')
        await this.newCdev(d)
      }
    }
    await this.adminAgent?.close()
    this.adminAgent = undefined
  }
}

/** One sequence: each applicable op on the guest, checked against the model; throws a Divergence. */
export async function runSequence(guest: GuestSession, k: ModelKernel, t: ModelTarget, ops: Op[], stats?: ModelStats): Promise<StepLog[]> {
  const sys = new RealSystem(guest, t)
  const count = (m: Map<string, number>, key: string, n: number) => m.set(key, (m.get(key) ?? 0) + n)
  const log: StepLog[] = []
  let s: ModelState = initialState()
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

export interface ModelResult {
  seed: number
  runs: number
  steps: number
  stats: ModelStats
  /** The shortest diverging sequence fast-check found, with its step log. */
  /** Found at step `found` of a random sequence, shrunk in `attempts` runs on the guest. */
  counterexample?: Shrunk & { found: number }
}

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
  let s = initialState()
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
