// The per-kernel part of the initramfs: the modules the guest needs (decompressed, since
// busybox insmod takes plain .ko), in the order modules.dep requires, and the list init loads.
import { execa } from 'execa'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { GUEST_MODULES } from '../../guests/rootfs/recipe.js'
import type { KernelBuild } from '../kernel/kernel-build.js'
import { cachedDir, cachePath, exists, sha256 } from '../util/cache.js'
import { HarnessError } from '../util/errors.js'
import { cpioArchive, withParents, type CpioEntry } from './cpio.js'

export const modName = (file: string) => path.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_')

/** Parse modules.dep into name -> {file, deps (files)}. */
export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const m = new Map<string, { file: string; deps: string[] }>()
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i < 0) continue
    const file = line.slice(0, i).trim()
    const deps = line.slice(i + 1).trim().split(/\s+/).filter(Boolean)
    m.set(modName(file), { file, deps })
  }
  return m
}

/**
 * Load order for the wanted modules: every module after its dependencies (depth-first).
 * Wanted modules this kernel does not have as a module are returned in `absent`.
 */
export function loadOrder(dep: Map<string, { file: string; deps: string[] }>, wanted: string[]): { order: string[]; absent: string[] } {
  const order: string[] = []
  const absent: string[] = []
  const visit = (name: string, stack: string[]) => {
    if (order.includes(name)) return
    const e = dep.get(name)
    if (!e) throw new HarnessError(`modules.dep names ${name} (needed by ${stack.join(' -> ')}) but has no entry for it`)
    if (stack.includes(name)) throw new HarnessError(`module dependency cycle: ${[...stack, name].join(' -> ')}`)
    for (const d of e.deps) visit(modName(d), [...stack, name])
    order.push(name)
  }
  for (const w of wanted) {
    if (!dep.has(w)) absent.push(w)
    else visit(w, [])
  }
  return { order, absent }
}

/**
 * Add a module built out of tree (an absolute .ko path) to a parsed modules.dep, its
 * dependencies given by name (modinfo's "depends") and resolved, with theirs, through the
 * tree's own entries. Exported for unit tests.
 */
export function addOutOfTreeModule(dep: Map<string, { file: string; deps: string[] }>, file: string, depends: string[]): void {
  const files: string[] = []
  const add = (name: string) => {
    const e = dep.get(name)
    // Not a module: built in (modules.builtin), nothing to load first.
    if (!e) return
    for (const f of [...e.deps, e.file]) if (!files.includes(f)) files.push(f)
  }
  for (const d of depends) add(d.replace(/-/g, '_'))
  dep.set(modName(file), { file, deps: files })
}

/** Build (or reuse) the modules archive for a kernel; returns its path and which wanted modules were absent. */
export async function modulesRootfs(kernel: KernelBuild): Promise<{ cpio: string; loaded: string[]; absent: string[] }> {
  if (!kernel.modulesDir) {
    const cpio = cachePath('rootfs', 'no-modules.cpio')
    if (!(await exists(cpio))) await writeFile(cpio, cpioArchive([]))
    return { cpio, loaded: [], absent: [...GUEST_MODULES] }
  }
  const depText = await readFile(path.join(kernel.modulesDir, 'modules.dep'), 'utf8')
  const oot = kernel.mtty?.kind === 'out-of-tree' ? kernel.mtty : undefined
  const key = sha256([
    kernel.release,
    depText,
    JSON.stringify(GUEST_MODULES),
    await readFile(new URL(import.meta.url)),
    oot ? await readFile(oot.file) : '',
  ]).slice(0, 16)
  const dep = parseModulesDep(depText)
  if (oot) addOutOfTreeModule(dep, oot.file, oot.depends)
  const { order, absent } = loadOrder(dep, GUEST_MODULES)
  const { dir } = await cachedDir(cachePath('rootfs', `modules-${kernel.label}-${key}`), async (tmp) => {
    const entries: CpioEntry[] = []
    const lines: string[] = []
    for (const name of order) {
      const rel = dep.get(name)!.file
      const outOfTree = path.isAbsolute(rel)
      const data = await decompress(outOfTree ? rel : path.join(kernel.modulesDir!, rel))
      const guestPath = `lib/modules/${kernel.release}/${outOfTree ? `extra/${path.basename(rel)}` : rel}`.replace(/\.(xz|zst|gz)$/, '')
      entries.push({ type: 'file', path: guestPath, data })
      lines.push('/' + guestPath)
    }
    entries.push({ type: 'file', path: 'etc/vfio-conform/modules.load', data: Buffer.from(lines.join('\n') + '\n') })
    await writeFile(path.join(tmp, 'modules.cpio'), cpioArchive(withParents(entries)))
  })
  return { cpio: path.join(dir, 'modules.cpio'), loaded: order, absent }
}

async function decompress(file: string): Promise<Buffer> {
  const tool = file.endsWith('.xz') ? ['xz', '-dc'] : file.endsWith('.zst') ? ['zstd', '-dcq'] : file.endsWith('.gz') ? ['gzip', '-dc'] : undefined
  if (!tool) return readFile(file)
  const r = await execa(tool[0]!, [...tool.slice(1), file], { encoding: 'buffer', reject: false })
  if (r.exitCode !== 0) throw new HarnessError(`${tool[0]} failed on ${file}: ${Buffer.from(r.stderr).toString()}`)
  return Buffer.from(r.stdout)
}
