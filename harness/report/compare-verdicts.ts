// Two runs' verdicts.json, test by test: what the harness may not change. A change to how
// tests execute (parallelism, probes, waits) must leave every test's verdict as it was on the
// same kernels; this names each test whose verdict differs, and the tests one run has and
// the other lacks. Durations, annotations and reasons are not compared (a SKIP's reason is
// kept beside it for the reader). `vfio-conform compare OLD NEW` prints it (harness/cli/main.ts).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { TestVerdict, Verdict } from './verdict.js'

export interface VerdictChange {
  name: string
  old?: Verdict
  new?: Verdict
  oldReason?: string
  newReason?: string
}

export interface VerdictComparison {
  same: number
  changed: VerdictChange[]
  onlyOld: VerdictChange[]
  onlyNew: VerdictChange[]
}

/** Only conformance verdicts count: unit tests are no kernel's result. */
function byName(verdicts: readonly TestVerdict[]): Map<string, TestVerdict> {
  return new Map(verdicts.filter((v) => v.project !== 'unit').map((v) => [v.name, v]))
}

export function compareVerdicts(oldRun: readonly TestVerdict[], newRun: readonly TestVerdict[]): VerdictComparison {
  const a = byName(oldRun)
  const b = byName(newRun)
  const out: VerdictComparison = { same: 0, changed: [], onlyOld: [], onlyNew: [] }
  for (const [name, o] of a) {
    const n = b.get(name)
    if (!n) out.onlyOld.push({ name, old: o.verdict, oldReason: o.reason })
    else if (n.verdict !== o.verdict) out.changed.push({ name, old: o.verdict, new: n.verdict, oldReason: o.reason, newReason: n.reason })
    else out.same++
  }
  for (const [name, n] of b) if (!a.has(name)) out.onlyNew.push({ name, new: n.verdict, newReason: n.reason })
  return out
}

export function identical(c: VerdictComparison): boolean {
  return !c.changed.length && !c.onlyOld.length && !c.onlyNew.length
}

export function renderComparison(c: VerdictComparison, labels = { old: 'old', new: 'new' }): string {
  const lines = [`${c.same} tests with the same verdict; ${c.changed.length} changed; ${c.onlyOld.length} only in ${labels.old}; ${c.onlyNew.length} only in ${labels.new}`]
  const why = (r?: string) => (r ? ` (${r.split('\n')[0]!.slice(0, 140)})` : '')
  for (const x of c.changed) lines.push(`  CHANGED ${x.old} -> ${x.new}  ${x.name}${why(x.newReason ?? x.oldReason)}`)
  for (const x of c.onlyOld) lines.push(`  ONLY IN ${labels.old.toUpperCase()} ${x.old}  ${x.name}${why(x.oldReason)}`)
  for (const x of c.onlyNew) lines.push(`  ONLY IN ${labels.new.toUpperCase()} ${x.new}  ${x.name}${why(x.newReason)}`)
  return lines.join('\n')
}

/** A results directory or its verdicts.json. */
export async function readVerdicts(where: string): Promise<TestVerdict[]> {
  const file = where.endsWith('.json') ? where : path.join(where, 'verdicts.json')
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`cannot read ${file}: ${e.message}`)
  })
  return (JSON.parse(text) as { verdicts: TestVerdict[] }).verdicts
}
