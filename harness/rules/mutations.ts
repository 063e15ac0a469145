// The mutations of ci/mutations/ (kernel patches that each remove one enforcement) and the
// tests each one must make FAIL, read from the patch's comment header: `# Mutation: NAME`,
// `# Rule: ...`, `# Filter: REGEX` (the `vfio-conform run --filter` pattern ci/mutations/run.sh
// runs on the mutant) and `# Claims: ID...`. See ci/mutations/README.md.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

export interface Mutation {
  /** The patch's name (`# Mutation:`, else the file name without .patch). */
  name: string
  /** Patch file, relative to the repository root. */
  file: string
  /** The rule the patch removes (`# Rule:`, continuation lines joined). */
  rule?: string
  /** The tests that must FAIL on the mutant: a test-name pattern as `run --filter` takes it. */
  filter?: RegExp
  /** Claim ids the mutant must flip to REFUTED. */
  claims: string[]
}

/**
 * The header fields of a patch: `# Key: value` lines, a field's continuation lines being
 * `#` followed by more indentation. Ends at the first line that is no comment.
 */
export function patchHeader(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  let last: string | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break
    const field = /^# ([A-Z][\w -]*):\s*(.*)$/.exec(line)
    if (field) {
      last = field[1]!
      if (!fields.has(last)) fields.set(last, field[2]!.trim())
      continue
    }
    const more = /^#\s{2,}(\S.*)$/.exec(line)
    if (more && last) fields.set(last, `${fields.get(last)} ${more[1]!.trim()}`.trim())
    else last = undefined
  }
  return fields
}

export function parseMutation(file: string, text: string): Mutation {
  const h = patchHeader(text)
  const filter = h.get('Filter')
  let re: RegExp | undefined
  if (filter) {
    try {
      re = new RegExp(filter)
    } catch (e) {
      throw new Error(`${file}: its "# Filter:" is not a regular expression (${(e as Error).message})`)
    }
  }
  return {
    name: h.get('Mutation') || path.basename(file, '.patch'),
    file,
    rule: h.get('Rule') || undefined,
    filter: re,
    claims: (h.get('Claims') ?? '').split(/[\s,]+/).filter(Boolean),
  }
}

/** Every *.patch under dir (relative to root), sorted by file. */
export async function readMutations(root: string, dir = 'ci/mutations'): Promise<Mutation[]> {
  const entries = await readdir(path.join(root, dir), { recursive: true }).catch(() => [] as string[])
  const files = entries.filter((f) => f.endsWith('.patch')).map((f) => path.join(dir, f)).sort()
  return Promise.all(files.map(async (f) => parseMutation(f, await readFile(path.join(root, f), 'utf8'))))
}
