// Kernel versions from `uname -r` strings ("6.1.0-56-amd64", "6.12.118+deb13-amd64",
// "7.3.0-rc7"), for expectations that changed in a given release.

export interface KernelVersion {
  major: number
  minor: number
}

export function parseKernelRelease(release: string): KernelVersion | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release)
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined
}

/** True when `release` is at least major.minor; false when it cannot be read. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const v = parseKernelRelease(release)
  return !!v && (v.major > major || (v.major === major && v.minor >= minor))
}
