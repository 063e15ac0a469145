// Build a conform kernel from a clean kernel source tree, out of tree (make O=...), with
// the project's config fragment(s) on top of tinyconfig; cache the result.
//
//   entry   <cache>/kernels/source/<kver>-<key>/   bzImage, config, lib/modules/<release>/,
//           release, build.log, dropped.json, origin.json; made with cachedDir (atomic
//           rename, locked). key = hash(tree identity, fragment content, compiler, the
//           version marker of this file).
//   objdir  <cache>/kernels/source-obj/<hash(tree path, fragment file names)>/   the O=
//           directory, reused across identities of the same tree (and edits of the
//           fragment) so that a rebuild after editing one file is incremental; locked while
//           make runs in it.
//
// The user's tree is never written: a tree configured in place is refused (make O= would
// refuse it too), and git is run with GIT_OPTIONAL_LOCKS=0 so that it does not refresh the
// index.
import { execa } from 'execa'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { copyFile, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ensureBuildPackages } from '../host/packages.js'
import { cachedDir, cachePath, exists, sha256, withLock } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { KernelConfig, type KconfigValue } from './config.js'
import type { KernelBuild } from './kernel-build.js'
import { gcovMakeVar, gcovToolFor, PROFILED_DIRS, PROFILED_FILES, type GcovBuildInfo } from '../coverage/profile.js'

/** Bump when a change here changes what a build produces: it is part of every cache key. */
export const SOURCE_BUILD_VERSION = 'source-build-1'

export const KCONFIG_DIR = fileURLToPath(new URL('../../guests/kconfig/', import.meta.url))
export const CONFORM_FRAGMENT = path.join(KCONFIG_DIR, 'conform.config')
export const COMPAT_FRAGMENT = path.join(KCONFIG_DIR, 'conform-compat.config')
export const GCOV_FRAGMENT = path.join(KCONFIG_DIR, 'conform-gcov.config')

/** A rough CC/LD line count for a cold conform build (6.12: 1845) when no previous build was counted. */
const ESTIMATED_STEPS = 1900

// ---------------------------------------------------------------------------------------
// Pure parts (unit-tested)

/**
 * Options a fragment sets: "CONFIG_X=v" -> X: v (string values unquoted), "# CONFIG_X is not
 * set" -> X: "n". Other comments and blank lines are ignored; anything else is an error.
 */
export function parseFragment(text: string, name = 'fragment'): Map<string, KconfigValue> {
  const out = new Map<string, KconfigValue>()
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (!line) return
    let m = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line)
    if (m) {
      out.set(m[1]!, 'n')
      return
    }
    if (line.startsWith('#')) return
    m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line)
    if (!m) throw new UsageError(`${name}:${i + 1}: not a kconfig line: ${line}`)
    let v = m[2]!.trim()
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    out.set(m[1]!, v)
  })
  return out
}

/** Later fragments override earlier ones. */
export function mergeFragments(...fragments: Array<Map<string, KconfigValue>>): Map<string, KconfigValue> {
  const out = new Map<string, KconfigValue>()
  for (const f of fragments) for (const [k, v] of f) out.set(k, v)
  return out
}

function renderOption(name: string, v: KconfigValue): string {
  if (v === 'n') return `# CONFIG_${name} is not set`
  if (v === 'y' || v === 'm' || /^-?(0x[0-9a-fA-F]+|\d+)$/.test(v)) return `CONFIG_${name}=${v}`
  return `CONFIG_${name}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/**
 * What merge_config.sh -m does: drop the base .config's lines for every option the
 * fragment sets, then append the fragment's values. `make olddefconfig` resolves the rest.
 */
export function mergeConfigText(base: string, fragment: Map<string, KconfigValue>): string {
  const kept = base.split('\n').filter((line) => {
    const m = /^CONFIG_([A-Za-z0-9_]+)=/.exec(line) ?? /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line)
    return !(m && fragment.has(m[1]!))
  })
  while (kept.length && kept[kept.length - 1] === '') kept.pop()
  const add = [...fragment].map(([k, v]) => renderOption(k, v))
  return [...kept, '', '# vfio-conform fragment', ...add, ''].join('\n')
}

export interface DroppedOption {
  option: string
  wanted: KconfigValue
  got: KconfigValue
}

/** Fragment options whose value in the final .config differs from what the fragment asked. */
export function droppedOptions(fragment: Map<string, KconfigValue>, config: string | KernelConfig): DroppedOption[] {
  const cfg = typeof config === 'string' ? KernelConfig.parse(config) : config
  const out: DroppedOption[] = []
  for (const [option, wanted] of fragment) {
    const got = cfg.get(option)
    if (got !== wanted) out.push({ option, wanted, got })
  }
  return out
}

export function formatDropped(d: DroppedOption[]): string {
  return d.map((x) => `CONFIG_${x.option} (wanted ${x.wanted}, got ${x.got === 'n' ? 'unset' : x.got})`).join(', ')
}

export interface BuildKeyParts {
  /** What the tree is: "git:<HEAD>+diff:<hash>+untracked:<hash>", "debian:linux-source-6.12=6.12.118-1", ... */
  identity: string
  /** The merged fragment, canonical (canonicalFragment): what olddefconfig is given on top of tinyconfig. */
  fragment: string
  /** The compiler's identity (its --version line). */
  compiler: string
  version?: string
}

/** The cache key of a built kernel. Any change of the parts gives another key. */
export function buildKey(p: BuildKeyParts): string {
  return sha256([
    'identity\0', p.identity, '\0fragment\0', p.fragment, '\0compiler\0', p.compiler, '\0version\0', p.version ?? SOURCE_BUILD_VERSION,
  ]).slice(0, 20)
}

/**
 * The reusable object directory's key: the tree's path and which fragment files are applied
 * (their names, not their contents, nor the tree's identity): a new commit, an edited file
 * or an edited fragment all rebuild incrementally in the same directory, while source:X and
 * source:X,compat keep a directory each instead of reconfiguring one back and forth.
 */
export function objDirKey(treeRealPath: string, fragmentFiles: string[]): string {
  return sha256(['tree\0', treeRealPath, '\0fragments\0', fragmentFiles.join('\0')]).slice(0, 16)
}

/** Counts compile/link steps in kbuild's output, for the progress percentage. */
export function isBuildStep(line: string): boolean {
  return /^\s+(CC|LD|AR|AS|HOSTCC|HOSTLD)(\s\[M\])?\s+\S/.test(line)
}

// ---------------------------------------------------------------------------------------
// The tree

/** Refuse a tree configured or built in place: make O= refuses it too, and we never clean it. */
export async function assertCleanTree(tree: string): Promise<void> {
  const dirty: string[] = []
  for (const p of ['.config', 'include/config', 'include/generated', 'arch/x86/include/generated']) {
    if (await exists(path.join(tree, p))) dirty.push(p)
  }
  if (dirty.length) {
    throw new UsageError(
      `kernel tree ${tree} is configured in place (${dirty.join(', ')}); out-of-tree builds need a clean tree: run "make -C ${tree} mrproper" or use a clean copy (vfio-conform never modifies your tree)`,
    )
  }
}

/** "6.12.118" from the tree's top Makefile, for readable cache entry names. */
export async function makefileVersion(tree: string): Promise<string> {
  const mk = await readFile(path.join(tree, 'Makefile'), 'utf8').catch(() => '')
  const get = (k: string) => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(mk)?.[1] ?? ''
  const v = [get('VERSION'), get('PATCHLEVEL'), get('SUBLEVEL')].filter(Boolean).join('.')
  return (v + get('EXTRAVERSION')).replace(/[^A-Za-z0-9.+-]/g, '_') || 'unknown'
}

const gitEnv = { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' }

async function hashCommandOutput(cmd: string, args: string[]): Promise<string> {
  const h = createHash('sha256')
  const sub = execa(cmd, args, { env: gitEnv, buffer: false, stdout: 'pipe', stderr: 'ignore' })
  for await (const chunk of sub.stdout!) h.update(chunk as Buffer)
  await sub
  return h.digest('hex')
}

async function hashFile(p: string, h: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer)
}

/**
 * What a source tree is, for the cache key.
 * - git checkout (the tree is the top of a work tree): HEAD + hash of `git diff HEAD` +
 *   hash of the untracked, non-ignored files (names and contents). Exact and cheap: git
 *   already knows which files changed.
 * - otherwise (an unpacked tarball): the caller's identity when it knows one (a Debian
 *   package version, a tarball's hash); else a hash of every file's path, size and mtime.
 *   Hashing ~1.4 GB of content on each resolve would cost tens of seconds; a stat walk
 *   costs a few, and any edit changes an mtime. (A `touch` without an edit also gives a new
 *   key: a needless but correct rebuild, and an incremental one thanks to the obj dir.)
 */
export async function treeIdentity(tree: string): Promise<string> {
  const real = await realpath(tree)
  const top = await execa('git', ['-C', real, 'rev-parse', '--show-toplevel'], { env: gitEnv, reject: false })
  if (top.exitCode === 0 && (await realpath(top.stdout.trim()).catch(() => '')) === real) {
    const head = await execa('git', ['-C', real, 'rev-parse', 'HEAD'], { env: gitEnv, reject: false })
    if (head.exitCode === 0) {
      const diff = await hashCommandOutput('git', ['-C', real, 'diff', 'HEAD', '--binary', '--no-color', '--no-ext-diff'])
      const list = await execa('git', ['-C', real, 'ls-files', '--others', '--exclude-standard', '-z'], { env: gitEnv })
      const h = createHash('sha256')
      for (const f of list.stdout.split('\0').filter(Boolean).sort()) {
        h.update(f + '\0')
        const st = await lstat(path.join(real, f)).catch(() => undefined)
        if (st?.isFile()) await hashFile(path.join(real, f), h)
      }
      return `git:${head.stdout.trim()}+diff:${diff.slice(0, 16)}+untracked:${h.digest('hex').slice(0, 16)}`
    }
  }
  return `files:${(await statWalkHash(real)).slice(0, 32)}`
}

/** Hash of (relative path, size, mtime) of every file under dir, in a stable order. */
export async function statWalkHash(dir: string): Promise<string> {
  const h = createHash('sha256')
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true })
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) {
        if (r === '.git') continue
        await walk(r)
      } else {
        const st = await lstat(path.join(dir, r))
        h.update(`${r}\0${st.size}\0${Math.trunc(st.mtimeMs)}\n`)
      }
    }
  }
  await walk('')
  return h.digest('hex')
}

// ---------------------------------------------------------------------------------------
// The build

export interface SourceBuildRequest {
  /** A clean kernel source tree. */
  tree: string
  /** What the tree is (see treeIdentity); computed when not given. */
  identity?: string
  /** Fragment files applied in order on top of tinyconfig. */
  fragments: string[]
  /** KernelBuild id, e.g. "debian-source:6.12.118-1" or "source:/src/linux,compat". */
  id: string
  /** Filename-safe label prefix, e.g. "debian-source-6.12.118-1". */
  label: string
  /** Use a fresh object dir (a cold build; bench --cold). */
  freshObj?: boolean
  /** Rebuild even if the cache entry exists (bench: rebuild into the same obj dir). */
  force?: boolean
  /**
   * The coverage variant: profile the VFIO and iommufd code with gcov (harness/coverage/
   * profile.ts; the fragments must include conform-gcov.config) and keep the notes files.
   */
  gcov?: boolean
  /**
   * The fragments of the variant this one adds options to (the gcov variant: the plain
   * conform build). A first build of this variant starts from a copy of that variant's
   * object directory: Kbuild then rebuilds only the objects whose config options or flags
   * changed (fixdep records each object's CONFIG_ dependencies), minutes less than a build
   * of every object, even with a warm ccache (a changed autoconf.h misses its direct mode).
   */
  seedFrom?: string[]
}

export interface SourceBuildResult extends KernelBuild {
  /** The cache entry directory. */
  entry: string
  /** True when this call built it (false: cache hit). */
  built: boolean
  /** Fragment options that did not survive olddefconfig. */
  dropped: DroppedOption[]
  objDir: string
}

/** The cache entry's record of a gcov build (harness/coverage/profile.ts). */
const GCOV_INFO = 'gcov/gcov.json'

export interface Toolchain {
  /** Extra make variables (CC=..., ...). */
  makeVars: string[]
  env: Record<string, string>
  /** gcc --version first line. */
  compiler: string
  ccache: boolean
  /** ccache runs through ccache-shim/ (kbuildEnv()). */
  shim: boolean
}

export async function toolchain(): Promise<Toolchain> {
  // Without gcc the key says so; the build then stops in ensureBuildPackages() with the
  // packages to install.
  const gcc = await execa('gcc', ['--version'], { reject: false })
  const compiler = gcc.exitCode === 0 ? gcc.stdout.split('\n')[0]!.trim() : 'no-gcc'
  const cc = await execa('sh', ['-c', 'command -v ccache'], { reject: false })
  const env: Record<string, string> = {}
  const makeVars: string[] = []
  const useCcache = cc.exitCode === 0 && !process.env.VFIO_CONFORM_NO_CCACHE
  const shim = useCcache && process.env.VFIO_CONFORM_CCACHE_SHIM !== '0'
  if (useCcache) {
    env.CCACHE_DIR = process.env.CCACHE_DIR ?? cachePath('ccache')
    // The obj dir moves between builds (fresh obj dirs): hash relative to it, not absolute.
    env.CCACHE_NOHASHDIR = '1'
    env.CCACHE_MAXSIZE = process.env.CCACHE_MAXSIZE ?? '5G'
    makeVars.push('CC=ccache gcc')
  }
  if (shim) {
    env.VFIO_CONFORM_CCACHE = cc.stdout.trim()
    env.PATH = `${CCACHE_SHIM_DIR}:${process.env.PATH ?? '/usr/bin:/bin'}`
  }
  return { makeVars, env, compiler, ccache: useCcache, shim }
}

/**
 * ccache-shim/ccache: what "ccache" runs during kernel builds, so that a copy of a tree at
 * another path hits the objects of the original (see the script). VFIO_CONFORM_CCACHE_SHIM=0
 * goes without it (bench/kernel-build.ts --nearby measures both).
 */
export const CCACHE_SHIM_DIR = fileURLToPath(new URL('./ccache-shim/', import.meta.url)).replace(/\/$/, '')

/** The link in an object directory through which the shim names the tree. */
export const TREE_LINK = '.vfio-conform-src'

/**
 * The environment of a make in `objDir` for `tree` (the toolchain's, the tree the shim
 * rewrites, a fixed build user and host), with the object directory's link to the tree made.
 */
export async function kbuildEnv(tc: Toolchain, tree: string, objDir: string): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...tc.env, KBUILD_BUILD_USER: 'vfio-conform', KBUILD_BUILD_HOST: 'vfio-conform', LC_ALL: 'C' }
  if (!tc.shim) return env
  // kbuild names the tree by its real path (abs_srctree); so must the shim.
  const real = await realpath(tree)
  const link = path.join(objDir, TREE_LINK)
  await mkdir(objDir, { recursive: true })
  if ((await readlink(link).catch(() => undefined)) !== real) {
    await rm(link, { force: true })
    await symlink(real, link)
  }
  return { ...env, VFIO_CONFORM_KTREE: real }
}

/**
 * The fragments' merged options, and their canonical text (one line per option, in merge
 * order): what the cache key hashes, so that editing a fragment's comments is no rebuild.
 */
async function readFragments(files: string[]): Promise<{ text: string; options: Map<string, KconfigValue> }> {
  const maps: Array<Map<string, KconfigValue>> = []
  for (const f of files) {
    const t = await readFile(f, 'utf8').catch(() => {
      throw new UsageError(`config fragment ${f} does not exist`)
    })
    maps.push(parseFragment(t, f))
  }
  const options = mergeFragments(...maps)
  return { text: canonicalFragment(options), options }
}

/** One line per option, in merge order. */
export function canonicalFragment(options: Map<string, KconfigValue>): string {
  return [...options].map(([k, v]) => renderOption(k, v) + '\n').join('')
}

/** Build (or find in the cache) a conform kernel from a source tree. */
export async function buildFromSource(req: SourceBuildRequest): Promise<SourceBuildResult> {
  const tree = await realpath(req.tree).catch(() => {
    throw new UsageError(`kernel tree ${req.tree} does not exist`)
  })
  await assertCleanTree(tree)
  const { text: fragmentText, options } = await readFragments(req.fragments)
  const tc = await toolchain()
  const identity = req.identity ?? (await treeIdentity(tree))
  const extraMakeVars = req.gcov ? [gcovMakeVar()] : []
  // Make variables change what is built as much as the fragment does.
  const key = buildKey({ identity, fragment: fragmentText + extraMakeVars.map((v) => `# make ${v}\n`).join(''), compiler: tc.compiler })
  const kver = await makefileVersion(tree)
  const entryPath = cachePath('kernels', 'source', `${kver}-${key}`)
  const fragmentFiles = req.fragments.map((f) => path.resolve(f))
  const objDir = req.freshObj
    ? cachePath('kernels', 'source-obj', `fresh-${objDirKey(tree, fragmentFiles)}-${process.pid}-${Date.now()}`)
    : cachePath('kernels', 'source-obj', objDirKey(tree, fragmentFiles))
  if (req.force) await rm(path.join(entryPath, '.complete'), { force: true })

  const { dir, built } = await cachedDir(entryPath, async (tmp) => {
    await ensureBuildPackages()
    const logPath = path.join(tmp, 'build.log')
    const log = createWriteStream(logPath)
    try {
      const seed = req.seedFrom && !req.freshObj ? await baseObjDir(req.seedFrom, identity, tc.compiler, kver) : undefined
      await withLock(objDir + '.lock', async () => {
        if (seed) await seedObjDir(objDir, seed, req.id)
        await runBuild({ tree, objDir, tmp, options, fragmentText, tc, log, what: req.id, extraMakeVars })
      }, () =>
        progress(`kernel ${req.id}: waiting for another build in ${objDir}`),
      )
      await closeStream(log)
      if (req.gcov) await keepGcovNotes(objDir, tmp, tree, tc.compiler)
      await writeFile(
        path.join(tmp, 'origin.json'),
        JSON.stringify({ id: req.id, tree, identity, fragments: req.fragments, compiler: tc.compiler, ccache: tc.ccache, objDir, version: SOURCE_BUILD_VERSION }, null, 2) + '\n',
      )
    } catch (e) {
      await closeStream(log)
      const failed = cachePath('kernels', 'source', `failed-${key}.log`)
      await copyFile(logPath, failed).catch(() => undefined)
      if (e instanceof HarnessError) e.message += ` (full log: ${failed})`
      throw e
    } finally {
      if (req.freshObj) await rm(objDir, { recursive: true, force: true }).catch(() => undefined)
    }
  })
  if (!built) progress(`kernel ${req.id}: cached at ${dir}`)
  const release = (await readFile(path.join(dir, 'release'), 'utf8')).trim()
  const dropped: DroppedOption[] = JSON.parse(await readFile(path.join(dir, 'dropped.json'), 'utf8'))
  if (!built && dropped.length) progress(`kernel ${req.id}: WARNING: options of the fragment that did not survive: ${formatDropped(dropped)}`)
  const modulesDir = path.join(dir, 'lib/modules', release)
  const gcov = req.gcov ? { ...(JSON.parse(await readFile(path.join(dir, GCOV_INFO), 'utf8')) as GcovBuildInfo), dir: path.join(dir, 'gcov') } : undefined
  return {
    id: req.id,
    label: req.label.replace(/[^A-Za-z0-9.+-]/g, '_'),
    release,
    bzImage: path.join(dir, 'bzImage'),
    modulesDir: (await exists(path.join(modulesDir, 'modules.dep'))) ? modulesDir : undefined,
    config: KernelConfig.parse(await readFile(path.join(dir, 'config'))),
    origin: { kind: 'source', tree, identity, fragment: req.fragments, dropped: dropped.map((d) => d.option) },
    entry: dir,
    built,
    dropped,
    objDir,
    ...(gcov ? { gcov } : {}),
  }
}

/**
 * The object directory the base variant's cached build was made in (its origin.json): the
 * obj dir key names the fragment files' paths, which differ between checkouts of the
 * project, the cache entry's key does not.
 */
async function baseObjDir(fragments: string[], identity: string, compiler: string, kver: string): Promise<string | undefined> {
  const { text } = await readFragments(fragments)
  const entry = cachePath('kernels', 'source', `${kver}-${buildKey({ identity, fragment: text, compiler })}`)
  if (!(await exists(path.join(entry, '.complete')))) return undefined
  const origin = JSON.parse(await readFile(path.join(entry, 'origin.json'), 'utf8').catch(() => '{}')) as { objDir?: string }
  return origin.objDir
}

/** A new variant's object directory as a copy of its base variant's (see SourceBuildRequest.seedFrom). */
async function seedObjDir(objDir: string, base: string, what: string): Promise<void> {
  if ((await exists(path.join(objDir, '.config'))) || !(await exists(path.join(base, '.config')))) return
  await withLock(base + '.lock', async () => {
    progress(`kernel ${what}: starting from the objects of ${base} (only what the added options change is rebuilt)`)
    const tmp = `${objDir}.seed-${process.pid}`
    await rm(tmp, { recursive: true, force: true })
    const r = await execa('cp', ['-a', '--reflink=auto', base, tmp], { reject: false, all: true })
    if (r.exitCode !== 0) {
      await rm(tmp, { recursive: true, force: true })
      progress(`kernel ${what}: copying ${base} failed (${(r.all ?? '').split('\n')[0]}): building every object`)
      return
    }
    await rm(objDir, { recursive: true, force: true })
    await rename(tmp, objDir)
  }, () => progress(`kernel ${what}: waiting for a build in ${base} to end before copying it`))
}

/**
 * Copy the profiled objects' notes files (.gcno, written next to each object by the
 * compiler) into the entry: the obj dir is reused by the next build of the tree, the entry
 * is what this kernel was. gcov needs them beside the guest's counters (.gcda).
 */
async function keepGcovNotes(objDir: string, tmp: string, tree: string, compiler: string): Promise<void> {
  const objects: string[] = []
  const copy = async (rel: string) => {
    await mkdir(path.join(tmp, 'gcov', path.dirname(rel)), { recursive: true })
    await copyFile(path.join(objDir, rel + '.gcno'), path.join(tmp, 'gcov', rel + '.gcno'))
    objects.push(rel)
  }
  for (const d of PROFILED_DIRS) {
    const names = await readdir(path.join(objDir, d)).catch(() => [] as string[])
    for (const n of names.filter((x) => x.endsWith('.gcno')).sort()) await copy(`${d}/${n.slice(0, -'.gcno'.length)}`)
  }
  for (const f of PROFILED_FILES) {
    const rel = f.replace(/\.c$/, '')
    if (await exists(path.join(objDir, rel + '.gcno'))) await copy(rel)
  }
  if (!objects.length) throw new HarnessError(`gcov build left no .gcno files under ${objDir} (${PROFILED_DIRS.join(', ')}): is CONFIG_GCOV_KERNEL set?`)
  const info: Omit<GcovBuildInfo, 'dir'> = { objDir, tree, gcov: gcovToolFor(compiler), objects }
  await writeFile(path.join(tmp, GCOV_INFO), JSON.stringify(info, null, 2) + '\n')
  progress(`kernel: gcov notes of ${objects.length} profiled objects kept`)
}

function closeStream(s: WriteStream): Promise<void> {
  return new Promise((r) => (s.closed ? r() : s.end(() => r())))
}

interface RunBuildArgs {
  tree: string
  objDir: string
  tmp: string
  options: Map<string, KconfigValue>
  fragmentText: string
  tc: Toolchain
  log: WriteStream
  what: string
  /** More make variables (the gcov variant's GCOV_PROFILE). */
  extraMakeVars: string[]
}

async function runBuild(a: RunBuildArgs): Promise<void> {
  const { tree, objDir, tmp, tc, log } = a
  await mkdir(objDir, { recursive: true })
  const jobs = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  const base = ['-C', tree, `O=${objDir}`, 'ARCH=x86_64', ...tc.makeVars, ...a.extraMakeVars]
  const env = await kbuildEnv(tc, tree, objDir)
  const t0 = Date.now()

  const make = async (step: string, args: string[], opts: { count?: boolean; expected?: number } = {}) => {
    log.write(`\n### make ${[...base, ...args].join(' ')}\n`)
    const tail: string[] = []
    const meter = new BuildMeter(a.what, step, t0, opts.count ? opts.expected : undefined)
    const sub = execa('make', [...base, ...args], { env, reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
    // stdout and stderr are split into lines separately (a chunk may end mid-line).
    const splitter = () => {
      let rest = ''
      const line = (l: string) => {
        if (!l) return
        tail.push(l)
        if (tail.length > 200) tail.splice(0, 100)
        if (opts.count && isBuildStep(l)) meter.step()
      }
      return {
        data: (chunk: Buffer) => {
          log.write(chunk)
          const parts = (rest + chunk.toString('utf8')).split('\n')
          rest = parts.pop() ?? ''
          parts.forEach(line)
        },
        end: () => line(rest),
      }
    }
    const out = splitter()
    const err = splitter()
    sub.stdout!.on('data', out.data)
    sub.stderr!.on('data', err.data)
    const r = await sub
    out.end()
    err.end()
    meter.stop()
    if (r.exitCode !== 0) {
      throw new HarnessError(`kernel build failed: make ${args.join(' ')} exited ${r.exitCode ?? r.signal} (${a.what})`, tail.slice(-40).join('\n'))
    }
    return meter.count
  }

  // Said up front: a first build is the one long step of a first run.
  const builtBefore = await exists(path.join(objDir, '.vfio-conform-steps'))
  progress(`kernel ${a.what}: not built yet with this fragment: building it now; ${firstBuildEstimate(jobs, builtBefore, tc.ccache)}; later runs reuse it`)
  progress(`kernel ${a.what}: configuring in ${objDir} (tinyconfig + fragment)`)
  await make('tinyconfig', ['tinyconfig'])
  const tiny = await readFile(path.join(objDir, '.config'), 'utf8')
  await writeFile(path.join(objDir, '.config'), mergeConfigText(tiny, a.options))
  await make('olddefconfig', ['olddefconfig'])
  const configText = await readFile(path.join(objDir, '.config'), 'utf8')
  const dropped = droppedOptions(a.options, configText)
  if (dropped.length) progress(`kernel ${a.what}: WARNING: options of the fragment that did not survive olddefconfig: ${formatDropped(dropped)}`)
  await writeFile(path.join(tmp, 'dropped.json'), JSON.stringify(dropped, null, 2) + '\n')

  const stepsFile = path.join(objDir, '.vfio-conform-steps')
  const previous = Number(await readFile(stepsFile, 'utf8').catch(() => '0')) || ESTIMATED_STEPS
  progress(`kernel ${a.what}: make -j${jobs} bzImage modules${tc.ccache ? ' (ccache)' : ''}; log: ${path.join(tmp, 'build.log')}`)
  const steps = await make('compile', [`-j${jobs}`, 'bzImage', 'modules'], { count: true, expected: previous })
  // Remember a full build's count; an incremental one (few steps) says nothing about the next cold one.
  if (steps > previous / 2 || !(await exists(stepsFile))) await writeFile(stepsFile, String(steps))

  const mods = path.join(tmp)
  await make('modules_install', ['modules_install', `INSTALL_MOD_PATH=${mods}`, 'INSTALL_MOD_STRIP=1', `DEPMOD=${await which('depmod')}`])
  const release = (await readFile(path.join(objDir, 'include/config/kernel.release'), 'utf8')).trim()
  const modDir = path.join(tmp, 'lib/modules', release)
  // The build/source links point into the obj dir and the user's tree: not part of the entry.
  for (const l of ['build', 'source']) await rm(path.join(modDir, l), { force: true })
  if (!(await exists(path.join(modDir, 'modules.dep')))) throw new HarnessError(`modules_install left no ${modDir}/modules.dep`)
  await copyFile(path.join(objDir, 'arch/x86/boot/bzImage'), path.join(tmp, 'bzImage'))
  await writeFile(path.join(tmp, 'config'), configText)
  await writeFile(path.join(tmp, 'release'), release + '\n')
  await writeFile(path.join(tmp, 'fragment.config'), a.fragmentText)
  progress(`kernel ${a.what}: built ${release} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${steps} compile/link steps)`)
}

async function which(cmd: string): Promise<string> {
  const r = await execa('sh', ['-c', `command -v ${cmd}`], { reject: false })
  if (r.exitCode !== 0) throw new UsageError(`${cmd} is not installed (package kmod)`)
  return r.stdout.trim()
}

/**
 * The conform build of linux-source-6.12 (6.12.118) from a fresh object dir with an empty
 * ccache, make -j2 on 2 cores: ~11 min (a fresh clone's first run, 2026-12-07). Scaled by the
 * cores make uses here; the link steps do not scale, hence the floor.
 */
export const FIRST_BUILD_MIN_ON_2_CORES = 11

/** What the first build will take here, said before it starts. */
export function firstBuildEstimate(cores: number, builtBefore: boolean, ccache: boolean): string {
  if (builtBefore) return 'an incremental build in its object dir (seconds to a few minutes, by what changed)'
  const min = Math.max(2, Math.round((FIRST_BUILD_MIN_ON_2_CORES * 2) / Math.max(1, cores)))
  return (
    `a first build takes about ${min} min with ${cores} core${cores === 1 ? '' : 's'} (${FIRST_BUILD_MIN_ON_2_CORES} min measured on 2 cores with an empty ccache)` +
    (ccache ? '; less when ccache holds this tree\'s objects from an earlier build of it or of a copy of it' : '; ccache is not in use, so every new object dir builds from scratch')
  )
}

/** "12m03s" */
const minSec = (s: number) => `${Math.floor(s / 60)}m${String(Math.round(s) % 60).padStart(2, '0')}s`

/**
 * Progress of a build: on a TTY one line rewritten in place (step, elapsed, rough percent
 * from counted CC/LD lines against the previous full build); otherwise a plain progress()
 * line every 30 s so CI logs stay readable.
 */
class BuildMeter {
  count = 0
  /** When this step (not the whole build) started: the ETA's rate is this step's. */
  private readonly started = Date.now()
  private timer?: NodeJS.Timeout
  private readonly tty = !!process.stderr.isTTY && !process.env.VFIO_CONFORM_QUIET && !process.env.CI

  constructor(
    private readonly what: string,
    private readonly stepName: string,
    private readonly t0: number,
    private readonly expected?: number,
  ) {
    if (expected === undefined || process.env.VFIO_CONFORM_QUIET) return
    this.timer = setInterval(() => this.report(), this.tty ? 1000 : 30_000)
    this.timer.unref()
  }

  step(): void {
    this.count++
  }

  private line(): string {
    return buildProgressLine(this.what, this.stepName, (Date.now() - this.t0) / 1000, (Date.now() - this.started) / 1000, this.count, this.expected)
  }

  private report(): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${this.line()}`)
    else progress(this.line())
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    if (this.tty && this.timer) process.stderr.write('\r\x1b[K')
  }
}

/**
 * One progress line: steps done of expected (compile/link steps counted from kbuild's output
 * against the previous full build of this object dir, or a 6.12 conform build's count), time
 * since the build started, and an ETA from this step's rate so far.
 */
export function buildProgressLine(what: string, step: string, elapsedS: number, stepElapsedS: number, count: number, expected?: number): string {
  const head = `kernel ${what}: ${step} ${minSec(elapsedS)}`
  if (!expected) return `${head} (${count} steps)`
  const shown = Math.min(count, expected - 1)
  const pct = Math.min(99, Math.floor((100 * count) / expected))
  // No ETA before there is a rate to go by.
  const eta = count >= 20 && stepElapsedS >= 10 ? `, ETA ${minSec(Math.max(0, ((expected - shown) * stepElapsedS) / count))}` : ''
  return `${head}: ${shown}/~${expected} files compiled or linked (~${pct}%)${eta}`
}
