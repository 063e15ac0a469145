// The CI templates (ci/github-actions.yml, ci/gitlab-ci.yml) against their job graphs and
// against ci/matrix.ts, the single source of the sharded matrix: a kernel added to
// MATRIX_KERNELS without updating the templates fails here, not in someone's pipeline.
// Each check is a function returning the problems it found, so that the tests below can also
// show, on broken copies of the templates, that every check does fail.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { CI_SHARDS, ciShards, githubMatrix, gitlabMatrix, shardAssignments, shardEnv, type CiShard } from '../../ci/matrix.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { DEFAULT_KERNELS, MATRIX_KERNELS, splitKernelEntry } from '../../harness/kernel/resolve.js'
import { modelsFor } from '../../harness/vitest/run-plan.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
type Doc = Record<string, any>
const load = (file: string): Doc => parse(readFileSync(path.join(ROOT, file), 'utf8'))
const clone = (d: Doc): Doc => structuredClone(d)
const asList = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)])

/** A job graph has no cycle: removing jobs whose needs are all gone leaves nothing behind. */
function cycleProblems(needs: Map<string, string[]>): string[] {
  // Unknown jobs in `needs` are reported separately; here they must not block removal.
  const remaining = new Map([...needs].map(([j, deps]) => [j, deps.filter((d) => needs.has(d))]))
  let progress = true
  while (progress) {
    progress = false
    for (const [j, deps] of remaining) {
      if (deps.every((d) => !remaining.has(d))) {
        remaining.delete(j)
        progress = true
      }
    }
  }
  return remaining.size ? [`cycle among ${[...remaining.keys()].sort().join(', ')}`] : []
}

/** Commands that need node_modules; `npm ci` must come before the first of them. */
const NEEDS_NODE_MODULES = /\b(npx|vitest|tsx)\b|\bnode bin\/|ci\/run-shard\.sh/
function npmCiProblems(job: string, commands: string[]): string[] {
  const firstNode = commands.findIndex((c) => NEEDS_NODE_MODULES.test(c))
  if (firstNode < 0) return []
  const npmCi = commands.findIndex((c) => /^\s*npm ci\b/m.test(c))
  if (npmCi < 0) return [`${job}: runs "${commands[firstNode]!.trim()}" without npm ci`]
  return npmCi < firstNode ? [] : [`${job}: npm ci comes after "${commands[firstNode]!.trim()}"`]
}

/** The kernels a YAML matrix covers, in order, with each entry's kernels split as VFIO_CONFORM_KERNELS splits them. */
const kernelsOf = (entries: Array<Record<string, unknown>>, key: string) => entries.flatMap((e) => String(e[key] ?? '').split(/[\s;]+/).filter(Boolean))

function kernelCoverageProblems(kernels: string[], expected: readonly string[]): string[] {
  const problems: string[] = []
  for (const k of expected) if (!kernels.includes(k)) problems.push(`kernel ${k} of MATRIX_KERNELS has no shard`)
  for (const k of kernels) if (!expected.includes(k)) problems.push(`kernel ${k} is not in MATRIX_KERNELS`)
  for (const k of new Set(kernels)) if (kernels.filter((x) => x === k).length > 1) problems.push(`kernel ${k} is in more than one shard`)
  return problems
}

// ---------------------------------------------------------------- GitHub Actions

const GITHUB_SHARD_JOB = 'conformance'
const GITHUB_SUMMARY_JOB = 'summary'
const GITHUB_MUTATIONS_JOB = 'mutations'

function githubProblems(wf: Doc, shards: readonly CiShard[] = CI_SHARDS, kernels: readonly string[] = MATRIX_KERNELS): string[] {
  const problems: string[] = []
  const jobs = (wf.jobs ?? {}) as Record<string, Doc>
  const needs = new Map(Object.entries(jobs).map(([id, j]) => [id, asList(j.needs)]))
  for (const [id, deps] of needs) for (const d of deps) if (!jobs[d]) problems.push(`${id}: needs unknown job "${d}"`)
  problems.push(...cycleProblems(needs))

  for (const [id, job] of Object.entries(jobs)) {
    if (!job['runs-on']) problems.push(`${id}: no runs-on`)
    const steps = (job.steps ?? []) as Doc[]
    if (!steps.length) problems.push(`${id}: no steps`)
    for (const s of steps) {
      // owner/repo[/path]@vN: a major version, which the action's maintainers move on fixes.
      if (s.uses !== undefined && !/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@v\d+$/.test(String(s.uses))) problems.push(`${id}: action "${s.uses}" is not pinned to a major version`)
    }
    problems.push(...npmCiProblems(id, steps.filter((s) => typeof s.run === 'string').map((s) => s.run as string)))
  }

  const shardJobs = Object.entries(jobs).filter(([, j]) => j.strategy?.matrix).map(([id]) => id)
  if (!shardJobs.includes(GITHUB_SHARD_JOB)) problems.push(`no matrix job "${GITHUB_SHARD_JOB}"`)
  const summary = jobs[GITHUB_SUMMARY_JOB]
  if (!summary) problems.push(`no job "${GITHUB_SUMMARY_JOB}"`)
  else {
    for (const s of shardJobs) if (!asList(summary.needs).includes(s)) problems.push(`${GITHUB_SUMMARY_JOB}: does not need shard job ${s}`)
    // Without a status function in `if`, a failed shard would skip the summary.
    if (!/!cancelled\(\)|always\(\)/.test(String(summary.if ?? ''))) problems.push(`${GITHUB_SUMMARY_JOB}: does not run after failed shards`)
    const run = ((summary.steps ?? []) as Doc[]).map((s) => String(s.run ?? '')).join('\n')
    if (!run.includes('$GITHUB_STEP_SUMMARY')) problems.push(`${GITHUB_SUMMARY_JOB}: does not write $GITHUB_STEP_SUMMARY`)
    if (!/exit "\$worst"/.test(run)) problems.push(`${GITHUB_SUMMARY_JOB}: does not exit with the worst shard's code`)
  }

  const shard = jobs[GITHUB_SHARD_JOB]
  if (shard) {
    const matrix = shard.strategy?.matrix ?? {}
    try {
      expect(matrix).toEqual(githubMatrix(shards))
    } catch {
      problems.push(`${GITHUB_SHARD_JOB}: matrix is not \`npx tsx ci/matrix.ts --github\`: ${JSON.stringify(matrix)}`)
    }
    problems.push(...kernelCoverageProblems(kernelsOf(matrix.include ?? [], 'kernels'), kernels))
    if (shard.strategy?.['fail-fast'] !== false) problems.push(`${GITHUB_SHARD_JOB}: fail-fast would cancel the other kernels on the first FAIL`)
    const steps = (shard.steps ?? []) as Doc[]
    const runs = steps.map((s) => String(s.run ?? ''))
    if (!runs.some((r) => r.trim() === 'ci/run-shard.sh "${{ matrix.index }}" "${{ strategy.job-total }}"')) {
      problems.push(`${GITHUB_SHARD_JOB}: does not run ci/run-shard.sh with the matrix index and job total`)
    }
    const restore = steps.find((s) => String(s.uses ?? '').startsWith('actions/cache/restore@'))
    const save = steps.find((s) => String(s.uses ?? '').startsWith('actions/cache/save@'))
    if (!restore || !String(restore.with?.key ?? '').includes("hashFiles('guests/kconfig/*.config')")) problems.push(`${GITHUB_SHARD_JOB}: cache is not keyed on the kconfig fragments`)
    if (restore?.with?.path !== '${{ env.VFIO_CONFORM_CACHE }}' || save?.with?.path !== restore?.with?.path) problems.push(`${GITHUB_SHARD_JOB}: cache path is not VFIO_CONFORM_CACHE`)
    if (!String(shard.env?.VFIO_CONFORM_CACHE ?? '').length) problems.push(`${GITHUB_SHARD_JOB}: VFIO_CONFORM_CACHE not set`)
    if (!save || !String(save.if ?? '').includes('!cancelled()')) problems.push(`${GITHUB_SHARD_JOB}: cache is not saved after a FAIL`)
    const uploads = steps.filter((s) => String(s.uses ?? '').startsWith('actions/upload-artifact@'))
    const uploaded = uploads.flatMap((s) => String(s.with?.path ?? '').split('\n').map((p) => p.trim()))
    if (!uploaded.includes('vfio-conform-results/ci-${{ matrix.name }}/')) problems.push(`${GITHUB_SHARD_JOB}: the shard's results dir is not uploaded`)
    if (!uploads.every((s) => String(s.if ?? '').includes('!cancelled()'))) problems.push(`${GITHUB_SHARD_JOB}: results are not uploaded after a FAIL`)
  }
  // The weekly mutation proof: a schedule, and a job that runs ci/mutations/run.sh on it only.
  const mut = jobs[GITHUB_MUTATIONS_JOB]
  if (!asList(wf.on?.schedule?.map?.((c: Doc) => c.cron)).length) problems.push('no schedule: the mutation proof never runs by itself')
  if (!mut) problems.push(`no job "${GITHUB_MUTATIONS_JOB}"`)
  else {
    if (!/github\.event_name == 'schedule'/.test(String(mut.if ?? ''))) problems.push(`${GITHUB_MUTATIONS_JOB}: does not run on the schedule (or runs on every push)`)
    const runs = ((mut.steps ?? []) as Doc[]).map((st) => String(st.run ?? ''))
    if (!runs.some((r) => r.trim() === 'ci/mutations/run.sh')) problems.push(`${GITHUB_MUTATIONS_JOB}: does not run ci/mutations/run.sh`)
  }
  // The generated sweep: on the schedule only, in a budgeted chunk (its results cached).
  const sweep = jobs['mutation-sweep']
  if (!sweep) problems.push('no job "mutation-sweep"')
  else {
    if (!/github\.event_name == 'schedule'/.test(String(sweep.if ?? ''))) problems.push('mutation-sweep: does not run on the schedule (or runs on every push)')
    const runs = ((sweep.steps ?? []) as Doc[]).map((st) => String(st.run ?? ''))
    if (!runs.some((r) => /vfio-conform\.mjs mutate --budget \d+/.test(r))) problems.push('mutation-sweep: does not run vfio-conform mutate with a --budget')
    if (!((sweep.steps ?? []) as Doc[]).some((st) => String(st.with?.path ?? '').includes('mutate/*/results'))) problems.push('mutation-sweep: does not cache the sweep results')
  }
  return problems
}

// ---------------------------------------------------------------- GitLab CI

const GITLAB_GLOBAL_KEYS = new Set(['stages', 'variables', 'default', 'include', 'workflow', 'image', 'services', 'cache', 'before_script', 'after_script'])
const GITLAB_SHARD_JOB = 'vfio-conform:conformance'
const GITLAB_REPORT_JOB = 'vfio-conform:report'
const GITLAB_MUTATIONS_JOB = 'vfio-conform:mutations'

/** A job with its `extends` applied (hashes merged, other values replaced), as GitLab does. */
function resolveGitlabJob(doc: Doc, name: string, seen: string[] = []): Doc {
  if (seen.includes(name)) throw new Error(`extends cycle: ${[...seen, name].join(' -> ')}`)
  const job = doc[name] as Doc | undefined
  if (!job) throw new Error(`extends unknown job "${name}"`)
  let base: Doc = {}
  for (const parent of asList(job.extends)) base = merge(base, resolveGitlabJob(doc, parent, [...seen, name]))
  const { extends: _, ...own } = job
  return merge(base, own)
}
function merge(a: Doc, b: Doc): Doc {
  const out: Doc = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const isHash = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x)
    out[k] = isHash(v) && isHash(out[k]) ? merge(out[k], v) : v
  }
  return out
}
const needName = (n: unknown) => (typeof n === 'string' ? n : String((n as Doc)?.job ?? ''))

function gitlabProblems(doc: Doc, shards: readonly CiShard[] = CI_SHARDS, kernels: readonly string[] = MATRIX_KERNELS): string[] {
  const problems: string[] = []
  const stages = asList(doc.stages)
  if (!stages.length) problems.push('no stages declared')
  const names = Object.keys(doc).filter((k) => !GITLAB_GLOBAL_KEYS.has(k) && !k.startsWith('.'))
  const jobs = new Map<string, Doc>()
  for (const n of names) {
    try {
      jobs.set(n, resolveGitlabJob(doc, n))
    } catch (e) {
      problems.push(`${n}: ${(e as Error).message}`)
    }
  }
  const needs = new Map([...jobs].map(([n, j]) => [n, asList(j.needs).length ? (j.needs as unknown[]).map(needName) : []]))
  for (const [n, job] of jobs) {
    if (!job.stage || !stages.includes(job.stage)) problems.push(`${n}: stage "${job.stage}" is not declared`)
    for (const d of needs.get(n)!) if (!jobs.has(d)) problems.push(`${n}: needs unknown job "${d}"`)
    if (!job.image) problems.push(`${n}: no image`)
    const script = [...asList(job.before_script), ...asList(job.script)]
    if (!script.length) problems.push(`${n}: no script`)
    problems.push(...npmCiProblems(n, script))
  }
  problems.push(...cycleProblems(needs))
  // A job that needs another job must not run in an earlier stage.
  for (const [n, deps] of needs) {
    for (const d of deps) {
      if (jobs.has(d) && stages.indexOf(jobs.get(d)!.stage) > stages.indexOf(jobs.get(n)!.stage)) problems.push(`${n}: needs ${d} of a later stage`)
    }
  }

  const shard = jobs.get(GITLAB_SHARD_JOB)
  if (!shard) problems.push(`no job "${GITLAB_SHARD_JOB}"`)
  else {
    const matrix = shard.parallel?.matrix ?? []
    try {
      expect(matrix).toEqual(gitlabMatrix(shards))
    } catch {
      problems.push(`${GITLAB_SHARD_JOB}: matrix is not \`npx tsx ci/matrix.ts --gitlab\`: ${JSON.stringify(matrix)}`)
    }
    problems.push(...kernelCoverageProblems(kernelsOf(matrix, 'KERNELS'), kernels))
    if (String(shard.variables?.VFIO_CONFORM_SHARD_COUNT) !== String(shards.length)) {
      problems.push(`${GITLAB_SHARD_JOB}: VFIO_CONFORM_SHARD_COUNT is ${shard.variables?.VFIO_CONFORM_SHARD_COUNT}, ci/matrix.ts has ${shards.length} shards`)
    }
    if (!asList(shard.script).includes('ci/run-shard.sh "$SHARD_INDEX" "$VFIO_CONFORM_SHARD_COUNT"')) problems.push(`${GITLAB_SHARD_JOB}: does not run ci/run-shard.sh with the shard index and count`)
    const artifacts = shard.artifacts ?? {}
    if (!asList(artifacts.paths).some((p) => p.startsWith('vfio-conform-results/'))) problems.push(`${GITLAB_SHARD_JOB}: artifacts do not include the results dir`)
    if (artifacts.when !== 'always') problems.push(`${GITLAB_SHARD_JOB}: artifacts are not kept after a FAIL`)
    if (!String(artifacts.reports?.junit ?? '').startsWith('vfio-conform-results/')) problems.push(`${GITLAB_SHARD_JOB}: no JUnit report from the results dir`)
    const caches = asList(shard.cache).length ? (shard.cache as Doc[]) : []
    const conformCache = caches.find((c) => asList(c.paths).some((p) => p.startsWith('.cache/vfio-conform')))
    if (!conformCache) problems.push(`${GITLAB_SHARD_JOB}: the vfio-conform cache dir is not cached`)
    else {
      if (!asList(conformCache.key?.files).some((f) => f.startsWith('guests/kconfig/'))) problems.push(`${GITLAB_SHARD_JOB}: cache is not keyed on the kconfig fragments`)
      if (conformCache.when !== 'always') problems.push(`${GITLAB_SHARD_JOB}: cache is not saved after a FAIL`)
    }
    if (shard.variables?.VFIO_CONFORM_CACHE !== '$CI_PROJECT_DIR/.cache/vfio-conform') problems.push(`${GITLAB_SHARD_JOB}: VFIO_CONFORM_CACHE is not the cached dir`)
  }
  const report = jobs.get(GITLAB_REPORT_JOB)
  if (!report) problems.push(`no job "${GITLAB_REPORT_JOB}"`)
  else {
    if (!needs.get(GITLAB_REPORT_JOB)!.includes(GITLAB_SHARD_JOB)) problems.push(`${GITLAB_REPORT_JOB}: does not need ${GITLAB_SHARD_JOB}`)
    if (report.when !== 'always') problems.push(`${GITLAB_REPORT_JOB}: does not run after failed shards`)
    const script = asList(report.script).join('\n')
    if (!/exit "\$worst"/.test(script)) problems.push(`${GITLAB_REPORT_JOB}: does not exit with the worst shard's code`)
    // The note needs a token the project chose to give: never CI_JOB_TOKEN, never unconditionally.
    if (!/if \[ -n "\$\{VFIO_CONFORM_GITLAB_TOKEN:-\}" \]/.test(script)) problems.push(`${GITLAB_REPORT_JOB}: posts a note without checking for a token`)
    if (!asList(report.artifacts?.paths).includes('vfio-conform-summary.md')) problems.push(`${GITLAB_REPORT_JOB}: summary is not an artifact`)
  }
  // The mutation proof in scheduled pipelines only.
  const mut = doc[GITLAB_MUTATIONS_JOB]
  if (!mut) problems.push(`no job "${GITLAB_MUTATIONS_JOB}"`)
  else {
    const rules = ((mut.rules ?? []) as Doc[]).map((r) => String(r.if ?? ''))
    if (!rules.some((r) => /\$CI_PIPELINE_SOURCE == "schedule"/.test(r)) || rules.some((r) => r === '' || /push|merge_request/.test(r))) problems.push(`${GITLAB_MUTATIONS_JOB}: does not run in scheduled pipelines only`)
    if (!asList(mut.script).some((c) => c.trim() === 'ci/mutations/run.sh')) problems.push(`${GITLAB_MUTATIONS_JOB}: does not run ci/mutations/run.sh`)
  }
  const sweep = doc['vfio-conform:mutation-sweep'] as Doc | undefined
  if (!sweep) problems.push('no job "vfio-conform:mutation-sweep"')
  else {
    const rules = ((sweep.rules ?? []) as Doc[]).map((r) => String(r.if ?? ''))
    if (!rules.length || rules.some((r) => !/schedule|web/.test(r))) problems.push('vfio-conform:mutation-sweep: does not run in scheduled pipelines only')
    if (!asList(sweep.script).some((c) => /vfio-conform\.mjs mutate --budget \d+/.test(String(c)))) problems.push('vfio-conform:mutation-sweep: does not run vfio-conform mutate with a --budget')
  }
  return problems
}

// ---------------------------------------------------------------- tests

describe('ci/matrix.ts', () => {
  test('one shard per kernel of MATRIX_KERNELS, in order, named after it', () => {
    expect(CI_SHARDS.map((s) => s.kernels)).toEqual(MATRIX_KERNELS.map((k) => [k]))
    expect(CI_SHARDS.map((s) => s.index)).toEqual(MATRIX_KERNELS.map((_, i) => i + 1))
    expect(CI_SHARDS.map((s) => s.name).slice(0, 6)).toEqual(['debian-bookworm', 'debian-trixie', 'debian-source-6.12', 'debian-source-6.12-compat-intel-iommu', 'debian-source-7.2-intel-iommu', 'debian-source-6.12-amd-iommu-intel-iommu-sm-qemu-debian-sid'])
  })

  test('the matrix is the test set first, then the QEMU x vIOMMU product, each guest once', () => {
    expect(MATRIX_KERNELS.slice(0, DEFAULT_KERNELS.length)).toEqual(DEFAULT_KERNELS)
    // A (kernel, QEMU, topology, model) in two shards would boot twice and collide in the results.
    const guests = CI_SHARDS.flatMap((s) => {
      const e = splitKernelEntry(s.kernels[0]!)
      return s.topologies.flatMap((t) => modelsFor(TOPOLOGIES[t]!, e.iommus).map((m) => `${e.spec}|${e.qemu ?? 'host'}|${t}|${m}`))
    })
    expect(guests.filter((g, i) => guests.indexOf(g) !== i)).toEqual([])
    // Scalable mode runs where an entry names it, though default's own list does not hold it.
    const sm = CI_SHARDS.find((s) => s.kernels[0] === 'debian-source:6.12@amd-iommu+intel-iommu-sm@qemu=debian:sid')!
    expect(sm.iommus).toEqual(['amd-iommu', 'intel-iommu-sm'])
  })

  test('topologies and vIOMMUs follow the run plan: a kernel restricted to intel-iommu gets no noiommu guest', () => {
    const bookworm = CI_SHARDS.find((s) => s.name === 'debian-bookworm')!
    expect(bookworm.topologies).toEqual(['default', 'noiommu'])
    expect(bookworm.iommus).toEqual(['intel-iommu', 'virtio-iommu', 'amd-iommu', 'none'])
    const compat = CI_SHARDS.find((s) => s.kernels[0] === 'debian-source:6.12,compat@intel-iommu')!
    expect(compat.topologies).toEqual(['default'])
    expect(compat.iommus).toEqual(['intel-iommu'])
    expect(shardEnv(compat)).toEqual({ VFIO_CONFORM_KERNELS: 'debian-source:6.12,compat@intel-iommu', VFIO_CONFORM_TOPOLOGIES: 'default' })
  })

  test('an unknown topology and two specs with one name are refused', () => {
    expect(() => ciShards(['debian:sid'], ['nope'])).toThrow(/unknown topology "nope"/)
    expect(() => ciShards(['debian:sid', 'debian/sid'])).toThrow(/two shards are named "debian-sid"/)
  })

  test('--shard I/N: a count that is not the matrix\'s, or an index outside it, is an error', () => {
    expect(shardAssignments(`1/${CI_SHARDS.length + 1}`)).toEqual({ error: expect.stringMatching(new RegExp(`the CI runs ${CI_SHARDS.length + 1} shards but ci/matrix.ts has ${CI_SHARDS.length}`)) })
    expect(shardAssignments(`0/${CI_SHARDS.length}`)).toEqual({ error: expect.stringMatching(/shard 0 does not exist/) })
    expect(shardAssignments('1')).toEqual({ error: expect.stringMatching(/expected SHARD_INDEX\/SHARD_COUNT/) })
  })

  test('--shard I/N output survives sh eval unchanged, quotes included', () => {
    const tricky = "path:/tmp/it's here;$(echo pwned)"
    const r = shardAssignments('1/1', ciShards([tricky], ['default']))
    if (!('out' in r)) throw new Error(r.error)
    const got = execFileSync('sh', ['-c', `${r.out}\nprintf '%s|%s|%s|%s' "$SHARD_NAME" "$SHARD_KERNELS" "$SHARD_TOPOLOGIES" "$SHARD_IOMMUS"`], { encoding: 'utf8' })
    expect(got).toBe(`path-tmp-it-s-here-echo-pwned|${tricky}|default|intel-iommu,virtio-iommu,amd-iommu`)
  })
})

describe('ci/github-actions.yml', () => {
  const wf = load('ci/github-actions.yml')

  test('job graph, actions, npm ci, matrix and reports: no problem', () => {
    expect(Object.keys(wf.jobs)).toEqual(['unit', 'conformance', 'summary', 'mutations', 'mutation-sweep'])
    expect(githubProblems(wf)).toEqual([])
  })

  test('the matrix is exactly the kernels of MATRIX_KERNELS', () => {
    expect(kernelsOf(wf.jobs.conformance.strategy.matrix.include, 'kernels')).toEqual(MATRIX_KERNELS)
  })

  test('a kernel added to MATRIX_KERNELS without updating the workflow is a problem', () => {
    const more = [...MATRIX_KERNELS, 'debian:sid']
    expect(githubProblems(wf, ciShards(more), more)).toEqual(
      expect.arrayContaining([expect.stringMatching(/matrix is not `npx tsx ci\/matrix.ts --github`/), 'kernel debian:sid of MATRIX_KERNELS has no shard']),
    )
  })

  test('each check fails on a broken copy', () => {
    const broken = (edit: (d: Doc) => void) => {
      const d = clone(wf)
      edit(d)
      return githubProblems(d)
    }
    expect(broken((d) => (d.jobs.conformance.needs = 'lint'))).toContain('conformance: needs unknown job "lint"')
    expect(broken((d) => (d.jobs.unit.needs = 'summary'))).toContain('cycle among conformance, summary, unit')
    expect(broken((d) => (d.jobs.summary.needs = []))).toContain('summary: does not need shard job conformance')
    expect(broken((d) => delete d.jobs.summary.if)).toContain('summary: does not run after failed shards')
    expect(broken((d) => delete d.on.schedule)).toContain('no schedule: the mutation proof never runs by itself')
    expect(broken((d) => delete d.jobs.mutations.if)).toContain('mutations: does not run on the schedule (or runs on every push)')
    expect(broken((d) => delete d.jobs['mutation-sweep'].if)).toContain('mutation-sweep: does not run on the schedule (or runs on every push)')
    expect(broken((d) => (d.jobs.mutations.steps = d.jobs.mutations.steps.filter((st: Doc) => st.run !== 'ci/mutations/run.sh')))).toContain('mutations: does not run ci/mutations/run.sh')
    expect(broken((d) => delete d.jobs.unit['runs-on'])).toContain('unit: no runs-on')
    expect(broken((d) => (d.jobs.unit.steps = []))).toContain('unit: no steps')
    expect(broken((d) => (d.jobs.unit.steps[0].uses = 'actions/checkout@main'))).toContain('unit: action "actions/checkout@main" is not pinned to a major version')
    expect(broken((d) => (d.jobs.unit.steps[0].uses = 'actions/checkout'))).toContain('unit: action "actions/checkout" is not pinned to a major version')
    expect(broken((d) => (d.jobs.unit.steps = d.jobs.unit.steps.filter((s: Doc) => s.run !== 'npm ci')))).toContain('unit: runs "sudo env "PATH=$PATH" node bin/vfio-conform.mjs setup" without npm ci')
    expect(broken((d) => d.jobs.conformance.strategy.matrix.include.pop())).toContain(`kernel ${MATRIX_KERNELS.at(-1)} of MATRIX_KERNELS has no shard`)
    expect(broken((d) => (d.jobs.conformance.strategy.matrix.include[1].kernels = 'debian:bookworm'))).toContain('kernel debian:bookworm is in more than one shard')
    expect(broken((d) => (d.jobs.conformance.strategy['fail-fast'] = true))).toContain('conformance: fail-fast would cancel the other kernels on the first FAIL')
    expect(broken((d) => (d.jobs.conformance.steps.find((s: Doc) => s.uses?.startsWith('actions/cache/save@')).if = 'success()'))).toContain('conformance: cache is not saved after a FAIL')
    expect(broken((d) => d.jobs.conformance.steps.forEach((s: Doc) => s.with?.key && (s.with.key = 'vfio-conform'))))
      .toContain('conformance: cache is not keyed on the kconfig fragments')
    expect(broken((d) => (d.jobs.conformance.steps = d.jobs.conformance.steps.filter((s: Doc) => !s.uses?.startsWith('actions/upload-artifact@')))))
      .toContain("conformance: the shard's results dir is not uploaded")
    expect(broken((d) => (d.jobs.summary.steps[1].run = d.jobs.summary.steps[1].run.replace('>> "$GITHUB_STEP_SUMMARY"', '> /dev/null'))))
      .toContain('summary: does not write $GITHUB_STEP_SUMMARY')
  })
})

describe('ci/gitlab-ci.yml', () => {
  const doc = load('ci/gitlab-ci.yml')

  test('stages, job graph, npm ci, artifacts, matrix and report: no problem', () => {
    expect(doc.stages).toEqual(['check', 'conformance', 'report'])
    expect(Object.keys(doc).filter((k) => k.startsWith('vfio-conform:'))).toEqual(['vfio-conform:unit', 'vfio-conform:conformance', 'vfio-conform:mutations', 'vfio-conform:mutation-sweep', 'vfio-conform:report'])
    expect(gitlabProblems(doc)).toEqual([])
  })

  test('the matrix is exactly the kernels of MATRIX_KERNELS', () => {
    expect(kernelsOf(doc['vfio-conform:conformance'].parallel.matrix, 'KERNELS')).toEqual(MATRIX_KERNELS)
  })

  test('a kernel added to MATRIX_KERNELS without updating the pipeline is a problem', () => {
    const more = [...MATRIX_KERNELS, 'debian:sid']
    expect(gitlabProblems(doc, ciShards(more), more)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/matrix is not `npx tsx ci\/matrix.ts --gitlab`/),
        'kernel debian:sid of MATRIX_KERNELS has no shard',
        `vfio-conform:conformance: VFIO_CONFORM_SHARD_COUNT is ${MATRIX_KERNELS.length}, ci/matrix.ts has ${MATRIX_KERNELS.length + 1} shards`,
      ]),
    )
  })

  test('each check fails on a broken copy', () => {
    const broken = (edit: (d: Doc) => void) => {
      const d = clone(doc)
      edit(d)
      return gitlabProblems(d)
    }
    expect(broken((d) => (d.stages = ['check', 'conformance']))).toContain('vfio-conform:report: stage "report" is not declared')
    expect(broken((d) => (d['vfio-conform:conformance'].needs = ['vfio-conform:lint']))).toContain('vfio-conform:conformance: needs unknown job "vfio-conform:lint"')
    expect(broken((d) => (d['vfio-conform:unit'].needs = ['vfio-conform:report']))).toEqual(
      expect.arrayContaining(['cycle among vfio-conform:conformance, vfio-conform:mutation-sweep, vfio-conform:mutations, vfio-conform:report, vfio-conform:unit', 'vfio-conform:unit: needs vfio-conform:report of a later stage']),
    )
    expect(broken((d) => (d['vfio-conform:report'].needs = []))).toContain('vfio-conform:report: does not need vfio-conform:conformance')
    expect(broken((d) => (d['vfio-conform:mutations'].rules = [{ if: '$CI_PIPELINE_SOURCE == "push"' }]))).toContain('vfio-conform:mutations: does not run in scheduled pipelines only')
    expect(broken((d) => (d['vfio-conform:mutations'].script = ['npm ci']))).toContain('vfio-conform:mutations: does not run ci/mutations/run.sh')
    expect(broken((d) => (d['vfio-conform:mutation-sweep'].rules = [{ if: '$CI_PIPELINE_SOURCE == "push"' }]))).toContain('vfio-conform:mutation-sweep: does not run in scheduled pipelines only')
    expect(broken((d) => (d['vfio-conform:mutation-sweep'].script = ['npm ci', 'node bin/vfio-conform.mjs mutate']))).toContain('vfio-conform:mutation-sweep: does not run vfio-conform mutate with a --budget')
    expect(broken((d) => (d['vfio-conform:conformance'].artifacts.paths = ['logs/']))).toContain('vfio-conform:conformance: artifacts do not include the results dir')
    expect(broken((d) => (d['vfio-conform:conformance'].artifacts.when = 'on_success'))).toContain('vfio-conform:conformance: artifacts are not kept after a FAIL')
    expect(broken((d) => (d['vfio-conform:conformance'].script = ['ci/run-shard.sh "$SHARD_INDEX" "$VFIO_CONFORM_SHARD_COUNT"'])))
      .toContain('vfio-conform:conformance: runs "ci/run-shard.sh "$SHARD_INDEX" "$VFIO_CONFORM_SHARD_COUNT"" without npm ci')
    expect(broken((d) => d['vfio-conform:conformance'].parallel.matrix.splice(1, 1))).toContain('kernel debian:trixie of MATRIX_KERNELS has no shard')
    expect(broken((d) => (d['.vfio-conform'].variables.VFIO_CONFORM_SHARD_COUNT = '3'))).toContain(`vfio-conform:conformance: VFIO_CONFORM_SHARD_COUNT is 3, ci/matrix.ts has ${MATRIX_KERNELS.length} shards`)
    expect(broken((d) => delete d['.vfio-conform'].image)).toContain('vfio-conform:unit: no image')
    expect(broken((d) => (d['vfio-conform:conformance'].extends = '.missing'))).toContain('vfio-conform:conformance: extends unknown job ".missing"')
    expect(broken((d) => (d['vfio-conform:report'].when = 'on_success'))).toContain('vfio-conform:report: does not run after failed shards')
    expect(broken((d) => (d['vfio-conform:report'].script = [d['vfio-conform:report'].script[0].replace(/if \[ -n "\$\{VFIO_CONFORM_GITLAB_TOKEN:-\}" \] && /, 'if ')])))
      .toContain('vfio-conform:report: posts a note without checking for a token')
    expect(broken((d) => (d['vfio-conform:conformance'].cache[1].when = 'on_success'))).toContain('vfio-conform:conformance: cache is not saved after a FAIL')
  })
})

describe('ci/run-shard.sh', () => {
  const script = readFileSync(path.join(ROOT, 'ci/run-shard.sh'), 'utf8')
  test('runs the conformance project with the verdict reporter and exits with the verdict, not vitest\'s status', () => {
    expect(script).toMatch(/npx --no-install vitest run --project conformance "\$\{reporters\[@\]\}" \$\{VFIO_CONFORM_SHARD_ARGS:-\} "\$@"/)
    expect(script).toContain('--reporter=./suites/verdict-reporter.ts')
    expect(script).toMatch(/rc=\$\(node -p .*\.exitCode' "\$run_dir\/verdicts.json"\)/)
  })
  test('the shard plan comes from ci/matrix.ts, which checks the count', () => {
    expect(script).toContain('npx --no-install tsx ci/matrix.ts --shard "$index/$count"')
  })
})
