// The sweep's score: per file, killed / killed-by-crash / survived / explained / no-test /
// unbuildable / not yet run, the mutation score (killed of the mutants a test could reach and
// nobody explained), and the survivors, each with its site. A survivor explained in
// ci/mutations/explained-survivors.yaml (an equivalent mutant, or an error path no user can
// take) is counted apart: the dangerous survivors are the unexplained ones.
import YAML from 'yaml'
import type { MutantResult, Outcome } from './sweep.js'
import type { Site } from './sites.js'

/** Why a survivor is no gap: read in the kernel source, per kernel and site. */
export interface SurvivorExplanation {
  site: string
  kernel: string
  /** The check as the sweep prints it (the site's text): an entry whose check moved is stale, not applied. */
  check: string
  class: 'equivalent' | 'unreachable' | 'debug-kernel-only'
  reason: string
}

/** The explanations file's entries (YAML: `survivors: [...]`); throws on a malformed entry. */
export function parseExplanations(text: string): SurvivorExplanation[] {
  const doc = (YAML.parse(text) ?? {}) as { survivors?: unknown }
  const list = Array.isArray(doc.survivors) ? doc.survivors : []
  return list.map((e, i) => {
    const x = e as Partial<SurvivorExplanation>
    if (!x || typeof x.site !== 'string' || typeof x.kernel !== 'string' || typeof x.check !== 'string' || typeof x.reason !== 'string' || !['equivalent', 'unreachable', 'debug-kernel-only'].includes(String(x.class))) {
      throw new Error(`explained survivors, entry ${i + 1}: needs site, kernel, check, class (equivalent | unreachable | debug-kernel-only) and reason`)
    }
    return x as SurvivorExplanation
  })
}

/** The explanation that applies to a result: same kernel, site and check text. */
export function explanationFor(r: MutantResult, explained: SurvivorExplanation[]): SurvivorExplanation | undefined {
  return explained.find((e) => e.site === r.site.id && e.kernel === r.kernelId && e.check === r.site.text)
}

export interface FileScore {
  file: string
  sites: number
  counts: Record<Column, number>
  /** (killed + killed-by-crash) / (killed + killed-by-crash + survived), explained survivors left out; undefined when none ran. */
  score?: number
}

type Column = Outcome | 'explained' | 'pending'
const OUTCOMES: Column[] = ['killed', 'killed-by-crash', 'survived', 'explained', 'no-test', 'unbuildable', 'pending']

export function scoreByFile(sites: Site[], results: Map<string, MutantResult>, explained: SurvivorExplanation[] = []): FileScore[] {
  const byFile = new Map<string, FileScore>()
  for (const s of sites) {
    let f = byFile.get(s.file)
    if (!f) {
      f = { file: s.file, sites: 0, counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as FileScore['counts'] }
      byFile.set(s.file, f)
    }
    f.sites++
    const r = results.get(s.id)
    f.counts[r?.outcome === 'survived' && explanationFor(r, explained) ? 'explained' : (r?.outcome ?? 'pending')]++
  }
  const out = [...byFile.values()]
  for (const f of out) f.score = scoreOf(f.counts)
  return out
}

function scoreOf(c: FileScore['counts']): number | undefined {
  const killed = c.killed + c['killed-by-crash']
  const reached = killed + c.survived
  return reached ? killed / reached : undefined
}

export function totals(files: FileScore[]): FileScore {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, files.reduce((a, f) => a + f.counts[o], 0)])) as FileScore['counts']
  return { file: 'total', sites: files.reduce((a, f) => a + f.sites, 0), counts, score: scoreOf(counts) }
}

const pct = (x?: number) => (x === undefined ? '-' : `${Math.round(100 * x)}%`)

/** Markdown: the per-file table, the survivors and the explained ones. */
export function renderReport(sites: Site[], results: Map<string, MutantResult>, opts: { title?: string; explained?: SurvivorExplanation[] } = {}): string {
  const explained = opts.explained ?? []
  const files = scoreByFile(sites, results, explained)
  const all = [...files, totals(files)]
  const lines: string[] = []
  if (opts.title) lines.push(opts.title, '')
  lines.push('| file | sites | killed | killed by crash | survived | explained | no-test | unbuildable | not run | score |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const f of all) {
    const c = f.counts
    const name = f.file === 'total' ? '**total**' : `\`${f.file}\``
    lines.push(`| ${name} | ${f.sites} | ${c.killed} | ${c['killed-by-crash']} | ${c.survived} | ${c.explained} | ${c['no-test']} | ${c.unbuildable} | ${c.pending} | ${pct(f.score)} |`)
  }
  lines.push('', 'Score = (killed + killed by crash) / (killed + killed by crash + survived); explained survivors (equivalent mutants, error paths no user can take: ci/mutations/explained-survivors.yaml) are not in it.')
  const survived = sites.map((s) => results.get(s.id)).filter((r): r is MutantResult => r?.outcome === 'survived')
  const survivors = survived.filter((r) => !explanationFor(r, explained))
  lines.push('', `Survivors (${survivors.length}):`, '')
  for (const r of survivors) lines.push(`- \`${r.site.id}\` ${r.site.func}: ${survivorText(r)}`)
  const done = survived.filter((r) => explanationFor(r, explained))
  if (done.length) {
    lines.push('', `Explained survivors (${done.length}):`, '')
    for (const r of done) {
      const e = explanationFor(r, explained)!
      lines.push(`- \`${r.site.id}\` ${r.site.func} (${e.class}): ${e.reason}`)
    }
  }
  return lines.join('\n') + '\n'
}

export function survivorText(r: MutantResult): string {
  const what = r.operator === 'skip-release' ? `skipped \`${r.site.text}\`` : `dropped \`if (${r.site.text})\`${r.site.errno ? ` (-${r.site.errno})` : ''}`
  return `${what}; ${r.reason} (${r.suites.join(', ')})`
}

/** One progress line per mutant. */
export function resultLine(r: MutantResult, index: number, total: number, cached: boolean): string {
  const t = r.buildMs !== undefined ? ` build ${Math.round(r.buildMs / 1000)} s${r.runMs !== undefined ? `, run ${Math.round(r.runMs / 1000)} s` : ''}` : ''
  return `[${index}/${total}] ${r.site.id} ${r.site.func}${r.site.errno ? ` -${r.site.errno}` : ''}: ${r.outcome.toUpperCase()}${cached ? ' (cached)' : ''}${t} -- ${r.reason.slice(0, 160)}`
}
