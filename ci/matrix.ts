// The CI matrix, one place: which shards the GitHub and GitLab templates run, each shard
// being what one runner boots and tests. Built from the harness's own kernel lists
// (MATRIX_KERNELS: `npm test`'s test set, then the QEMU x vIOMMU product of `run --matrix`) so
// that the templates cannot drift from them: test/unit/ci-templates.test.ts checks that the
// static matrices in ci/github-actions.yml and ci/gitlab-ci.yml equal what this file computes.
//
// Why one shard per kernel spec: the conformance project boots every guest of its run plan in
// vitest's global setup (one per kernel x topology x vIOMMU) and runs its files one at a time
// (fileParallelism: false). Splitting the test *files* (vitest --shard) would make every part
// boot, and for debian-source build, the same kernels again; splitting the *kernels*
// (VFIO_CONFORM_KERNELS) gives each runner disjoint guests and disjoint kernel builds.
//
// Printer (the templates keep static YAML; this prints what to paste, and run-shard.sh reads
// its shard from here):
//   npx tsx ci/matrix.ts              a table of the shards
//   npx tsx ci/matrix.ts --github     JSON for strategy.matrix (usable with fromJSON)
//   npx tsx ci/matrix.ts --gitlab     JSON for parallel:matrix
//   npx tsx ci/matrix.ts --shard I/N  shell assignments for ci/run-shard.sh (exit 2 if N is wrong)
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_TOPOLOGIES, TOPOLOGIES, type IommuModel } from '../guests/topologies/index.js'
import { MATRIX_KERNELS, splitKernelEntry } from '../harness/kernel/resolve.js'
import { modelsFor } from '../harness/vitest/run-plan.js'

export interface CiShard {
  /** 1-based, as in `ci/run-shard.sh INDEX COUNT` (and vitest's --shard). */
  index: number
  /** Job, artifact and results-dir name: the kernel spec made path- and artifact-safe. */
  name: string
  /** Kernel specs of this shard, as VFIO_CONFORM_KERNELS takes them. */
  kernels: string[]
  /** Topologies that get at least one guest in this shard (VFIO_CONFORM_TOPOLOGIES). */
  topologies: string[]
  /**
   * The vIOMMU models the shard's guests run under, derived the way the run plan derives
   * them (each topology's models, narrowed by a kernel's "@model" suffix). Descriptive only:
   * it is not exported as VFIO_CONFORM_IOMMUS, which would apply every model to every topology.
   */
  iommus: IommuModel[]
}

/** Path- and artifact-safe name of a kernel spec: "debian-source:6.12,compat@intel-iommu" -> "debian-source-6.12-compat-intel-iommu". */
export function shardName(spec: string): string {
  return spec.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-+|-+$/g, '')
}

export function ciShards(kernels: readonly string[] = MATRIX_KERNELS, topologyNames: readonly string[] = DEFAULT_TOPOLOGIES): CiShard[] {
  const shards = kernels.map((spec, i): CiShard => {
    const { iommus: only, topologies: own } = splitKernelEntry(spec)
    const topologies: string[] = []
    const iommus: IommuModel[] = []
    for (const name of own ?? topologyNames) {
      const topology = TOPOLOGIES[name]
      if (!topology) throw new Error(`ci/matrix.ts: unknown topology "${name}"`)
      const models = modelsFor(topology, only)
      if (!models.length) continue
      topologies.push(name)
      for (const m of models) if (!iommus.includes(m)) iommus.push(m)
    }
    return { index: i + 1, name: shardName(spec), kernels: [spec], topologies, iommus }
  })
  const names = shards.map((s) => s.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) throw new Error(`ci/matrix.ts: two shards are named "${dup}"`)
  return shards
}

export const CI_SHARDS: readonly CiShard[] = ciShards()

/** Environment that makes the conformance project run exactly this shard's plan. */
export function shardEnv(shard: CiShard): { VFIO_CONFORM_KERNELS: string; VFIO_CONFORM_TOPOLOGIES: string } {
  return {
    VFIO_CONFORM_KERNELS: shard.kernels.join(';'),
    VFIO_CONFORM_TOPOLOGIES: shard.topologies.join(','),
  }
}

/** GitHub's strategy.matrix; the count comes from `strategy.job-total` in the workflow. */
export function githubMatrix(shards: readonly CiShard[] = CI_SHARDS): { include: Array<{ index: number; name: string; kernels: string }> } {
  return { include: shards.map((s) => ({ index: s.index, name: s.name, kernels: s.kernels.join(';') })) }
}

/** GitLab's parallel:matrix (variables are strings); the count is the job variable VFIO_CONFORM_SHARD_COUNT. */
export function gitlabMatrix(shards: readonly CiShard[] = CI_SHARDS): Array<{ SHARD_INDEX: string; SHARD_NAME: string; KERNELS: string }> {
  return shards.map((s) => ({ SHARD_INDEX: String(s.index), SHARD_NAME: s.name, KERNELS: s.kernels.join(';') }))
}

/** Single-quoted for POSIX sh, so that `eval` in run-shard.sh cannot be fooled by a spec. */
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** What run-shard.sh evals: the shard's name, plan and description, or an error (exit 2). */
export function shardAssignments(arg: string, shards: readonly CiShard[] = CI_SHARDS): { out: string } | { error: string } {
  const m = /^(\d+)\/(\d+)$/.exec(arg)
  if (!m) return { error: `expected SHARD_INDEX/SHARD_COUNT (e.g. 1/${shards.length}), got "${arg}"` }
  const index = Number(m[1])
  const count = Number(m[2])
  if (count !== shards.length) {
    return { error: `the CI runs ${count} shards but ci/matrix.ts has ${shards.length}: update the matrix in the CI template (npx tsx ci/matrix.ts --github / --gitlab)` }
  }
  const shard = shards[index - 1]
  if (!shard) return { error: `shard ${index} does not exist (1..${shards.length})` }
  const env = shardEnv(shard)
  const vars: Record<string, string> = {
    SHARD_NAME: shard.name,
    SHARD_KERNELS: env.VFIO_CONFORM_KERNELS,
    SHARD_TOPOLOGIES: env.VFIO_CONFORM_TOPOLOGIES,
    SHARD_IOMMUS: shard.iommus.join(','),
  }
  return { out: Object.entries(vars).map(([k, v]) => `${k}=${shQuote(v)}`).join('\n') + '\n' }
}

function main(argv: string[]): number {
  const [mode, arg] = argv
  switch (mode) {
    case undefined:
      for (const s of CI_SHARDS) {
        console.log(`${s.index}/${CI_SHARDS.length}  ${s.name.padEnd(40)} kernels ${s.kernels.join(' ')}; topologies ${s.topologies.join(',')}; vIOMMUs ${s.iommus.join(',')}`)
      }
      return 0
    case '--github':
      console.log(JSON.stringify(githubMatrix()))
      return 0
    case '--gitlab':
      console.log(JSON.stringify(gitlabMatrix()))
      return 0
    case '--shard': {
      const r = shardAssignments(arg ?? '')
      if ('error' in r) {
        console.error(`ci/matrix.ts: ${r.error}`)
        return 2
      }
      process.stdout.write(r.out)
      return 0
    }
    default:
      console.error('usage: npx tsx ci/matrix.ts [--github | --gitlab | --shard INDEX/COUNT]')
      return 2
  }
}

// Printer only when run as a script; importing (the unit test) has no side effects.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2))
}
