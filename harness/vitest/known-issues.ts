// Known, understood divergences (a vIOMMU model that cannot do something, a kernel range with
// a known bug): one typed list (suites/known-issues.ts), never a silent skip list. A test a
// known issue applies to still runs; its failure reports XFAIL with the reason and reference,
// and its passing reports XPASS as a failure, loudly, so that a stale entry is noticed.
import type {} from 'vitest' // the TaskMeta augmentation below needs vitest's types loaded, whoever imports this first
import type { IommuModel } from '../../guests/topologies/types.js'
import { VIOMMUS, type ViommuLimit } from '../../guests/viommus/index.js'
import { isHarnessErrorLike } from '../util/errors.js'
import type { GuestTarget } from './targets.js'

export interface KnownIssue {
  /** Short stable id, e.g. "virtio-iommu-bridged-probe". */
  id: string
  /** Matched against the test's own name (without the kernel/topology/vIOMMU prefix). */
  test: RegExp
  /** Where the issue applies; every given field must match. */
  where: {
    iommu?: IommuModel[]
    /** Matched against the kernel id ("debian:6.12.118-1", "debian-source:6.12.118-1") and release. */
    kernel?: RegExp
    topology?: string[]
    /** Options that must all be enabled (y/m) in the kernel's config. */
    config?: string[]
    /** Options that must all be unset. */
    configUnset?: string[]
    /** Options that must all be built in (=y), e.g. where a module would change probe order. */
    configBuiltin?: string[]
    /**
     * The QEMU versions it holds on (major * 100 + minor, `to` exclusive), for a QEMU limit:
     * on a QEMU outside the range the test runs as a normal test.
     */
    qemu?: { from?: number; to?: number }
  }
  /**
   * Whose limit it is: the kernel's (a report for its maintainers: docs/findings.md) or QEMU's
   * (with `where.qemu`, the versions it was seen on, and `ref` citing QEMU's source).
   */
  owner: 'kernel' | 'qemu'
  /** What diverges and why, in a sentence a reviewer can check. */
  reason: string
  /** Where it is understood: a kernel function, commit, list thread or QEMU limitation. */
  ref: string
}

export interface KnownIssueMeta {
  id: string
  verdict: 'XFAIL' | 'XPASS'
  reason: string
  ref: string
  /** The failure an XFAIL swallowed (first line). */
  failure?: string
}

declare module 'vitest' {
  interface TaskMeta {
    knownIssue?: KnownIssueMeta
  }
}

/** Whether a QEMU version ("11.1.3") is in a known issue's range; an unknown version is not. */
export function inQemuRange(r: { from?: number; to?: number }, version: string | undefined): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '')
  if (!m) return false
  const v = Number(m[1]) * 100 + Number(m[2])
  return (r.from === undefined || v >= r.from) && (r.to === undefined || v < r.to)
}

/**
 * The vIOMMU record's limit named `key` (guests/viommus/) when it holds on this guest's QEMU:
 * for a suite that must not do what the limit makes harmful (a DMA that would land in guest
 * memory), and SKIPs naming it.
 */
export function qemuLimit(target: Pick<GuestTarget, 'iommu' | 'qemu'>, key: string): ViommuLimit | undefined {
  return VIOMMUS[target.iommu]?.limits.find((l) => l.key === key && l.owner === 'qemu' && l.qemu && inQemuRange(l.qemu, target.qemu))
}

export function matchKnownIssue(list: KnownIssue[], target: GuestTarget, testName: string): KnownIssue | undefined {
  const config = new Map(target.config ?? [])
  const on = (o: string) => ['y', 'm'].includes(config.get(o.replace(/^CONFIG_/, '')) ?? 'n')
  return list.find((k) => {
    const w = k.where
    if (!k.test.test(testName)) return false
    if (w.iommu && !w.iommu.includes(target.iommu)) return false
    if (w.topology && !w.topology.includes(target.topology)) return false
    if (w.kernel && !w.kernel.test(target.kernel.id) && !w.kernel.test(target.kernel.release)) return false
    if (w.config && !w.config.every(on)) return false
    if (w.configUnset && w.configUnset.some(on)) return false
    if (w.configBuiltin && !w.configBuiltin.every((o) => config.get(o.replace(/^CONFIG_/, '')) === 'y')) return false
    if (w.qemu && !inQemuRange(w.qemu, target.qemu)) return false
    return true
  })
}

type TestFn = (...args: any[]) => unknown
interface TaskContext {
  task: { name: string; meta: { knownIssue?: KnownIssueMeta } }
  annotate?: (message: string) => Promise<unknown>
}

/**
 * Wrap a test body so that a matching known issue turns its failure into XFAIL and its
 * success into an XPASS failure. Harness errors stay errors (an ERROR is never an XFAIL).
 * `ctxIndex` is where the test context is among the body's arguments (1 for test.for).
 * The wrapper shows vitest the body's own source, which is how vitest sees which fixtures
 * the body destructures.
 */
export function withKnownIssue(fn: TestFn, list: KnownIssue[], target: GuestTarget, ctxIndex = 0): TestFn {
  const wrapped = async function (this: unknown, ...args: unknown[]) {
    const ctx = args[ctxIndex] as TaskContext
    const ki = matchKnownIssue(list, target, ctx.task.name)
    if (!ki) return fn.apply(this, args)
    let failure: unknown
    try {
      await fn.apply(this, args)
    } catch (e) {
      failure = e
    }
    const base = { id: ki.id, reason: ki.reason, ref: ki.ref }
    if (failure !== undefined) {
      // A SKIP (vitest's PendingError) and a harness ERROR are not kernel results.
      if (isHarnessErrorLike(failure as Error) || (failure as { code?: string })?.code === 'VITEST_PENDING') throw failure
      const first = String((failure as Error)?.message ?? failure).split('\n')[0]
      ctx.task.meta.knownIssue = { ...base, verdict: 'XFAIL', failure: first }
      await ctx.annotate?.(`XFAIL (${ki.id}): ${ki.reason} [${ki.ref}] — failed as known: ${first}`)
      return
    }
    ctx.task.meta.knownIssue = { ...base, verdict: 'XPASS' }
    throw new Error(`XPASS: known issue "${ki.id}" no longer reproduces here (${ki.reason}; ${ki.ref}). Narrow or remove it in suites/known-issues.ts.`)
  }
  wrapped.toString = () => fn.toString()
  return wrapped
}

/**
 * A vitest test API whose test bodies go through withKnownIssue, including APIs derived from
 * it with .extend / .skipIf / .runIf / .only / .skip / .concurrent / .sequential, and .for.
 */
export function knownIssueTestApi<T extends object>(api: T, list: KnownIssue[], target: GuestTarget): T {
  const wrapArgs = (args: unknown[], ctxIndex: number) => {
    const i = args.findIndex((a) => typeof a === 'function')
    if (i < 0) return args
    const out = [...args]
    out[i] = withKnownIssue(args[i] as TestFn, list, target, ctxIndex)
    return out
  }
  return new Proxy(api, {
    apply(fn, thisArg, args: unknown[]) {
      return Reflect.apply(fn as TestFn, thisArg, wrapArgs(args, 0))
    },
    get(obj, prop, recv) {
      const v = Reflect.get(obj, prop, recv)
      if (typeof v !== 'function' && !(typeof v === 'object' && v !== null && typeof prop === 'string' && ['only', 'skip', 'concurrent', 'sequential', 'fails'].includes(prop))) return v
      switch (prop) {
        case 'extend':
        case 'skipIf':
        case 'runIf':
          return (...a: unknown[]) => knownIssueTestApi((v as TestFn).apply(obj, a) as object, list, target)
        case 'only':
        case 'skip':
        case 'concurrent':
        case 'sequential':
          return knownIssueTestApi(v as object, list, target)
        case 'for':
          return (cases: unknown) => {
            const inner = (v as TestFn).call(obj, cases) as TestFn
            return (...a: unknown[]) => inner(...wrapArgs(a, 1))
          }
        default:
          return typeof v === 'function' ? (v as TestFn).bind(obj) : v
      }
    },
  })
}
