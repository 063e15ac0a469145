// Git plumbing for `vfio-conform gate`: one worktree per repository under the cache, moved
// between the base revision and base + the series.
//
// Why one worktree, kept between runs, at a path derived from the repository: the kernel
// object directory (make O=) is keyed by the tree's path (source-build.ts objDirKey), and
// make decides what to recompile from file mtimes. A worktree that stays put and only has
// the files of the series (or of a new base) rewritten therefore rebuilds incrementally
// (~15-60 s on 2 cores) instead of cold (~4-9 min). Built kernels are cached by tree
// identity (HEAD + diff), so a base built before, here or in the user's own tree, is not
// rebuilt at all; and `git am --committer-date-is-author-date` with a fixed committer
// makes base + series the same commit on every run, so an unchanged series is a cache hit.
// The worktree stays registered in the user's repository (`git worktree list` shows it;
// `git worktree remove --force <path>` drops it); gate never adds a branch.
import { execa } from 'execa'
import { readFile, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { cachePath, exists, sha256 } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'

/**
 * A fixed committer (so that base + series is the same commit each time), no signing, and
 * none of the user's hooks: their repository's hooks are shared with its worktrees.
 */
const GIT_CONFIG = [
  '-c', 'user.name=vfio-conform',
  '-c', 'user.email=vfio-conform@localhost',
  '-c', 'commit.gpgsign=false',
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'advice.detachedHead=false',
]
// Messages parsed below are English; no optional index locks in the user's repository.
const GIT_ENV = { LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' }

export async function git(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await execa('git', [...GIT_CONFIG, ...args], { cwd, env: GIT_ENV, reject: false, all: true, stdin: 'ignore' })
  return { code: r.exitCode ?? 128, out: (r.all ?? '').trim() }
}

async function gitOk(cwd: string, args: string[], what: string): Promise<string> {
  const r = await git(cwd, args)
  if (r.code !== 0) throw new HarnessError(`${what}: git ${args.join(' ')} exited ${r.code}`, r.out.split('\n').slice(-20).join('\n'))
  return r.out
}

export interface Repo {
  /** The top of the work tree the user named. */
  top: string
  /** Its common git directory (shared by all worktrees of the repository). */
  commonDir: string
}

/** The git repository of a directory, or a UsageError. */
export async function openRepo(dir: string): Promise<Repo> {
  if (!(await exists(dir))) throw new UsageError(`--tree ${dir} does not exist`)
  const top = await git(dir, ['rev-parse', '--show-toplevel'])
  if (top.code !== 0) throw new UsageError(`--tree ${dir} is not in a git work tree (gate needs git: it makes a worktree and runs git am)`)
  const common = await gitOk(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir'], 'finding the git directory')
  return { top: await realpath(top.out), commonDir: await realpath(common) }
}

/** The commit a revision names, or a UsageError. */
export async function resolveCommit(repo: Repo, rev: string): Promise<string> {
  const r = await git(repo.top, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])
  if (r.code !== 0 || !/^[0-9a-f]{40,64}$/.test(r.out)) throw new UsageError(`--base ${rev} is not a commit of ${repo.top}`)
  return r.out
}

/** Where gate keeps the worktree of a repository: stable, so its kernel object dir stays warm. */
export function gateWorktreePath(repo: Repo): string {
  return cachePath('gate', sha256(repo.commonDir).slice(0, 12), 'linux')
}

async function isWorktreeOf(repo: Repo, wt: string): Promise<boolean> {
  if (!(await exists(path.join(wt, '.git')))) return false
  const r = await git(wt, ['rev-parse', '--path-format=absolute', '--git-common-dir'])
  return r.code === 0 && (await realpath(r.out).catch(() => '')) === repo.commonDir
}

/**
 * A clean worktree of the repository at `wt`, HEAD detached at `commit`. An existing one is
 * reused (a leftover `git am` aborted, local changes and untracked files dropped) so that only
 * the files that differ are rewritten; otherwise it is created (`worktree add --detach`: no
 * branch is added to the user's repository).
 */
export async function checkoutWorktree(repo: Repo, wt: string, commit: string): Promise<void> {
  if (await isWorktreeOf(repo, wt)) {
    if (await exists(await amStateDir(wt))) await git(wt, ['am', '--abort'])
    await gitOk(wt, ['checkout', '--quiet', '--force', '--detach', commit], `checking out ${commit} in ${wt}`)
    await gitOk(wt, ['clean', '-ffdxq'], `cleaning ${wt}`)
    return
  }
  await rm(wt, { recursive: true, force: true })
  await git(repo.top, ['worktree', 'prune'])
  await gitOk(repo.top, ['worktree', 'add', '--quiet', '--force', '--detach', wt, commit], `creating a worktree of ${repo.top} at ${wt}`)
}

/** Move a worktree made by checkoutWorktree to another commit, rewriting only the files that differ. */
export async function switchWorktree(wt: string, commit: string): Promise<void> {
  await gitOk(wt, ['checkout', '--quiet', '--force', '--detach', commit], `checking out ${commit} in ${wt}`)
}

export async function removeWorktree(repo: Repo, wt: string): Promise<void> {
  const r = await git(repo.top, ['worktree', 'remove', '--force', '--force', wt])
  if (r.code !== 0) await rm(wt, { recursive: true, force: true })
  await git(repo.top, ['worktree', 'prune'])
}

async function amStateDir(wt: string): Promise<string> {
  const r = await git(wt, ['rev-parse', '--path-format=absolute', '--git-path', 'rebase-apply'])
  return r.out
}

export async function headCommit(wt: string): Promise<string> {
  return gitOk(wt, ['rev-parse', 'HEAD'], 'reading HEAD')
}

// ---------------------------------------------------------------------------------------
// The series

/**
 * The subjects of the patches of an mbox, in order (RFC 2822 folded headers unfolded),
 * without the "[PATCH n/m]" prefix git am strips too. Pure; exported for unit tests.
 */
export function mboxSubjects(mbox: string): string[] {
  const out: string[] = []
  const messages = mbox.split(/^From [^\n]*\n/m).filter((m) => m.trim())
  for (const msg of messages) {
    const headerEnd = msg.search(/\n\n/)
    const headers = (headerEnd < 0 ? msg : msg.slice(0, headerEnd)).replace(/\n[ \t]+/g, ' ')
    const m = /^Subject:[ \t]*(.*)$/im.exec(headers)
    if (m) out.push(stripPatchPrefix(m[1]!.trim()))
  }
  return out
}

function stripPatchPrefix(subject: string): string {
  return subject.replace(/^(\s*\[[^\]]*\]\s*)+/, '').trim()
}

/**
 * Which patch `git am` stopped at, from its output ("Patch failed at 0002 vfio: subject").
 * Pure; exported for unit tests.
 */
export function failedPatchFromAm(output: string): { index: number; subject: string } | undefined {
  const m = /^Patch failed at (\d+) (.*)$/m.exec(output)
  if (!m) return undefined
  return { index: Number(m[1]), subject: m[2]!.trim() }
}

export type SeriesResult =
  | { applied: true; head: string; subjects: string[] }
  | { applied: false; index: number; subject: string; output: string }

/**
 * `git am` the series in the worktree. When a patch does not apply, the am is aborted (the
 * worktree is back at the base) and the failing patch is named by its subject.
 */
export async function applySeries(wt: string, mboxFile: string): Promise<SeriesResult> {
  const text = await readFile(mboxFile, 'utf8').catch(() => {
    throw new UsageError(`--series ${mboxFile} cannot be read`)
  })
  const subjects = mboxSubjects(text)
  if (!subjects.length) throw new UsageError(`--series ${mboxFile} holds no patch (expected an mbox, e.g. from git format-patch --stdout)`)
  const r = await git(wt, ['am', '--quiet', '--no-3way', '--committer-date-is-author-date', path.resolve(mboxFile)])
  if (r.code === 0) return { applied: true, head: await headCommit(wt), subjects }
  const failed = failedPatchFromAm(r.out)
  await git(wt, ['am', '--abort'])
  const index = failed?.index ?? 1
  return { applied: false, index, subject: failed?.subject ?? subjects[index - 1] ?? '(unknown patch)', output: r.out }
}
