// `vfio-conform claims`: review-thread claims (suites/claims/registry.ts) with a verdict per
// kernel and vIOMMU, read from a finished run's verdicts.json and targets.json. Runs no test.
import path from 'node:path'
import { evaluateClaims } from '../claims/evaluate.js'
import { selectKernels } from '../claims/kernel-filter.js'
import { renderClaimsJson, renderClaimsMarkdown, renderClaimsTable } from '../claims/report.js'
import { readRunResults } from '../claims/results.js'
import { EXIT } from '../report/verdict.js'
import { UsageError } from '../util/errors.js'
import { commandSpec, opt, parseOptions } from './options.js'
import type { Registries } from '../registries.js'

export const claimsHelp = (reg: Pick<Registries, 'threads'>) => `  vfio-conform claims [--results DIR] [--thread ID] [--kernel K]... [--markdown|--json]
      Claims made in review threads (suites/claims/registry.ts), each with a verdict per
      kernel and vIOMMU: HOLDS, REFUTED, UNDECIDED or NOT REPRODUCIBLE. Reads the verdicts
      of a finished run and runs no test: run \`vfio-conform run\` first, or pass --results
      DIR (default vfio-conform-results/latest). --thread limits to one thread
      (${reg.threads.map((t) => t.id).join(', ')}); --kernel to the kernels named (as run:
      debian:bookworm, debian:6.12, debian-source:7.2, a label or uname -r); --markdown
      prints a section for a list reply, --json the verdicts with their evidence.`

export const CLAIMS_SPEC = commandSpec('claims', {
  results: opt.path(),
  // The threads are the registry's, given to claimsCommand: checked there, before any file is read.
  thread: opt.text('a thread id of the claims registry, checked before the run is read'),
  kernel: opt.many(opt.text('a kernel as the run names it (spec, label or uname -r), matched against the run read')),
  markdown: opt.flag(),
  json: opt.flag(),
})

export async function claimsCommand(args: string[], reg: Pick<Registries, 'claims' | 'threads'>): Promise<number> {
  const { values } = parseOptions(CLAIMS_SPEC, args)
  if (values.markdown && values.json) throw new UsageError('--markdown and --json exclude each other')
  let claims = reg.claims
  if (values.thread !== undefined) {
    if (!reg.threads.some((t) => t.id === values.thread)) {
      throw new UsageError(`unknown thread "${values.thread}" (known: ${reg.threads.map((t) => t.id).join(', ')})`)
    }
    claims = reg.claims.filter((c) => c.thread.id === values.thread)
  }
  const dir = values.results ?? path.join('vfio-conform-results', 'latest')
  const run = await readRunResults(dir)
  if (run.targetsNote) console.error(`vfio-conform: note: ${run.targetsNote}`)
  const ev = selectKernels(evaluateClaims(run.verdicts, run.targets, claims), run.targets, values.kernel ?? [])
  const shown = path.relative(process.cwd(), run.dir) || run.dir
  process.stdout.write(
    values.json
      ? renderClaimsJson(ev, { resultsDir: shown })
      : values.markdown
        ? renderClaimsMarkdown(ev, { resultsDir: shown })
        : renderClaimsTable(ev, { resultsDir: shown }),
  )
  return EXIT.ok
}
