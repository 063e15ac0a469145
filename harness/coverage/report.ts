// What `vfio-conform coverage` prints and writes: per file and per function, lines, branches
// and error returns reached (and by which tests), as a text table and as HTML pages (an
// index and one annotated source page per file). Pure: coverage data and source texts in.
import { addTotals, fileTotals, pct, siteReach, ZERO_TOTALS, type CoverageData, type CoverageTotals, type SiteReach } from './data.js'
import { cFunctions, errorSites, type CFunction } from './sites.js'

export interface FileReport {
  file: string
  totals: CoverageTotals
  functions: Array<{ name: string; line: number; endLine: number; totals: CoverageTotals }>
  sites: SiteReach[]
}

export interface CoverageReport {
  data: CoverageData
  files: FileReport[]
  totals: CoverageTotals
}

/** Reports per file; `sources` maps each profiled file (relative to the tree) to its text. */
export function coverageReport(data: CoverageData, sources: Map<string, string>): CoverageReport {
  const files: FileReport[] = []
  for (const file of [...sources.keys()].sort()) {
    const text = sources.get(file)!
    const f = data.files[file]
    const sites = errorSites(text, file).map((s) => siteReach(data, s))
    const fns: CFunction[] = cFunctions(text)
    const functions = fns.map((fn) => {
      const inFn = (line: number) => line >= fn.range.startLine && line <= fn.range.endLine
      const sub = f
        ? {
            lines: Object.fromEntries(Object.entries(f.lines).filter(([n]) => inFn(Number(n)))),
            branches: Object.fromEntries(Object.entries(f.branches).filter(([n]) => inFn(Number(n)))),
            functions: f.functions[fn.name] ? { [fn.name]: f.functions[fn.name]! } : {},
          }
        : undefined
      return { name: fn.name, line: fn.range.startLine, endLine: fn.range.endLine, totals: fileTotals(sub, sites.filter((r) => r.site.function === fn.name)) }
    })
    files.push({ file, totals: fileTotals(f, sites), functions, sites })
  }
  return { data, files, totals: files.reduce((a, f) => addTotals(a, f.totals), ZERO_TOTALS) }
}

const cellOf = (x: { hit: number; total: number }) => `${x.hit}/${x.total} ${pct(x)}`.padStart(16)

function row(name: string, t: CoverageTotals, width: number): string {
  return `${name.padEnd(width)} ${cellOf(t.lines)} ${cellOf(t.branches)} ${cellOf(t.functions)} ${cellOf(t.sites)}`
}

/** A test's name without its guest prefix, and the guest's vIOMMU/topology in brackets. */
export function shortTest(data: CoverageData, i: number): string {
  const t = data.tests[i]!
  const own = t.name.startsWith(t.guest + ' > ') ? t.name.slice(t.guest.length + 3) : t.name
  const guest = t.guest.split('/').slice(1).join('/')
  return `${own} [${guest}]`
}

/** The tests of a site, deduplicated across guests, at most `max` named. */
export function siteTests(data: CoverageData, r: SiteReach, max = 3): string {
  const names = [...new Set(r.tests.map((i) => shortTest(data, i).replace(/ \[[^\]]*\]$/, '')))]
  return names.slice(0, max).join('; ') + (names.length > max ? `; +${names.length - max} more` : '')
}

export function renderText(rep: CoverageReport, opts: { functions?: boolean; sites?: boolean } = {}): string {
  const width = Math.max(30, ...rep.files.map((f) => f.file.length), ...(opts.functions ? rep.files.flatMap((f) => f.functions.map((x) => x.name.length + 2)) : []))
  const out: string[] = []
  out.push(`kernel ${rep.data.kernel.id} (${rep.data.kernel.release}), ${rep.data.tests.length} tests incl. boots, ${rep.data.generated}`)
  out.push(`${'file'.padEnd(width)} ${'lines'.padStart(16)} ${'branches'.padStart(16)} ${'functions'.padStart(16)} ${'error returns'.padStart(16)}`)
  for (const f of rep.files) {
    out.push(row(f.file, f.totals, width))
    if (opts.functions) for (const fn of f.functions.filter((x) => x.totals.lines.total)) out.push(row('  ' + fn.name, fn.totals, width))
  }
  out.push(row('total', rep.totals, width))
  if (opts.sites) {
    out.push('', 'error returns (reached: by which tests)')
    for (const f of rep.files) {
      for (const r of f.sites) {
        const where = `${r.site.file}:${r.site.line} ${r.site.function} -${r.site.errno}`
        out.push(`${r.status === 'reached' ? '+' : r.status === 'not reached' ? '-' : '?'} ${where}${r.site.guard ? ` if (${r.site.guard.text.slice(0, 60)})` : ''}${r.status === 'reached' ? `  <- ${siteTests(rep.data, r)}` : r.status === 'not reached' ? '' : `  (${r.status})`}`)
      }
    }
  }
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------
// HTML

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
export const pageName = (file: string) => file.replace(/[/.]/g, '_') + '.html'

const STYLE = `body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}.bar{display:inline-block;height:9px;background:#5a5;vertical-align:middle}
.src td{border:none;padding:0 6px;font-family:monospace;font-size:12px;text-align:left;white-space:pre}
.src td.n{color:#888;text-align:right}.hit{background:#dfd}.miss{background:#fcc}.site-hit{background:#9e9;font-weight:bold}.site-miss{background:#f88;font-weight:bold}
.t{color:#555;font-family:sans-serif;font-size:11px;white-space:normal}`

function cells(t: CoverageTotals): string {
  const c = (x: { hit: number; total: number }) => {
    const p = x.total ? x.hit / x.total : 0
    return `<td>${x.hit}/${x.total}</td><td>${pct(x)} <span class="bar" style="width:${Math.round(p * 60)}px"></span></td>`
  }
  return c(t.lines) + c(t.branches) + c(t.functions) + c(t.sites)
}

const HEAD = `<tr><th>file</th><th colspan="2">lines</th><th colspan="2">branches</th><th colspan="2">functions</th><th colspan="2">error returns</th></tr>`

export function renderHtmlIndex(rep: CoverageReport): string {
  const rows = rep.files.map((f) => `<tr><td><a href="${pageName(f.file)}">${esc(f.file)}</a></td>${cells(f.totals)}</tr>`).join('\n')
  return `<!doctype html><html><head><meta charset="utf-8"><title>vfio-conform coverage</title><style>${STYLE}</style></head><body>
<h1>Kernel coverage of the suites</h1>
<p>Kernel <code>${esc(rep.data.kernel.id)}</code> (${esc(rep.data.kernel.release)}), ${rep.data.tests.length} tests (each boot counted as one), ${esc(rep.data.generated)}.
Error returns: each <code>return -E…</code> / <code>ret = -E…; goto</code> site; reached when its error path ran.</p>
<table>${HEAD}
${rows}
<tr><th>total</th>${cells(rep.totals)}</tr></table>
</body></html>
`
}

export function renderHtmlFile(rep: CoverageReport, f: FileReport, text: string): string {
  const lines = rep.data.files[f.file]?.lines ?? {}
  const siteAt = new Map<number, SiteReach[]>()
  for (const r of f.sites) siteAt.set(r.site.line, [...(siteAt.get(r.site.line) ?? []), r])
  const src = text
    .split('\n')
    .map((l, i) => {
      const n = i + 1
      const lc = lines[n]
      const sites = siteAt.get(n) ?? []
      let cls = lc ? (lc.count > 0 ? 'hit' : 'miss') : ''
      if (sites.length) cls = sites.some((s) => s.status === 'reached') ? 'site-hit' : sites.some((s) => s.status === 'not reached') ? 'site-miss' : cls
      const who = sites
        .map((s) => (s.status === 'reached' ? `reached by ${siteTests(rep.data, s, 5)}` : s.status))
        .join('; ')
      const title = lc ? `${lc.count} × ; tests: ${lc.tests.slice(0, 8).map((t) => shortTest(rep.data, t)).join(' | ')}${lc.tests.length > 8 ? ' …' : ''}` : ''
      return `<tr class="${cls}" id="L${n}"><td class="n">${n}</td><td class="n">${lc ? lc.count : ''}</td><td title="${esc(title)}">${esc(l)}${who ? ` <span class="t">← ${esc(who)}</span>` : ''}</td></tr>`
    })
    .join('\n')
  const fnRows = f.functions
    .filter((x) => x.totals.lines.total)
    .map((x) => `<tr><td><a href="#L${x.line}">${esc(x.name)}</a></td>${cells(x.totals)}</tr>`)
    .join('\n')
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(f.file)}: coverage</title><style>${STYLE}</style></head><body>
<p><a href="index.html">all files</a></p><h1>${esc(f.file)}</h1>
<table>${HEAD.replace('file', 'function')}
${fnRows}
<tr><th>file</th>${cells(f.totals)}</tr></table>
<h2>Source</h2><p>Green: ran; red: never ran; bold: an error return (hover a line for its tests).</p>
<table class="src">
${src}
</table></body></html>
`
}
