// --repeat N --repeat-boot: N whole runs (fresh guests each time) in round-1 .. round-N of the
// results directory, merged into one verdicts.json (and reports) there, a FLAKY verdict for
// each test whose verdict varied (harness/report/repeat.ts).
import { copyFile, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { readRunResults } from '../claims/results.js'
import { writeReports, type ReportRegistries } from './formats/index.js'
import { mergeRounds, withRound } from './repeat.js'
import { countVerdicts, exitCodeFor, type TestVerdict } from './verdict.js'

export interface RoundRun {
  dir: string
  wallMs: number
}

export interface MergedRuns {
  verdicts: TestVerdict[]
  runErrors: string[]
  exitCode: number
}

/** Merge the rounds' verdicts.json into `runDir` (targets.json of the last round with results). */
export async function mergeRunRounds(runDir: string, rounds: RoundRun[], allow: RegExp[], reg: ReportRegistries): Promise<MergedRuns> {
  const all: TestVerdict[] = []
  const runErrors: string[] = []
  let lastWithTargets: string | undefined
  for (const [i, r] of rounds.entries()) {
    const out = await readFile(path.join(r.dir, 'verdicts.json'), 'utf8').then(JSON.parse, () => undefined) as
      | { verdicts: TestVerdict[]; runErrors: string[] }
      | undefined
    if (!out) {
      runErrors.push(`round ${i + 1}: the run produced no verdicts (see ${r.dir})`)
      continue
    }
    for (const v of out.verdicts) all.push({ ...v, name: withRound(v.name, i + 1, rounds.length) })
    for (const e of out.runErrors) runErrors.push(`round ${i + 1}: ${e}`)
    lastWithTargets = r.dir
  }
  const verdicts = mergeRounds(all, allow)
  const exitCode = exitCodeFor(verdicts, runErrors)
  const roundsInfo = rounds.map((r, i) => ({ round: i + 1, dir: path.relative(runDir, r.dir), wallMs: r.wallMs }))
  await writeFile(path.join(runDir, 'verdicts.json'), JSON.stringify({ verdicts, runErrors, incidents: [], counts: countVerdicts(verdicts), rounds: roundsInfo, exitCode }, null, 2))
  if (lastWithTargets) {
    await copyFile(path.join(lastWithTargets, 'targets.json'), path.join(runDir, 'targets.json')).catch(() => {})
    if (verdicts.some((v) => v.project !== 'unit')) await writeReports(await readRunResults(runDir), runDir, reg).catch((e: Error) => runErrors.push(`reports: ${e.message}`))
  }
  return { verdicts, runErrors, exitCode }
}
