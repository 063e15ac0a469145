// `vfio-conform report`: a finished run's verdicts as KTAP, JUnit XML and KCIDB JSON files
// (harness/report/formats/). Reads verdicts.json and targets.json; runs no test.
import path from 'node:path'
import { readRunResults } from '../claims/results.js'
import { isReportFormat, REPORT_FILES, REPORT_FORMATS, writeReports, type ReportRegistries } from '../report/formats/index.js'
import { EXIT } from '../report/verdict.js'
import { commandSpec, opt, parseOptions } from './options.js'

export const REPORT_HELP = `  vfio-conform report [--results DIR] [--format ${REPORT_FORMATS.join('|')}]... [--out DIR]
      Write a finished run's verdicts as ${REPORT_FORMATS.map((f) => REPORT_FILES[f]).join(', ')}:
      KTAP v1 for kernel tooling, JUnit XML for CI, KCIDB v5.3 JSON for KernelCI. Runs no
      test: reads verdicts.json and targets.json of --results DIR (default
      vfio-conform-results/latest). --format picks formats (repeatable; default all); --out
      is where the files go (default the results directory). Prints the paths written.`

export const REPORT_SPEC = commandSpec('report', {
  results: opt.path(),
  format: opt.many(opt.enumOf(() => REPORT_FORMATS)),
  out: opt.path(),
})

export async function reportCommand(args: string[], reg: ReportRegistries): Promise<number> {
  const { values } = parseOptions(REPORT_SPEC, args)
  const formats = (values.format ?? REPORT_FORMATS).filter(isReportFormat)
  const run = await readRunResults(values.results ?? path.join('vfio-conform-results', 'latest'))
  if (run.targetsNote) console.error(`vfio-conform: note: ${run.targetsNote}`)
  const written = await writeReports(run, values.out ?? run.dir, reg, formats)
  for (const file of written) console.log(shown(file))
  return EXIT.ok
}

/** Relative to the working directory when the file is under it, else absolute. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file
}
