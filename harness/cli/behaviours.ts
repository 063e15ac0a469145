// `vfio-conform behaviours`: the behaviours table (the suites' registry) of a finished run,
// one row per behaviour, one column per kernel x vIOMMU, as Markdown. Runs no test.
import path from 'node:path'
import { readRunResults } from '../claims/results.js'
import { behaviourTable, renderBehavioursMarkdown } from '../report/behaviours.js'
import { EXIT } from '../report/verdict.js'
import { commandSpec, opt, parseOptions } from './options.js'
import type { Registries } from '../registries.js'

export const behavioursHelp = (reg: Pick<Registries, 'behaviours'>) => `  vfio-conform behaviours [--results DIR]
      The ${reg.behaviours.length} ownership/isolation behaviours (suites/behaviours.ts) with a verdict per
      kernel and vIOMMU (PASS, FAIL, SKIP, ERROR, XFAIL, XPASS; the reasons below the table),
      as Markdown. Reads a finished run (default vfio-conform-results/latest); every run also
      writes it to behaviours.md in its results directory.`

export const BEHAVIOURS_SPEC = commandSpec('behaviours', { results: opt.path() })

export async function behavioursCommand(args: string[], reg: Pick<Registries, 'behaviours'>): Promise<number> {
  const { values } = parseOptions(BEHAVIOURS_SPEC, args)
  const run = await readRunResults(values.results ?? path.join('vfio-conform-results', 'latest'))
  if (run.targetsNote) console.error(`vfio-conform: note: ${run.targetsNote}`)
  const shown = path.relative(process.cwd(), run.dir) || run.dir
  process.stdout.write(renderBehavioursMarkdown(behaviourTable(run.verdicts, run.targets, reg.behaviours), { resultsDir: shown }))
  return EXIT.ok
}
