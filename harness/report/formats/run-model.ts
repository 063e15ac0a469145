// A finished run as the report formats walk it: kernel -> guest target (topology, vIOMMU) ->
// suite file -> test, plus the unit tests and what fits nowhere. Built once from
// readRunResults(); every format renders the same tree, so they agree on grouping and order.
//
// Order: kernels and targets as in targets.json (the run's plan), then any only the verdicts
// name (targets.json missing or partial); suites and tests in verdict order.
import { splitTestName, type RunTarget } from '../../claims/evaluate.js'
import type { RunResults } from '../../claims/results.js'
import type { KernelBuild } from '../../kernel/kernel-build.js'
import type { TestVerdict } from '../verdict.js'

export type KernelOrigin = KernelBuild['origin']

/** The targets.json fields the reports use (RunTarget has only what the claims need). */
export interface ReportTarget {
  key: string
  topology: string
  iommu: string
  status?: string
  error?: string
  skipReason?: string
  accel?: string
  /** QEMU version that ran the guest. */
  qemu?: string
  /** The QEMU spec it was asked for ("host", "debian:sid", ...). */
  qemuSpec?: string
  /** Absolute path of the guest's serial console log. */
  consoleLog?: string
}

export interface TestEntry {
  /** The test's own name, without the target key. */
  test: string
  verdict: TestVerdict
}

export interface SuiteGroup {
  /** Suite file relative to the repository root. */
  file: string
  tests: TestEntry[]
}

export interface TargetGroup {
  key: string
  topology: string
  iommu: string
  /** Absent when only the verdicts name this target. */
  target?: ReportTarget
  suites: SuiteGroup[]
}

export interface KernelGroup {
  label: string
  id?: string
  release?: string
  /** Where the kernel came from; absent when it could not be resolved or targets.json is missing. */
  origin?: KernelOrigin
  targets: TargetGroup[]
}

export interface RunModel {
  /** Results directory (absolute). */
  dir: string
  unit: SuiteGroup[]
  kernels: KernelGroup[]
  /** Conformance verdicts whose name carries no target key ("no guest > ..."). */
  unplaced: SuiteGroup[]
  runErrors: string[]
}

export function runModel(run: RunResults): RunModel {
  const kernels = new Map<string, KernelGroup>()
  const targets = new Map<string, TargetGroup>()
  const kernelOf = (label: string) => {
    let k = kernels.get(label)
    if (!k) kernels.set(label, (k = { label, targets: [] }))
    return k
  }
  const targetOf = (label: string, key: string, topology: string, iommu: string) => {
    let t = targets.get(key)
    if (!t) {
      t = { key, topology, iommu, suites: [] }
      targets.set(key, t)
      kernelOf(label).targets.push(t)
    }
    return t
  }

  for (const raw of run.targets) {
    // targets.json is read from disk unchecked: skip an entry that names no guest.
    if (typeof raw?.key !== 'string' || typeof raw.kernel?.label !== 'string') continue
    const k = kernelOf(raw.kernel.label)
    k.id ??= raw.kernel.id
    k.release ??= raw.kernel.release && raw.kernel.release !== '?' ? raw.kernel.release : undefined
    k.origin ??= kernelOrigin((raw.kernel as { origin?: unknown }).origin)
    targetOf(raw.kernel.label, raw.key, raw.topology, raw.iommu).target = reportTarget(raw)
  }

  const unit: SuiteGroup[] = []
  const unplaced: SuiteGroup[] = []
  for (const v of run.verdicts) {
    if (v.project === 'unit') {
      suiteOf(unit, v.file).tests.push({ test: v.name, verdict: v })
      continue
    }
    const s = splitTestName(v.name)
    if (!s) {
      suiteOf(unplaced, v.file).tests.push({ test: v.name, verdict: v })
      continue
    }
    suiteOf(targetOf(s.label, s.key, s.topology, s.iommu).suites, v.file).tests.push({ test: s.test, verdict: v })
  }
  return { dir: run.dir, unit, kernels: [...kernels.values()], unplaced, runErrors: run.runErrors }
}

/** Every verdict of a group of suites, in order. */
export function verdictsOf(suites: SuiteGroup[]): TestVerdict[] {
  return suites.flatMap((s) => s.tests.map((t) => t.verdict))
}

function suiteOf(suites: SuiteGroup[], file: string): SuiteGroup {
  let s = suites.find((x) => x.file === file)
  if (!s) suites.push((s = { file, tests: [] }))
  return s
}

// targets.json is data from disk: take the optional fields only when they have the right type.
function reportTarget(t: RunTarget): ReportTarget {
  const raw = t as RunTarget & Record<string, unknown>
  const str = (k: string) => (typeof raw[k] === 'string' ? (raw[k] as string) : undefined)
  return {
    key: t.key,
    topology: t.topology,
    iommu: t.iommu,
    status: str('status'),
    error: str('error'),
    skipReason: str('skipReason'),
    accel: str('accel'),
    qemu: str('qemu'),
    qemuSpec: str('qemuSpec'),
    consoleLog: str('consoleLog'),
  }
}

function kernelOrigin(o: unknown): KernelOrigin | undefined {
  if (!o || typeof o !== 'object') return undefined
  const r = o as Record<string, unknown>
  const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((e) => typeof e === 'string')
  switch (r.kind) {
    case 'debian':
      return typeof r.package === 'string' && typeof r.version === 'string' && isStrings(r.suites)
        ? { kind: 'debian', package: r.package, version: r.version, suites: r.suites }
        : undefined
    case 'path':
      return typeof r.path === 'string' ? { kind: 'path', path: r.path } : undefined
    case 'source':
      return typeof r.tree === 'string' && typeof r.identity === 'string' && isStrings(r.fragment) && isStrings(r.dropped)
        ? { kind: 'source', tree: r.tree, identity: r.identity, fragment: r.fragment, dropped: r.dropped }
        : undefined
    default:
      return undefined
  }
}
