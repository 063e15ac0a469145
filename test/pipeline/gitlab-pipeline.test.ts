// The GitLab template run, not only parsed, in npm test: gitlab-ci-local (shell executor,
// --shell-isolation: each job in its own copy of the project, artifacts handed on only as GitLab
// would) runs one REAL shard of the parallel matrix, its script as written (npm ci, then
// ci/run-shard.sh: setup, the shard's kernel, a guest booted, the suites), then the report job,
// whose `needs` imports the shard's artifacts. A template change that breaks the jobs, their
// variables, needs, matrix or artifacts fails this test, and so CI.
//
// Kept cheap (measured in docs/measurements.md, "The GitLab pipeline test"):
// - the shard is narrowed only by variables its scripts read: one topology, one vIOMMU, one
//   test (VFIO_CONFORM_SHARD_ARGS: suites/boot.test.ts -t ...), so it boots one guest; the
//   shard is the stock Debian kernel's (no build), and the cache dir is the user's, where
//   npm test's own conformance run (this project runs after it: vitest.config.ts groupOrder)
//   has just used that kernel;
// - `npm ci` is the one command not run as written: an `npm` first on the jobs' PATH links
//   this checkout's node_modules into the job when the job's package-lock.json is this
//   checkout's (an install from the same lock file), and hands everything else to npm.
// The parse of both templates by their CI systems' own parsers is test/unit/ci-parsers.test.ts.
//
// Needs rsync (gitlab-ci-local copies artifacts with it): without it this SKIPs, naming it.
//   npx vitest run --project pipeline
import { execa } from 'execa'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, test } from 'vitest'
import { CI_SHARDS } from '../../ci/matrix.js'
import { cacheRoot } from '../../harness/util/cache.js'
import { userEnv } from '../slow/cli-helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** The cheapest real shard: a stock Debian kernel (no build), one guest. */
const SHARD = CI_SHARDS.findIndex((s) => s.kernels.every((k) => k.startsWith('debian:')))
/** One quick test of it (vitest args, split into words by run-shard.sh). */
const SHARD_ARGS = 'suites/boot.test.ts -t requested'

/**
 * `npm` for the jobs: `npm ci` in a job whose package-lock.json is this checkout's links this
 * checkout's node_modules instead of installing the same packages again; anything else is npm.
 */
function npmShim(realNpm: string): string {
  return `#!/bin/sh
if [ "$1" = ci ] && cmp -s package-lock.json '${path.join(ROOT, 'package-lock.json')}'; then
  ln -sfn '${path.join(ROOT, 'node_modules')}' node_modules
  echo "npm ci: node_modules linked from ${ROOT} (same package-lock.json; test/pipeline/gitlab-pipeline.test.ts)"
  exit 0
fi
exec '${realNpm}' "$@"
`
}

let dir: string | undefined
afterAll(async () => {
  if (dir && !process.env.VFIO_CONFORM_KEEP) await rm(dir, { recursive: true, force: true })
})

test('the GitLab pipeline under gitlab-ci-local: a real shard (its matrix job, script and artifacts) and the report job that needs it', { timeout: 10 * 60_000 }, async ({ skip, onTestFailed }) => {
  if ((await execa('sh', ['-c', 'command -v rsync'], { reject: false })).exitCode !== 0) skip('rsync is not installed (apt-get install rsync): gitlab-ci-local copies job artifacts with it')
  const npm = await execa('sh', ['-c', 'command -v npm'], { reject: false })
  expect(npm.exitCode, 'npm on PATH').toBe(0)
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
  const bin = path.join(dir, '.test-bin')
  await mkdir(bin)
  await writeFile(path.join(bin, 'npm'), npmShim(npm.stdout.trim()), { mode: 0o755 })
  const env = { ...userEnv(), NO_COLOR: '1', PATH: `${bin}:${process.env.PATH}` }

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
      // The schema check is test/unit/ci-parsers.test.ts's (seconds of CPU here).
      '--json-schema-validation=false',
      '--variable', `VFIO_CONFORM_CACHE=${cacheRoot()}`,
      '--variable', `npm_config_cache=${path.join(os.homedir(), '.npm')}`,
      '--variable', 'VFIO_CONFORM_TOPOLOGIES=default',
      '--variable', 'VFIO_CONFORM_IOMMUS=intel-iommu',
      '--variable', `VFIO_CONFORM_SHARD_ARGS=${SHARD_ARGS}`,
    ],
    { cwd: dir, env, extendEnv: false, reject: false, all: true, stdin: 'ignore' },
  )
  const seconds = Math.round((Date.now() - t0) / 1000)
  onTestFailed(() => console.error(`gitlab-ci-local exit ${r.exitCode} after ${seconds} s:\n${String(r.all).slice(-8000)}`))
  console.error(`gitlab-ci-local: shard ${SHARD + 1} (${shard.name}, ${SHARD_ARGS}) and the report job: ${seconds} s, exit ${r.exitCode}`)
  const out = String(r.all)
  // Kept with the directory (VFIO_CONFORM_KEEP=1): where the time went, line by line (--timestamps).
  await writeFile(path.join(dir, 'gitlab-ci-local.log'), out)
  expect(out, 'npm ci in the shard job went through the shim').toContain('npm ci: node_modules linked from')

  // The shard job: its matrix variables, run-shard.sh to the end, a guest booted, exit 0.
  expect(out).toContain(`run-shard: shard ${SHARD + 1}/${CI_SHARDS.length} ${shard.name}: exit 0 (nothing failed)`)
  expect(out).toMatch(/PASS  \S+\/default\/intel-iommu > runs the requested kernel/)
  // Its artifacts as GitLab keeps them: the results, without the initramfs.
  const artifacts = path.join(dir, '.gitlab-ci-local/artifacts')
  // The job's directory names its matrix index: 1 must not also find 10.
  const index = new RegExp(`(?<!\\d)${SHARD + 1}(?!\\d)`)
  const shardArtifacts = (await readdir(artifacts)).find((d) => d.includes('conformance') && index.test(d))
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
