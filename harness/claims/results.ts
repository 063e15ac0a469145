// Reads a finished run's verdicts.json and targets.json for `vfio-conform claims`.
// A missing or unreadable verdicts.json is bad usage (exit 2): nothing to report on.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { TestVerdict } from '../report/verdict.js'
import { UsageError } from '../util/errors.js'
import type { RunTarget } from './evaluate.js'

export interface RunResults {
  dir: string
  verdicts: TestVerdict[]
  targets: RunTarget[]
  runErrors: string[]
  /** Set when targets.json was missing: the columns then come from the test names only. */
  targetsNote?: string
}

export async function readRunResults(dir: string): Promise<RunResults> {
  const abs = path.resolve(dir)
  const vPath = path.join(abs, 'verdicts.json')
  let text: string
  try {
    text = await readFile(vPath, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new UsageError(
      `${vPath}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}; run \`vfio-conform run\` first, or pass --results DIR of a finished run`,
    )
  }
  let parsed: { verdicts?: unknown; runErrors?: unknown }
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new UsageError(`${vPath}: not JSON (${(e as Error).message}); is the run still writing it?`)
  }
  if (!parsed || !Array.isArray(parsed.verdicts)) throw new UsageError(`${vPath}: no "verdicts" array`)
  const verdicts = parsed.verdicts as TestVerdict[]
  const runErrors = Array.isArray(parsed.runErrors) ? (parsed.runErrors as string[]) : []

  const tPath = path.join(abs, 'targets.json')
  let targets: RunTarget[] = []
  let targetsNote: string | undefined
  try {
    const t = JSON.parse(await readFile(tPath, 'utf8'))
    if (!Array.isArray(t)) throw new Error('not an array')
    targets = t as RunTarget[]
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    targetsNote = `${tPath}: ${code === 'ENOENT' ? 'missing' : (e as Error).message}; kernels taken from the test names`
  }
  return { dir: abs, verdicts, targets, runErrors, targetsNote }
}
