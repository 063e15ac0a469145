// The guests' supervisor: runs in the process that booted them (vitest's global setup) and
// answers the test workers over a Unix socket. A worker that cannot reach its guest over SSH
// asks it to recover the guest: the supervisor records why the guest was lost (QEMU's state,
// the console's last line, a kernel backtrace forced by an NMI), stops that QEMU and boots
// the same kernel and topology again, so that one lost guest costs the run one test's
// attempt instead of every remaining test on that kernel (the test is retried once on the
// new guest: vitest.config.ts). Each loss is an incident in the run directory and the report.
//
// Protocol: one JSON line per connection each way.
//   {op:'boot', key}                         -> {target: GuestTarget}, once the guest's first boot is over
//        (ready, or error with why): global setup boots a guest when a test first needs it.
//   {op:'state', key}                        -> GuestState, once a reboot in progress is over
//   {op:'recover', key, generation, reason, test} -> GuestState with status 'rebooting' once
//        the loss is diagnosed (the reboot goes on in the background: the test that asked has
//        its own timeout to keep, and its retry waits for the new guest through 'state'), or
//        the state as it is when another worker already recovered that generation.
//   {op:'qmp', key, execute, arguments}     -> {return} or {error: QEMU's message}: a QMP
//        command on the guest's QEMU (device_add / device_del for the hotplug suite). QEMU's
//        monitor socket takes one client at a time, so the supervisor, which owns it, asks.
import { rmSync } from 'node:fs'
import { appendFile, rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import type { GuestTarget } from '../vitest/targets.js'
import { Qmp } from '../qemu/qmp.js'
import { progress } from '../util/log.js'
import { ownedTempDir } from '../util/owned-temp-dir.js'
import { procStat } from '../util/proc-stat.js'
import type { Guest } from './guest.js'
import { findSplats } from './splats.js'

/** Reboots one guest may get in a run: a guest lost again and again says something is wrong. */
export const MAX_REBOOTS_PER_GUEST = 2

export interface GuestState {
  key: string
  /** 1 for the first boot, +1 per reboot. */
  generation: number
  /** 'lost': reboots exhausted or a reboot failed; tests on it ERROR at once with `error`. */
  status: 'ready' | 'rebooting' | 'lost'
  sshPort?: number
  error?: string
  /** What the supervisor found when the guest was lost the last time. */
  lastIncident?: GuestIncident
}

export interface GuestIncident {
  key: string
  at: string
  /** The test that found the guest unreachable. */
  test: string
  /** How the worker lost it (the SSH error). */
  reason: string
  /** What the supervisor saw: QEMU's status, the console, the kernel's answer to an NMI. */
  diagnosis: string[]
  /** Console byte range of this guest's last life and its post-mortem. */
  console: { file: string; from: number; to: number }
  outcome: string
}

export type SupervisorRequest =
  | { op: 'boot'; key: string }
  | { op: 'state'; key: string }
  | { op: 'recover'; key: string; generation: number; reason: string; test: string }
  | QmpRequest

export interface QmpRequest {
  op: 'qmp'
  key: string
  execute: string
  arguments?: Record<string, unknown>
}

/** A QMP command's outcome: QEMU's return value, or its error message (a refusal is data). */
export type QmpAnswer = { return: unknown } | { qmpError: string }

interface Entry {
  guest: Guest
  target: GuestTarget
  state: GuestState
  /** Console offset where the current boot began. */
  bootOffset: number
  /** A recovery in progress (diagnosis, then the reboot). */
  busy?: Promise<void>
  /** The last QMP command asked for (they run one after another). */
  qmpQueue?: Promise<unknown>
}

/** The line Guest.restart writes into the console log (harness/guest/guest.ts). */
const RESTART_LINE_PREFIX = '==== vfio-conform harness:'

/** Kernel lines that answer the NMI the supervisor injects (unknown_nmi_panic is on the command line). */
const NMI_ANSWER = /Kernel panic - not syncing|NMI: Not continuing|Uhhuh\. NMI received/

export class GuestSupervisor {
  private entries = new Map<string, Entry>()
  private server?: net.Server
  private dir?: string
  socketPath = ''
  private onExit?: () => void
  private boot?: (key: string) => Promise<GuestTarget>
  private boots = new Map<string, Promise<GuestTarget>>()

  constructor(private readonly incidentsFile: string) {}

  /**
   * How the 'boot' op boots a guest (global setup's plan; it add()s the guest it booted):
   * once per guest, however many workers ask; each gets the target as that boot left it.
   */
  bootOnDemand(boot: (key: string) => Promise<GuestTarget>): void {
    this.boot = boot
  }

  /** The boots asked for so far (a teardown waits for those still under way). */
  bootsAsked(): Promise<GuestTarget>[] {
    return [...this.boots.values()]
  }

  add(guest: Guest, target: GuestTarget): void {
    this.entries.set(target.key, { guest, target, state: { key: target.key, generation: 1, status: 'ready', sshPort: guest.sshPort }, bootOffset: 0 })
  }

  async listen(): Promise<string> {
    // sun_path holds 108 bytes: a short private directory, not the run directory.
    this.dir = await ownedTempDir('vfio-conform-sup-')
    this.socketPath = path.join(this.dir, 'supervisor.sock')
    // Also on Ctrl-C / SIGTERM, where the CLI exits without the global teardown.
    const dir = this.dir
    this.onExit = () => rmSync(dir, { recursive: true, force: true })
    process.once('exit', this.onExit)
    this.server = net.createServer((sock) => {
      let buf = ''
      sock.on('error', () => {})
      sock.on('data', (d) => {
        buf += d.toString()
        const nl = buf.indexOf('\n')
        if (nl < 0) return
        const line = buf.slice(0, nl)
        buf = ''
        void this.handle(line).then(
          (r) => sock.end(JSON.stringify(r) + '\n'),
          (e) => sock.end(JSON.stringify({ error: (e as Error).message }) + '\n'),
        )
      })
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(this.socketPath, () => resolve())
    })
    return this.socketPath
  }

  async close(): Promise<void> {
    // Not left behind for a later run in this process (run --repeat-boot runs vitest N times).
    if (this.onExit) process.off('exit', this.onExit)
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()))
    if (this.dir) await rm(this.dir, { recursive: true, force: true })
  }

  private async handle(line: string): Promise<GuestState | QmpAnswer | { target: GuestTarget }> {
    const req = JSON.parse(line) as SupervisorRequest
    if (req.op === 'boot') {
      if (!this.boot) throw new Error(`guest ${req.key}: this run boots no guest on demand`)
      let p = this.boots.get(req.key)
      if (!p) this.boots.set(req.key, (p = this.boot(req.key)))
      return { target: await p }
    }
    const e = this.entries.get(req.key)
    if (!e) throw new Error(`no guest ${req.key} under supervision`)
    // One recovery at a time per guest; 'state' and a request about an older generation (or a
    // guest given up) get the state as the recovery in progress leaves it.
    while (e.busy) await e.busy
    if (req.op === 'qmp') return this.qmp(e, req)
    if (req.op === 'state' || req.generation < e.state.generation || e.state.status === 'lost') return e.state
    let diagnosed!: () => void
    const answered = new Promise<void>((r) => (diagnosed = r))
    e.busy = this.recover(e, req.reason, req.test, diagnosed).finally(() => {
      e.busy = undefined
      diagnosed()
    })
    await answered
    return e.state
  }

  /** One QMP command on the guest's QEMU; commands for one guest run one after another. */
  private qmp(e: Entry, req: QmpRequest): Promise<QmpAnswer> {
    const run = async (): Promise<QmpAnswer> => {
      if (!e.guest.qmpSocket || e.guest.exitReason) throw new Error(`${req.key}: QEMU is not running${e.guest.exitReason ? ` (${e.guest.exitReason})` : ''}`)
      const qmp = await Qmp.connect(e.guest.qmpSocket, 5000)
      try {
        return { return: await withTimeout(qmp.execute(req.execute, req.arguments), 15_000, req.execute) }
      } catch (err) {
        const m = (err as Error).message
        // QEMU's answer (an error object) is the caller's to judge; no answer is the supervisor's error.
        if (m.startsWith(`QMP ${req.execute}: `)) return { qmpError: m.slice(`QMP ${req.execute}: `.length) }
        throw err
      } finally {
        qmp.close()
      }
    }
    const p = (e.qmpQueue ?? Promise.resolve()).catch(() => {}).then(run)
    e.qmpQueue = p
    return p
  }

  private async recover(e: Entry, reason: string, test: string, diagnosed: () => void): Promise<void> {
    const { guest, target } = e
    const from = e.bootOffset
    progress(`${target.key}: lost (${reason}); diagnosing and rebooting`)
    const diagnosis = await this.diagnose(e)
    const incident: GuestIncident = {
      key: target.key, at: new Date().toISOString(), test, reason, diagnosis,
      console: { file: guest.console.file, from, to: 0 }, outcome: '',
    }
    if (e.state.generation > MAX_REBOOTS_PER_GUEST) {
      incident.outcome = `not rebooted: it was rebooted ${MAX_REBOOTS_PER_GUEST} times already in this run`
      e.state = { ...e.state, status: 'lost', error: `lost ${e.state.generation} times (last: ${reason}); ${incident.outcome}`, lastIncident: incident }
      diagnosed()
    } else {
      e.state = { ...e.state, status: 'rebooting', lastIncident: incident }
      diagnosed()
      try {
        e.bootOffset = await guest.restart(`lost: ${reason}`)
        incident.outcome = `rebooted (boot ${e.state.generation + 1}); SSH on 127.0.0.1:${guest.sshPort}`
        // Not the harness's own "guest restarted (... kernel BUG at ...)" line: the kernel's.
        const bootText = (await guest.console.read(e.bootOffset)).split('\n').filter((l) => !l.startsWith(RESTART_LINE_PREFIX)).join('\n')
        const splats = findSplats(bootText)
        if (splats.length) incident.outcome += `; the new boot splatted: ${splats.map((x) => x.kind).join(', ')}`
        e.state = { key: target.key, generation: e.state.generation + 1, status: 'ready', sshPort: guest.sshPort, lastIncident: incident }
      } catch (err) {
        incident.outcome = `reboot failed: ${(err as Error).message}`
        e.state = { ...e.state, status: 'lost', error: `lost (${reason}); ${incident.outcome}`, lastIncident: incident }
      }
    }
    incident.console.to = e.bootOffset > from ? e.bootOffset : await guest.console.size()
    progress(`${target.key}: ${incident.outcome}`)
    await appendFile(this.incidentsFile, JSON.stringify(incident) + '\n')
  }

  /**
   * Why is the guest unreachable? QEMU gone, QEMU stopped or wedged (no QMP answer), the
   * guest paused or panicked (QMP status), or a running guest: then an NMI makes its kernel
   * panic with a backtrace on the console (unknown_nmi_panic), which tells a hung kernel
   * (no answer) from a live one whose network or sshd went away.
   */
  private async diagnose(e: Entry): Promise<string[]> {
    const { guest } = e
    const out: string[] = []
    const pid = guest.pid
    const st = pid ? procStat(pid)?.state : undefined
    const procState = st && `${st} (${PROC_STATES[st] ?? '?'})`
    const size = await guest.console.size()
    const age = await guest.console.ageMs()
    const consoleLine = `console: last output ${age === undefined ? '?' : Math.round(age / 1000) + ' s'} ago: ${(await guest.console.lastLine()) ?? '(empty)'}`
    if (guest.exitReason || !procState || procState.startsWith('Z')) {
      // Gone (a panic ends QEMU: panic=-1 and -no-reboot); the exit may not be reaped yet.
      for (let i = 0; i < 30 && !guest.exitReason; i++) await new Promise((res) => setTimeout(res, 100))
      return [guest.exitReason ?? `QEMU pid ${pid} is gone`, consoleLine]
    }
    out.push(`QEMU pid ${pid} state ${procState}`, consoleLine)
    // What the kernel said just before (a CI log shows this block and nothing of the console).
    const before = lastKernelLines(await guest.console.read(Math.max(0, size - 16 * 1024), size), 6)
    if (before.length > 1) out.push(`console before the loss: ${before.map((l) => `«${l}»`).join(' ')}`)
    let qmp: Qmp | undefined
    try {
      qmp = await Qmp.connect(guest.qmpSocket!, 5000)
      const st = await withTimeout(qmp.execute('query-status'), 5000, 'query-status')
      out.push(`QMP: status ${st.status}${st.running ? ' (running)' : ''}`)
      const nic = await sshNicQueues(qmp)
      if (nic) out.push(nic)
      if (st.status === 'running') {
        await withTimeout(qmp.execute('inject-nmi'), 5000, 'inject-nmi')
        try {
          const r = await guest.console.waitFor(NMI_ANSWER, { from: size, deadlineMs: 15_000, abort: () => guest.exitReason })
          out.push(`the kernel answered an NMI ("${r.line.trim()}"): it was alive; its backtrace is on the console`)
          // Let it finish printing (every CPU's backtrace): with panic=-1 and -no-reboot QEMU then exits.
          for (let i = 0; i < 100 && !guest.exitReason; i++) await new Promise((res) => setTimeout(res, 100))
          const where = whereCpusWere(await guest.console.read(size))
          if (where.length) out.push(`where the CPUs were: ${where.join('; ')}`)
        } catch (err) {
          out.push(guest.exitReason ? `after an NMI: ${guest.exitReason}` : `no answer to an NMI within 15 s: the kernel is hung with interrupts off, or its console is (${(err as Error).message})`)
        }
      }
    } catch (err) {
      out.push(`QMP: no answer (${(err as Error).message}): QEMU itself is wedged or stopped`)
    } finally {
      qmp?.close()
    }
    return out
  }
}

/**
 * What each CPU ran when the NMI came (idle, a task, a spinning lock), from the panic's
 * backtraces: "CPU: 1 PID: 0 Comm: swapper/1 ..." names the task, then either a
 * "RIP: 0010:fn+0x../0x.." line (6.1) or, where the kernel prints no registers for the NMI
 * (7.2 without frame pointers: only "? fn+off/len" guesses), the last frame before
 * "</NMI>", which is where the NMI interrupted. 7.x also prints "NMI backtrace for cpu 1
 * skipped: idling at fn" for an idle CPU.
 */
export function whereCpusWere(text: string): string[] {
  const out: string[] = []
  let who: string | undefined
  let inNmi = false
  let lastFrame: string | undefined
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').replace(/^\[[^\]]*\]\s*/, '')
    const cpu = /^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+)/.exec(line)
    if (cpu) {
      who = `CPU ${cpu[1]} ${cpu[3]} (pid ${cpu[2]})`
      continue
    }
    const idle = /^NMI backtrace for cpu (\d+) skipped: idling at (\S+)/.exec(line)
    if (idle) out.push(`CPU ${idle[1]} idle at ${idle[2]}`)
    const rip = /^RIP: [0-9a-f]+:(\S+)/.exec(line)
    if (rip && who) {
      out.push(`${who} at ${rip[1]}`)
      who = undefined
    }
    if (line === '<NMI>') {
      inNmi = true
      lastFrame = undefined
    } else if (line === '</NMI>') {
      if (who && lastFrame) out.push(`${who} at ${lastFrame}`)
      who = undefined
      inNmi = false
    } else if (inNmi) {
      const frame = /^(?:\? )?([A-Za-z_][\w.]*\+0x[0-9a-f]+\/0x[0-9a-f]+)/.exec(line)
      if (frame) lastFrame = frame[1]
    }
  }
  return [...new Set(out)].slice(0, 8)
}

/** The last `n` non-empty console lines, each cut to 200 characters. */
export function lastKernelLines(text: string, n: number): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter(Boolean)
    .slice(-n)
    .map((l) => (l.length > 200 ? l.slice(0, 199) + '…' : l))
}

/** QEMU's path of the SSH NIC's virtio device (harness/qemu/args.ts: id=ssh-nic). */
const SSH_NIC_VIRTIO = '/machine/peripheral/ssh-nic/virtio-backend'

/**
 * The SSH NIC's virtqueues as QEMU sees them: whether the guest still posts receive buffers
 * and takes what the device used (a network that died in a live guest shows here).
 */
async function sshNicQueues(qmp: Qmp): Promise<string | undefined> {
  try {
    const q = async (queue: number) => withTimeout(qmp.execute('x-query-virtio-queue-status', { path: SSH_NIC_VIRTIO, queue }), 5000, 'x-query-virtio-queue-status')
    return describeNicQueues(await q(0), await q(1))
  } catch (e) {
    return `ssh-nic queues: not available (${(e as Error).message})`
  }
}

export interface VirtQueueStatus {
  'shadow-avail-idx': number
  'last-avail-idx': number
  'used-idx': number
  'signalled-used': number
  inuse: number
}

export function describeNicQueues(rx: VirtQueueStatus, tx: VirtQueueStatus): string {
  const posted = (rx['shadow-avail-idx'] - rx['used-idx'] + 65536) % 65536
  const pending = (tx['shadow-avail-idx'] - tx['used-idx'] + 65536) % 65536
  const unsignalled = (rx['used-idx'] - rx['signalled-used'] + 65536) % 65536
  const verdict = posted === 0 ? ': the guest posts no receive buffers (its RX path is stalled)' : ''
  return `ssh-nic (virtio-net) rx: ${posted} receive buffers posted, used ${rx['used-idx']}, ${unsignalled} used not yet signalled; tx: ${pending} pending${verdict}`
}

const PROC_STATES: Record<string, string> = { R: 'running', S: 'sleeping', D: 'disk sleep', T: 'stopped', t: 'traced', Z: 'zombie' }

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms)
    p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)))
  })
}

/** A worker's side of the qmp op: QEMU's return value or its error message. */
export function askSupervisorQmp(socketPath: string, req: QmpRequest, timeoutMs = 60_000): Promise<QmpAnswer> {
  return askSupervisor(socketPath, req, timeoutMs) as unknown as Promise<QmpAnswer>
}

/** A worker's side of the boot op: the target as its first boot left it (ready or error). */
export async function askSupervisorBoot(socketPath: string, key: string, timeoutMs = 15 * 60_000): Promise<GuestTarget> {
  // Wrapped: a target that failed to boot has its own `error`, which is not the supervisor's.
  return ((await askSupervisor(socketPath, { op: 'boot', key }, timeoutMs)) as unknown as { target: GuestTarget }).target
}

/** A worker's side: one request, one answer. */
export function askSupervisor(socketPath: string, req: SupervisorRequest, timeoutMs = 15 * 60_000): Promise<GuestState> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath)
    let buf = ''
    const t = setTimeout(() => {
      sock.destroy()
      reject(new Error(`guest supervisor: no answer to ${req.op} in ${timeoutMs / 1000} s`))
    }, timeoutMs)
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'))
    sock.on('data', (d) => (buf += d.toString()))
    sock.on('error', (e) => {
      clearTimeout(t)
      reject(new Error(`guest supervisor at ${socketPath}: ${e.message}`))
    })
    sock.on('end', () => {
      clearTimeout(t)
      try {
        const msg = JSON.parse(buf)
        if (msg.error) reject(new Error(`guest supervisor: ${msg.error}`))
        else resolve(msg as GuestState)
      } catch {
        reject(new Error(`guest supervisor: unreadable answer ${JSON.stringify(buf.slice(0, 200))}`))
      }
    })
  })
}
