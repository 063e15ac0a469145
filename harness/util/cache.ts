// Where vfio-conform keeps what it downloads and builds: $XDG_CACHE_HOME/vfio-conform
// (or ~/.cache/vfio-conform). Entries are keyed by content, so a second run and CI on
// the same machine reuse them; an entry only becomes visible once it is complete.
import { createHash } from 'node:crypto'
import { mkdir, rename, rm, stat, open, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'

export function cacheRoot(): string {
  if (process.env.VFIO_CONFORM_CACHE) return path.resolve(process.env.VFIO_CONFORM_CACHE)
  const xdg = process.env.XDG_CACHE_HOME
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'), 'vfio-conform')
}

export function cachePath(...parts: string[]): string {
  return path.join(cacheRoot(), ...parts)
}

export function sha256(data: string | Buffer | Array<string | Buffer>): string {
  const h = createHash('sha256')
  for (const d of Array.isArray(data) ? data : [data]) h.update(d)
  return h.digest('hex')
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

/**
 * Exclusive lock on a cache entry, so that concurrent runs do not build the same entry
 * into the same place. The lock is a directory created with mkdir (atomic); a lock whose
 * owner pid no longer exists is taken over.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  await mkdir(path.dirname(lockPath), { recursive: true })
  let warned = false
  for (;;) {
    try {
      await mkdir(lockPath)
      await writeFile(path.join(lockPath, 'pid'), String(process.pid))
      break
    } catch (e: any) {
      if (e.code !== 'EEXIST') throw e
      const owner = Number(await readFile(path.join(lockPath, 'pid'), 'utf8').catch(() => '0'))
      if (owner && !pidAlive(owner)) {
        await rm(lockPath, { recursive: true, force: true })
        continue
      }
      if (!warned) {
        warned = true
        onWait?.()
      }
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    return await fn()
  } finally {
    await rm(lockPath, { recursive: true, force: true })
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e: any) {
    return e.code === 'EPERM'
  }
}

/**
 * Produce a cache entry directory once. `build` writes into a temporary sibling that is
 * renamed into place when it succeeds, so a crash never leaves a half-built entry behind.
 * Returns the entry's path and whether it was built now.
 */
export async function cachedDir(
  entry: string,
  build: (tmpDir: string) => Promise<void>,
): Promise<{ dir: string; built: boolean }> {
  const done = path.join(entry, '.complete')
  if (await exists(done)) return { dir: entry, built: false }
  return withLock(entry + '.lock', async () => {
    if (await exists(done)) return { dir: entry, built: false }
    const tmp = `${entry}.tmp-${process.pid}`
    await rm(tmp, { recursive: true, force: true })
    await mkdir(tmp, { recursive: true })
    try {
      await build(tmp)
      await writeFile(path.join(tmp, '.complete'), new Date().toISOString())
      await rm(entry, { recursive: true, force: true })
      await rename(tmp, entry)
    } catch (e) {
      await rm(tmp, { recursive: true, force: true })
      throw e
    }
    return { dir: entry, built: true }
  })
}

export async function touch(p: string): Promise<void> {
  const fh = await open(p, 'a')
  await fh.close()
}
