// `gate --coverage`: the reviewer's question, "is the check this series touches tested?".
// The enforcement sites (error returns: harness/coverage/sites.ts) the series adds, removes
// or changes, and for each whether a test reaches it: added and changed sites on head (the
// head run's coverage), removed ones on base (what reached them before). A changed check
// that no test reaches is a warning in gate.md; it does not change the gate's exit code.
import { git } from './worktree.js'
import { siteReach, type CoverageData } from '../coverage/data.js'
import { shortTest } from '../coverage/report.js'
import { errorSites, type ErrorSite } from '../coverage/sites.js'

/** One hunk of `git diff -U0`: the base lines it replaces and the head lines it puts there. */
export interface Hunk {
  baseStart: number
  baseCount: number
  headStart: number
  headCount: number
}

/** Hunks per file of a `git diff -U0` output (files by their new path; deleted files by the old). Pure. */
export function parseUnifiedDiff(diff: string): Map<string, Hunk[]> {
  const out = new Map<string, Hunk[]>()
  let file: string | undefined
  let oldFile: string | undefined
  for (const line of diff.split('\n')) {
    let m = /^--- (?:a\/(.*)|\/dev\/null)$/.exec(line)
    if (m) {
      oldFile = m[1]
      continue
    }
    m = /^\+\+\+ (?:b\/(.*)|\/dev\/null)$/.exec(line)
    if (m) {
      file = m[1] ?? oldFile
      if (file && !out.has(file)) out.set(file, [])
      continue
    }
    m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line)
    if (m && file) {
      out.get(file)!.push({ baseStart: Number(m[1]), baseCount: m[2] === undefined ? 1 : Number(m[2]), headStart: Number(m[3]), headCount: m[4] === undefined ? 1 : Number(m[4]) })
    }
  }
  return out
}

export interface TouchedSite {
  change: 'added' | 'removed' | 'changed'
  /** The head's site (added, changed) or the base's (removed). */
  site: ErrorSite
}

const touches = (from: number, to: number, start: number, count: number) => (count === 0 ? start >= from - 1 && start <= to : start <= to && start + count - 1 >= from)

/** The lines that make a site: its statement and its guard (the whole if statement). */
function siteSpan(s: ErrorSite): { from: number; to: number } {
  return s.guard
    ? { from: Math.min(s.guard.stmt.startLine, s.statement.startLine), to: Math.max(s.guard.stmt.endLine, s.statement.endLine) }
    : { from: s.statement.startLine, to: s.statement.endLine }
}

/**
 * The sites of one file a change touches. Sites are matched between base and head by id
 * (file:function:ERRNO#k); a head site with no base twin is added, a base site with no
 * head twin removed, and a site on both whose lines (statement or guard) a hunk touches is
 * changed. Pure.
 */
export function touchedSites(file: string, baseText: string | undefined, headText: string | undefined, hunks: Hunk[]): TouchedSite[] {
  const base = baseText === undefined ? [] : errorSites(baseText, file)
  const head = headText === undefined ? [] : errorSites(headText, file)
  const baseIds = new Set(base.map((s) => s.id))
  const headIds = new Set(head.map((s) => s.id))
  const out: TouchedSite[] = []
  for (const s of head) {
    if (!baseIds.has(s.id)) {
      out.push({ change: 'added', site: s })
      continue
    }
    const { from, to } = siteSpan(s)
    const b = base.find((x) => x.id === s.id)!
    const bs = siteSpan(b)
    // A hunk that touches the site on head, or its twin on base (a removed line has no head line).
    if (hunks.some((h) => (h.headCount > 0 && touches(from, to, h.headStart, h.headCount)) || (h.baseCount > 0 && touches(bs.from, bs.to, h.baseStart, h.baseCount)))) {
      out.push({ change: 'changed', site: s })
    }
  }
  for (const s of base) if (!headIds.has(s.id)) out.push({ change: 'removed', site: s })
  return out
}

export interface SiteVerdict extends TouchedSite {
  /** Tests that reach it (head's run for added/changed, base's for removed), short names. */
  tests: string[]
  status: 'reached' | 'not reached' | 'no code' | 'not built' | 'no coverage'
}

export function judgeSites(touched: TouchedSite[], head?: CoverageData, base?: CoverageData): SiteVerdict[] {
  return touched.map((t) => {
    const data = t.change === 'removed' ? base : head
    if (!data) return { ...t, tests: [], status: 'no coverage' }
    const r = siteReach(data, t.site)
    return { ...t, status: r.status, tests: [...new Set(r.tests.map((i) => shortTest(data, i).replace(/ \[[^\]]*\]$/, '')))] }
  })
}

/** The gate.md section; warnings for added or changed checks no test reaches. Pure. */
export function renderCoverageSection(verdicts: SiteVerdict[], note?: string): string {
  const out: string[] = ['## Enforcement sites the series touches (gate --coverage)', '']
  if (note) out.push(note, '')
  if (!verdicts.length) {
    out.push('The series adds, removes or changes no error return (`return -E…`, `ret = -E…; goto`) in C files.', '')
    return out.join('\n')
  }
  const unreached = verdicts.filter((v) => v.change !== 'removed' && v.status === 'not reached')
  for (const v of unreached) {
    out.push(`**Warning: ${v.change === "added" ? "an" : "a"} ${v.change} check that no test reaches**: \`${v.site.file}:${v.site.line}\` ${v.site.function}() -${v.site.errno}${v.site.guard ? ` if (${v.site.guard.text})` : ''}`)
  }
  if (unreached.length) out.push('')
  out.push('| change | site | check | reached (on head; removed: on base) | by |', '|---|---|---|---|---|')
  for (const v of verdicts) {
    const s = v.site
    const by = v.tests.slice(0, 5).map((t) => `\`${t}\``).join(', ') + (v.tests.length > 5 ? `, +${v.tests.length - 5} more` : '')
    out.push(`| ${v.change} | \`${s.file}:${s.line}\` ${s.function}() -${s.errno} | ${s.guard ? `\`if (${s.guard.text.replace(/\|/g, '\\|')})\`` : '(unconditional)'} | ${v.status === 'reached' ? 'yes' : v.status === 'not reached' ? '**no**' : v.status} | ${by} |`)
  }
  out.push('')
  return out.join('\n')
}

/** The touched sites between two commits of a repository (C files only). */
export async function seriesSites(wt: string, baseCommit: string, headCommit: string): Promise<TouchedSite[]> {
  const diff = await git(wt, ['diff', '-U0', '--no-color', '--no-ext-diff', baseCommit, headCommit, '--', '*.c'])
  if (diff.code !== 0) throw new Error(`git diff ${baseCommit} ${headCommit} failed: ${diff.out}`)
  const out: TouchedSite[] = []
  for (const [file, hunks] of parseUnifiedDiff(diff.out)) {
    const show = async (c: string) => {
      const r = await git(wt, ['show', `${c}:${file}`])
      return r.code === 0 ? r.out : undefined
    }
    out.push(...touchedSites(file, await show(baseCommit), await show(headCommit), hunks))
  }
  return out
}
