// A GuestTarget is one booted (or failed) guest as the suites see it: a (kernel, topology,
// vIOMMU) combination. Global setup creates them; it hands them to the test workers as
// plain data (vitest's provide/inject), so everything here must serialise.
import type { IommuModel } from '../../guests/topologies/types.js'
import type { BootTimes } from '../guest/guest.js'
import type { Splat } from '../guest/splats.js'
import { KernelConfig } from '../kernel/config.js'
import type { SelftestBuild } from '../selftests/build.js'
import type { GcovBuildInfo } from '../coverage/profile.js'

export interface GuestTarget {
  /** "debian-6.12.117-1/default/intel-iommu": part of every test name. */
  key: string
  /** `gcov`: a coverage build; the guest fixture collects its counters around each test (harness/coverage/collect.ts). */
  kernel: { id: string; label: string; release: string; origin: unknown; gcov?: GcovBuildInfo }
  topology: string
  iommu: IommuModel
  /**
   * 'not-booted': planned, booted when a test first needs it (fixtures.ts, ensureBooted); a
   * guest no selected test needed stays so in targets.json.
   */
  status: 'not-booted' | 'ready' | 'error' | 'skip'
  /** Why the guest is unusable (status 'error'); tests on it report ERROR with this. */
  error?: string
  /** Why the guest was not booted (status 'skip'), e.g. the kernel cannot drive the vIOMMU. */
  skipReason?: string
  /**
   * Why the booted guest can translate no DMA (harness/qemu/args.ts granuleUnusable): every
   * test SKIPs with it except the one that checks it (UNUSABLE_CHECK).
   */
  unusable?: string
  errorDetail?: string
  accel?: 'kvm' | 'tcg'
  /** QEMU version that ran the guest ("7.2.22"): emulation bugs are version-bound. */
  qemu?: string
  /** The QEMU spec it was asked for ("host", "debian:sid", "path:..."; harness/qemu/qemu-spec.ts). */
  qemuSpec?: string
  ssh?: { port: number; clientPrivate: string; hostKeyBlob: string }
  runDir: string
  consoleLog: string
  times?: BootTimes
  bootSplats: Splat[]
  /** Kernel config entries (name without CONFIG_ -> value), when known. */
  config?: Array<[string, string]>
  modules: { loaded: string[]; absent: string[] }
  /** The kernel's own selftests, built from its tree, or why there are none (harness/selftests/build.ts). */
  selftests?: SelftestBuild[]
  /** Where the kernel's mtty comes from, or why it has none (the mdev tests SKIP with it). */
  mtty?: { kind: 'in-tree' | 'out-of-tree' | 'absent'; reason?: string; compiler?: string }
}

/** The name of the test that checks a guest's `unusable` reason (suites/boot.test.ts); it alone runs there. */
export const UNUSABLE_CHECK = "the vIOMMU's granule is larger than the guest's pages: no PCI device has an IOMMU group or a vfio-pci driver"

export function targetConfig(t: GuestTarget): KernelConfig | undefined {
  return t.config ? new KernelConfig(new Map(t.config)) : undefined
}

export interface RunInfo {
  runDir: string
  targets: GuestTarget[]
  /** Unix socket of the guests' supervisor (harness/guest/supervisor.ts), in global setup's process. */
  supervisorSocket?: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    vfioConformRun: RunInfo
  }
}
