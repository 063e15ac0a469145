// Kernel specs from the CLI or VFIO_CONFORM_KERNELS -> KernelBuilds.
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { IOMMU_MODELS, isIommuModel, type IommuModel } from '../../guests/viommus/index.js'
import { qemuSpecProblem } from '../qemu/qemu-spec.js'
import { UsageError } from '../util/errors.js'
import { debianKernel } from './debian.js'
import type { KernelBuild } from './kernel-build.js'
import { mttyFor } from './mtty-out-of-tree.js'
import { pathKernel } from './path-provider.js'
import { debianSourceKernel, sourceKernel } from './source-provider.js'

/**
 * The main job's kernel (`vfio-conform run` without --kernel): a conform build of Debian's
 * current kernel source, named by suite so that it follows Debian (stable is trixie's 6.12
 * today), so that every suite runs: Debian's stock kernels lack IOMMUFD, the device cdev,
 * noiommu and the mtty sample, and half the suites SKIP on them. The stock kernel is one
 * `--kernel debian:stable` away and in the `npm test` set.
 */
export const MAIN_JOB_KERNELS = ['debian-source:stable']

/**
 * The test set on the host's QEMU, for `npm test`: the stock oldstable and stable kernels
 * (legacy group/container path; iommufd and mdev SKIP with the missing option named) and a
 * conform build of stable's 6.12 from Debian's linux-source, which has everything, and its
 * compat variant (iommufd provides /dev/vfio/vfio) under intel-iommu, for the legacy suites;
 * and sid's 7.2 built the same way under intel-iommu: the newest line, whose tree's
 * own iommufd selftests build, so they run too.
 */
export const HOST_QEMU_KERNELS = [
  'debian:bookworm',
  'debian:trixie',
  'debian-source:6.12',
  'debian-source:6.12,compat@intel-iommu',
  'debian-source:7.2@intel-iommu',
]

/**
 * The test set's guests on newer QEMUs, also in `npm test`: the conform 6.12 build under
 * amd-iommu, whose DMA verdicts differ there (suites/known-issues.ts: amd-iommu-*), and under
 * intel-iommu in scalable mode, on sid's QEMU. What they cost: docs/measurements.md. amd-iommu
 * comes first: the suites that run once per kernel and QEMU (forEachTarget oncePerKernel) take
 * the first guest, and the ownership model SKIPs on amd-iommu under 11.1 (its
 * blocked-dma-passes-through limit), so the column adds no model run to `npm test`'s budget;
 * --matrix and CI run it on sid's and trixie's QEMUs under intel-iommu.
 */
export const NEWER_QEMU_KERNELS = [
  'debian-source:6.12@amd-iommu+intel-iommu-sm@qemu=debian:sid',
]

/**
 * SR-IOV and VF tokens (suites/sriov.test.ts, the igb topology: QEMU 8.0+), sid's 7.2 on
 * trixie's QEMU: in --matrix and CI (shards 7 and 11), not in `npm test`. Its suite runs on its
 * one guest alone for about 48 s (every test enables and disables SR-IOV; the kernel's
 * sriov_disable alone sleeps 1 s), which `.ci/run`'s 10 minutes could not hold with margin
 * (measured: docs/measurements.md, "The two budgets").
 */
export const SRIOV_KERNELS = [
  'debian-source:7.2@intel-iommu@qemu=debian:trixie@topology=igb',
  'debian-source:7.2@amd-iommu+virtio-iommu@qemu=debian:trixie@topology=igb',
]

/** The test set, for `npm test`: the host-QEMU columns and the newer-QEMU ones. */
export const DEFAULT_KERNELS = [...HOST_QEMU_KERNELS, ...NEWER_QEMU_KERNELS]
export const TEST_KERNELS = DEFAULT_KERNELS

/**
 * `vfio-conform run --matrix` and CI's shards (ci/matrix.ts): the test set and the wider
 * product of QEMUs x vIOMMU models and modes, each guest once: the rest of the main job's
 * guests, first-stage intel-iommu and virtio-iommu's 64 KiB granule on sid's QEMU, every model
 * and scalable mode on trixie's, and sid's 7.2 in the three intel-iommu modes and the 64 KiB
 * granule on sid's QEMU.
 */
export const MATRIX_KERNELS = [
  ...TEST_KERNELS,
  SRIOV_KERNELS[0]!,
  'debian-source:6.12@intel-iommu+virtio-iommu+none+intel-iommu-fs+virtio-iommu-64k@qemu=debian:sid',
  'debian-source:6.12@intel-iommu+virtio-iommu+amd-iommu+none+intel-iommu-sm@qemu=debian:trixie',
  'debian-source:7.2@intel-iommu+intel-iommu-sm+intel-iommu-fs+virtio-iommu-64k@qemu=debian:sid',
  SRIOV_KERNELS[1]!,
]

/** Specs whose resolution builds a kernel (and so needs the build packages). */
export const isSourceSpec = (entry: string) => /^(source|debian-source):/.test(entry)

export const KERNEL_SPEC_HELP =
  'debian:<suite|version> (e.g. debian:bookworm, debian:6.12), path:<bzImage>[,modules=<dir>][,config=<file>], ' +
  'source:<dir>[,fragment=<file>][,compat][,gcov] or debian-source:<version|suite>[,compat][,gcov] (e.g. debian-source:6.12, debian-source:stable)'

export async function resolveKernel(entry: string): Promise<KernelBuild> {
  const kernel = await providerKernel(splitKernelEntry(entry).spec)
  kernel.mtty ??= await mttyFor(kernel)
  return kernel
}

async function providerKernel(spec: string): Promise<KernelBuild> {
  const i = spec.indexOf(':')
  const kind = i < 0 ? '' : spec.slice(0, i)
  const rest = i < 0 ? '' : spec.slice(i + 1)
  switch (kind) {
    case 'debian':
      return debianKernel(rest)
    case 'path':
      return pathKernel(rest)
    case 'source':
      return sourceKernel(rest)
    case 'debian-source':
      return debianSourceKernel(rest)
    default:
      throw new UsageError(`unknown kernel spec "${spec}": use ${KERNEL_SPEC_HELP}`)
  }
}

export function kernelSpecsFromEnv(fallback: string[]): string[] {
  const env = process.env.VFIO_CONFORM_KERNELS
  return env ? env.split(/[\s;]+/).filter(Boolean) : fallback
}


/**
 * A kernel entry may name the vIOMMU models it runs under, the QEMU that runs it and the
 * topologies it boots: "SPEC@intel-iommu+amd-iommu", "SPEC@qemu=debian:sid",
 * "SPEC@intel-iommu@qemu=debian:sid", "SPEC@qemu=debian:trixie@topology=igb". Without a model
 * list the topology's models apply; without a QEMU the run's (--qemu, default the host's);
 * without topologies the run's (--topology). Exported for unit tests.
 */
export function splitKernelEntry(entry: string): { spec: string; iommus?: IommuModel[]; qemu?: string; topologies?: string[] } {
  let spec = entry
  let iommus: IommuModel[] | undefined
  let qemu: string | undefined
  let topologies: string[] | undefined
  for (;;) {
    const at = spec.lastIndexOf('@')
    if (at < 0) break
    const part = spec.slice(at + 1)
    if (part.startsWith('qemu=') && qemu === undefined && part.length > 5) qemu = part.slice(5)
    else if (part.startsWith('topology=') && topologies === undefined && part.length > 9) topologies = part.slice(9).split('+')
    else {
      const models = part.split('+')
      if (iommus || !models.length || !models.every(isIommuModel)) break
      iommus = models as IommuModel[]
    }
    spec = spec.slice(0, at)
  }
  return { spec, ...(iommus && { iommus }), ...(qemu !== undefined && { qemu }), ...(topologies && { topologies }) }
}

/** The entry again from its parts (splitKernelEntry's inverse). */
export function joinKernelEntry(e: { spec: string; iommus?: readonly string[]; qemu?: string; topologies?: readonly string[] }): string {
  return e.spec + (e.iommus?.length ? '@' + e.iommus.join('+') : '') + (e.qemu ? `@qemu=${e.qemu}` : '') + (e.topologies?.length ? `@topology=${e.topologies.join('+')}` : '')
}

const SPEC_KINDS = ['debian', 'path', 'source', 'debian-source']

/**
 * What is wrong with a kernel entry's syntax (kind, a value after the colon, the vIOMMU
 * suffix), or undefined: checked before anything is fetched. Whether the version exists or
 * the file is a kernel is the provider's to say.
 */
export function kernelSpecProblem(entry: string): string | undefined {
  const i = entry.indexOf(':')
  const kind = i < 0 ? '' : entry.slice(0, i)
  if (!SPEC_KINDS.includes(kind)) return `"${entry}" is not a kernel spec: use ${KERNEL_SPEC_HELP}`
  const { spec, qemu, topologies } = splitKernelEntry(entry)
  const unknown = topologies?.find((t) => !TOPOLOGIES[t])
  if (unknown !== undefined) return `"${entry}": "${unknown}" is not a topology (known: ${Object.keys(TOPOLOGIES).join(', ')})`
  if (qemu !== undefined) {
    const q = qemuSpecProblem(qemu)
    if (q) return `"${entry}": ${q}`
  }
  const at = spec.lastIndexOf('@')
  // "debian:bookworm@foo": a suffix that names no vIOMMU model (paths may hold an "@").
  if (at > i && kind !== 'path' && kind !== 'source') return `"${entry}": "${spec.slice(at + 1)}" is not a vIOMMU model (known: ${IOMMU_MODELS.join(', ')})`
  if (spec.slice(i + 1).split(',')[0]!.trim() === '') return `"${entry}" names no ${kind === 'debian' || kind === 'debian-source' ? 'version or suite' : 'path'}`
  return undefined
}
