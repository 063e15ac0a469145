// Devices added to and removed from a running guest: QMP device_add / device_del on the
// guest's QEMU (asked of the supervisor, which owns QEMU's monitor), and what the guest made
// of them: whether it enumerated an added device, whether a removal completed. A test that
// added a device removes it again when it ends (cleanup), so that the next test on the guest
// sees the topology it booted with.
import { hotplugNodes, type HotplugSlot } from '../../guests/topologies/types.js'
import type { QmpAnswer } from './supervisor.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import type { GuestSession } from './session.js'

/**
 * How long the guest may take to enumerate an added device or to finish a removal nobody
 * blocks. Measured on QEMU 7.2 under TCG (2 cores, the main job's four guests at once,
 * 2026-12-06): the guest's PCI scan shows an added edu 0.02-0.15 s after device_add, and QEMU
 * drops an unused device 0.1 s after device_del (acpiphp ejects through _EJ0). The deadline
 * is for a kernel that never completes, which is then diagnosed, not for a slow one.
 */
export const HOTPLUG_DEADLINE_MS = 20_000
const POLL_MS = 100

/** Console lines worth showing when a hot-plug goes wrong: the PCI core, acpiphp, VFIO. */
const HOTPLUG_LINES = /acpiphp|pciehp|shpchp|\bpci\b|vfio|iommu|ACPI|Call Trace|BUG|WARNING/

export type QmpCall = (execute: string, args?: Record<string, unknown>) => Promise<QmpAnswer>

export class GuestHotplug {
  private readonly added = new Set<string>()

  constructor(
    private readonly guest: GuestSession,
    private readonly qmp: QmpCall,
  ) {}

  /** A slot of the guest's topology, by id. */
  slot(id: string): HotplugSlot {
    const s = this.guest.topology.hotplugSlots?.find((x) => x.id === id)
    if (!s) throw new HarnessError(`${HARNESS_ERROR_TAG} topology ${this.guest.topology.name} has no hot-plug slot ${id}`)
    return s
  }

  /**
   * device_add the slot's device and wait until the guest enumerated it; returns its BDF.
   * QEMU refusing is ERROR with QEMU's message (the harness asked for something this QEMU
   * cannot do); a device the guest never enumerates is ERROR with what the console and QEMU
   * show (a kernel splat on the way is the test's FAIL, from the console check).
   */
  async add(slotId: string): Promise<string> {
    const slot = this.slot(slotId)
    const id = slot.device.id
    const from = await this.guest.console.size()
    const r = await this.qmp('device_add', { driver: slot.device.model, id, bus: slot.bus, addr: slot.addr })
    if ('qmpError' in r) {
      throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.guest.target.key}: QEMU refused device_add of ${slot.device.model} "${id}" on ${slot.bus} at ${slot.addr}: ${r.qmpError}`)
    }
    this.added.add(id)
    const t0 = performance.now()
    for (;;) {
      const d = (await this.guest.pciDevices()).find((x) => x.nodeId === id)
      if (d) {
        this.guest.waited('hot-add', performance.now() - t0)
        return d.bdf
      }
      if (performance.now() - t0 > HOTPLUG_DEADLINE_MS) {
        throw new HarnessError(
          `${HARNESS_ERROR_TAG} ${this.guest.target.key}: QEMU added "${id}" on ${slot.bus} at ${slot.addr}, but the guest did not enumerate it within ${HOTPLUG_DEADLINE_MS / 1000} s; ${await this.diagnose(id, from)}`,
        )
      }
      await sleep(POLL_MS)
    }
  }

  /** device_del: QEMU asks the guest to eject the device. Resolves once asked, not once done. */
  async requestRemoval(id: string): Promise<void> {
    const r = await this.qmp('device_del', { id })
    if ('qmpError' in r) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.guest.target.key}: QEMU refused device_del of "${id}": ${r.qmpError}`)
  }

  /** Whether QEMU still has the device: until the guest ejected it, a removal is not over. */
  async inQemu(id: string): Promise<boolean> {
    const r = await this.qmp('qom-list', { path: '/machine/peripheral' })
    if ('qmpError' in r) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.guest.target.key}: qom-list /machine/peripheral: ${r.qmpError}`)
    return (r.return as Array<{ name: string }>).some((p) => p.name === id)
  }

  /** Wait until QEMU dropped the device (the guest let it go); false at the deadline. */
  async waitGone(id: string, deadlineMs = HOTPLUG_DEADLINE_MS): Promise<boolean> {
    const t0 = performance.now()
    try {
      for (;;) {
        if (!(await this.inQemu(id))) {
          this.added.delete(id)
          return true
        }
        if (performance.now() - t0 > deadlineMs) return false
        await sleep(POLL_MS)
      }
    } finally {
      this.guest.waited('hot-remove', performance.now() - t0)
    }
  }

  /**
   * device_del and wait until it is done. A removal the guest does not complete is the
   * kernel's doing (nothing holds the device when a test calls this): an Error, a FAIL, with
   * the diagnosis.
   */
  async remove(id: string): Promise<void> {
    const from = await this.guest.console.size()
    await this.requestRemoval(id)
    if (!(await this.waitGone(id))) {
      throw new Error(`device_del "${id}": the guest did not let the device go within ${HOTPLUG_DEADLINE_MS / 1000} s; ${await this.diagnose(id, from)}`)
    }
  }

  /**
   * The test's end (after its agents closed): every device it added and did not remove goes
   * again. One the guest does not give back leaves the guest unlike its topology: ERROR,
   * naming it, so that a later test's surprise has a cause in the report.
   */
  async cleanup(): Promise<void> {
    const left = [...this.added]
    for (const id of left) {
      const from = await this.guest.console.size()
      if (await this.inQemu(id)) {
        // A removal requested earlier may still be on its way; a second device_del is then refused.
        await this.qmp('device_del', { id })
        if (!(await this.waitGone(id))) {
          throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.guest.target.key}: "${id}" could not be removed after the test (the guest keeps it); ${await this.diagnose(id, from)}`)
        }
      }
      this.added.delete(id)
    }
  }

  /** What QEMU and the guest show about a device whose hot-plug did not complete. */
  async diagnose(id: string, consoleFrom: number): Promise<string> {
    const out: string[] = []
    try {
      out.push((await this.inQemu(id)) ? `QEMU still has "${id}" (qom-list /machine/peripheral)` : `QEMU no longer has "${id}"`)
    } catch (e) {
      out.push(`QEMU: ${(e as Error).message}`)
    }
    const node = hotplugNodes(this.guest.topology).find((x) => x.node.id === id)
    try {
      const d = (await this.guest.pciDevices()).find((x) => x.nodeId === id)
      out.push(d ? `the guest has it at ${d.bdf} (driver ${d.driver ?? 'none'}, group ${d.group ?? 'none'})` : `the guest has no device at ${node?.path.join('/') ?? '?'}`)
    } catch (e) {
      out.push(`guest PCI scan: ${(e as Error).message}`)
    }
    const lines = (await this.guest.console.read(consoleFrom))
      .split('\n')
      .map((l) => l.replace(/\r$/, '').trim())
      .filter((l) => HOTPLUG_LINES.test(l) && !l.includes('vfio-conform: '))
      .slice(-8)
    out.push(lines.length ? `console since the request: ${lines.map((l) => `«${l}»`).join(' ')}` : 'the console printed nothing about it since the request')
    return out.join('; ')
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
