// Who may use VFIO: device node ownership (changed by root through guest.run, always put
// back) and the memlock limit an agent runs under. The iommufd/cdev ioctls the privilege and
// mdev suites need come from harness/vfio/iommufd.ts.
import type { GuestAgent } from '../agent/client.js'
import type { AgentOptions, GuestSession } from '../guest/session.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { attachPt, bindIommufd, cdevPath, ioasAlloc, IOMMUFD_PATH, openCdev, openIommufd } from './iommufd.js'
import { must } from './legacy.js'

// ---- device nodes ----

export interface NodeStat {
  /** Permission bits, e.g. 0o600. */
  mode: number
  uid: number
  gid: number
  /** stat's %F, e.g. "character special file". */
  type: string
}

/** stat(1) of a node in the guest (busybox stat -c). */
export async function statNode(guest: GuestSession, path: string): Promise<NodeStat> {
  const out = (await guest.run(`stat -c '%a %u %g %F' ${path}`)).trim()
  const m = /^([0-7]+) (\d+) (\d+) (.+)$/.exec(out)
  if (!m) throw new HarnessError(`${HARNESS_ERROR_TAG} stat ${path}: unexpected output ${JSON.stringify(out)}`)
  return { mode: parseInt(m[1]!, 8), uid: Number(m[2]), gid: Number(m[3]), type: m[4]! }
}

/**
 * Gives a node to a user (chown uid:gid and/or chmod, as root) and returns what puts it back
 * exactly as it was. Plumbing: a failure is ERROR.
 */
export async function giveNode(guest: GuestSession, path: string, to: { uid?: number; gid?: number; mode?: number }): Promise<() => Promise<void>> {
  const before = await statNode(guest, path)
  const cmds: string[] = []
  if (to.uid !== undefined || to.gid !== undefined) cmds.push(`chown ${to.uid ?? before.uid}:${to.gid ?? to.uid ?? before.gid} ${path}`)
  if (to.mode !== undefined) cmds.push(`chmod ${to.mode.toString(8)} ${path}`)
  if (cmds.length) await guest.run(cmds.join(' && '))
  return async () => {
    // The node may be gone (e.g. an mdev removed by the test): nothing to restore then.
    await guest.run(`[ -e ${path} ] || exit 0; chown ${before.uid}:${before.gid} ${path} && chmod ${before.mode.toString(8)} ${path}`)
  }
}

/** Nodes given to users for a while (giveNode), each put back as it was, last given first. */
export class NodeGrants {
  private undo: Array<() => Promise<void>> = []

  constructor(private readonly guest: GuestSession) {}

  async give(path: string, to: { uid?: number; gid?: number; mode?: number }): Promise<void> {
    this.undo.push(await giveNode(this.guest, path, to))
  }

  async restore(): Promise<void> {
    for (const r of this.undo.splice(0).reverse()) await r()
  }
}

/** The agent's soft RLIMIT_MEMLOCK in bytes (from /proc/PID/limits), or undefined when unlimited. */
export async function memlockLimit(guest: GuestSession, a: GuestAgent): Promise<bigint | undefined> {
  const line = (await guest.run(`grep '^Max locked memory' /proc/${a.pid}/limits`)).trim()
  const soft = line.replace(/^Max locked memory\s+/, '').split(/\s+/)[0]
  if (soft === 'unlimited') return undefined
  if (!soft || !/^\d+$/.test(soft)) throw new HarnessError(`${HARNESS_ERROR_TAG} /proc/${a.pid}/limits: unexpected line ${JSON.stringify(line)}`)
  return BigInt(soft)
}

/** What the `nodes` fixture gives a test: chown/chmod a node as root, put back after the test. */
export interface Nodes {
  give: (path: string, to: { uid?: number; gid?: number; mode?: number }) => Promise<void>
}

/** The `nodes` test fixture (`base.extend({ nodes: nodesFixture })`): every node given is put back after the test. */
export async function nodesFixture({ guest }: { guest: GuestSession }, use: (nodes: Nodes) => Promise<void>): Promise<void> {
  const grants = new NodeGrants(guest)
  try {
    await use({ give: (path, to) => grants.give(path, to) })
  } finally {
    await grants.restore()
  }
}

/** An agent (opts: user, capabilities, limits) with `cdev` bound to its iommufd and attached to a new IOAS. */
export async function ioasAgent(guest: GuestSession, cdev: string, opts: AgentOptions): Promise<{ a: GuestAgent; ictx: number; ioasId: number }> {
  const a = await guest.agent(opts)
  const d = must(await openCdev(a, cdev), `open ${cdev}`)
  const i = must(await openIommufd(a), 'open /dev/iommu')
  must(await bindIommufd(a, d, i), 'BIND_IOMMUFD')
  const ioas = await ioasAlloc(a, i)
  must(ioas, 'IOAS_ALLOC')
  must(await attachPt(a, d, ioas.ioasId!), 'ATTACH_IOMMUFD_PT')
  return { a, ictx: i, ioasId: ioas.ioasId! }
}

/** Device `dev`'s cdev and /dev/iommu given to `to` for the test (the `nodes` fixture puts them back); the cdev's path. */
export async function cdevGivenTo(guest: GuestSession, nodes: Nodes, dev: string, to: { uid?: number; gid?: number; mode?: number }): Promise<string> {
  const g = await guest.vfioGroup(dev)
  const cdev = await cdevPath(guest, g.bdf(dev))
  await nodes.give(cdev, to)
  await nodes.give(IOMMUFD_PATH, to)
  return cdev
}
