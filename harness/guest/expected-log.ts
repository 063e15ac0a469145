// What a test declares it expects the kernel to print: DMA faults it provokes on purpose (the
// DMA isolation tests) and splats it raises on purpose (the attribution self-check). Around
// every test the guest fixture reads the console lines between the test's markers and judges
// them here: a splat of a kind the test did not declare, or an IOMMU fault no declaration
// covers, FAILs the test with the excerpt; a declared splat that never came FAILs it too.
import { faultMatches, parseFaultLines, type FaultMatch } from '../dma/faults.js'
import type { IommuModel } from '../../guests/topologies/types.js'
import { findSplats, type Splat } from './splats.js'

export interface LogJudgement {
  /** Error name for the report ("KernelSplat", "UnexpectedIommuFault", "MissingSplat"). */
  name: string
  message: string
}

export class ExpectedKernelLog {
  private faults: FaultMatch[] = []
  private splats = new Set<Splat['kind']>()

  /** Called by the fixture before every test. */
  reset(): void {
    this.faults = []
    this.splats.clear()
  }

  /** Fault lines matching `want` (device, and IOVA page / access when given) are expected. */
  expectFault(want: FaultMatch): void {
    this.faults.push(want)
  }

  /** A splat of this kind is expected: the test raises it on purpose, and it must come. */
  expectSplat(kind: Splat['kind']): void {
    this.splats.add(kind)
  }

  /** Whether the test declared this kind of splat. */
  expectsSplat(kind: Splat['kind']): boolean {
    return this.splats.has(kind)
  }

  /** The console text of one test (between its markers) against what it declared. */
  judge(model: IommuModel, text: string): LogJudgement[] {
    const out: LogJudgement[] = []
    const splats = findSplats(text)
    const unexpected = splats.filter((s) => !this.splats.has(s.kind))
    if (unexpected.length) {
      out.push({
        name: 'KernelSplat',
        message:
          `kernel splat during this test (${unexpected.map((s) => s.kind).join(', ')}): ${unexpected[0]!.title}\n` +
          unexpected.map((s) => s.excerpt).join('\n---\n'),
      })
    }
    for (const kind of this.splats) {
      if (!splats.some((s) => s.kind === kind)) out.push({ name: 'MissingSplat', message: `the test raised a ${kind} on purpose, but no ${kind} splat appeared between its markers` })
    }
    const faults = parseFaultLines(model, text).filter((f) => !this.faults.some((w) => faultMatches(f, w)))
    if (faults.length) {
      out.push({
        name: 'UnexpectedIommuFault',
        message: `${faults.length} IOMMU fault line(s) of ${model} that this test did not declare: ${faults[0]!.line}\n${faults.map((f) => f.line).join('\n')}`,
      })
    }
    return out
  }
}
