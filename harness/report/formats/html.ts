// The behaviours matrix as a standalone HTML page: the same table as behaviours.md (kernels x
// vIOMMU columns, one row per behaviour), cells coloured by verdict with their reasons on
// hover and below, and every column linked to its guests' console logs (relative links when
// the page sits in the results directory, as a run writes it).
import path from 'node:path'
import type { RunResults } from '../../claims/results.js'
import type { Registries } from '../../registries.js'
import { behaviourTable, cellVerdictText, type BehaviourCell } from '../behaviours.js'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const COLOUR: Record<string, string> = {
  PASS: '#c8f0c8',
  FAIL: '#f4b0b0',
  XPASS: '#f4b0b0',
  ERROR: '#f0d080',
  XFAIL: '#e0d0f0',
  SKIP: '#e8e8e8',
  '-': '#ffffff',
  'n/a': '#ffffff',
}

function cell(c: BehaviourCell): string {
  const text = cellVerdictText(c)
  return `<td style="background:${COLOUR[c.verdict] ?? '#fff'}" title="${esc(c.notes.join('\n'))}">${esc(text)}</td>`
}

export function renderHtml(run: RunResults, reg: Pick<Registries, 'behaviours'>): string {
  const table = behaviourTable(run.verdicts, run.targets, reg.behaviours)
  const logs = (columnId: string) =>
    run.targets
      .filter((t) => `${t.kernel.label}/${t.iommu}` === columnId)
      .map((t) => {
        const abs = (t as { consoleLog?: string }).consoleLog
        if (!abs) return ''
        const href = path.isAbsolute(abs) && abs.startsWith(run.dir + path.sep) ? path.relative(run.dir, abs) : abs
        return `<a href="${esc(href)}">${esc(t.topology)} console</a>`
      })
      .filter(Boolean)
      .join(' ')
  const head = table.columns.map((c) => `<th>${esc(c.kernel)}<br>${esc(c.iommu)}<br><small>${logs(c.id)}</small></th>`).join('')
  const rows = table.rows.map((r) => `<tr><td>${r.behaviour.id}</td><td>${esc(r.behaviour.title)}</td>${r.cells.map(cell).join('')}</tr>`).join('\n')
  const notes = table.rows
    .flatMap((r) => r.cells.filter((c) => c.notes.length).map((c) => `<li><b>${r.behaviour.id}</b> on <code>${esc(c.column)}</code>: ${esc(c.notes.join('; '))}</li>`))
    .join('\n')
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>vfio-conform: ${esc(path.basename(run.dir))}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 6px;font-size:13px;vertical-align:top}</style>
</head><body>
<h1>vfio-conform: behaviours per kernel and vIOMMU</h1>
<p>Results: <code>${esc(run.dir)}</code>. Cells: verdict, tests with that verdict / tests run; hover for the reasons.</p>
<table><tr><th>#</th><th>behaviour</th>${head}</tr>
${rows}
</table>
<h2>Notes</h2><ul>
${notes}
</ul>
</body></html>
`
}
