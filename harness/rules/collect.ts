// The suites' tests as vitest collects them, without a kernel, QEMU or guest: the suites are
// imported (their forEachTarget bodies run and declare their tests) but nothing is run.
//
// Test names come from the suite files, and some depend on the guest: forEachTarget declares
// a suite once per (kernel, topology, vIOMMU) target, and groups.test.ts / hotplug.test.ts
// name tests after the topology's groups and slots. So the tests are collected against
// stand-in targets: one per topology of guests/topologies and vIOMMU model it is meant for
// (what a run with the default kernel declares), with the upstream selftests as a kernel
// built from source has them (harness/selftests/build.ts). The conformance project's global
// setup (which boots guests) is not used: the stand-ins are provided to the suites directly.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { ownName } from '../report/verdict.js'
import { SELFTESTS } from '../selftests/build.js'
import type { GuestTarget, RunInfo } from '../vitest/targets.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** The kernel label of the stand-in targets (the first part of their keys). */
export const LIST_KERNEL = 'list'

export interface CollectedTest {
  /** Suite file, relative to the repository root. */
  file: string
  /** The test's own name (after "<kernel>/<topology>/<iommu> > "), as verdicts and registries use it. */
  name: string
  topology: string
  iommu: string
}

/** One stand-in target per topology and vIOMMU model; never booted. */
export function standInTargets(): GuestTarget[] {
  const out: GuestTarget[] = []
  for (const topology of Object.values(TOPOLOGIES)) {
    for (const iommu of topology.iommus) {
      out.push({
        key: `${LIST_KERNEL}/${topology.name}/${iommu}`,
        kernel: { id: LIST_KERNEL, label: LIST_KERNEL, release: LIST_KERNEL, origin: { kind: 'list' } },
        topology: topology.name,
        iommu,
        status: 'skip',
        skipReason: 'collected by `vfio-conform list`, not booted',
        runDir: '/nonexistent',
        consoleLog: '/nonexistent',
        bootSplats: [],
        modules: { loaded: [], absent: [] },
        selftests: SELFTESTS.map((s) => ({
          dir: s.dir,
          kind: 'built' as const,
          programs: s.programs.map((name) => ({ name, file: '/nonexistent' })),
          log: '/nonexistent',
          note: s.note,
        })),
      })
    }
  }
  return out
}

/** Every test the conformance suites declare for the stand-in targets. Throws when a suite fails to load. */
export async function collectSuiteTests(include: string[] = ['suites/**/*.test.ts'], setupFiles: string[] = ['suites/setup.ts']): Promise<CollectedTest[]> {
  const { createVitest } = await import('vitest/node')
  const run: RunInfo = { runDir: '/nonexistent', targets: standInTargets() }
  const byKey = new Map(run.targets.map((t) => [t.key, t]))
  // No config file: the conformance project's global setup would boot guests.
  const vitest = await createVitest('test', { config: false, root: ROOT, include, setupFiles, provide: { vfioConformRun: run }, watch: false, reporters: [] })
  try {
    const { testModules, unhandledErrors } = await vitest.collect()
    const errors = [
      ...unhandledErrors.map((e) => String((e as Error)?.message ?? e)),
      ...testModules.flatMap((m) => m.errors().map((e) => `${path.relative(ROOT, m.moduleId)}: ${e.message}`)),
    ]
    if (errors.length) throw new Error(`collecting the suites' tests failed: ${errors.join('; ')}`)
    const out: CollectedTest[] = []
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const key = t.fullName.split(' > ')[0]!
        const target = byKey.get(key)
        // A test outside forEachTarget's per-guest blocks ("no guest for this suite") is no rule.
        if (!target) continue
        out.push({ file: path.relative(ROOT, m.moduleId), name: ownName(t.fullName), topology: target.topology, iommu: target.iommu })
      }
    }
    return out
  } finally {
    await vitest.close()
  }
}
