// The rule x path table (docs/rule-paths.md): for each rule the kernel enforces on several
// user-space paths (the registry: suites/rule-paths.ts), which tests run into each path's
// check, from a coverage run; a path whose check no test reaches is a gap. Pure: the
// registry, the coverage data and the kernel's sources in, Markdown out.
import { siteReach, type CoverageData } from './data.js'
import { shortTest } from './report.js'
import { cFunctions, errorSites, type ErrorSite } from './sites.js'

/**
 * A path's check: error-return site ids, or a check by its `if` condition, or the reason the
 * path has no such check. `via`: "file:function" entries that make the path (e.g. the cdev's
 * bind, the group's compat attach): when given, a test counts for the cell only if it also
 * ran one of them, so two paths sharing a check in common code are told apart. `untested`:
 * why no test of the run can reach the check (shown, instead of a bare gap, when none does).
 */
export type TableCell = (({ sites: string[] } | { check: string }) & { via?: string[]; untested?: string }) | { reason: string }

export interface TableRule {
  id: string
  title: string
  paths: Record<string, TableCell>
}

/** The registry: rules, and the paths (column id -> title). */
export interface PathRules {
  rules: TableRule[]
  paths: Record<string, string>
}

export interface CellResult {
  kind: 'tested' | 'gap' | 'explained' | 'reason' | 'unknown'
  text: string
  tests: string[]
}

/** Tests (short names, deduplicated across guests; boots left out) reaching any line in [from, to]. */
function testsOnLines(data: CoverageData, file: string, from: number, to: number): { seen: boolean; tests: string[] } {
  const f = data.files[file]
  const idx = new Set<number>()
  let seen = false
  for (let n = from; n <= to; n++) {
    const l = f?.lines[n]
    if (!l) continue
    seen = true
    for (const t of l.tests) idx.add(t)
  }
  return { seen, tests: names(data, [...idx]) }
}

function names(data: CoverageData, idx: number[]): string[] {
  return [...new Set(idx.filter((i) => data.tests[i]!.name !== '(boot)').map((i) => shortTest(data, i).replace(/ \[[^\]]*\]$/, '')))].sort()
}

/**
 * Tests (indexes) that ran a function: gcov's function record, else (a static function
 * inlined into its caller has none) the tests that ran a line of its body in the source.
 * Undefined when the function is in neither.
 */
function testsInFunction(data: CoverageData, sources: Map<string, string>, ref: string): Set<number> | undefined {
  const [file, fn] = ref.split(':')
  const f = data.files[file!]
  if (f?.functions[fn!]) return new Set(f.functions[fn!]!.tests)
  const text = sources.get(file!)
  const def = text ? cFunctions(text).find((x) => x.name === fn) : undefined
  if (!f || !def) return undefined
  const out = new Set<number>()
  for (let n = def.body.startLine; n <= def.body.endLine; n++) for (const t of f.lines[n]?.tests ?? []) out.add(t)
  return out
}

export function cellResult(cell: TableCell, data: CoverageData, sources: Map<string, string>, sitesOf: (file: string) => ErrorSite[]): CellResult {
  if ('reason' in cell) return { kind: 'reason', text: cell.reason, tests: [] }
  if (cell.untested) {
    const { untested, ...rest } = cell
    const r = cellResult(rest, data, sources, sitesOf)
    return r.kind === 'gap' ? { kind: 'explained', text: `${untested} (${r.text})`, tests: [] } : r
  }
  if (cell.via?.length) {
    // Only tests that also ran one of the path's functions count.
    const allowed = new Set<number>()
    for (const ref of cell.via) {
      const t = testsInFunction(data, sources, ref)
      if (!t) return { kind: 'unknown', text: `no function ${ref} in this kernel's coverage`, tests: [] }
      for (const i of t) allowed.add(i)
    }
    const { via, ...rest } = cell
    const sub: CoverageData = { ...data, files: {} }
    for (const [file, f] of Object.entries(data.files)) {
      const lines: typeof f.lines = {}
      for (const [n, l] of Object.entries(f.lines)) {
        const tests = l.tests.filter((t) => allowed.has(t))
        lines[n] = { count: tests.length ? l.count : 0, tests }
      }
      const branches: typeof f.branches = {}
      const branchTests: NonNullable<typeof f.branchTests> = {}
      for (const [n, arcs] of Object.entries(f.branchTests ?? {})) {
        branchTests[n] = arcs.map((ts) => ts.filter((t) => allowed.has(t)))
        branches[n] = branchTests[n]!.map((ts, i) => (ts.length ? f.branches[n]?.[i] ?? 0 : 0))
      }
      sub.files[file] = { ...f, lines, branches, branchTests }
    }
    const r = cellResult(rest, sub, sources, sitesOf)
    const through = via.map((v) => v.split(':')[1] + '()').join(' or ')
    return { ...r, text: `${r.text} (via ${through})` }
  }
  if ('sites' in cell) {
    const tests = new Set<string>()
    const where: string[] = []
    for (const id of cell.sites) {
      const file = id.split(':')[0]!
      const site = sitesOf(file).find((s) => s.id === id)
      if (!site) return { kind: 'unknown', text: `no site ${id} in this kernel`, tests: [] }
      where.push(`${file.split('/').pop()}:${site.line} ${site.function}()`)
      const r = siteReach(data, site)
      for (const t of names(data, r.tests)) tests.add(t)
    }
    return tests.size ? { kind: 'tested', text: where.join(', '), tests: [...tests].sort() } : { kind: 'gap', text: `no test reaches ${where.join(', ')}`, tests: [] }
  }
  const [file, fn, ...rest] = cell.check.split(':')
  const cond = rest.join(':')
  const text = sources.get(file!)
  const f = text ? cFunctions(text).find((x) => x.name === fn) : undefined
  if (!text || !f) return { kind: 'unknown', text: `no function ${fn} in ${file}`, tests: [] }
  const lines = text.split('\n')
  for (let n = f.range.startLine; n <= f.range.endLine; n++) {
    if (!lines[n - 1]!.includes(cond) || !/\bif\s*\(/.test(lines[n - 1]!)) continue
    // The branch: a block to its closing brace, else the lines up to the statement's end.
    let end = n + 1
    if (/\{\s*$/.test(lines[n - 1]!)) {
      let depth = 1
      for (; end < f.range.endLine; end++) {
        depth += (lines[end - 1]!.match(/\{/g)?.length ?? 0) - (lines[end - 1]!.match(/\}/g)?.length ?? 0)
        if (depth <= 0) break
      }
    } else while (end < f.range.endLine && !/;\s*$/.test(lines[end - 1]!)) end++
    const where = `${file!.split('/').pop()}:${n} ${fn}() if (${cond})`
    // One condition: its true outcome is the branch (the branch's own lines may have no code).
    const arcs = data.files[file!]?.branches[n]
    if (arcs?.length === 2) {
      const tests = names(data, arcs[0]! > 0 ? data.files[file!]!.branchTests?.[n]?.[0] ?? [] : [])
      return tests.length ? { kind: 'tested', text: where, tests } : { kind: 'gap', text: `no test reaches ${where}`, tests: [] }
    }
    const r = testsOnLines(data, file!, n + 1, end)
    if (!r.seen) return { kind: 'unknown', text: `${where}: no code`, tests: [] }
    return r.tests.length ? { kind: 'tested', text: where, tests: r.tests } : { kind: 'gap', text: `no test reaches ${where}`, tests: [] }
  }
  return { kind: 'unknown', text: `no if (${cond}) in ${fn}()`, tests: [] }
}

export function renderRuleTable(
  rules: TableRule[],
  paths: Record<string, string>,
  data: CoverageData,
  sources: Map<string, string>,
  meta: { command: string; date: string },
): string {
  const cache = new Map<string, ErrorSite[]>()
  const sitesOf = (file: string) => {
    let s = cache.get(file)
    if (!s) cache.set(file, (s = sources.has(file) ? errorSites(sources.get(file)!, file) : []))
    return s
  }
  const cols = Object.keys(paths)
  const out: string[] = [
    '# Rules x paths',
    '',
    `Rules the kernel enforces on more than one user-space path, and for each path the tests that run into that path's check (an error return or the \`if\` that jumps to one), measured on ${data.kernel.id} (${data.kernel.release}). A cell without a test is a gap: the rule is tested on another path only. Generated by \`${meta.command}\` on ${meta.date} from suites/rule-paths.ts (the rules and their checks) and the run's coverage; do not edit by hand.`,
    '',
    `| rule | ${cols.map((c) => paths[c]).join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
  ]
  let gaps = 0
  let explained = 0
  for (const r of rules) {
    const cells = cols.map((c) => {
      const cell = r.paths[c]
      if (!cell) return 'n/a'
      const res = cellResult(cell, data, sources, sitesOf)
      if (res.kind === 'gap') gaps++
      if (res.kind === 'explained') explained++
      const tests = res.tests.slice(0, 3).map((t) => `\`${t.replace(/\|/g, '\\|')}\``).join('<br>') + (res.tests.length > 3 ? `<br>+${res.tests.length - 3} more` : '')
      if (res.kind === 'tested') return `${tests}<br><small>${res.text}</small>`
      if (res.kind === 'gap') return `**GAP**: ${res.text}`
      if (res.kind === 'reason') return `n/a: ${res.text}`
      if (res.kind === 'explained') return `not tested: ${res.text}`
      return `?: ${res.text}`
    })
    out.push(`| **${r.id}**: ${r.title} | ${cells.join(' | ')} |`)
  }
  out.push('', `${rules.length} rules, ${gaps} gap${gaps === 1 ? '' : 's'}${explained ? `, ${explained} path${explained === 1 ? '' : 's'} not tested with the reason given` : ''}.`, '')
  return out.join('\n')
}
