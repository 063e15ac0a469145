// The base initramfs: busybox, dropbear and its libraries (from Debian packages), the guest
// agent, init, users. Cached by the hash of everything that goes into it.
import { execa } from 'execa'
import { lstat, readFile, readlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { projectApt } from '../debian/apt.js'
import { cachedDir, cachePath, exists, sha256 } from '../util/cache.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { AGENT_GUEST_PATH, GUEST_USERS, LIBRARY_PACKAGES, ROOTFS_PACKAGES, ROOTFS_SUITE } from '../../guests/rootfs/recipe.js'
import { cpioArchive, withParents, type CpioEntry } from './cpio.js'

const INIT_SH = fileURLToPath(new URL('../../guests/rootfs/init.sh', import.meta.url))
const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'lib', 'usr/lib']

async function pinnedVersions(): Promise<Array<{ name: string; version: string }>> {
  const names = [...ROOTFS_PACKAGES.map((p) => p.name), ...LIBRARY_PACKAGES]
  const all = await projectApt().versionsMany(names)
  const out = []
  for (const name of names) {
    const v = (all.get(name) ?? []).find((x) => x.suites.some((s) => s.replace(/-(security|updates)$/, '') === ROOTFS_SUITE))
    if (!v) throw new HarnessError(`guest rootfs: ${name} not found in Debian ${ROOTFS_SUITE}`)
    out.push({ name, version: v.version })
  }
  return out
}

/** Build (or reuse) the base initramfs archive; returns its path. */
export async function baseRootfs(agentBinary: string): Promise<string> {
  const pkgs = await pinnedVersions()
  const init = await readFile(INIT_SH)
  const agent = await readFile(agentBinary)
  const recipe = await readFile(fileURLToPath(new URL('../../guests/rootfs/recipe.ts', import.meta.url)))
  const key = sha256([JSON.stringify(pkgs), init, agent, recipe, await readFile(fileURLToPath(import.meta.url))]).slice(0, 16)
  const { dir, built } = await cachedDir(cachePath('rootfs', `base-${key}`), async (tmp) => {
    progress(`rootfs: building base initramfs from Debian ${ROOTFS_SUITE} packages`)
    const debs = await projectApt().download(pkgs, path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    for (const d of debs) await execa('dpkg-deb', ['-x', d, root])
    const entries: CpioEntry[] = []
    const added = new Set<string>()
    const addFile = async (guestPath: string, hostPath: string, mode: number) => {
      if (added.has(guestPath)) return
      added.add(guestPath)
      entries.push({ type: 'file', path: guestPath, data: await readFile(hostPath), mode })
    }
    // Files from packages plus their shared-library closure (resolved inside the extracted tree).
    const queue: string[] = []
    for (const p of ROOTFS_PACKAGES) {
      for (const f of p.files) {
        const real = await resolveInTree(root, f)
        await addFile(f, real, 0o755)
        queue.push(real)
      }
    }
    const seenLibs = new Set<string>()
    while (queue.length) {
      const file = queue.shift()!
      const { needed, interp } = await elfDeps(file)
      if (interp) {
        const real = await resolveInTree(root, interp.replace(/^\//, ''))
        await addFile(interp.replace(/^\//, ''), real, 0o755)
      }
      for (const lib of needed) {
        if (seenLibs.has(lib)) continue
        seenLibs.add(lib)
        let found: string | undefined
        for (const d of LIB_DIRS) {
          if (await exists(path.join(root, d, lib))) {
            found = await resolveInTree(root, path.join(d, lib))
            break
          }
        }
        if (!found) throw new HarnessError(`guest rootfs: ${path.basename(file)} needs ${lib}, which none of ${LIBRARY_PACKAGES.join(', ')} provides`)
        await addFile(`lib/x86_64-linux-gnu/${lib}`, found, 0o755)
        queue.push(found)
      }
    }
    await addFile(AGENT_GUEST_PATH, agentBinary, 0o755)
    entries.push({ type: 'file', path: 'init', data: init, mode: 0o755 })
    entries.push({ type: 'symlink', path: 'usr/bin/dropbear', target: '/usr/sbin/dropbear' })
    entries.push({ type: 'chardev', path: 'dev/console', major: 5, minor: 1 })
    entries.push({ type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666 })
    const passwd = GUEST_USERS.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.name}:${u.home}:/bin/sh`).join('\n') + '\n'
    const group = GUEST_USERS.map((u) => `${u.name}:x:${u.gid}:`).join('\n') + '\n'
    const shadow = GUEST_USERS.map((u) => `${u.name}:*:19000:0:99999:7:::`).join('\n') + '\n'
    entries.push({ type: 'file', path: 'etc/passwd', data: Buffer.from(passwd) })
    entries.push({ type: 'file', path: 'etc/group', data: Buffer.from(group) })
    entries.push({ type: 'file', path: 'etc/shadow', data: Buffer.from(shadow), mode: 0o600 })
    entries.push({ type: 'file', path: 'etc/shells', data: Buffer.from('/bin/sh\n') })
    for (const u of GUEST_USERS) {
      entries.push({ type: 'dir', path: u.home.slice(1), mode: 0o700, uid: u.uid, gid: u.gid })
    }
    entries.push({ type: 'dir', path: 'root/.ssh', mode: 0o700 })
    entries.push({ type: 'dir', path: 'etc/dropbear', mode: 0o700 })
    for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'var/log', 'etc/vfio-conform']) entries.push({ type: 'dir', path: d })
    await writeFile(path.join(tmp, 'base.cpio'), cpioArchive(withParents(entries)))
    await writeFile(path.join(tmp, 'manifest.json'), JSON.stringify({ packages: pkgs, files: [...added].sort() }, null, 2))
    await execa('rm', ['-rf', root, path.join(tmp, 'debs')])
  })
  if (built) progress(`rootfs: base initramfs ready (${dir})`)
  return path.join(dir, 'base.cpio')
}

/** NEEDED entries and the ELF interpreter, read with readelf (binutils). */
async function elfDeps(file: string): Promise<{ needed: string[]; interp?: string }> {
  const r = await execa('readelf', ['-d', '-l', '-W', file], { reject: false })
  if (r.exitCode !== 0) throw new HarnessError(`readelf ${file} failed: ${r.stderr}`)
  const needed = [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!)
  const interp = /\[Requesting program interpreter: ([^\]]+)\]/.exec(r.stdout)?.[1]
  return { needed, interp }
}

/**
 * A guest path's file in the extracted packages, with symlinks resolved inside the tree
 * (absolute targets are relative to the tree). Exported for unit tests.
 */
export async function resolveInTree(root: string, rel: string, depth = 0): Promise<string> {
  if (depth > 20) throw new HarnessError(`symlink loop at ${rel}`)
  let st = await lstat(path.join(root, rel)).catch(() => undefined)
  // Merged /usr (trixie): packages ship usr/lib64/ld-linux-x86-64.so.2 and the /lib64 -> usr/lib64
  // link comes from a package the guest does not take.
  if (!st && /^(lib|lib64|bin|sbin)\//.test(rel)) {
    const inUsr = await lstat(path.join(root, 'usr', rel)).catch(() => undefined)
    if (inUsr) {
      rel = path.join('usr', rel)
      st = inUsr
    }
  }
  if (!st) throw new HarnessError(`guest rootfs: ${rel} missing from the extracted packages`)
  const p = path.join(root, rel)
  if (!st.isSymbolicLink()) return p
  const t = await readlink(p)
  const next = t.startsWith('/') ? t.slice(1) : path.join(path.dirname(rel), t)
  return resolveInTree(root, path.normalize(next), depth + 1)
}

