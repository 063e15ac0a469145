// The sweep's score: per file, killed / killed-by-crash / survived / no-test / unbuildable /
// not yet run, the mutation score (killed of the mutants a test could reach), and the
// survivors, each with its site.
import type { MutantResult, Outcome } from './sweep.js'
import type { Site } from './sites.js'

export interface FileScore {
  file: string
  sites: number
  counts: Record<Outcome | 'pending', number>
  /** (killed + killed-by-crash) / (killed + killed-by-crash + survived); undefined when none ran. */
  score?: number
}

const OUTCOMES: Array<Outcome | 'pending'> = ['killed', 'killed-by-crash', 'survived', 'no-test', 'unbuildable', 'pending']

export function scoreByFile(sites: Site[], results: Map<string, MutantResult>): FileScore[] {
  const byFile = new Map<string, FileScore>()
  for (const s of sites) {
    let f = byFile.get(s.file)
    if (!f) {
      f = { file: s.file, sites: 0, counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as FileScore['counts'] }
      byFile.set(s.file, f)
    }
    f.sites++
    f.counts[results.get(s.id)?.outcome ?? 'pending']++
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

/** Markdown: the per-file table and the survivors. */
export function renderReport(sites: Site[], results: Map<string, MutantResult>, opts: { title?: string } = {}): string {
  const files = scoreByFile(sites, results)
  const all = [...files, totals(files)]
  const lines: string[] = []
  if (opts.title) lines.push(opts.title, '')
  lines.push('| file | sites | killed | killed by crash | survived | no-test | unbuildable | not run | score |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const f of all) {
    const c = f.counts
    const name = f.file === 'total' ? '**total**' : `\`${f.file}\``
    lines.push(`| ${name} | ${f.sites} | ${c.killed} | ${c['killed-by-crash']} | ${c.survived} | ${c['no-test']} | ${c.unbuildable} | ${c.pending} | ${pct(f.score)} |`)
  }
  lines.push('', 'Score = (killed + killed by crash) / (killed + killed by crash + survived).')
  const survivors = sites.map((s) => results.get(s.id)).filter((r): r is MutantResult => r?.outcome === 'survived')
  lines.push('', `Survivors (${survivors.length}):`, '')
  for (const r of survivors) lines.push(`- \`${r.site.id}\` ${r.site.func}: ${survivorText(r)}`)
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
