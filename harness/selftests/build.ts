// The kernel's own selftests for iommufd and VFIO (tools/testing/selftests/iommu and, where
// the tree has it, tools/testing/selftests/vfio), built statically on the host from the very
// source tree the kernel under test was built from, against that tree's uapi headers
// (`make O=... headers`, out of tree like the kernel: the user's tree is never written). The
// binaries are copied into the guest and run there by suites/upstream-selftests.test.ts.
//
// Only kernels built here from source have a tree: for any other kernel, and for a tree whose
// selftests do not build, the suite SKIPs with the reason recorded here (and the build log
// kept). A selftest that does not compile against its own tree is a fact about that tree,
// not a harness failure.
import { execa } from 'execa'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { KernelBuild } from '../kernel/kernel-build.js'
import { cachedDir, cachePath, exists, sha256 } from '../util/cache.js'
import { progress } from '../util/log.js'

/** A selftest directory and the programs of it the suite runs. */
export interface SelftestSpec {
  /** Directory under tools/testing/selftests. */
  dir: string
  /** Programs to run in the guest (others may be built, e.g. iommufd_fail_nth). */
  programs: string[]
  /** Kernel options the programs need; without them the suite SKIPs naming them. */
  needs: string[]
  /** Why some built programs are not run, for the report. */
  note?: string
  /**
   * The programs drive a real PCI device given by BDF (their last argument): the suite hands
   * them the topology's device for this part, bound to vfio-pci. Without it they need none.
   */
  device?: 'singletonGroup'
  /**
   * Helpers a stable tree's selftests call without defining them anywhere in the tree (a
   * backport that took a user of an upstream helper but not the helper): the harness supplies
   * them with `-include`, only to a tree whose sources use the symbol and none defines it, and
   * the report says so. The code is the helper's plain meaning; no test logic is changed.
   */
  shims?: Array<{ symbol: string; code: string; seen: string }>
  /**
   * Programs of the list that a tree may not have yet (the directory grew over releases): a
   * missing one is reported as not in the tree instead of failing the whole directory.
   */
  optional?: boolean
}

export const SELFTESTS: SelftestSpec[] = [
  {
    dir: 'iommu',
    programs: ['iommufd'],
    // The mock domain and mock device come from IOMMUFD_TEST (drivers/iommu/iommufd/selftest.c).
    needs: ['IOMMUFD', 'IOMMUFD_TEST'],
    note: 'iommufd_fail_nth is built but not run: it replays every ioctl path once per injected allocation failure, hours under TCG',
  },
  {
    dir: 'vfio',
    // Each takes the BDF of a vfio-pci device and runs its fixtures in every IOMMU mode the
    // library knows (its FIXTURE_VARIANTs: type1, type1v2, iommufd's compat container,
    // iommufd): the modes the kernel lacks show as the program's own SKIPs or failures.
    // vfio_pci_driver_test needs a device its lib/drivers can drive (7.2: ioat and dsa; newer
    // trees add nv_falcon and igb): with QEMU's edu it SKIPs itself (exit KSFT_SKIP), saying
    // so. Not run: vfio_pci_sriov_uapi_test (needs an SR-IOV PF: QEMU's igb, 8.0+),
    // vfio_dma_mapping_mmio_test and vfio_pci_device_init_perf_test (peer MMIO and
    // performance, nothing about ownership).
    programs: ['vfio_pci_device_test', 'vfio_dma_mapping_test', 'vfio_iommufd_setup_test', 'vfio_pci_driver_test'],
    needs: ['VFIO', 'VFIO_PCI'],
    device: 'singletonGroup',
    optional: true,
    shims: [
      {
        symbol: 'calloc_assert',
        seen: "Debian's 7.2.13: lib/vfio_pci_device.c calls it, no header of the tree declares it",
        code:
          '#include <stdio.h>\n#include <stdlib.h>\n' +
          'static inline void *calloc_assert(size_t n, size_t size)\n' +
          '{\n\tvoid *p = calloc(n, size);\n\tif (!p) { fprintf(stderr, "calloc(%zu, %zu) failed\\n", n, size); exit(1); }\n\treturn p;\n}\n',
      },
    ],
  },
]

export type SelftestBuild =
  | {
      dir: string
      kind: 'built'
      programs: Array<{ name: string; file: string }>
      /** Programs of the spec this tree did not make (an older tree), with why. */
      missing?: Array<{ name: string; reason: string }>
      log: string
      note?: string
    }
  | { dir: string; kind: 'absent'; reason: string; log?: string }

/** Build (or reuse) every selftest directory of SELFTESTS for a kernel. Never throws. */
export async function buildSelftests(kernel: KernelBuild): Promise<SelftestBuild[]> {
  const out: SelftestBuild[] = []
  for (const spec of SELFTESTS) {
    try {
      out.push(await buildOne(kernel, spec))
    } catch (e) {
      out.push({ dir: spec.dir, kind: 'absent', reason: `building tools/testing/selftests/${spec.dir} failed: ${(e as Error).message}` })
    }
  }
  return out
}

async function buildOne(kernel: KernelBuild, spec: SelftestSpec): Promise<SelftestBuild> {
  const origin = kernel.origin
  if (origin.kind !== 'source') {
    return { dir: spec.dir, kind: 'absent', reason: `the kernel's selftests are built from its source tree; ${kernel.id} is a ${origin.kind} kernel (use source: or debian-source:)` }
  }
  const missing = kernel.config?.missing(...spec.needs)
  if (missing) return { dir: spec.dir, kind: 'absent', reason: missing }
  const src = path.join(origin.tree, 'tools/testing/selftests', spec.dir)
  if (!(await exists(path.join(src, 'Makefile')))) {
    return { dir: spec.dir, kind: 'absent', reason: `tools/testing/selftests/${spec.dir} is not in this kernel tree (${kernel.release})` }
  }
  const key = sha256([origin.identity, spec.dir, await readFile(new URL(import.meta.url))]).slice(0, 16)
  const failedLog = cachePath('selftests', `failed-${kernel.label}-${spec.dir}-${key}.log`)
  // A tree whose selftests did not build will not build next time either (same identity).
  const known = await readFile(failedLog + '.reason', 'utf8').catch(() => undefined)
  if (known) return { dir: spec.dir, kind: 'absent', reason: known, log: failedLog }
  let failure: string | undefined
  const { dir } = await cachedDir(cachePath('selftests', `${kernel.label}-${spec.dir}-${key}`), async (tmp) => {
    const obj = path.join(tmp, 'obj')
    const bin = path.join(tmp, 'bin')
    await mkdir(obj, { recursive: true })
    await mkdir(bin, { recursive: true })
    const log: string[] = []
    progress(`selftests ${spec.dir} for ${kernel.id}: uapi headers (make O= headers)`)
    const h = await execa('make', ['-C', origin.tree, `O=${obj}`, 'ARCH=x86_64', 'headers'], { reject: false, all: true })
    log.push(h.all ?? '')
    if (h.exitCode !== 0) failure = `make headers exited ${h.exitCode}: ${lastError(h.all ?? '')}`
    else {
      progress(`selftests ${spec.dir} for ${kernel.id}: building statically`)
      const shims = await neededShims(src, spec.shims ?? [])
      const extra: string[] = []
      if (shims.length) {
        const file = path.join(tmp, 'shims.h')
        await writeFile(file, shims.map((x) => x.code).join('\n'))
        extra.push(`EXTRA_CFLAGS=-include ${file}`)
        progress(`selftests ${spec.dir} for ${kernel.id}: supplying ${shims.map((x) => x.symbol).join(', ')} (used, defined nowhere in the tree)`)
        log.push(`vfio-conform: supplied ${shims.map((x) => `${x.symbol} (${x.seen})`).join(', ')}`)
      }
      const b = await execa('make', ['-C', src, `OUTPUT=${bin}`, `KHDR_INCLUDES=-isystem ${path.join(obj, 'usr/include')}`, 'LDFLAGS=-static', ...extra], {
        reject: false,
        all: true,
      })
      log.push(b.all ?? '')
      if (b.exitCode !== 0) failure = `does not compile against its own tree: ${lastError(b.all ?? '')}`
    }
    await writeFile(path.join(tmp, 'build.log'), log.join('\n'))
    if (failure) {
      await mkdir(path.dirname(failedLog), { recursive: true })
      await writeFile(failedLog, log.join('\n'))
      throw new SelftestBuildFailure(failure)
    }
    await execa('rm', ['-rf', obj])
  }).catch((e) => {
    if (e instanceof SelftestBuildFailure) return { dir: '' }
    throw e
  })
  if (failure || !dir) {
    const reason = `tools/testing/selftests/${spec.dir} of ${kernel.id}: ${failure ?? 'did not build'} (log: ${failedLog})`
    await writeFile(failedLog + '.reason', reason)
    return { dir: spec.dir, kind: 'absent', reason, log: failedLog }
  }
  const programs: Array<{ name: string; file: string }> = []
  const notInTree: Array<{ name: string; reason: string }> = []
  for (const p of spec.programs) {
    const file = path.join(dir, 'bin', p)
    if (await exists(file)) programs.push({ name: p, file })
    else if (spec.optional) notInTree.push({ name: p, reason: `tools/testing/selftests/${spec.dir} of ${kernel.release} has no ${p}` })
    else return { dir: spec.dir, kind: 'absent', reason: `the build of tools/testing/selftests/${spec.dir} made no ${p}` }
  }
  return { dir: spec.dir, kind: 'built', programs, ...(notInTree.length ? { missing: notInTree } : {}), log: path.join(dir, 'build.log'), note: spec.note }
}

class SelftestBuildFailure extends Error {}

/** The shims whose symbol the selftest sources call and no file of them defines or declares. */
async function neededShims(src: string, shims: NonNullable<SelftestSpec['shims']>): Promise<NonNullable<SelftestSpec['shims']>> {
  if (!shims.length) return []
  const files = ((await readdir(src, { recursive: true })) as string[]).filter((f) => /\.[ch]$/.test(f))
  const texts = await Promise.all(files.map((f) => readFile(path.join(src, f), 'utf8')))
  return shims.filter((x) => {
    const call = new RegExp(`\\b${x.symbol}\\s*\\(`)
    // A declaration or definition: a line "<type words> [*]symbol(" (no assignment, no return).
    const defined = new RegExp(`^(?!\\s*return\\b)\\s*[A-Za-z_][\\w ]*[ *]+${x.symbol}\\s*\\(|^\\s*#\\s*define\\s+${x.symbol}\\b`, 'm')
    return texts.some((t) => call.test(t)) && !texts.some((t) => defined.test(t))
  })
}

/** The first compiler error of a build log ("file:line:col: error: ..."), else its last line. */
export function lastError(log: string): string {
  const lines = log.split('\n').map((l) => l.trim()).filter(Boolean)
  return lines.find((l) => /(?:^|\s)(?:fatal )?error:/.test(l)) ?? lines.at(-1) ?? 'no output'
}
