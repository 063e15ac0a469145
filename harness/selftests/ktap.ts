// A KTAP / TAP 13 reader for the output of the kernel's selftests (kselftest_harness.h prints
// "TAP version 13", a plan "1..N", then "ok N fixture.variant.test" or "not ok N ..." with
// "# ..." diagnostics before each result line and a "# SKIP reason" / "# XFAIL reason"
// directive after it). See Documentation/dev-tools/ktap.rst. Nested subtests (indented
// KTAP) are read as cases of their own, with their own names (KTAP names a parent only
// after its children).

export type KtapResult = 'PASS' | 'FAIL' | 'SKIP' | 'XFAIL'

export interface KtapCase {
  /** "fixture.variant.test". */
  name: string
  number: number
  result: KtapResult
  /** Directive text (SKIP / XFAIL reason). */
  reason?: string
  /** The diagnostic lines printed before the result line, without the "# ". */
  diagnostics: string[]
}

export interface KtapReport {
  version?: string
  /** The plan (1..N) of the top level, when printed. */
  planned?: number
  cases: KtapCase[]
  /** Lines that were neither KTAP nor diagnostics (program output, kernel messages). */
  other: string[]
  /** Summary line of kselftest_harness ("# Totals: pass:N fail:N ..."), when printed. */
  totals?: Record<string, number>
}

const RESULT = /^(ok|not ok) (\d+)(?: -)? ?([^#]*?)\s*(?:#\s*(SKIP|XFAIL|TODO)\b\s*(.*))?$/i

export function parseKtap(text: string): KtapReport {
  const report: KtapReport = { cases: [], other: [] }
  // One stack frame per nesting level: the diagnostics collected since its last result.
  const diags: string[][] = [[]]
  for (const raw of text.replace(/\r/g, '').split('\n')) {
    if (!raw.trim()) continue
    const indent = /^ */.exec(raw)![0].length
    const depth = Math.floor(indent / 2)
    const line = raw.trim()
    const version = /^(K?TAP) version (\d+)$/.exec(line)
    if (version) {
      if (depth === 0) report.version = `${version[1]} ${version[2]}`
      diags[depth + 1] = []
      continue
    }
    const plan = /^1\.\.(\d+)/.exec(line)
    if (plan) {
      if (depth === 0) report.planned = Number(plan[1])
      continue
    }
    const r = RESULT.exec(line)
    if (r) {
      const [, ok, num, name, directive, reason] = r
      const dir = directive?.toUpperCase()
      const result: KtapResult = dir === 'SKIP' || dir === 'TODO' ? 'SKIP' : dir === 'XFAIL' ? 'XFAIL' : ok === 'ok' ? 'PASS' : 'FAIL'
      report.cases.push({
        name: name!.trim(),
        number: Number(num),
        result,
        reason: reason?.trim() || undefined,
        diagnostics: diags[depth] ?? [],
      })
      diags[depth] = []
      continue
    }
    if (line.startsWith('#')) {
      const d = line.replace(/^#\s?/, '')
      const totals = /^Totals: (.*)$/.exec(d)
      if (totals && depth === 0) {
        report.totals = Object.fromEntries([...totals[1]!.matchAll(/(\w+):(\d+)/g)].map((m) => [m[1]!, Number(m[2])]))
        continue
      }
      ;(diags[depth] ??= []).push(d)
      continue
    }
    report.other.push(raw)
  }
  return report
}
