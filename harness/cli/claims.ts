// `vfio-conform claims`: review-thread claims (suites/claims/registry.ts) with a verdict per
// kernel and vIOMMU, read from a finished run's verdicts.json and targets.json. Runs no test.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CLAIMS, THREADS } from '../../suites/claims/registry.js'
import { evaluateClaims } from '../claims/evaluate.js'
import { renderClaimsMarkdown, renderClaimsTable } from '../claims/report.js'
import { readRunResults } from '../claims/results.js'
import { EXIT } from '../report/verdict.js'
import { UsageError } from '../util/errors.js'

export const CLAIMS_HELP = `  vfio-conform claims [--results DIR] [--thread ID] [--markdown]
      Claims made in review threads (suites/claims/registry.ts), each with a verdict per
      kernel and vIOMMU: HOLDS, REFUTED, UNDECIDED or NOT REPRODUCIBLE. Reads the verdicts
      of a finished run and runs no test: run \`vfio-conform run\` first, or pass --results
      DIR (default vfio-conform-results/latest). --thread limits to one thread
      (${THREADS.map((t) => t.id).join(', ')}); --markdown prints a section for a list reply.`

export async function claimsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      results: { type: 'string' },
      thread: { type: 'string' },
      markdown: { type: 'boolean' },
    },
    strict: true,
  })
  let claims = CLAIMS
  if (values.thread !== undefined) {
    if (!THREADS.some((t) => t.id === values.thread)) {
      throw new UsageError(`unknown thread "${values.thread}" (known: ${THREADS.map((t) => t.id).join(', ')})`)
    }
    claims = CLAIMS.filter((c) => c.thread.id === values.thread)
  }
  const dir = values.results ?? path.join('vfio-conform-results', 'latest')
  const run = await readRunResults(dir)
  if (run.targetsNote) console.error(`vfio-conform: note: ${run.targetsNote}`)
  const ev = evaluateClaims(run.verdicts, run.targets, claims)
  const shown = path.relative(process.cwd(), run.dir) || run.dir
  process.stdout.write(values.markdown ? renderClaimsMarkdown(ev, { resultsDir: shown }) : renderClaimsTable(ev, { resultsDir: shown }))
  return EXIT.ok
}
