// End to end: `git bisect run vfio-conform bisect-run` finds the commit that breaks a VFIO
// rule, building and booting real kernels. Slow (minutes to tens of minutes): it runs only
// with VFIO_CONFORM_SLOW=1, e.g. `VFIO_CONFORM_SLOW=1 npx vitest run --project slow`.
//
// The repository: a clone of the mutations tree (ci/mutations/run.sh makes it from Debian's
// linux-source-6.12) with four commits:
//   A  the pristine tree (the mutations tree's commit)
//   B  a harmless comment in drivers/vfio/vfio_main.c
//   C  ci/mutations/group-open-once.patch (vfio_group_fops_open loses its EBUSY check)
//   D  another harmless comment
// and `git bisect start D A` + `git bisect run ... bisect-run --test <the patch's Filter>`
// must name C as the first bad commit (git tests B and C: two builds, two boots).
//
// Cost, and why the repository lives at a fixed place in the cache: the source provider
// keeps one object directory per tree *path* (objDirKey) and caches built kernels per tree
// *identity* (HEAD + diff). A fresh clone at a new path would make every run start with a
// cold build (~4-9 min on 2 cores, ccache helping); at a fixed path, with commits made with
// fixed author/committer/dates (the same hashes every time), the first run builds B cold
// and C incrementally (one file), and later runs find both kernels in the cache and only boot.
import { execa } from 'execa'
import { createWriteStream } from 'node:fs'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { cachePath, exists } from '../../harness/util/cache.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// The CLI under test; overridable so the check can run before the command is wired into main.ts.
const CLI = process.env.VFIO_CONFORM_E2E_CLI ?? path.join(ROOT, 'bin/vfio-conform.mjs')
const MUTATIONS_TREE = cachePath('mutations', 'tree')
const TREE = cachePath('bisect-e2e', 'tree')
const PATCH = path.join(ROOT, 'ci/mutations/group-open-once.patch')
const HARMLESS_FILE = 'drivers/vfio/vfio_main.c'

// Fixed identity and dates: the same commits, hence the same cached kernels, on every run.
const commitEnv = (n: number) => ({
  GIT_AUTHOR_NAME: 'vfio-conform e2e',
  GIT_AUTHOR_EMAIL: 'e2e@vfio-conform.invalid',
  GIT_COMMITTER_NAME: 'vfio-conform e2e',
  GIT_COMMITTER_EMAIL: 'e2e@vfio-conform.invalid',
  GIT_AUTHOR_DATE: `2025-01-01T00:00:0${n}Z`,
  GIT_COMMITTER_DATE: `2025-01-01T00:00:0${n}Z`,
})

async function git(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await execa('git', ['-c', 'commit.gpgsign=false', '-c', 'advice.detachedHead=false', ...args], {
    cwd,
    env: { LC_ALL: 'C', ...env },
    all: true,
    reject: false,
  })
  if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')} in ${cwd} exited ${r.exitCode}: ${r.all}`)
  return r.stdout.trim()
}

/** The regex of tests the patch must make FAIL: its "# Filter:" header, as ci/mutations/run.sh reads it. */
async function patchFilter(patch: string): Promise<string> {
  const m = /^# Filter: *(.+)$/m.exec(await readFile(patch, 'utf8'))
  if (!m) throw new Error(`${patch} has no "# Filter:" line`)
  return m[1]!.trim()
}

async function commitAll(n: number, message: string): Promise<string> {
  await git(TREE, ['commit', '-q', '-a', '-m', message], commitEnv(n))
  return git(TREE, ['rev-parse', 'HEAD'])
}

/** A, B, C, D as described above; returns their hashes. */
async function makeHistory(): Promise<{ A: string; B: string; C: string; D: string }> {
  if (!(await exists(path.join(MUTATIONS_TREE, '.git')))) {
    throw new Error(`${MUTATIONS_TREE} does not exist: run \`ci/mutations/run.sh group-open-once\` once (it makes the tree from Debian's linux-source-6.12)`)
  }
  const A = await git(MUTATIONS_TREE, ['rev-parse', 'HEAD'])
  if (!(await exists(path.join(TREE, '.git')))) {
    await mkdir(path.dirname(TREE), { recursive: true })
    // Local clone: objects are hard links; the checkout below writes the files once.
    await git(path.dirname(TREE), ['clone', '-q', '--no-checkout', MUTATIONS_TREE, TREE])
  } else {
    await execa('git', ['bisect', 'reset'], { cwd: TREE, reject: false })
    if ((await execa('git', ['cat-file', '-e', `${A}^{commit}`], { cwd: TREE, reject: false })).exitCode !== 0) {
      await git(TREE, ['fetch', '-q', MUTATIONS_TREE, 'HEAD'])
    }
  }
  // Only files that differ are rewritten: the object dir's mtimes stay meaningful.
  await git(TREE, ['checkout', '-q', '-f', '--detach', A])
  await git(TREE, ['clean', '-ffdxq'])
  await appendFile(path.join(TREE, HARMLESS_FILE), '/* vfio-conform bisect e2e: harmless change B */\n')
  const B = await commitAll(1, 'B: a harmless comment in vfio_main.c')
  await git(TREE, ['apply', PATCH])
  const C = await commitAll(2, 'C: vfio: drop the open-once check of vfio_group_fops_open (ci/mutations/group-open-once.patch)')
  await appendFile(path.join(TREE, HARMLESS_FILE), '/* vfio-conform bisect e2e: harmless change D */\n')
  const D = await commitAll(3, 'D: another harmless comment in vfio_main.c')
  return { A, B, C, D }
}

test.skipIf(!process.env.VFIO_CONFORM_SLOW)(
  'git bisect run with vfio-conform bisect-run names the commit that drops the group open-once check',
  async () => {
    const t0 = Date.now()
    const { A, B, C, D } = await makeHistory()
    const filter = await patchFilter(PATCH)
    const setupSeconds = Math.round((Date.now() - t0) / 1000)

    await git(TREE, ['bisect', 'start', D, A])
    const logPath = cachePath('bisect-e2e', 'last-run.log')
    const log = createWriteStream(logPath)
    let out = ''
    try {
      const t1 = Date.now()
      const sub = execa(
        'git',
        ['bisect', 'run', process.execPath, CLI, 'bisect-run', '--test', filter, '--topology', 'default', '--iommu', 'intel-iommu'],
        { cwd: TREE, all: true, reject: false, env: { LC_ALL: 'C' }, timeout: 60 * 60_000 },
      )
      sub.all!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8')
        log.write(chunk)
        process.stderr.write(chunk)
      })
      const r = await sub
      const bisectSeconds = Math.round((Date.now() - t1) / 1000)
      const steps = [...out.matchAll(/^vfio-conform bisect-run: (good|bad|skip|abort) \((.*)\) at (\S+)$/gm)].map((m) => ({ outcome: m[1], why: m[2], at: m[3] }))
      const timings = [...out.matchAll(/bisect-run: (kernel .*|boot and tests .*)$/gm)].map((m) => m[1])
      process.stderr.write(
        `\n[bisect e2e] commits A ${A.slice(0, 12)} B ${B.slice(0, 12)} C ${C.slice(0, 12)} D ${D.slice(0, 12)}; ` +
          `setup ${setupSeconds} s, bisect ${bisectSeconds} s; steps: ${steps.map((s) => `${s.at} ${s.outcome}`).join(', ')}\n` +
          timings.map((t) => `[bisect e2e]   ${t}\n`).join('') +
          `[bisect e2e] log: ${logPath}\n`,
      )
      expect(r.exitCode, out.slice(-3000)).toBe(0)
      expect(steps.length).toBeGreaterThan(0)
      expect(steps.filter((s) => s.outcome !== 'good' && s.outcome !== 'bad'), 'no step may be skipped or aborted').toEqual([])
      expect(out).toContain(`${C} is the first bad commit`)
      const bisectLog = await git(TREE, ['bisect', 'log'])
      expect(bisectLog).toContain(`# first bad commit: [${C}]`)
    } finally {
      log.end()
      await execa('git', ['bisect', 'reset'], { cwd: TREE, reject: false })
    }
  },
  90 * 60_000,
)
