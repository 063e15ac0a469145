// The model's operations on a real guest: the processes of one sequence (agents), the fds
// they hold, their buffers and the edu devices seen through them, and the administrator who
// moves devices between drivers. Each operation returns its outcome in the model's terms (an
// errno name, "OK", "reached ..."/"blocked" for a DMA), so the runner can compare.
import { randomBytes, randomUUID } from 'node:crypto'
import { EduDevice } from '../dma/edu.js'
import type { GuestAgent } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { attachPt, bindIommufd, cdevPath, destroy, detachPt, errnoOf as errnoOfCdev, ioasAlloc, ioasMap, ioasUnmap, openCdev, openIommufd } from '../vfio/iommufd.js'
import { errnoOf, getDeviceFd, groupStatus, mapDma, openContainer, openGroup, setContainer, setIommu, unmapDma, unsetContainer } from '../vfio/legacy.js'
import { NO_REQUEST_CHANNEL } from '../vfio/request-irq.js'
import { hotReset } from '../vfio/reset.js'
import { bindIommufdWithToken, setVfToken } from '../vfio/sriov.js'
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/iommufd.js'
import { driverOf, HOST_DRIVER } from '../vfio/host-driver.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { describeOp, DEVS, PROCS, type Dev, type Op, type Proc, type Token } from './ownership.js'

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

/** The processes of one sequence and the fds they hold, as the model names them. */
export class RealSystem {
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
  /**
   * The model's two VF tokens: fresh UUIDs per sequence, so that the token an earlier sequence
   * left on the PF is one this sequence never names (the model's 'initial').
   */
  private readonly tokens: Record<Token, string> = { T1: randomUUID(), T2: randomUUID() }

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
      case 'bindCdev': {
        const fd = must(this.cdev[o.p][o.d], 'cdev')
        if (o.token) return errnoOfCdev(await bindIommufdWithToken(a, fd, await this.ictx(o.p), this.tokens[o.token]))
        return errnoOfCdev(await bindIommufd(a, fd, await this.ictx(o.p)))
      }
      case 'setToken':
        return errnoOf(await setVfToken(a, must(this.cdev[o.p][o.d], 'cdev'), this.tokens[o.token]))
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
      case 'hotReset': {
        // Through a device fd with p's group fd when p holds one open (else the zero-length
        // array), through a cdev with the zero-length array.
        const fd = o.via === 'device' ? must(this.deviceFds[o.p][o.d].at(-1), 'device') : must(this.cdev[o.p][o.d], 'cdev')
        const groups = o.via === 'device' && this.group[o.p] !== undefined ? [this.group[o.p]!] : []
        return errnoOf(await hotReset(a, fd, groups))
      }
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
