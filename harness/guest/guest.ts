// A booted QEMU guest: initramfs assembled, QEMU started (and always stopped), console
// watched for readiness and panics, SSH reachable with a pinned host key.
import { execa, type ResultPromise } from 'execa'
import { createWriteStream, rmSync } from 'node:fs'
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import type { IommuModel, Topology } from '../../guests/topologies/types.js'
import { KernelConfig } from '../kernel/config.js'
import type { KernelBuild } from '../kernel/kernel-build.js'
import { qemuArgs } from '../qemu/args.js'
import { qemuInfo } from '../qemu/qemu-spec.js'
import type { QemuInfo } from '../qemu/qemu-binary.js'
import { baseRootfs } from '../rootfs/base.js'
import { cpioArchive, withParents } from '../rootfs/cpio.js'
import { modulesRootfs } from '../rootfs/modules.js'
import { SshConnection } from '../ssh/connection.js'
import { generateRunKeys, type RunKeys } from '../ssh/keys.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { ownedTempDir } from '../util/owned-temp-dir.js'
import { ConsoleFailure, ConsoleLog } from './console-log.js'
import { findSplats, type Splat } from './splats.js'

/** Console lines that end a boot attempt at once (QEMU functional tests do the same). */
export const BOOT_FAILURE = /Kernel panic - not syncing|end Kernel panic|vfio-conform: FATAL/
export const READY = /vfio-conform: ready /

export interface BootTimes {
  /** ms from start() until QEMU was running (QMP answered) */
  qemuStart: number
  /** ms until the guest's init printed its first line */
  init: number
  /** ms until init said ready */
  ready: number
  /** ms until SSH accepted the pinned key */
  ssh: number
}

export interface GuestOptions {
  kernel: KernelBuild
  topology: Topology
  iommu: IommuModel
  runDir: string
  agentBinary: string
  deadlineMs?: number
  memoryMiB?: number
  extraCmdline?: string[]
  /** The QEMU that runs it (default: the host's). */
  qemu?: QemuInfo
}

/**
 * vCPUs per guest (VFIO_CONFORM_GUEST_CPUS, default 1). Measured 2026-12-06 here (2 cores,
 * TCG, thread=multi): the main job's four guests at once took 64 s with one vCPU each against
 * 83 s with two (bench/speed.ts --smp), the whole npm test matrix 217 s against 282 s, and
 * even a single guest's suites 52 s against 60 s; every verdict was the same. No suite
 * races two CPUs; the supervisor's NMI backtrace reads one CPU as well as two.
 */
export function guestCpus(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.VFIO_CONFORM_GUEST_CPUS
  if (v === undefined || v === '') return 1
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new HarnessError(`VFIO_CONFORM_GUEST_CPUS must be 1..8, not "${v}"`)
  return n
}

const live = new Set<Guest>()

/** Kills every guest of this process now (synchronous: usable from a signal handler). */
export function killAllGuestsNow(): void {
  for (const g of live) g.killNow()
}
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Last resort; QEMU also runs under setpriv --pdeathsig, so it dies with us even on SIGKILL.
  process.on('exit', () => {
    for (const g of live) g.killNow()
  })
}

export class Guest {
  readonly console: ConsoleLog
  readonly keys: RunKeys
  sshPort = 0
  accel: 'kvm' | 'tcg' = 'tcg'
  times?: BootTimes
  bootSplats: Splat[] = []
  modules: { loaded: string[]; absent: string[] } = { loaded: [], absent: [] }
  config?: KernelConfig
  private proc?: ResultPromise
  private exited?: string
  private qemuStderr = ''
  private qmpDir?: string

  private constructor(readonly opts: GuestOptions, readonly name: string) {
    this.console = new ConsoleLog(path.join(opts.runDir, 'console.log'))
    this.keys = generateRunKeys()
    this.config = opts.kernel.config
  }

  get pid(): number | undefined {
    return this.proc?.pid
  }

  static async boot(opts: GuestOptions): Promise<Guest> {
    const name = `${opts.kernel.label}/${opts.topology.name}/${opts.iommu}${opts.qemu && opts.qemu.spec !== 'host' ? `@qemu-${opts.qemu.version}` : ''}`
    const g = new Guest(opts, name)
    try {
      await g.start()
      return g
    } catch (e) {
      await g.stop()
      throw e
    }
  }

  /**
   * Stop this guest's QEMU and boot the same kernel and topology again (the supervisor's
   * recovery of a lost guest). Keys stay, the SSH port may change; the console log is kept
   * and continued, after a line that says why. Returns the console offset of the new boot.
   */
  async restart(why: string): Promise<number> {
    await this.stop()
    const from = await this.console.size()
    await appendFile(this.console.file, `\n==== vfio-conform harness: guest restarted (${why.replace(/\n/g, ' ')}) ====\n`)
    await this.start({ appendConsole: true })
    return from
  }

  get qmpSocket(): string | undefined {
    return this.qmpDir && path.join(this.qmpDir, 'qmp.sock')
  }

  private async start(how: { appendConsole?: boolean } = {}): Promise<void> {
    const { kernel, topology, iommu, runDir } = this.opts
    await mkdir(runDir, { recursive: true })
    const q = this.opts.qemu ?? (await qemuInfo())
    this.accel = q.kvm ? 'kvm' : 'tcg'
    // Deadlines: TCG is ~5-10x slower than KVM at boot, and slower still under a parallel build.
    const deadline = this.opts.deadlineMs ?? (q.kvm ? 90_000 : 300_000)

    const initrd = path.join(runDir, 'initrd.cpio')
    const base = await baseRootfs(this.opts.agentBinary)
    const mods = await modulesRootfs(kernel)
    this.modules = { loaded: mods.loaded, absent: mods.absent }
    const runCpio = cpioArchive(
      withParents([
        { type: 'file', path: 'etc/dropbear/host_key', data: this.keys.hostKeyDropbear, mode: 0o600 },
        { type: 'file', path: 'root/.ssh/authorized_keys', data: Buffer.from(this.keys.clientAuthorizedKey + '\n'), mode: 0o600 },
      ]),
    )
    await writeFile(initrd, Buffer.concat([await readFile(base), await readFile(mods.cpio), runCpio]))

    for (let attempt = 0; ; attempt++) {
      this.sshPort = await freePort()
      // A Unix socket path must fit in 108 bytes (sun_path); run directories can be longer,
      // so the socket lives in a short private directory that stop() removes.
      this.qmpDir ??= await ownedTempDir('vfio-conform-qmp-')
      const qmpSocket = path.join(this.qmpDir, 'qmp.sock')
      const args = qemuArgs({
        topology, iommu, kernel: kernel.bzImage, initrd, sshPort: this.sshPort,
        consoleLog: this.console.file, qmpSocket, kvm: q.kvm, memoryMiB: this.opts.memoryMiB, cpus: guestCpus(),
        extraCmdline: [...(topology.kernelArgs ?? []), ...(this.opts.extraCmdline ?? [])], available: q.devices, deviceProps: q.deviceProps,
      })
      await writeFile(path.join(runDir, 'qemu.cmdline'), [q.binary, ...args].map((a) => (/[\s,]/.test(a) ? `'${a}'` : a)).join(' ') + '\n')
      progress(`${this.name}: starting QEMU ${q.version} (${this.accel}${q.kvm ? '' : `: ${q.kvmReason}`}), console ${this.console.file}`)
      const t0 = Date.now()
      // A restarted guest continues its console log (QEMU appends): the readiness lines are
      // looked for after the point where this boot began.
      if (!how.appendConsole) await writeFile(this.console.file, '')
      const from = await this.console.size()
      this.exited = undefined
      this.qemuStderr = ''
      // setpriv --pdeathsig: QEMU gets SIGKILL when this process dies, however it dies.
      this.proc = execa('setpriv', ['--pdeathsig', 'KILL', '--', q.binary, ...args], {
        reject: false, stdin: 'ignore', buffer: false, cleanup: true,
      })
      live.add(this)
      installExitHook()
      const qemuLog = createWriteStream(path.join(runDir, 'qemu.log'))
      this.proc.stdout?.pipe(qemuLog)
      this.proc.stderr?.on('data', (d: Buffer) => {
        this.qemuStderr += d.toString()
        qemuLog.write(d)
      })
      void this.proc.then((r) => {
        this.exited = `QEMU exited (${r.signal ?? 'code ' + r.exitCode}): ${this.qemuStderr.trim().split('\n').slice(-3).join(' | ')}`
        live.delete(this)
      })
      const abort = () => this.exited
      try {
        // The console file appears at once; readiness is the init's line.
        await this.console.waitFor(/vfio-conform: init started|Linux version/, { from, failure: BOOT_FAILURE, deadlineMs: deadline, abort })
        const qemuStart = Date.now() - t0
        await this.console.waitFor(/vfio-conform: init started/, { from, failure: BOOT_FAILURE, deadlineMs: deadline, abort })
        const init = Date.now() - t0
        await this.console.waitFor(READY, { from, failure: BOOT_FAILURE, deadlineMs: deadline - init, abort })
        const ready = Date.now() - t0
        const ssh = await this.connect(Math.max(10_000, deadline - ready))
        ssh.close()
        this.times = { qemuStart, init, ready, ssh: Date.now() - t0 }
        break
      } catch (e) {
        const portClash = /Could not set up host forwarding rule/.test(this.qemuStderr)
        await this.stop()
        if (portClash && attempt < 3) continue
        const msg = e instanceof Error ? e.message : String(e)
        throw new HarnessError(`${this.name}: boot failed: ${msg}`, `console tail:\n${await this.console.tail(40)}`)
      }
    }
    if (!how.appendConsole) this.bootSplats = findSplats(await this.console.read())
    progress(`${this.name}: up (init ${(this.times.init / 1000).toFixed(1)} s, SSH ${(this.times.ssh / 1000).toFixed(1)} s)`)
  }

  /** A fresh SSH connection, retried until the deadline (dropbear may not listen yet). */
  async connect(deadlineMs = 30_000): Promise<SshConnection> {
    const until = Date.now() + deadlineMs
    let last: unknown
    while (Date.now() < until) {
      if (this.exited) throw new HarnessError(`${this.name}: ${this.exited}`)
      try {
        return await SshConnection.connectOnce({
          port: this.sshPort, privateKey: this.keys.clientPrivate, hostKeyBlob: this.keys.hostKeyBlob, label: this.name,
        })
      } catch (e) {
        if (e instanceof HarnessError) throw e // pinned host key mismatch: never retry
        last = e
        await new Promise((r) => setTimeout(r, 300))
      }
    }
    throw new HarnessError(`${this.name}: SSH to 127.0.0.1:${this.sshPort} not ready: ${(last as Error)?.message ?? 'timeout'}`)
  }

  /** The kernel's config: from the host when the provider knows it, else the guest's /proc/config.gz. */
  async loadConfig(ssh: SshConnection): Promise<KernelConfig | undefined> {
    if (this.config) return this.config
    const r = await ssh.exec('zcat /proc/config.gz')
    if (r.code === 0 && r.stdout.includes('CONFIG_')) this.config = KernelConfig.parse(r.stdout)
    return this.config
  }

  get exitReason(): string | undefined {
    return this.exited
  }

  /** Synchronous, for exit and signal paths: SIGKILL QEMU and remove its QMP directory. */
  killNow(): void {
    try {
      this.proc?.kill('SIGKILL')
    } catch {
      /* already gone */
    }
    if (this.qmpDir) rmSync(this.qmpDir, { recursive: true, force: true })
    this.qmpDir = undefined
  }

  async stop(): Promise<void> {
    if (this.proc && !this.exited) {
      this.proc.kill('SIGTERM')
      const t = setTimeout(() => this.killNow(), 5000)
      await this.proc.catch(() => {})
      clearTimeout(t)
    }
    live.delete(this)
    if (this.qmpDir) await rm(this.qmpDir, { recursive: true, force: true })
    this.qmpDir = undefined
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export { ConsoleFailure }
