// Short-lived directories in /tmp that carry their owner: the QMP and supervisor socket
// directories must live there (a Unix socket path holds 108 bytes, a run directory can be
// longer). A run ends by removing its own, also on Ctrl-C and SIGTERM; a hard kill (kill -9
// of the CLI, a CI runner's timeout) leaves them, so every run first removes the ones whose
// owner process is gone. The owner is named by pid and start time, so a reused pid is not
// taken for the owner.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { procStat } from './proc-stat.js'

/** Prefixes of the harness's owned directories under os.tmpdir(). */
export const OWNED_TEMP_PREFIXES = ['vfio-conform-qmp-', 'vfio-conform-sup-']
const OWNER_FILE = 'owner'
/** A directory of an older harness (no owner file) is taken for stale after this long. */
const UNOWNED_STALE_MS = 60 * 60_000

function ownerLine(pid = process.pid): string {
  return `${pid} ${procStat(pid)?.startTime ?? '?'}\n`
}

/** mkdtemp under os.tmpdir() with an owner file naming this process. */
export async function ownedTempDir(prefix: string, tmp = os.tmpdir()): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, prefix))
  await writeFile(path.join(dir, OWNER_FILE), ownerLine())
  return dir
}

/** Whether the owner recorded in `dir` is alive: the same pid with the same start time. */
export function ownerAlive(dir: string): boolean | undefined {
  let line: string
  try {
    line = readFileSync(path.join(dir, OWNER_FILE), 'utf8')
  } catch {
    return undefined
  }
  const [pid, start] = line.trim().split(' ')
  const st = procStat(Number(pid))
  return st !== undefined && st.state !== 'Z' && (start === '?' || st.startTime === start)
}

/**
 * Remove the owned directories whose owner is gone (and owner-less ones older than an hour,
 * from before owner files). Returns what was removed, for the log.
 */
export function removeStaleTempDirs(tmp = os.tmpdir(), now = Date.now()): string[] {
  const removed: string[] = []
  let names: string[]
  try {
    names = readdirSync(tmp)
  } catch {
    return removed
  }
  for (const name of names) {
    if (!OWNED_TEMP_PREFIXES.some((p) => name.startsWith(p))) continue
    const dir = path.join(tmp, name)
    try {
      const alive = ownerAlive(dir)
      const stale = alive === false || (alive === undefined && now - statSync(dir).mtimeMs > UNOWNED_STALE_MS)
      if (!stale) continue
      rmSync(dir, { recursive: true, force: true })
      removed.push(dir)
    } catch {
      // Another user's, or removed meanwhile: not ours to judge.
    }
  }
  return removed
}

/** For tests: a directory owned by `pid` as if it had made it. */
export function makeOwnedDirForTest(tmp: string, prefix: string, pid: number, startTime: string): string {
  const dir = mkdtempSync(path.join(tmp, prefix))
  writeFileSync(path.join(dir, OWNER_FILE), `${pid} ${startTime}\n`)
  return dir
}
