// docs/measurements.md: one dated file of the project's figures, each section written by the
// command that measured it (the bench commands), between marker comments, so that running the
// command again replaces its section and leaves the others alone. A figure elsewhere in the
// docs points here; a figure no command reproduces belongs in the file's history section.
import { execFileSync } from 'node:child_process'
import { readFile, rename, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const MEASUREMENTS_FILE = path.join(ROOT, 'docs/measurements.md')
/** New sections go before this line: the end of the generated part, above the history. */
export const GENERATED_END = '<!-- measurements: generated sections end here -->'

export interface Measurement {
  /** Stable id: the section's markers and its anchor (e.g. "bench-stability"). */
  id: string
  title: string
  /** The command line that produced the figures, as a user types it. */
  command: string
  /** The command's figures, as it printed them. */
  lines: string[]
  date?: Date
  /** Machine and commit; found out when not given. */
  where?: string
}

const begin = (id: string) => `<!-- measurement ${id} begin: written by its command; run it again to update -->`
const end = (id: string) => `<!-- measurement ${id} end -->`

/** Where the figures were taken: cores, kernel, KVM or not, and the commit. */
export function machineAndCommit(measured?: string): string {
  let commit = 'unknown commit'
  if (measured) return `${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, project at ${measured}`
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    if (dirty) commit += ' with local changes'
  } catch {
    // not a git checkout
  }
  return `${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, project at ${commit}`
}

export function renderMeasurement(m: Measurement): string {
  const date = (m.date ?? new Date()).toISOString().slice(0, 10)
  return [
    begin(m.id),
    `### ${m.title}`,
    '',
    `\`${m.command}\`, ${date} (${m.where ?? machineAndCommit()}):`,
    '',
    '```text',
    ...m.lines,
    '```',
    end(m.id),
  ].join('\n')
}

/** The file's text with m's section replaced, or added at the end of the generated part. */
export function withMeasurement(text: string, m: Measurement): string {
  const section = renderMeasurement(m)
  const a = text.indexOf(begin(m.id))
  const b = text.indexOf(end(m.id))
  if (a >= 0 && b > a) return text.slice(0, a) + section + text.slice(b + end(m.id).length)
  const at = text.indexOf(GENERATED_END)
  if (at < 0) return `${text.replace(/\n*$/, '\n\n')}${section}\n\n${GENERATED_END}\n`
  return `${text.slice(0, at)}${section}\n\n${text.slice(at)}`
}

/** Write m's section into docs/measurements.md (or `file`); returns the file written. */
export async function recordMeasurement(m: Measurement, file = MEASUREMENTS_FILE): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '# Measurements\n\n')
  const tmp = `${file}.tmp-${process.pid}`
  await writeFile(tmp, withMeasurement(text, m))
  await rename(tmp, file)
  return file
}

/**
 * A bench command's ending: print its figures, and (unless `record` is false, or the bench
 * did not succeed) write them into docs/measurements.md. Returns `exitCode`.
 */
export async function printAndRecord(m: Measurement, opts: { record: boolean; exitCode: number }): Promise<number> {
  for (const l of m.lines) console.log(l)
  if (!opts.record) return opts.exitCode
  if (opts.exitCode !== 0) {
    console.error(`bench: exit ${opts.exitCode}: figures not written to docs/measurements.md`)
    return opts.exitCode
  }
  const file = await recordMeasurement(m)
  console.error(`bench: figures written to ${path.relative(process.cwd(), file) || file} (section "${m.title}")`)
  return opts.exitCode
}

/** `--no-record` out of a bench command's arguments. */
export function recordFlag(args: string[]): { record: boolean; rest: string[] } {
  return { record: !args.includes('--no-record'), rest: args.filter((a) => a !== '--no-record') }
}
