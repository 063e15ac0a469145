// A run's options reach global setup and the suites as one typed object (vitest's provide:
// harness/vitest/run-options.ts): the CLI writes no VFIO_CONFORM_* variable for them, and a
// plain `vitest run` (npm test, ci/run-shard.sh) reads the same options from its environment.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { DEFAULT_TOPOLOGIES } from '../../guests/topologies/index.js'
import { FULL_MODEL_BUDGET, NPM_TEST_MODEL_RUNS } from '../../harness/model/budget.js'
import { modelBudgetFromEnv, runOptionsFromEnv } from '../../harness/vitest/run-options.js'
import { entryCombos, runPlan } from '../../harness/vitest/run-plan.js'
import type { GuestTarget } from '../../harness/vitest/targets.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('run options', () => {
  test('from an empty environment: the test set, every default topology, no repeat, npm test\'s model share', () => {
    const o = runOptionsFromEnv({})
    expect(o.topologies).toEqual(DEFAULT_TOPOLOGIES)
    expect(o.iommus).toBeUndefined()
    expect(o).toMatchObject({ repeat: 1, allowFlaky: [], kernelArgs: [], model: { ...FULL_MODEL_BUDGET, runs: NPM_TEST_MODEL_RUNS }, mainJob: false, vfTokenModel: false })
    expect(o.runDir).toMatch(/vfio-conform-results\/\d{4}-\d\d-\d\dT/)
  })

  test('from the environment of a plain vitest run', () => {
    const o = runOptionsFromEnv({
      VFIO_CONFORM_KERNELS: 'debian:stable; debian-source:7.2@intel-iommu',
      VFIO_CONFORM_TOPOLOGIES: 'default',
      VFIO_CONFORM_IOMMUS: 'intel-iommu,amd-iommu',
      VFIO_CONFORM_KERNEL_ARGS: 'iommu.passthrough=0  loglevel=7',
      VFIO_CONFORM_RUN_DIR: '/tmp/x',
      VFIO_CONFORM_REPEAT: '3',
      VFIO_CONFORM_ALLOW_FLAKY: '["^a", "b$"]',
      VFIO_CONFORM_MODEL_RUNS: '5',
      VFIO_CONFORM_MODEL_SEED: '-7',
      VFIO_CONFORM_VF_TOKEN_MODEL: '1',
    })
    expect(o).toEqual({
      kernels: ['debian:stable', 'debian-source:7.2@intel-iommu'],
      topologies: ['default'],
      iommus: ['intel-iommu', 'amd-iommu'],
      kernelArgs: ['iommu.passthrough=0', 'loglevel=7'],
      runDir: '/tmp/x',
      repeat: 3,
      allowFlaky: ['^a', 'b$'],
      model: { ...FULL_MODEL_BUDGET, runs: 5, seed: -7 },
      mainJob: false,
      vfTokenModel: true,
    })
    expect(runPlan(o).combos.map((c) => `${c.topology.name}/${c.iommu}`)).toEqual(['default/intel-iommu', 'default/amd-iommu'])
  })

  test("a kernel entry's @models pick from every model a topology has expectations for (intel-iommu-sm on default), in the entry's order", () => {
    const o = runOptionsFromEnv({ VFIO_CONFORM_KERNELS: 'x' })
    const plan = runPlan(o)
    const names = (entry: string, opts = o) => entryCombos(plan, opts, entry).map((c) => `${c.topology.name}/${c.iommu}`)
    expect(names('debian-source:6.12@amd-iommu+intel-iommu-sm@qemu=debian:sid')).toEqual(['default/amd-iommu', 'default/intel-iommu-sm'])
    expect(names('debian-source:6.12@intel-iommu-sm+amd-iommu@qemu=debian:sid')).toEqual(['default/intel-iommu-sm', 'default/amd-iommu'])
    expect(names('debian-source:7.2@intel-iommu')).toEqual(['default/intel-iommu'])
    expect(names('debian:trixie')).toEqual(['default/intel-iommu', 'default/virtio-iommu', 'default/amd-iommu', 'noiommu/none'])
    // --iommu applies to every topology; the entry's list narrows it.
    expect(names('k@intel-iommu', { ...o, iommus: ['intel-iommu', 'amd-iommu'] })).toEqual(['default/intel-iommu', 'noiommu/intel-iommu'])
  })

  test("a kernel entry's @topology= list replaces the run's topologies for that entry only", () => {
    const o = runOptionsFromEnv({ VFIO_CONFORM_KERNELS: 'x' })
    const plan = runPlan(o)
    const names = (entry: string) => entryCombos(plan, o, entry).map((c) => `${c.topology.name}/${c.iommu}`)
    expect(names('debian-source:7.2@qemu=debian:trixie@topology=igb')).toEqual(['igb/intel-iommu', 'igb/amd-iommu', 'igb/virtio-iommu'])
    expect(names('debian-source:7.2@intel-iommu@topology=igb+default')).toEqual(['igb/intel-iommu', 'default/intel-iommu'])
    expect(names('debian:trixie')).toEqual(['default/intel-iommu', 'default/virtio-iommu', 'default/amd-iommu', 'noiommu/none'])
    expect(() => names('debian:trixie@topology=nosuch')).toThrow(/unknown topology "nosuch"/)
  })

  test('the model budget from the environment is only what is set there', () => {
    expect(modelBudgetFromEnv({ VFIO_CONFORM_MODEL_STEPS: '8', VFIO_CONFORM_MODEL_RUNS: '' })).toEqual({ steps: 8 })
    expect(() => modelBudgetFromEnv({ VFIO_CONFORM_MODEL_RUNS: 'many' })).toThrow(/VFIO_CONFORM_MODEL_RUNS must be a whole number/)
  })

  test('the CLI writes no VFIO_CONFORM_* variable (options go to vitest as one object)', () => {
    const dir = path.join(ROOT, 'harness/cli')
    const writes = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        readFileSync(path.join(dir, f), 'utf8')
          .split('\n')
          .map((line, i) => ({ at: `harness/cli/${f}:${i + 1}`, line }))
          .filter(({ line }) => /process\.env(\.VFIO_CONFORM_\w+|\[[^\]]+\])\s*(\?\?|\|\|)?=(?!=)/.test(line)),
      )
    expect(writes.map((w) => `${w.at}: ${w.line.trim()}`)).toEqual([])
  })
})

describe("a suite's main-job share of vIOMMU models (forEachTarget's mainJobIommus)", () => {
  const share = ['intel-iommu'] as const
  test('the main job keeps such a suite to its models, and never drops a guest without a vIOMMU', async () => {
    const { inMainJobShare } = await import('../../harness/vitest/fixtures.js')
    const main = { mainJob: true, iommus: undefined }
    expect(inMainJobShare({ iommu: 'intel-iommu' }, share, main)).toBe(true)
    expect(inMainJobShare({ iommu: 'virtio-iommu' }, share, main)).toBe(false)
    expect(inMainJobShare({ iommu: 'none' }, share, main)).toBe(true)
    expect(inMainJobShare({ iommu: 'virtio-iommu' }, undefined, main)).toBe(true)
  })
  test('npm test (not the main job) and a run that names its models run the suite under every model', async () => {
    const { inMainJobShare } = await import('../../harness/vitest/fixtures.js')
    expect(inMainJobShare({ iommu: 'amd-iommu' }, share, { mainJob: false, iommus: undefined })).toBe(true)
    expect(inMainJobShare({ iommu: 'amd-iommu' }, share, { mainJob: true, iommus: ['amd-iommu'] })).toBe(true)
  })
})

describe("a once-per-kernel suite's guest (forEachTarget oncePerKernel): one per kernel and QEMU", () => {
  const t = (key: string, label: string, qemu: string | undefined, topology = 'default', qemuSpec = qemu ? 'debian:sid' : 'host') =>
    ({ key, kernel: { id: label, label, release: '6.12.118', origin: null }, topology, iommu: 'intel-iommu', qemu, qemuSpec, status: 'not-booted', runDir: '', consoleLog: '', bootSplats: [], modules: { loaded: [], absent: [] } }) as GuestTarget
  // npm test's shape: a kernel on the host's QEMU, then on sid's; another kernel; a dedicated topology first.
  const targets = [
    t('k612/noiommu/none', 'k612', '7.2.22', 'noiommu', 'host'),
    t('k612/default/intel-iommu', 'k612', '7.2.22', 'default', 'host'),
    t('k612/default/virtio-iommu', 'k612', '7.2.22', 'default', 'host'),
    t('k612/default/amd-iommu@qemu-11.1.3', 'k612', '11.1.3'),
    t('k612/default/intel-iommu-sm@qemu-11.1.3', 'k612', '11.1.3'),
    t('k72/default/intel-iommu', 'k72', '7.2.22', 'default', 'host'),
  ]
  test('a kernel on two QEMUs runs it on the first default-topology guest of each', async () => {
    const { isKernelsFirstGuest } = await import('../../harness/vitest/fixtures.js')
    expect(targets.filter((x) => isKernelsFirstGuest(x, false, targets)).map((x) => x.key)).toEqual([
      'k612/default/intel-iommu',
      'k612/default/amd-iommu@qemu-11.1.3',
      'k72/default/intel-iommu',
    ])
  })
  test('a suite QEMU cannot change (qemuIndependent) runs once per kernel, whatever the QEMU', async () => {
    const { isKernelsFirstGuest } = await import('../../harness/vitest/fixtures.js')
    expect(targets.filter((x) => isKernelsFirstGuest(x, true, targets)).map((x) => x.key)).toEqual(['k612/default/intel-iommu', 'k72/default/intel-iommu'])
  })
  test('qemuIndependent: the host-QEMU guest of a kernel runs it even when a newer QEMU\'s guest of that kernel comes first', async () => {
    const { isKernelsFirstGuest } = await import('../../harness/vitest/fixtures.js')
    const newerFirst = [targets[3]!, targets[4]!, targets[1]!, targets[2]!, targets[5]!]
    expect(newerFirst.filter((x) => isKernelsFirstGuest(x, true, newerFirst)).map((x) => x.key)).toEqual(['k612/default/intel-iommu', 'k72/default/intel-iommu'])
    // A kernel only on a newer QEMU: its first guest there.
    const onlyNewer = [targets[3]!, targets[4]!]
    expect(onlyNewer.filter((x) => isKernelsFirstGuest(x, true, onlyNewer)).map((x) => x.key)).toEqual(['k612/default/amd-iommu@qemu-11.1.3'])
  })
  test("a guest whose QEMU version is not known yet is told apart by the spec it asked for", async () => {
    const { isKernelsFirstGuest } = await import('../../harness/vitest/fixtures.js')
    const unresolved = [t('a', 'k', undefined, 'default', 'host'), t('b', 'k', undefined, 'default', 'debian:trixie')]
    expect(unresolved.filter((x) => isKernelsFirstGuest(x, false, unresolved)).map((x) => x.key)).toEqual(['a', 'b'])
  })
})
