// The GitLab template run, not only parsed: gitlab-ci-local (shell executor, --shell-isolation:
// each job in its own copy of the project, artifacts handed on only as GitLab would) runs one
// REAL shard of the parallel matrix, exactly its script (npm ci, ci/run-shard.sh: setup, a
// kernel, a guest booted, the suites), then the report job, whose `needs` imports the shard's
// artifacts. The shard is narrowed only by variables the scripts read (one topology, one vIOMMU,
// one suite file through VFIO_CONFORM_SHARD_ARGS) and the cache dir is the user's, so the kernel
// is cached. Its cost (minutes, a guest) is why it is here and not in npm test; the parse of
// both templates by their CI systems' own parsers is in test/unit/ci-parsers.test.ts.
//
// SKIP unless VFIO_CONFORM_SLOW=1:
//   VFIO_CONFORM_SLOW=1 npx vitest run --project slow test/slow/gitlab-pipeline.e2e.test.ts
// Needs rsync (gitlab-ci-local's shell isolation copies the project with it).
import { execa } from 'execa'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, test } from 'vitest'
import { CI_SHARDS } from '../../ci/matrix.js'
import { cacheRoot } from '../../harness/util/cache.js'
import { userEnv } from './cli-helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SLOW = !!process.env.VFIO_CONFORM_SLOW
/** The cheapest real shard: a stock Debian kernel (no build), one guest. */
const SHARD = CI_SHARDS.findIndex((s) => s.kernels.every((k) => k.startsWith('debian:')))
const SUITE = 'suites/boot.test.ts'

let dir: string | undefined
afterAll(async () => {
  if (dir && !process.env.VFIO_CONFORM_KEEP) await rm(dir, { recursive: true, force: true })
})

test.skipIf(!SLOW)('the GitLab pipeline under gitlab-ci-local: a real shard (its matrix job, script and artifacts) and the report job that needs it', { timeout: 30 * 60_000 }, async ({ skip, onTestFailed }) => {
  if ((await execa('sh', ['-c', 'command -v rsync'], { reject: false })).exitCode !== 0) skip('rsync is not installed (apt-get install rsync): gitlab-ci-local --shell-isolation copies the project with it')
  expect(SHARD).toBeGreaterThanOrEqual(0)
  const shard = CI_SHARDS[SHARD]!
  dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-gitlab-pipeline-'))
  // The project as git has it (tracked and new files, not node_modules or results), committed.
  const files = (await execa('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT })).stdout.split('\0').filter(Boolean)
  for (const f of files) if (existsSync(path.join(ROOT, f))) await cp(path.join(ROOT, f), path.join(dir, f), { recursive: true })
  await writeFile(path.join(dir, '.gitlab-ci.yml'), 'include:\n  - local: ci/gitlab-ci.yml\n')
  const git = (args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir })
  await git(['init', '-q'])
  await git(['add', '-A'])
  await git(['commit', '-qm', 'the project under test'])

  const jobName = `vfio-conform:conformance: [${SHARD + 1},${shard.name},${shard.kernels.join(';')}]`
  const t0 = Date.now()
  const r = await execa(
    path.join(ROOT, 'node_modules/.bin/gitlab-ci-local'),
    [
      jobName,
      'vfio-conform:report',
      '--force-shell-executor',
      '--shell-isolation',
      '--no-artifacts-to-source',
      '--timestamps',
      '--variable', `VFIO_CONFORM_CACHE=${cacheRoot()}`,
      '--variable', `npm_config_cache=${path.join(os.homedir(), '.npm')}`,
      '--variable', 'VFIO_CONFORM_TOPOLOGIES=default',
      '--variable', 'VFIO_CONFORM_IOMMUS=intel-iommu',
      '--variable', `VFIO_CONFORM_SHARD_ARGS=${SUITE}`,
    ],
    { cwd: dir, env: { ...userEnv(), NO_COLOR: '1' }, extendEnv: false, reject: false, all: true, stdin: 'ignore' },
  )
  const seconds = Math.round((Date.now() - t0) / 1000)
  onTestFailed(() => console.error(`gitlab-ci-local exit ${r.exitCode} after ${seconds} s:\n${String(r.all).slice(-8000)}`))
  console.error(`gitlab-ci-local: shard ${SHARD + 1} (${shard.name}, ${SUITE}) and the report job: ${seconds} s, exit ${r.exitCode}`)
  const out = String(r.all)

  // The shard job: its matrix variables, run-shard.sh to the end, a guest booted, exit 0.
  expect(out).toContain(`run-shard: shard ${SHARD + 1}/${CI_SHARDS.length} ${shard.name}: exit 0 (nothing failed)`)
  expect(out).toMatch(/PASS  \S+\/default\/intel-iommu > /)
  // Its artifacts as GitLab keeps them: the results, without the initramfs.
  const artifacts = path.join(dir, '.gitlab-ci-local/artifacts')
  const shardArtifacts = (await readdir(artifacts)).find((d) => d.includes('conformance') && d.includes(String(SHARD + 1)))
  expect(shardArtifacts, `artifacts in ${artifacts}`).toBeDefined()
  const results = path.join(artifacts, shardArtifacts!, `vfio-conform-results/ci-${shard.name}`)
  for (const f of ['verdicts.json', 'summary.md', 'exit-code', 'report.junit.xml', 'targets.json']) expect(existsSync(path.join(results, f)), f).toBe(true)
  expect((await readFile(path.join(results, 'exit-code'), 'utf8')).trim()).toBe('0')
  const listing = (await execa('find', [results, '-name', 'initrd.cpio'])).stdout
  expect(listing, 'the initramfs is excluded from the artifacts').toBe('')

  // The report job: ran after the shard (needs), found its artifacts, and, the other shards not
  // having run, says so and exits 125 (ERROR) rather than 0: a missing shard is never a pass.
  expect(out).toContain(`vfio-conform: 1 of ${CI_SHARDS.length} shards left results`)
  const reportArtifacts = (await readdir(artifacts)).find((d) => d.includes('report'))
  const summary = await readFile(path.join(artifacts, reportArtifacts!, 'vfio-conform-summary.md'), 'utf8')
  expect(summary).toContain('## vfio-conform: exit 125')
  expect(summary).toContain(`### shard ${SHARD + 1}/${CI_SHARDS.length} ${shard.name}: exit 0`)
  expect(out).toMatch(/vfio-conform:report.*FAIL 125|FAIL\s+\[.*\] vfio-conform:report/s)
})
