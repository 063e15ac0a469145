// A kernel the harness can boot: where its image, modules and config are, and where it came from.
import type { KernelConfig } from './config.js'
import type { GcovBuildInfo } from '../coverage/profile.js'

export interface KernelBuild {
  /** The spec the user gave, normalised (e.g. "debian:6.12.117-1"). */
  id: string
  /** Short, filename-safe label used in test names and log files ("debian-6.12.117-1"). */
  label: string
  /** `uname -r` of the kernel. */
  release: string
  /** Path to the bzImage. */
  bzImage: string
  /** `lib/modules/<release>` directory (with modules.dep), or undefined for a kernel without modules. */
  modulesDir?: string
  /** The kernel's .config, when known on the host (otherwise read from the guest's /proc/config.gz). */
  config?: KernelConfig
  /** A coverage build: where its gcov notes are and what they need (harness/coverage/profile.ts). */
  gcov?: GcovBuildInfo
  /** Where the mdev sample comes from (in tree, built out of tree here) or why there is none. */
  mtty?: MttyAvailability
  origin:
    | { kind: 'debian'; package: string; version: string; suites: string[] }
    | { kind: 'path'; path: string }
    /** Built from a kernel source tree with the project's config fragment(s) (source:, debian-source:). */
    | { kind: 'source'; tree: string; identity: string; fragment: string[]; dropped: string[] }
}

/** Where a kernel's mtty mdev sample comes from (harness/kernel/mtty-out-of-tree.ts), or why it has none. */
export type MttyAvailability =
  /** The kernel's own build has the sample (CONFIG_SAMPLE_VFIO_MDEV_MTTY y or m). */
  | { kind: 'in-tree' }
  /** Built here out of tree; `file` is the .ko, `depends` the module names it needs (modinfo). */
  | { kind: 'out-of-tree'; file: string; depends: string[]; log: string; compiler: string }
  | { kind: 'absent'; reason: string }
