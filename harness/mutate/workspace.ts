// The sweep's private kernel: one copy of the pristine source tree and one object directory,
// under <cache>/mutate/<kernel label>/. A mutant edits one file of the copy, `make bzImage`
// rebuilds that object and relinks (never a full build), the file is put back afterwards.
//
// First use: the copy is made from the pristine tree (Debian's linux-source as the harness
// unpacks it). The object directory is seeded from the conform build's own object directory
// when there is one (the main job built it): the tree's and the object directory's absolute
// paths are rewritten in kbuild's command files, so make sees the same commands and rebuilds
// nothing; otherwise it is configured like the conform build (tinyconfig + the fragment) and
// built once (minutes; ccache helps).
//
// A crash between applying a mutant and putting the file back is repaired on the next start:
// the original content is saved in `applied/` before the edit.
import { execa } from 'execa'
import { createWriteStream } from 'node:fs'
import { copyFile, mkdir, readdir, readFile, rm, writeFile, rename, lstat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ensureBuildPackages } from '../host/packages.js'
import { cachePath, exists, sha256, withLock } from '../util/cache.js'
import { rebaseObjDir } from '../kernel/obj-seed.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { sourceBuildRequest } from '../kernel/source-provider.js'
import { canonicalFragment, kbuildEnv, mergeConfigText, mergeFragments, parseFragment, toolchain, type SourceBuildRequest, type Toolchain } from '../kernel/source-build.js'

export interface Workspace {
  /** The kernel spec the sweep mutates ("debian-source:stable"). */
  spec: string
  /** What the pristine tree is (Debian package version), plus the fragment: part of every result's key. */
  kernelKey: string
  /** Readable, e.g. "debian-source:6.12.118-1". */
  kernelId: string
  dir: string
  pristine: string
  tree: string
  obj: string
  /** INSTALL_MOD_PATH of the unmutated build (mtty.ko): mutants only touch built-in code. */
  modules: string
  request: SourceBuildRequest
  /** The merged fragment, canonical (what the conform build's cache entry keeps as fragment.config). */
  fragmentText: string
  tc: Toolchain
}

export async function openWorkspace(spec: string): Promise<Workspace> {
  const request = await sourceBuildRequest(spec)
  const fragText = canonicalFragment(mergeFragments(...(await Promise.all(request.fragments.map(async (f) => parseFragment(await readFile(f, 'utf8'), f))))))
  const tc = await toolchain()
  const identity = request.identity ?? `tree:${request.tree}`
  const kernelKey = sha256([identity, '\0', fragText, '\0', tc.compiler]).slice(0, 16)
  const label = request.label.replace(/[^A-Za-z0-9.+-]/g, '_')
  const dir = cachePath('mutate', `${label}-${kernelKey}`)
  return {
    spec,
    kernelKey,
    kernelId: request.id,
    dir,
    pristine: request.tree,
    tree: path.join(dir, 'tree'),
    obj: path.join(dir, 'obj'),
    modules: path.join(dir, 'modules'),
    request,
    fragmentText: fragText,
    tc,
  }
}

/** Runs fn with the workspace locked (one sweep per workspace at a time). */
export function withWorkspaceLock<T>(ws: Workspace, fn: () => Promise<T>): Promise<T> {
  return withLock(path.join(ws.dir, 'lock'), fn, () => progress(`mutate: waiting for another sweep using ${ws.dir}`))
}

const appliedDir = (ws: Workspace) => path.join(ws.dir, 'applied')

/** Put back any file a previous (killed) sweep left mutated. */
export async function repairTree(ws: Workspace): Promise<void> {
  const d = appliedDir(ws)
  for (const f of await readdir(d).catch(() => [] as string[])) {
    if (!f.endsWith('.json')) continue
    const rec = JSON.parse(await readFile(path.join(d, f), 'utf8')) as { file: string }
    const saved = path.join(d, f.replace(/\.json$/, '.orig'))
    if (await exists(saved)) {
      progress(`mutate: restoring ${rec.file} (a previous sweep stopped with a mutant applied)`)
      await copyFile(saved, path.join(ws.tree, rec.file))
    }
    await rm(saved, { force: true })
    await rm(path.join(d, f), { force: true })
  }
}

/** Apply new content to one file of the private tree; returns the function that puts it back. */
export async function applyToTree(ws: Workspace, file: string, content: string): Promise<() => Promise<void>> {
  const d = appliedDir(ws)
  await mkdir(d, { recursive: true })
  const id = sha256(file).slice(0, 12)
  const target = path.join(ws.tree, file)
  await copyFile(target, path.join(d, `${id}.orig`))
  await writeFile(path.join(d, `${id}.json`), JSON.stringify({ file }) + '\n')
  await writeFile(target, content)
  let restored = false
  return async () => {
    if (restored) return
    restored = true
    await copyFile(path.join(d, `${id}.orig`), target)
    await rm(path.join(d, `${id}.json`), { force: true })
    await rm(path.join(d, `${id}.orig`), { force: true })
  }
}

export async function readTreeFile(ws: Workspace, file: string): Promise<string> {
  return readFile(path.join(ws.tree, file), 'utf8')
}

// ---------------------------------------------------------------------------------------
// Set-up

/** The private tree, the object directory and the unmutated build's modules, made when missing. */
export async function prepareWorkspace(ws: Workspace, signal?: AbortSignal): Promise<void> {
  await mkdir(ws.dir, { recursive: true })
  if (!(await exists(path.join(ws.tree, '.vfio-conform-complete')))) {
    progress(`mutate: copying the pristine tree ${ws.pristine} to ${ws.tree} (a minute)`)
    await rm(ws.tree + '.tmp', { recursive: true, force: true })
    const r = await execa('cp', ['-a', ws.pristine, ws.tree + '.tmp'], { reject: false, all: true })
    if (r.exitCode !== 0) throw new HarnessError(`copying ${ws.pristine} failed: ${r.all}`)
    await writeFile(path.join(ws.tree + '.tmp', '.vfio-conform-complete'), ws.pristine + '\n')
    await rm(ws.tree, { recursive: true, force: true })
    await rename(ws.tree + '.tmp', ws.tree)
    // A new tree: any object directory made for an older copy is not trusted.
    await rm(ws.obj, { recursive: true, force: true })
  }
  await repairTree(ws)
  if (!(await exists(path.join(ws.obj, '.vfio-conform-ready')))) {
    await rm(ws.obj, { recursive: true, force: true })
    const seeded = await seedObjDir(ws)
    if (!seeded) await configureObjDir(ws)
    const t0 = Date.now()
    progress(`mutate: building the unmutated kernel in ${ws.obj}${seeded ? ' (seeded: should rebuild little)' : ' (a full build: minutes)'}`)
    const b = await makeKernel(ws, ['bzImage', 'modules'], path.join(ws.dir, 'setup-build.log'), signal)
    if (signal?.aborted) throw new HarnessError('stopped by a signal while building the unmutated kernel')
    if (!b.ok) throw new HarnessError(`building the unmutated kernel failed (log: ${path.join(ws.dir, 'setup-build.log')})`, b.tail)
    progress(`mutate: unmutated kernel built in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    await rm(ws.modules, { recursive: true, force: true })
    const depmod = (await execa('sh', ['-c', 'command -v depmod'])).stdout.trim()
    const m = await makeKernel(ws, ['modules_install', `INSTALL_MOD_PATH=${ws.modules}`, 'INSTALL_MOD_STRIP=1', `DEPMOD=${depmod}`], path.join(ws.dir, 'setup-modules.log'))
    if (!m.ok) throw new HarnessError('modules_install of the unmutated kernel failed', m.tail)
    for (const rel of await readdir(path.join(ws.modules, 'lib/modules'))) {
      for (const l of ['build', 'source']) await rm(path.join(ws.modules, 'lib/modules', rel, l), { force: true })
    }
    await writeFile(path.join(ws.obj, '.vfio-conform-ready'), new Date().toISOString() + '\n')
  }
}

/**
 * The object directory of a finished conform build of the same tree and fragment content (any
 * worktree's: the directory's key names the fragment file's path, the cache entry its content).
 */
async function conformObjDir(ws: Workspace): Promise<string | undefined> {
  const root = cachePath('kernels', 'source')
  const found: Array<{ objDir: string; at: number }> = []
  for (const e of await readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, e)
    const origin = await readFile(path.join(dir, 'origin.json'), 'utf8').then((t) => JSON.parse(t) as { identity?: string; tree?: string; objDir?: string }, () => undefined)
    if (!origin?.objDir || origin.identity !== ws.request.identity || origin.tree !== ws.pristine) continue
    if ((await readFile(path.join(dir, 'fragment.config'), 'utf8').catch(() => '')) !== ws.fragmentText) continue
    if (!(await exists(path.join(origin.objDir, 'vmlinux')))) continue
    found.push({ objDir: origin.objDir, at: (await lstat(path.join(dir, '.complete')).catch(() => undefined))?.mtimeMs ?? 0 })
  }
  return found.sort((a, b) => b.at - a.at)[0]?.objDir
}

/**
 * Seed the object directory from the conform build's (same tree content, same fragment):
 * copy it and rewrite the old tree and object paths in kbuild's text files. Returns false
 * when there is nothing to seed from.
 */
async function seedObjDir(ws: Workspace): Promise<boolean> {
  const from = await conformObjDir(ws)
  if (!from) return false
  // The conform build may be running in it: wait for it (its lock), then copy.
  const seeded = await withLock(
    from + '.lock',
    async () => {
      if (!(await exists(path.join(from, 'vmlinux'))) || !(await exists(path.join(from, '.config')))) return false
      progress(`mutate: seeding the object directory from ${from}`)
      const r = await execa('cp', ['-a', from, ws.obj], { reject: false, all: true })
      if (r.exitCode !== 0) throw new HarnessError(`copying ${from} failed: ${r.all}`)
      return true
    },
    () => progress(`mutate: waiting for the conform build in ${from} to finish (its object directory seeds ours)`),
  )
  if (!seeded) return false
  await rebaseObjDir({ tree: ws.pristine, obj: from }, { tree: ws.tree, obj: ws.obj })
  return true
}

/** tinyconfig + the fragment + olddefconfig, as the conform build configures. */
async function configureObjDir(ws: Workspace): Promise<void> {
  await ensureBuildPackages()
  await mkdir(ws.obj, { recursive: true })
  const log = path.join(ws.dir, 'setup-config.log')
  let r = await makeKernel(ws, ['tinyconfig'], log)
  if (!r.ok) throw new HarnessError('make tinyconfig failed', r.tail)
  const options = mergeFragments(...(await Promise.all(ws.request.fragments.map(async (f) => parseFragment(await readFile(f, 'utf8'), f)))))
  await writeFile(path.join(ws.obj, '.config'), mergeConfigText(await readFile(path.join(ws.obj, '.config'), 'utf8'), options))
  r = await makeKernel(ws, ['olddefconfig'], log)
  if (!r.ok) throw new HarnessError('make olddefconfig failed', r.tail)
}

export interface MakeResult {
  ok: boolean
  ms: number
  tail: string
  /** Compile steps (CC lines): how much was rebuilt. */
  compiled: string[]
}

/** make in the private tree's object directory; output to `logFile`. */
export async function makeKernel(ws: Workspace, targets: string[], logFile: string, signal?: AbortSignal): Promise<MakeResult> {
  const jobs = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  const args = ['-C', ws.tree, `O=${ws.obj}`, 'ARCH=x86_64', ...ws.tc.makeVars, `-j${jobs}`, ...targets]
  const env = await kbuildEnv(ws.tc, ws.tree, ws.obj)
  const t0 = Date.now()
  const out = createWriteStream(logFile, { flags: 'a' })
  out.write(`\n### make ${args.join(' ')}\n`)
  const sub = execa('make', args, { env, reject: false, all: true, buffer: true, stdin: 'ignore', cancelSignal: signal, forceKillAfterDelay: 2000 })
  sub.all?.pipe(out)
  const r = await sub
  await new Promise<void>((res) => out.end(() => res()))
  const lines = String(r.all ?? '').split('\n')
  return {
    ok: r.exitCode === 0,
    ms: Date.now() - t0,
    tail: lines.slice(-30).join('\n'),
    compiled: lines.filter((l) => /^\s+CC\s/.test(l)).map((l) => l.trim().replace(/^CC\s+/, '')),
  }
}

/** The built kernel as `vfio-conform run --kernel path:...` takes it: bzImage and config copied to `dir`. */
export async function snapshotKernel(ws: Workspace, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  await copyFile(path.join(ws.obj, 'arch/x86/boot/bzImage'), path.join(dir, 'bzImage'))
  await copyFile(path.join(ws.obj, '.config'), path.join(dir, 'config'))
  return `path:${path.join(dir, 'bzImage')},modules=${ws.modules},config=${path.join(dir, 'config')}`
}
