// A kernel the harness can boot: where its image, modules and config are, and where it came from.
import type { KernelConfig } from './config.js'
import type { MttyAvailability } from './mtty-out-of-tree.js'
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
