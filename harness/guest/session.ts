// A test file's handle on a booted guest: one SSH connection, commands, guest agents
// (each a separate process in the guest), PCI state, and kmsg markers for attribution.
import { ExpectedKernelLog } from './expected-log.js'
import { errnoOf, GuestAgent } from '../agent/client.js'
import { AGENT_GUEST_PATH } from '../../guests/rootfs/recipe.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { findNode, type Topology } from '../../guests/topologies/types.js'
import { SshConnection, type ExecResult } from '../ssh/connection.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { FATAL_SPLATS, findSplats, kernelSplatFailure, type Splat } from './splats.js'
import { escapeRegExp } from '../util/regex.js'
import { driverOf } from '../vfio/host-driver.js'
import type { GuestTarget } from '../vitest/targets.js'
import { ConsoleLog } from './console-log.js'
import { parsePciScan, type GuestPciDevice } from './pci.js'

/** How an unreachable guest shows in an error (the fixtures recover the guest on it). */
export const SSH_LOST = 'SSH lost:'

export interface AgentOptions {
  /** Run as this user (uid and gid), e.g. 1000 for conform-a. */
  uid?: number
  gid?: number
  /** 'none' drops every capability; a list keeps exactly those. Default: root's full set. */
  caps?: 'none' | string[]
  label?: string
  /**
   * RLIMIT_MEMLOCK (soft and hard) in KiB, set by the shell before it execs the agent (lowering
   * a limit needs no privilege): a limit a test can exhaust with a few pages.
   */
  memlockKiB?: number
}

export interface VfioGroupInfo {
  /** IOMMU group number (/dev/vfio/N). */
  group: number
  devices: GuestPciDevice[]
  /** BDF of a member by topology node id. */
  bdf: (nodeId: string) => string
}

export class GuestSession {
  readonly topology: Topology
  readonly console: ConsoleLog
  private agents = new Set<GuestAgent>()
  /**
   * The harness's own agent (root), kept for the whole session: PCI scans, kmsg markers and
   * driver (un)binding are one request each over its channel, not a shell that forks per
   * device. Not one of the test's agents: closeAgents() leaves it alone.
   */
  private plumbing?: Promise<GuestAgent>
  /** What the running test declared it expects on the console (faults, splats). */
  readonly expected = new ExpectedKernelLog()
  /** Time the harness spent waiting during the current test, by kind (harness/vitest/timings.ts). */
  readonly waits = new Map<string, number>()
  /** Which boot of the guest this session reached (the supervisor counts reboots). */
  generation = 1
  /** Console offset where the current test began (the guest fixture sets it). */
  testFrom = 0
  /** The current test reported the kernel's splats itself (expectNoKernelSplat): its verdict stands. */
  splatReported = false
  private splatChecks = 0

  private constructor(readonly target: GuestTarget, readonly ssh: SshConnection) {
    this.topology = TOPOLOGIES[target.topology]!
    this.console = new ConsoleLog(target.consoleLog)
  }

  /**
   * Connect to the guest: two handshakes of up to 30 s each (a TCG guest on a loaded host is
   * slow, not gone), then "SSH lost". `port` is the guest's current SSH port when the
   * supervisor has rebooted it since global setup.
   */
  static async open(target: GuestTarget, port = target.ssh?.port): Promise<GuestSession> {
    if (target.status !== 'ready' || !target.ssh || !port) {
      throw new HarnessError(`${HARNESS_ERROR_TAG} guest ${target.key} is not available: ${target.error ?? 'not booted'}`)
    }
    const until = Date.now() + 45_000
    for (;;) {
      try {
        const ssh = await SshConnection.connectOnce({
          timeoutMs: 30_000,
          port,
          privateKey: target.ssh.clientPrivate,
          hostKeyBlob: Buffer.from(target.ssh.hostKeyBlob, 'base64'),
          label: target.key,
        })
        return new GuestSession(target, ssh)
      } catch (e) {
        if (Date.now() > until || e instanceof HarnessError) {
          throw new HarnessError(`${HARNESS_ERROR_TAG} ${target.key}: ${SSH_LOST} ${(e as Error).message}`)
        }
        // A refused or reset handshake (dropbear busy under TCG): try again shortly, until the deadline.
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  }

  /** Count `ms` of waiting of this kind against the current test (bench figures). */
  waited(kind: string, ms: number): void {
    this.waits.set(kind, (this.waits.get(kind) ?? 0) + ms)
  }

  exec(cmd: string, opts?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<ExecResult> {
    return this.ssh.exec(cmd, opts)
  }

  /** A command that must succeed (harness plumbing, not a kernel assertion). */
  run(cmd: string, opts?: { stdin?: string | Buffer; timeoutMs?: number }): Promise<string> {
    return this.ssh.run(cmd, opts)
  }

  /** Start a guest agent process. It is closed when the test ends (see fixtures). */
  async agent(opts: AgentOptions = {}): Promise<GuestAgent> {
    const args: string[] = []
    if (opts.gid !== undefined || opts.uid !== undefined) args.push('--gid', String(opts.gid ?? opts.uid))
    if (opts.uid !== undefined) args.push('--uid', String(opts.uid))
    if (opts.caps === 'none') args.push('--drop-caps')
    else if (opts.caps) args.push('--keep-caps', opts.caps.length ? opts.caps.join(',') : 'none')
    let cmd = [AGENT_GUEST_PATH, ...args].join(' ')
    if (opts.memlockKiB !== undefined) {
      if (!Number.isSafeInteger(opts.memlockKiB) || opts.memlockKiB < 0) throw new HarnessError(`agent: memlockKiB ${opts.memlockKiB} is not a size in KiB`)
      cmd = `ulimit -l ${opts.memlockKiB} && exec ${cmd}`
    }
    const ch = await this.ssh.channel(cmd)
    const label = opts.label ?? `agent${opts.uid !== undefined ? '(uid ' + opts.uid + ')' : ''}`
    const agent = new GuestAgent({
      stdout: ch,
      stdin: ch,
      stderr: ch.stderr,
      label: `${this.target.key} ${label}`,
      kill: () => ch.close(),
    })
    await agent.ready()
    this.agents.add(agent)
    return agent
  }

  /** SIGKILL an agent's process (the "holder dies" case) and wait until it is gone. */
  async killAgent(agent: GuestAgent): Promise<void> {
    const pid = agent.pid
    // SIGKILL is delivered asynchronously: poll (in the guest, one round trip) until the process
    // is gone or a zombie, i.e. do_exit has closed its fds, which is what the test asserts on.
    await this.run(`kill -9 ${pid}; while [ -e /proc/${pid} ] && ! grep -q '^State:.*Z' /proc/${pid}/status 2>/dev/null; do sleep 0.05; done`)
    this.agents.delete(agent)
    agent.abandon?.()
  }

  /** The plumbing agent, started on first use and again after it died. */
  private async tool(): Promise<GuestAgent> {
    const cur = this.plumbing && (await this.plumbing.catch(() => undefined))
    if (cur?.alive) return cur
    this.plumbing = (async () => {
      const ch = await this.ssh.channel(AGENT_GUEST_PATH)
      const agent = new GuestAgent({ stdout: ch, stdin: ch, stderr: ch.stderr, label: `${this.target.key} harness agent`, kill: () => ch.close() })
      await agent.ready()
      return agent
    })()
    return this.plumbing
  }

  /** A sysfs write the harness needs to succeed (plumbing: a failure is ERROR). */
  private async writeAttr(file: string, data: string): Promise<void> {
    const r = await (await this.tool()).writeFile(file, data)
    if (r.ret < 0) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: write ${JSON.stringify(data.trim())} to ${file}: ${r.step} ${errnoOf(r)}`)
  }

  /** The name of the driver a PCI device is bound to, or undefined. */
  private async driverOf(bdf: string): Promise<string | undefined> {
    return driverOf(await this.tool(), bdf)
  }

  async closeAgents(): Promise<void> {
    const all = [...this.agents]
    this.agents.clear()
    await Promise.all(all.map((a) => a.close().catch(() => {})))
  }

  async pciDevices(): Promise<GuestPciDevice[]> {
    return parsePciScan(await (await this.tool()).pciScan(), this.topology, this.target.iommu)
  }

  /** The guest BDF of a topology node. */
  async bdf(nodeId: string): Promise<string> {
    const d = (await this.pciDevices()).find((x) => x.nodeId === nodeId)
    if (!d) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: device ${nodeId} not found in the guest`)
    return d.bdf
  }

  /**
   * Bind a device to a driver through driver_override (so that no other driver grabs it);
   * harness plumbing: a failure is ERROR. Suites that assert on binding use the agent.
   */
  async bindDriver(bdf: string, driver: string): Promise<void> {
    const dev = `/sys/bus/pci/devices/${bdf}`
    const cur = await this.driverOf(bdf)
    if (cur === driver) return
    if (cur) await this.writeAttr(`${dev}/driver/unbind`, bdf)
    await this.writeAttr(`${dev}/driver_override`, `${driver}\n`)
    // drivers_probe's own errno is not the verdict: whether the driver is bound afterwards is.
    await (await this.tool()).writeFile('/sys/bus/pci/drivers_probe', bdf)
    const now = await this.driverOf(bdf)
    if (now !== driver) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: ${bdf} not bound to ${driver} (now: ${now ?? 'none'})`)
  }

  /**
   * Offer a driverless device to a driver (driver_override, then a probe); a device that
   * has a driver keeps it. The probe's own result is not checked: what the kernel made of it
   * (a driver, a group) is what the caller looks at.
   */
  async offerDriver(bdf: string, driver: string): Promise<void> {
    await this.writeAttr(`/sys/bus/pci/devices/${bdf}/driver_override`, `${driver}\n`)
    if (!(await this.driverOf(bdf))) await (await this.tool()).writeFile('/sys/bus/pci/drivers_probe', bdf)
  }

  /** Unbind a device from its driver and clear driver_override, leaving it driverless. */
  async unbind(bdf: string): Promise<void> {
    const dev = `/sys/bus/pci/devices/${bdf}`
    if (await this.driverOf(bdf)) await this.writeAttr(`${dev}/driver/unbind`, bdf)
    await this.writeAttr(`${dev}/driver_override`, '\n')
  }

  /** Put every device back on the driver it had in `snapshot` (after a test changed bindings). */
  async restoreDrivers(snapshot: GuestPciDevice[]): Promise<void> {
    const now = await this.pciDevices()
    for (const before of snapshot) {
      const cur = now.find((d) => d.bdf === before.bdf)
      if (!cur || cur.driver === before.driver) continue
      if (before.driver) await this.bindDriver(before.bdf, before.driver)
      else await this.unbind(before.bdf)
      // driver_override stays only where the snapshot had a vfio-pci binding.
      if (before.driver !== 'vfio-pci') await this.writeAttr(`/sys/bus/pci/devices/${before.bdf}/driver_override`, '\n')
    }
  }

  /** The IOMMU group that holds a topology device, with every device in it. */
  async groupOf(nodeId: string): Promise<VfioGroupInfo> {
    const all = await this.pciDevices()
    const me = all.find((d) => d.nodeId === nodeId)
    if (!me) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: device ${nodeId} not found in the guest`)
    if (me.group === undefined) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: device ${nodeId} (${me.bdf}) has no IOMMU group`)
    const devices = all.filter((d) => d.group === me.group)
    return {
      group: me.group,
      devices,
      bdf: (id: string) => {
        const d = devices.find((x) => x.nodeId === id)
        // Group membership is the kernel's decision: a missing member is a FAIL, not a harness error.
        if (!d) throw new Error(`${id} is not in the IOMMU group of ${nodeId} (group ${me.group}): the kernel grouped them apart`)
        return d.bdf
      },
    }
  }

  /**
   * Make the group of `nodeId` usable through VFIO: its `test` devices (the topology's
   * role) go to vfio-pci, the devices named in `unbind` lose their driver, everything else
   * (ports on pcieport, a NIC on its host driver) stays as it is. Plumbing: failures are ERROR.
   * The fixture puts every driver back after the test.
   */
  async vfioGroup(nodeId: string, opts: { unbind?: string[] } = {}): Promise<VfioGroupInfo> {
    // Members come from the topology's expectation for this vIOMMU where it has one: under
    // virtio-iommu a driverless group-mate has not joined the group yet (groups form at
    // probe), so the kernel's current view would miss it. nodeId goes first: its probe is
    // what creates the group there.
    const expected = this.topology.expectedGroups[this.target.iommu]?.find((g) => g.includes(nodeId))
    const members = expected ?? (await this.groupOf(nodeId)).devices.flatMap((d) => (d.nodeId ? [d.nodeId] : []))
    const bdfs = new Map((await this.pciDevices()).flatMap((d) => (d.nodeId ? [[d.nodeId, d.bdf] as const] : [])))
    const bdfOf = (id: string) => {
      const b = bdfs.get(id)
      if (!b) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.target.key}: device ${id} not found in the guest`)
      return b
    }
    for (const id of [nodeId, ...members.filter((m) => m !== nodeId)]) {
      if (opts.unbind?.includes(id)) await this.unbind(bdfOf(id))
      else if (this.roleOf(id) === 'test') await this.bindDriver(bdfOf(id), 'vfio-pci')
    }
    const g = await this.groupOf(nodeId)
    // The group node comes from devtmpfs once vfio registers the group; the loop (in the guest,
    // one round trip) returns at once when it is there, and bounds a lag at 5 s.
    await this.run(`for i in $(seq 50); do [ -e /dev/vfio/${g.group} ] && exit 0; sleep 0.1; done; echo "/dev/vfio/${g.group} never appeared" >&2; exit 1`)
    return g
  }

  /** The topology role of a device node (undefined for a q35 builtin). */
  roleOf(nodeId: string): string | undefined {
    try {
      return findNode(this.topology, nodeId).node.role
    } catch {
      return undefined // a q35 builtin
    }
  }

  /** Fatal kernel splats (BUG, Oops, GPF, panic) on the console since the current test began. */
  async fatalSplats(): Promise<Splat[]> {
    return findSplats(await this.console.read(this.testFrom)).filter((x) => FATAL_SPLATS.includes(x.kind))
  }

  /**
   * FAIL the test now if the kernel splatted since it began (`after`: what the test just
   * did), instead of at the test's end, or never: after an oops the next step hangs on a lock
   * the dead task held. Splats the test declared (guest.expected) do not count. A marker
   * written through /dev/kmsg and seen on the console bounds the console's lag (5 s at most).
   */
  async expectNoKernelSplat(after: string): Promise<void> {
    try {
      const m = await this.mark(`splat check ${++this.splatChecks}`)
      await this.console.waitFor(new RegExp(escapeRegExp(m) + '$'), { from: this.testFrom, deadlineMs: 5000 })
    } catch {
      // A kernel too stuck to log: what the console has is the answer.
    }
    const splats = findSplats(await this.console.read(this.testFrom)).filter((x) => !this.expected.expectsSplat(x.kind))
    if (!splats.length) return
    this.splatReported = true
    throw kernelSplatFailure(splats, after)
  }

  /** Write a marker line into the kernel log (and so the console), and return it. */
  async mark(text: string): Promise<string> {
    const line = `vfio-conform: ${text.replace(/[\n']/g, '')}`
    await this.writeAttr('/dev/kmsg', `<5>${line}\n`)
    return line
  }

  close(): void {
    // The plumbing agent goes with the connection (EOF on its channel ends it).
    this.ssh.close()
  }
}
