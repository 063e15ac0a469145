// What a fresh machine or a hard kill leaves: ci/mutations/run.sh fetches its kernel source
// into an empty cache, and the socket directories a kill -9 of the CLI leaves in /tmp are
// removed by the next run. Real downloads and a real guest: runs only with VFIO_CONFORM_SLOW=1,
// e.g. `VFIO_CONFORM_SLOW=1 npx vitest run --project slow test/slow/left-behind.e2e.test.ts`.
import { execa } from 'execa'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { OWNED_TEMP_PREFIXES, ownerAlive, removeStaleTempDirs } from '../../harness/util/owned-temp-dir.js'
import { killRun, qemuOf, startCli, userEnv, waitFor } from './cli-helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin/vfio-conform.mjs')
const SLOW = !!process.env.VFIO_CONFORM_SLOW

describe('left behind', () => {
  test.skipIf(!SLOW)('ci/mutations/run.sh --fetch-only fills an empty cache with linux-source-6.12', { timeout: 10 * 60_000 }, async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-empty-cache-'))
    try {
      const r = await execa('bash', [path.join(ROOT, 'ci/mutations/run.sh'), '--fetch-only'], { cwd: ROOT, env: { ...userEnv(), VFIO_CONFORM_CACHE: cache }, reject: false, all: true })
      expect(r.exitCode, r.all).toBe(0)
      const tree = r.stdout.trim().split('\n').pop()!
      expect(tree.startsWith(cache), r.all).toBe(true)
      expect(existsSync(path.join(tree, 'Makefile'))).toBe(true)
      expect(existsSync(path.join(tree, 'drivers/vfio/group.c'))).toBe(true)
    } finally {
      await rm(cache, { recursive: true, force: true })
    }
  })

  test.skipIf(!SLOW)('after a kill -9 of the CLI, its socket directories have no live owner and the next run removes them', { timeout: 10 * 60_000 }, async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-kill9-'))
    const runDir = path.join(parent, 'run')
    const before = new Set(readdirSync(os.tmpdir()))
    const { sub, output } = startCli(CLI, ['run', '--kernel', 'debian:bookworm', '--topology', 'default', '--iommu', 'intel-iommu', '--results', runDir], parent)
    try {
      // The QMP directory comes with the guest, the supervisor's once every guest is up.
      const newDirs = () => readdirSync(os.tmpdir()).filter((n) => !before.has(n) && OWNED_TEMP_PREFIXES.some((p) => n.startsWith(p))).map((n) => path.join(os.tmpdir(), n))
      await waitFor(async () => newDirs().length >= 2, 5 * 60_000)
      const mine = newDirs()
      expect(mine.length, `no socket directory of the run in ${os.tmpdir()}\n${output().slice(-2000)}`).toBeGreaterThanOrEqual(2)
      for (const d of mine) expect(ownerAlive(d), d).toBe(true)
      sub.kill('SIGKILL')
      await sub.catch(() => {})
      // The CLI's children go with it (QEMU under pdeathsig, vitest's process group).
      await waitFor(async () => (await qemuOf(runDir)).length === 0, 20_000)
      await waitFor(async () => mine.every((d) => ownerAlive(d) === false), 20_000)
      for (const d of mine) expect(ownerAlive(d), `${d}: its owner should be gone`).toBe(false)
      // What the next run's global setup does first.
      const removed = removeStaleTempDirs()
      for (const d of mine) expect(removed).toContain(d)
      for (const d of mine) expect(existsSync(d)).toBe(false)
    } finally {
      await killRun(runDir)
      await rm(parent, { recursive: true, force: true })
    }
  })
})
