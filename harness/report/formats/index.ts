// The report formats of a finished run and the files they are written to.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { RunResults } from '../../claims/results.js'
import type { Registries } from '../../registries.js'
import { evaluateClaims } from '../../claims/evaluate.js'
import { renderClaimsMarkdown } from '../../claims/report.js'
import { behaviourTable, renderBehavioursMarkdown } from '../behaviours.js'
import { renderHtml } from './html.js'
import { renderJunit } from './junit.js'
import { renderKcidb } from './kcidb.js'
import { renderKtap } from './ktap.js'

export const REPORT_FORMATS = ['ktap', 'junit', 'kcidb', 'markdown', 'html'] as const
export type ReportFormat = (typeof REPORT_FORMATS)[number]

export const REPORT_FILES: Record<ReportFormat, string> = {
  ktap: 'report.ktap',
  junit: 'report.junit.xml',
  kcidb: 'report.kcidb.json',
  markdown: 'behaviours.md',
  html: 'behaviours.html',
}

/** The behaviours and claims of the reports come from the suites' registries (harness/registries.ts). */
export type ReportRegistries = Pick<Registries, 'behaviours' | 'claims'>

export const RENDER_REPORT: Record<ReportFormat, (run: RunResults, reg: ReportRegistries) => string> = {
  ktap: renderKtap,
  junit: renderJunit,
  kcidb: renderKcidb,
  // The run's Markdown report: the behaviours matrix, then the review-thread claims section
  // (the same text as `vfio-conform claims --markdown`), decided by this run's verdicts.
  markdown: (run, reg) =>
    renderBehavioursMarkdown(behaviourTable(run.verdicts, run.targets, reg.behaviours), { resultsDir: path.basename(run.dir) }) +
    '\n' +
    renderClaimsMarkdown(evaluateClaims(run.verdicts, run.targets, reg.claims), { resultsDir: path.basename(run.dir) }),
  html: renderHtml,
}

export const isReportFormat = (s: string): s is ReportFormat => (REPORT_FORMATS as readonly string[]).includes(s)

/**
 * Writes the reports of `run` into outDir (created if missing) and returns their absolute
 * paths, in the order of `formats`. Every report is rendered before the first is written:
 * a format that throws (KCIDB data failing its schema) leaves no half-written set behind.
 */
export async function writeReports(run: RunResults, outDir: string, reg: ReportRegistries, formats: readonly ReportFormat[] = REPORT_FORMATS): Promise<string[]> {
  const wanted = [...new Set(formats)]
  const rendered = wanted.map((f) => ({ file: path.resolve(outDir, REPORT_FILES[f]), text: RENDER_REPORT[f](run, reg) }))
  await mkdir(path.resolve(outDir), { recursive: true })
  for (const r of rendered) await writeFile(r.file, r.text)
  return rendered.map((r) => r.file)
}
