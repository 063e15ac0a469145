// The DMA fault lines a vIOMMU's guest driver prints (each model's format is part of its
// record in guests/viommus/, citing the printk it comes from), and helpers that read the
// console between two offsets and return the fault lines in it, and that account for the
// drivers' rate limit.
//
// None of these lines is a splat (harness/guest/splats.ts): an expected fault does not fail
// the test by itself.
import { VIOMMUS, type FaultAccess, type FaultFields, type FaultFormat, type IommuModel } from '../../guests/viommus/index.js'
import { rid } from '../../guests/viommus/fault-helpers.js'
import type { ConsoleLog } from '../guest/console-log.js'

export type { FaultAccess, FaultFormat }
export { AMD_EVENT_FLAG_I, AMD_EVENT_FLAG_RW } from '../../guests/viommus/amd-iommu.js'

export interface FaultLine extends FaultFields {
  model: IommuModel
  /** The console line, without the printk timestamp. */
  line: string
}

/** A model's fault-line format (undefined: its driver prints none, or there is no vIOMMU). */
export function faultFormat(model: IommuModel): FaultFormat | undefined {
  return VIOMMUS[model].faults
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
  const fmt = faultFormat(model)
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
  const fmt = faultFormat(model)
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
 * The drivers' rate-limit window is DEFAULT_RATELIMIT_INTERVAL in jiffies (lib/ratelimit.c
 * ___ratelimit: "time_is_before_jiffies(rs->begin + interval)"), and on a TCG guest of a
 * loaded host jiffies lag the console's clock (printk's local_clock and /proc/uptime agree
 * within 50 ms): in a main job on 2026-12-07 (conform 6.12, CONFIG_HZ_PERIODIC, HZ 250, QEMU
 * 7.2.22, host load ~16) intel-iommu kept one window open for 5.87 s of console time (a fourth
 * fault in it printed its status line only; docs/measurements.md). faultQuietWaitMs, which
 * counts in console time, then lets a DMA run inside a window that is still full, and its
 * fault line never comes. How much longer a window may last: this factor.
 */
export const RATELIMIT_JIFFIES_LAG = 2

/**
 * Whether a fault line that did not come may have been swallowed by the driver's rate limit:
 * no line of the model came at all since the DMA (`seen` empty: a line for another device or
 * address means the driver printed), and the model's lines within RATELIMIT_JIFFIES_LAG
 * intervals before `now` could have spent the burst. The caller then repeats the DMA.
 */
export function mayBeRateLimited(entries: RateLimitEntry[], now: number, perFault: number, seen: readonly unknown[]): boolean {
  if (seen.length) return false
  const window = FAULT_RATELIMIT_INTERVAL_S * RATELIMIT_JIFFIES_LAG + 0.5
  const spent = entries.filter((e) => e.t > now - window).reduce((a, e) => a + e.units, 0)
  return spent + perFault > FAULT_RATELIMIT_BURST
}

/**
 * Waits for the fault line of `want` after `from` (waitForFault); when none came and the
 * driver's rate limit may have swallowed it (mayBeRateLimited), waits out the rest of the
 * window and repeats the DMA (`redo`, the same access: it faults the same way), up to
 * `retries` times. `repeats`: how many DMAs were repeated before the line came (0: none).
 */
export async function waitForFaultOrRedo(
  console: ConsoleLog,
  model: IommuModel,
  from: number,
  want: FaultMatch,
  redo: () => Promise<unknown>,
  uptime: () => Promise<number>,
  retries = 2,
): Promise<{ match?: FaultLine; seen: FaultLine[]; waitedMs: number; repeats: number }> {
  const fmt = faultFormat(model)
  let r = await waitForFault(console, model, from, want)
  let waitedMs = r.waitedMs
  let repeats = 0
  while (!r.match && fmt && repeats < retries) {
    const size = await console.size()
    const entries = rateLimitEntries(model, await console.read(Math.max(0, size - 256 * 1024)))
    if (!mayBeRateLimited(entries, await uptime(), fmt.ratelimit.perFault, r.seen)) break
    const pause = 2_000
    await new Promise((res) => setTimeout(res, pause))
    const again = await console.size()
    await redo()
    repeats++
    r = await waitForFault(console, model, again, want)
    waitedMs += pause + r.waitedMs
  }
  return { ...r, waitedMs, repeats }
}

/**
 * Waits until the rate limit that earlier faults may have used up has room again (see
 * faultQuietWaitMs). Call before a DMA whose fault line a test expects. Returns the ms waited.
 */
export async function waitForFaultQuiet(console: ConsoleLog, model: IommuModel, uptime: () => Promise<number>): Promise<number> {
  const fmt = faultFormat(model)
  if (!fmt) return 0
  const size = await console.size()
  const entries = rateLimitEntries(model, await console.read(Math.max(0, size - 256 * 1024)))
  if (!entries.length) return 0
  const wait = faultQuietWaitMs(entries, await uptime(), fmt.ratelimit.perFault)
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  return wait
}
