// Socket directories left by a hard-killed run are removed by the next one; a live run's stay.
import { mkdtempSync, existsSync, mkdirSync, utimesSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execaSync } from 'execa'
import { describe, expect, test } from 'vitest'
import { makeOwnedDirForTest, ownedTempDir, ownerAlive, removeStaleTempDirs } from '../../harness/util/owned-temp-dir.js'
import { procStat } from '../../harness/util/proc-stat.js'

describe('owned temp dirs', () => {
  test('a dir of a live owner stays; of a dead owner, of a reused pid and an old unowned one go', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'owned-test-'))
    const mine = await ownedTempDir('vfio-conform-qmp-', tmp)
    expect(ownerAlive(mine)).toBe(true)
    // A process that has exited: its pid is free.
    const dead = execaSync('sh', ['-c', 'echo $$']).stdout.trim()
    const gone = makeOwnedDirForTest(tmp, 'vfio-conform-sup-', Number(dead), '1')
    // This very pid, but another start time: the pid was reused.
    const reused = makeOwnedDirForTest(tmp, 'vfio-conform-qmp-', process.pid, String(Number(procStat(process.pid)!.startTime) - 1))
    const oldUnowned = path.join(tmp, 'vfio-conform-sup-old')
    mkdirSync(oldUnowned)
    utimesSync(oldUnowned, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000))
    const newUnowned = path.join(tmp, 'vfio-conform-sup-new')
    mkdirSync(newUnowned)
    const other = path.join(tmp, 'something-else')
    mkdirSync(other)
    const removed = removeStaleTempDirs(tmp)
    expect(removed.sort()).toEqual([gone, reused, oldUnowned].sort())
    for (const d of [mine, newUnowned, other]) expect(existsSync(d)).toBe(true)
  })
})
