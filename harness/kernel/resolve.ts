// Kernel specs from the CLI or VFIO_CONFORM_KERNELS -> KernelBuilds.
import { UsageError } from '../util/errors.js'
import { debianKernel } from './debian.js'
import type { KernelBuild } from './kernel-build.js'
import { pathKernel } from './path-provider.js'

/** What the main job runs when no kernel is named: Debian's current stable kernel. */
export const DEFAULT_KERNELS = ['debian:stable']
/** What `npm test` runs: the oldstable and stable lines. */
export const TEST_KERNELS = ['debian:bookworm', 'debian:trixie']

export const KERNEL_SPEC_HELP = 'debian:<suite|version> (e.g. debian:bookworm, debian:6.12) or path:<bzImage>[,modules=<dir>][,config=<file>]'

export async function resolveKernel(spec: string): Promise<KernelBuild> {
  const i = spec.indexOf(':')
  const kind = i < 0 ? '' : spec.slice(0, i)
  const rest = i < 0 ? '' : spec.slice(i + 1)
  switch (kind) {
    case 'debian':
      return debianKernel(rest)
    case 'path':
      return pathKernel(rest)
    default:
      throw new UsageError(`unknown kernel spec "${spec}": use ${KERNEL_SPEC_HELP}`)
  }
}

export function kernelSpecsFromEnv(fallback: string[]): string[] {
  const env = process.env.VFIO_CONFORM_KERNELS
  return env ? env.split(/[\s;]+/).filter(Boolean) : fallback
}
