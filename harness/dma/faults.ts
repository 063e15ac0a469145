// How each vIOMMU's guest driver reports a DMA translation fault on the console, as data
// (one format per IommuModel, each citing the printk it comes from in the 6.12 source), and
// helpers that read the console between two offsets and return the fault lines in it.
//
// None of these lines is a splat (harness/guest/splats.ts): an expected fault does not fail
// the test by itself. FAULT_EXAMPLES holds real lines as 6.12 guests printed them under QEMU
// 7.2, for checking both (each parses here, none is a splat).
import type { IommuModel } from '../../guests/topologies/types.js'
import type { ConsoleLog } from '../guest/console-log.js'

export type FaultAccess = 'read' | 'write'

export interface FaultLine {
  model: IommuModel
  /** The console line, without the printk timestamp. */
  line: string
  /**
   * The PCI requester id the line names (bus << 8 | devfn), when it names one. Segment 0 is
   * assumed (q35 has one).
   */
  rid?: number
  /** The faulting address as printed (intel-iommu prints the page: the low 12 bits are 0). */
  addr?: bigint
  /** Read or write, when the line says (virtio-iommu says nothing for an unmapped address). */
  access?: FaultAccess
  /** The model's own reason (intel: "0x05 PTE Write access is not set"; virtio: "page"; amd: "flags=0x..."). */
  reason: string
}

export interface FaultFormat {
  model: IommuModel
  /** Matches one fault line (timestamp stripped); the groups are read by `parse`. */
  pattern: RegExp
  parse: (m: RegExpExecArray, line: string) => Omit<FaultLine, 'model' | 'line'>
  /** Where the line is printed. */
  source: string
  /**
   * How the driver spends its fault-line rate limit (DEFAULT_RATELIMIT_BURST calls per
   * DEFAULT_RATELIMIT_INTERVAL): the __ratelimit() calls a console line stands for (0 for a
   * line that is none of the driver's), and the calls one provoked fault makes.
   */
  ratelimit: { units: (line: string) => number; perFault: number }
}

const rid = (bus: string, dev: string, fn: string) => (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 16)
const hex = (s: string | undefined) => (s === undefined ? undefined : BigInt(s.startsWith('0x') ? s : '0x' + s))

/** drivers/iommu/amd/amd_iommu_types.h: EVENT_FLAG_RW (the access was a write), EVENT_FLAG_I (interrupt request). */
export const AMD_EVENT_FLAG_RW = 0x020
export const AMD_EVENT_FLAG_I = 0x008

export const FAULT_FORMATS: Record<IommuModel, FaultFormat | undefined> = {
  // drivers/iommu/intel/dmar.c dmar_fault_do_one (pr_fmt "DMAR: "):
  //   "[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s"
  // with "DMA Read" / "DMA Write" (the PASID variant prints "PASID 0x%x" instead of NO_PASID).
  // 7.x prints the PCI segment too: "Request device [%04x:%02x:%02x.%d]" (read in 7.2's dmar.c).
  // QEMU records the page address (hw/i386/intel_iommu.c vtd_record_frcd: VTD_FRCD_FI(addr)).
  'intel-iommu': {
    model: 'intel-iommu',
    pattern:
      /DMAR: \[DMA (?<access>Read|Write) (?:NO_PASID|PASID 0x[0-9a-f]+)\] Request device \[(?:[0-9a-f]{4}:)?(?<bus>[0-9a-f]{2}):(?<dev>[0-9a-f]{2})\.(?<fn>[0-7])\] fault addr 0x(?<addr>[0-9a-f]+) \[fault reason 0x(?<reason>[0-9a-f]{2})\] ?(?<text>.*)$/,
    parse: (m) => {
      const g = m.groups!
      return {
        rid: rid(g.bus!, g.dev!, g.fn!),
        addr: hex(g.addr),
        access: g.access === 'Write' ? 'write' : 'read',
        reason: `0x${g.reason} ${g.text!.trim()}`,
      }
    },
    source: 'drivers/iommu/intel/dmar.c: dmar_fault_do_one',
    // dmar.c dmar_fault, one static state: __ratelimit() for the "DRHD: handling fault status
    // reg" line, then once at the top of every turn of the record loop, including the last
    // turn that finds no record (F clear) and breaks. One fault with one record: 3 calls for
    // 2 lines (seen: after three faults in 5 s the fourth printed its status line only, then
    // "dmar_fault: 2 callbacks suppressed").
    ratelimit: {
      units: (line) => (/DMAR: DRHD: handling fault status reg/.test(line) ? 2 : FAULT_FORMATS['intel-iommu']!.pattern.test(line) ? 1 : 0),
      perFault: 3,
    },
  },
  // drivers/iommu/amd/iommu.c amd_iommu_report_page_fault: with the device known,
  //   pci_err(pdev, "Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx flags=0x%04x]")
  // (so "<driver> 0000:BB:DD.F: Event logged ..."); otherwise (pr_fmt "AMD-Vi: ")
  //   "Event logged [IO_PAGE_FAULT device=%04x:%02x:%02x.%x domain=0x%04x address=0x%llx flags=0x%04x]".
  'amd-iommu': {
    model: 'amd-iommu',
    pattern:
      /(?:\S+ [0-9a-f]{4}:(?<bus>[0-9a-f]{2}):(?<dev>[0-9a-f]{2})\.(?<fn>[0-7]): Event logged \[IO_PAGE_FAULT |AMD-Vi: Event logged \[IO_PAGE_FAULT device=[0-9a-f]{4}:(?<bus2>[0-9a-f]{2}):(?<dev2>[0-9a-f]{2})\.(?<fn2>[0-7]) )domain=0x(?<domain>[0-9a-f]+) address=0x(?<addr>[0-9a-f]+) flags=0x(?<flags>[0-9a-f]+)\]/,
    parse: (m) => {
      const g = m.groups!
      const flags = parseInt(g.flags!, 16)
      return {
        rid: rid((g.bus ?? g.bus2)!, (g.dev ?? g.dev2)!, (g.fn ?? g.fn2)!),
        addr: hex(g.addr),
        access: flags & AMD_EVENT_FLAG_RW ? 'write' : 'read',
        reason: `domain=0x${g.domain} flags=0x${g.flags}`,
      }
    },
    source: 'drivers/iommu/amd/iommu.c: amd_iommu_report_page_fault',
    // One __ratelimit(&dev_data->rs) (or pr_err_ratelimited) per line.
    ratelimit: { units: (line) => (FAULT_FORMATS['amd-iommu']!.pattern.test(line) ? 1 : 0), perFault: 1 },
  },
  // drivers/iommu/virtio-iommu.c viommu_fault_handler (dev_err_ratelimited on the virtio
  // device, so "virtio_iommu virtioN: "):
  //   "%s fault from EP %u at %#llx [%s%s%s]" (reason domain|page|unknown, then R, W, X flags)
  //   "%s fault from EP %u"                   (no address)
  // The endpoint id is the PCI requester id: QEMU's ACPI VIOT (hw/acpi/viot.c) describes the
  // PCI host bridge with endpoint_start = bdf_start = 0. QEMU's virtio_iommu_translate reports
  // an unmapped address with F_ADDRESS only ("[]") and a permission fault with R or W.
  'virtio-iommu': {
    model: 'virtio-iommu',
    pattern: /virtio_iommu \S+: (?<reason>domain|page|unknown) fault from EP (?<ep>\d+)(?: at (?<addr>0x[0-9a-f]+|0) \[(?<flags>R?W?X?)\])?/,
    parse: (m) => {
      const g = m.groups!
      const flags = g.flags ?? ''
      return {
        rid: Number(g.ep),
        addr: g.addr === undefined ? undefined : BigInt(g.addr),
        access: flags.includes('W') ? 'write' : flags.includes('R') ? 'read' : undefined,
        reason: `${g.reason}${g.flags !== undefined ? ` [${flags}]` : ''}`,
      }
    },
    source: 'drivers/iommu/virtio-iommu.c: viommu_fault_handler',
    // dev_err_ratelimited: one call per line (two call sites, counted together: safe side).
    ratelimit: { units: (line) => (FAULT_FORMATS['virtio-iommu']!.pattern.test(line) ? 1 : 0), perFault: 1 },
  },
  none: undefined,
}

/**
 * Fault lines as printed by debian-source 6.12.118 guests under QEMU 7.2 (acs-edu at
 * 0000:01:00.0), with the lines the driver prints around them. amd-iommu printed none: QEMU
 * 7.2's amdvi_page_walk returns without logging an event on a zero PTE.
 */
export const FAULT_EXAMPLES: Partial<Record<IommuModel, string[]>> = {
  'intel-iommu': [
    'DMAR: DRHD: handling fault status reg 2',
    'DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x5a5000 [fault reason 0x05] PTE Write access is not set',
    // As debian-source 7.2.13 printed it (segment added).
    'DMAR: [DMA Write NO_PASID] Request device [0000:01:00.0] fault addr 0x200000 [fault reason 0x05] PTE Write access is not set',
  ],
  'virtio-iommu': [
    'viommu_fault_handler: 246 callbacks suppressed',
    'virtio_iommu virtio0: page fault from EP 256 at 0x5a5000 []',
    'virtio_iommu virtio0: page fault from EP 256 at 0x200000 [W]',
  ],
}

/** "0000:02:00.0" or "02:00.0" -> requester id (bus << 8 | devfn). */
export function ridOf(bdf: string): number {
  const m = /^(?:[0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(bdf)
  if (!m) throw new Error(`not a PCI BDF: ${bdf}`)
  return rid(m[1]!, m[2]!, m[3]!)
}

/** Strip the "[    1.234567] " timestamp that printk.time adds, and a trailing "\r". */
function body(line: string): string {
  return line.replace(/\r$/, '').replace(/^\[\s*\d+\.\d+\]\s?/, '')
}

/** The fault lines of `model` in console text. */
export function parseFaultLines(model: IommuModel, text: string): FaultLine[] {
  const fmt = FAULT_FORMATS[model]
  if (!fmt) return []
  const out: FaultLine[] = []
  for (const raw of text.split('\n')) {
    const line = body(raw)
    const m = fmt.pattern.exec(line)
    if (m) out.push({ model, line, ...fmt.parse(m, line) })
  }
  return out
}

/** The fault lines the console got between two byte offsets (to: its current end). */
export async function readFaultLines(console: ConsoleLog, model: IommuModel, from: number, to?: number): Promise<FaultLine[]> {
  return parseFaultLines(model, await console.read(from, to))
}

export interface FaultMatch {
  /** The device that did the DMA. */
  bdf: string
  /** The IOVA it used; compared by 4 KiB page (intel-iommu prints the page address). */
  iova?: bigint
  access?: FaultAccess
}

export function faultMatches(f: FaultLine, want: FaultMatch): boolean {
  if (f.rid !== ridOf(want.bdf)) return false
  if (want.iova !== undefined && (f.addr === undefined || f.addr >> 12n !== want.iova >> 12n)) return false
  // A line that does not say read/write (virtio-iommu, unmapped) is not held against it.
  if (want.access !== undefined && f.access !== undefined && f.access !== want.access) return false
  return true
}

/**
 * How long a test waits for an expected fault line after the DMA that should raise it has
 * completed. The lines come from the vIOMMU's fault interrupt (intel: dmar_fault; virtio: the
 * event virtqueue, viommu_fault_handler), which QEMU raises during the DMA itself, so they are
 * on the console within milliseconds: measured 2026-12-06 on the models that print them
 * (Debian 6.1/6.12, conform 6.12/7.2, intel-iommu and virtio-iommu, TCG, up to 4 guests at
 * once on 2 cores), 52 fault lines, at most 8 ms after the DMA completed (the test annotates
 * each). The bound only matters where no line comes (QEMU 7.2's amd-iommu logs no event for
 * a zero PTE: suites/known-issues.ts), which waited 20 s per test before.
 */
export const FAULT_LINE_DEADLINE_MS = 2_000

/**
 * Waits (polling the console file) until a fault line of `model` matching `want` appears
 * after offset `from`, or the deadline passes. Returns the matching line (undefined when
 * none came), every fault line seen, for the assertion message, and how long it waited.
 */
export async function waitForFault(
  console: ConsoleLog,
  model: IommuModel,
  from: number,
  want: FaultMatch,
  deadlineMs = FAULT_LINE_DEADLINE_MS,
): Promise<{ match?: FaultLine; seen: FaultLine[]; waitedMs: number }> {
  const start = performance.now()
  const until = Date.now() + deadlineMs
  // First looks soon (the line is usually there already), then every 200 ms.
  let pollMs = 10
  for (;;) {
    const seen = await readFaultLines(console, model, from)
    const match = seen.find((f) => faultMatches(f, want))
    if (match || Date.now() > until) return { match, seen, waitedMs: Math.round(performance.now() - start) }
    await new Promise((r) => setTimeout(r, pollMs))
    pollMs = Math.min(200, pollMs * 2)
  }
}

/** A one-line description of what was expected and what came, for expect() messages. */
export function describeFaults(model: IommuModel, want: FaultMatch, seen: FaultLine[]): string {
  const what = `${model} fault line for ${want.bdf}${want.iova !== undefined ? ` at IOVA 0x${want.iova.toString(16)}` : ''}${want.access ? ` (${want.access})` : ''}`
  return seen.length ? `${what}; fault lines seen instead: ${seen.map((f) => JSON.stringify(f.line)).join(' | ')}` : `${what}; no fault line of ${model} on the console`
}

/**
 * All three guest drivers rate-limit their fault lines with the default ratelimit state
 * (include/linux/ratelimit_types.h: DEFAULT_RATELIMIT_INTERVAL 5*HZ, burst 10): intel
 * (dmar.c dmar_fault: one static state, two calls per fault), virtio (dev_err_ratelimited
 * per call site), amd (one state per device, iommu.c amd_iommu_report_page_fault). After a
 * burst, every fault for up to 5 s is counted as "callbacks suppressed" and never printed,
 * so a test that expects "the kernel logs a fault" right after another test's faults would
 * see nothing through no fault of the kernel's.
 */
export const FAULT_RATELIMIT_INTERVAL_S = 5
/** DEFAULT_RATELIMIT_BURST: prints allowed per interval. */
export const FAULT_RATELIMIT_BURST = 10
const SUPPRESSED = /^\S+: \d+ callbacks suppressed$/

/** A console line that spent the rate limit: its printk time and the __ratelimit() calls it stands for. */
export interface RateLimitEntry {
  t: number
  units: number
}

/**
 * The driver's rate-limit spending on the console's last boot, oldest first: every line of
 * the model's that stands for __ratelimit() calls, and "callbacks suppressed" lines (0 calls:
 * they say a window was full). A guest the harness rebooted continues its console log, and
 * printk time starts again at 0: lines from before a timestamp that goes back belong to an
 * earlier kernel and are forgotten (read against the new kernel's uptime, they would ask for
 * a wait of the whole earlier boot).
 */
export function rateLimitEntries(model: IommuModel, text: string): RateLimitEntry[] {
  const fmt = FAULT_FORMATS[model]
  if (!fmt) return []
  let out: RateLimitEntry[] = []
  let prev = -1
  for (const raw of text.split('\n')) {
    const ts = /^\[\s*(\d+\.\d+)\]/.exec(raw)
    if (!ts) continue
    const t = Number(ts[1])
    // By more than a second: consecutive records from two CPUs may be microseconds out of order.
    if (t < prev - 1) out = []
    prev = t
    const line = body(raw)
    const units = fmt.ratelimit.units(line)
    if (units || SUPPRESSED.test(line)) out.push({ t, units })
  }
  return out
}

/** The printk time of the last fault-related line of the last boot (undefined: none). */
export function lastFaultTime(model: IommuModel, text: string): number | undefined {
  const e = rateLimitEntries(model, text)
  return e.length ? Math.max(...e.map((x) => x.t)) : undefined
}

/**
 * How long to wait before a DMA whose fault line a test expects, so that the driver's rate
 * limit has room for it: none while the calls of the last interval (guest clock: `now`,
 * seconds since boot) leave room for one more fault's; otherwise until the last line is one
 * interval old (the window began no later than that line, so it has ended), and never more
 * than one interval (a longer wait can only come from clocks that disagree: printk's
 * local_clock against /proc/uptime's boottime).
 */
export function faultQuietWaitMs(entries: RateLimitEntry[], now: number, perFault: number): number {
  if (!entries.length) return 0
  const last = Math.max(...entries.map((e) => e.t))
  const window = FAULT_RATELIMIT_INTERVAL_S + 0.5
  const spent = entries.filter((e) => e.t > now - window).reduce((a, e) => a + e.units, 0)
  if (spent + perFault <= FAULT_RATELIMIT_BURST) return 0
  return Math.max(0, Math.round(Math.min(last + window - now, window) * 1000))
}

/**
 * Waits until the rate limit that earlier faults may have used up has room again (see
 * faultQuietWaitMs). Call before a DMA whose fault line a test expects. Returns the ms waited.
 */
export async function waitForFaultQuiet(console: ConsoleLog, model: IommuModel, uptime: () => Promise<number>): Promise<number> {
  const fmt = FAULT_FORMATS[model]
  if (!fmt) return 0
  const size = await console.size()
  const entries = rateLimitEntries(model, await console.read(Math.max(0, size - 256 * 1024)))
  if (!entries.length) return 0
  const wait = faultQuietWaitMs(entries, await uptime(), fmt.ratelimit.perFault)
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  return wait
}
