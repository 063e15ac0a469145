// The fault-line parsers of harness/dma/faults.ts against lines real guests printed, and the
// rate-limit bookkeeping the DMA suite waits on.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, test, vi } from 'vitest'
import { faultFormat, faultMatches, faultQuietWaitMs, lastFaultTime, mayBeRateLimited, parseFaultLines, rateLimitEntries, ridOf, waitForFault, waitForFaultQuiet } from '../../harness/dma/faults.js'
import { ConsoleLog } from '../../harness/guest/console-log.js'
import { tempDir } from './temp-dirs.js'

describe('fault lines', () => {
  test('intel-iommu: requester, page address, access and reason come from dmar_fault_do_one', () => {
    const [f, seg, ...rest] = parseFaultLines('intel-iommu', faultFormat('intel-iommu')!.examples.map((l, i) => `[   12.${i}00000] ${l}\r`).join('\n'))
    expect(rest).toEqual([])
    // 7.x adds the PCI segment; the requester id is the same.
    expect(seg).toMatchObject({ rid: ridOf('01:00.0'), addr: 0x200000n, access: 'write' })
    expect(f).toMatchObject({ rid: ridOf('01:00.0'), addr: 0x5a5000n, access: 'write', reason: '0x05 PTE Write access is not set' })
    expect(faultMatches(f!, { bdf: '0000:01:00.0', iova: 0x5a5123n, access: 'write' })).toBe(true)
    expect(faultMatches(f!, { bdf: '0000:01:00.0', access: 'read' })).toBe(false)
    expect(faultMatches(f!, { bdf: '0000:02:00.0' })).toBe(false)
  })

  test('virtio-iommu: the endpoint id is the requester id; "[]" says nothing about the access', () => {
    const fs = parseFaultLines('virtio-iommu', faultFormat('virtio-iommu')!.examples.join('\n'))
    expect(fs.map((f) => [f.rid, f.addr, f.access])).toEqual([
      [256, 0x5a5000n, undefined],
      [256, 0x200000n, 'write'],
    ])
    // An unmapped-address line is not held against a write expectation.
    expect(faultMatches(fs[0]!, { bdf: '01:00.0', iova: 0x5a5000n, access: 'write' })).toBe(true)
  })

  test('amd-iommu: both printk forms, the RW flag decides the access', () => {
    const fs = parseFaultLines(
      'amd-iommu',
      [
        'vfio-pci 0000:01:00.0: Event logged [IO_PAGE_FAULT domain=0x0002 address=0x5a5000 flags=0x0020]',
        'AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:02:00.0 domain=0x0003 address=0x1000 flags=0x0000]',
      ].join('\n'),
    )
    expect(fs.map((f) => [f.rid, f.addr, f.access])).toEqual([
      [ridOf('01:00.0'), 0x5a5000n, 'write'],
      [ridOf('02:00.0'), 0x1000n, 'read'],
    ])
  })

  test('a model without a vIOMMU has no fault lines', () => {
    expect(parseFaultLines('none', faultFormat('intel-iommu')!.examples.join('\n'))).toEqual([])
  })

  test('the last fault time counts "callbacks suppressed" lines and ignores other models', () => {
    const text = [
      '[    5.000000] virtio_iommu virtio0: page fault from EP 256 at 0x5a5000 []\r',
      '[    7.250000] viommu_fault_handler: 246 callbacks suppressed\r',
      '[    8.000000] DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x5a5000 [fault reason 0x05] PTE Write access is not set',
      '[    9.000000] vfio-pci 0000:01:00.0: enabling device (0000 -> 0002)',
    ].join('\n')
    expect(lastFaultTime('virtio-iommu', text)).toBe(7.25)
    expect(lastFaultTime('intel-iommu', text)).toBe(8)
    expect(lastFaultTime('amd-iommu', '[    1.000000] nothing')).toBeUndefined()
  })

  test('a fault line from before a reboot (printk time starts again) is not the last fault', () => {
    const fault = (t: string) => `[${t}] DMAR: [DMA Write NO_PASID] Request device [0000:01:00.0] fault addr 0x300000 [fault reason 0x05] PTE Write access is not set`
    const before = [fault(' 894.736379'), '[  895.407555] Uhhuh. NMI received for unknown reason 21 on CPU 0.', '', '==== vfio-conform harness: guest restarted (lost) ====']
    const after = ['[    0.000000] Linux version 7.2.13', '[   41.000000] random: crng init done']
    expect(lastFaultTime('intel-iommu', [...before, ...after].join('\n'))).toBeUndefined()
    expect(lastFaultTime('intel-iommu', [...before, ...after, fault('  60.500000')].join('\n'))).toBe(60.5)
    // Two CPUs' records a few microseconds out of order are the same boot.
    expect(lastFaultTime('intel-iommu', [fault(' 894.736379'), '[  894.736301] DMAR: DRHD: handling fault status reg 2'].join('\n'))).toBe(894.736379)
  })

  test('the rate-limit wait: none while the last interval has room for one more fault, else until it passes', () => {
    const e = (...ts: number[]) => ts.map((t) => ({ t, units: 1 }))
    // Uptime 20 s: lines at 14.5 and later are inside the interval (5 s, plus 0.5 s of margin).
    expect(faultQuietWaitMs([], 20, 1)).toBe(0)
    expect(faultQuietWaitMs(e(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 20, 1)).toBe(0) // all older than the interval
    expect(faultQuietWaitMs(e(15, 16, 17, 18, 19, 19.5, 19.6, 19.7, 19.8), 20, 1)).toBe(0) // 9 + 1 fits the burst of 10
    // Ten recent calls: no room; wait until the last line is 5.5 s old.
    expect(faultQuietWaitMs(e(15, 16, 17, 18, 19, 19.5, 19.6, 19.7, 19.8, 19.8), 20, 1)).toBe(5300)
    // Never more than one interval, whatever the clocks say (uptime far behind printk time).
    expect(faultQuietWaitMs(e(...Array.from({ length: 12 }, (_, i) => 900 + i / 10)), 10, 1)).toBe(5500)
  })

  test("a missing fault line after a window the console's clock calls over: the rate limit may still hold it (its window counts lagging jiffies)", () => {
    // As conform 6.12 printed it under QEMU 7.2.22 at load ~16 (main job, 2026-12-07): three
    // faults from 89.24, then at 95.12 (5.87 s later) a fourth printed its status line only.
    const lines = ['89.244870', '91.087018', '92.096443'].flatMap((t) => [
      `[   ${t}] DMAR: DRHD: handling fault status reg 2`,
      `[   ${t}] DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x200000 [fault reason 0x05] PTE Write access is not set`,
    ])
    lines.push('[   95.117276] DMAR: DRHD: handling fault status reg 2')
    const entries = rateLimitEntries('intel-iommu', lines.join('\n'))
    const perFault = faultFormat('intel-iommu')!.ratelimit.perFault
    // By the console's clock the window ended before 95.12: faultQuietWaitMs let the DMA run.
    expect(faultQuietWaitMs(entries.slice(0, 6), 95.0, perFault)).toBe(0)
    // With no line since the DMA, the rate limit may have swallowed it: repeat the DMA.
    expect(mayBeRateLimited(entries, 97.2, perFault, [])).toBe(true)
    // A line of the model came (another device or address): the driver printed; no repeat.
    expect(mayBeRateLimited(entries, 97.2, perFault, [{}])).toBe(false)
    // Long after (two intervals and the margin): nothing recent could have spent the burst.
    expect(mayBeRateLimited(entries, 106, perFault, [])).toBe(false)
    // A model that printed nothing at all (QEMU 7.2's amd-iommu): never a rate-limit question.
    expect(mayBeRateLimited([], 97.2, perFault, [])).toBe(false)
  })

  test('intel-iommu: three __ratelimit() calls per fault (status line, record, the loop\'s last turn), so a fourth fault in 5 s waits', () => {
    // As a debian-source 6.12.118 guest printed it: the fourth fault's record was suppressed.
    const faults = ['19.103991', '20.227558', '21.548099'].flatMap((t) => [
      `[   ${t}] DMAR: DRHD: handling fault status reg 2`,
      `[   ${t}] DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x200000 [fault reason 0x05] PTE Write access is not set`,
    ])
    const entries = rateLimitEntries('intel-iommu', faults.join('\n'))
    expect(entries.reduce((a, x) => a + x.units, 0)).toBe(9)
    const perFault = faultFormat('intel-iommu')!.ratelimit.perFault
    expect(perFault).toBe(3)
    // Two faults (6 calls) leave room for a third; three (9) do not.
    expect(faultQuietWaitMs(rateLimitEntries('intel-iommu', faults.slice(0, 4).join('\n')), 21, perFault)).toBe(0)
    expect(faultQuietWaitMs(entries, 23.7, perFault)).toBe(Math.round((21.548099 + 5.5 - 23.7) * 1000))
    // virtio-iommu and amd-iommu: one call per line.
    expect(faultFormat('virtio-iommu')!.ratelimit.units(faultFormat('virtio-iommu')!.examples[2]!)).toBe(1)
    expect(faultFormat('virtio-iommu')!.ratelimit.units(faultFormat('virtio-iommu')!.examples[0]!)).toBe(0)
  })

  test('waitForFaultQuiet reads the console and waits only when the window is used up', async () => {
    const line = (t: number) => `[${t.toFixed(6).padStart(12)}] DMAR: [DMA Write NO_PASID] Request device [01:00.0] fault addr 0x5a5000 [fault reason 0x05] PTE Write access is not set\n`
    const file = path.join(await tempDir('vfio-conform-faults-'), 'console.log')
    await writeFile(file, line(9))
    expect(await waitForFaultQuiet(new ConsoleLog(file), 'intel-iommu', async () => 10)).toBe(0)
    await writeFile(file, Array.from({ length: 10 }, (_, i) => line(9 + i / 100)).join(''))
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    try {
      let done = false
      const p = waitForFaultQuiet(new ConsoleLog(file), 'intel-iommu', async () => 10).then((ms) => ((done = true), ms))
      // The console is read first (real I/O); then the wait is one timer.
      while (vi.getTimerCount() === 0 && !done) await new Promise((r) => setImmediate(r))
      await vi.advanceTimersByTimeAsync(4_500)
      expect(done).toBe(false)
      await vi.advanceTimersByTimeAsync(100)
      expect(await p).toBe(4590)
    } finally {
      vi.useRealTimers()
    }
  })

  test('waitForFault stops at its deadline when no line comes, and says how long it waited', async () => {
    const file = path.join(await tempDir('vfio-conform-faults-'), 'console.log')
    await writeFile(file, 'nothing\n')
    const r = await waitForFault(new ConsoleLog(file), 'amd-iommu', 0, { bdf: '01:00.0' }, 300)
    expect(r.match).toBeUndefined()
    expect(r.waitedMs).toBeGreaterThanOrEqual(300)
    expect(r.waitedMs).toBeLessThan(1_000)
  })
})
