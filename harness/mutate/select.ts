// Which sites the sweep tries and which tests it runs for each.
//
// Tests: per source file, the suite files whose rules go through that file (below), until
// per-test coverage data says which tests reach which line; with coverage data a site no
// test reaches is "no-test" without a build.
import { type Site } from './sites.js'

/** The six files whose every site the sweep tries by default. */
export const CORE_FILES = [
  'drivers/vfio/group.c',
  'drivers/vfio/container.c',
  'drivers/vfio/vfio_main.c',
  'drivers/vfio/device_cdev.c',
  'drivers/vfio/iommufd.c',
  'drivers/vfio/vfio_iommu_type1.c',
]

/** Files sampled by default ("GLOB=N": N sites of the files matching GLOB, seeded). */
export const DEFAULT_SAMPLES = ['drivers/vfio/pci/vfio_pci_core.c=20', 'drivers/iommu/iommufd/*.c=40']

/** Files of drivers/iommu/iommufd that are not product code (the mock domain of IOMMUFD_TEST). */
export const NOT_PRODUCT = ['drivers/iommu/iommufd/selftest.c']

/**
 * Suites whose tests go through each source file (the rule's path: group/container ioctls,
 * device cdev and iommufd binding, type1 DMA, the vfio-pci device). Order: the suites that
 * fail fastest on a broken rule first.
 */
export const SUITES_BY_FILE: Array<{ glob: string; suites: string[] }> = [
  { glob: 'drivers/vfio/group.c', suites: ['legacy-group', 'groups', 'privileges', 'iommufd-cdev', 'argument-checks', 'ownership-model'] },
  { glob: 'drivers/vfio/container.c', suites: ['legacy-group', 'dma-isolation', 'privileges', 'argument-checks', 'ownership-model'] },
  { glob: 'drivers/vfio/vfio_main.c', suites: ['legacy-group', 'iommufd-cdev', 'mdev', 'cdev-mdev-smoke', 'privileges', 'ownership-model'] },
  { glob: 'drivers/vfio/device_cdev.c', suites: ['iommufd-cdev', 'cdev-mdev-smoke', 'privileges', 'ownership-model'] },
  { glob: 'drivers/vfio/iommufd.c', suites: ['iommufd-cdev', 'cdev-mdev-smoke', 'dma-isolation', 'ownership-model'] },
  { glob: 'drivers/vfio/vfio_iommu_type1.c', suites: ['legacy-group', 'dma-isolation', 'mdev', 'argument-checks', 'memlock-accounting', 'ownership-model'] },
  { glob: 'drivers/vfio/pci/**', suites: ['legacy-group', 'iommufd-cdev', 'dma-isolation', 'argument-checks'] },
  { glob: 'drivers/vfio/mdev/**', suites: ['mdev', 'cdev-mdev-smoke'] },
  { glob: 'drivers/iommu/iommufd/**', suites: ['iommufd-cdev', 'dma-isolation', 'cdev-mdev-smoke', 'privileges', 'argument-checks', 'memlock-accounting', 'ownership-model'] },
]

/** Every suite that runs under one intel-iommu guest of the default topology (the fallback). */
export const ALL_SUITES = ['legacy-group', 'groups', 'iommufd-cdev', 'dma-isolation', 'mdev', 'cdev-mdev-smoke', 'privileges', 'argument-checks', 'memlock-accounting', 'resets', 'hotplug', 'ownership-model']

/** The suites that run on the noiommu topology's guest (each dedicated to it: forEachTarget's dedicatedTo). */
export const NOIOMMU_SUITES = ['noiommu', 'resets']

/** A guest the sweep runs a site's tests on; its baseline runs every suite that runs there. */
export interface SweepGuest {
  /** "topology/iommu", as coverage.json names a test's guest without its kernel. */
  key: string
  topology: string
  iommu: string
  suites: string[]
}

/**
 * The sweep's guests: one intel-iommu guest of the default topology (most sites), and the
 * noiommu topology's guest for the sites only its tests reach (VFIO's no-IOMMU mode:
 * vfio_noiommu_open, the CAP_SYS_RAWIO checks of no-IOMMU groups).
 */
export const SWEEP_GUESTS: SweepGuest[] = [
  { key: 'default/intel-iommu', topology: 'default', iommu: 'intel-iommu', suites: ALL_SUITES },
  { key: 'noiommu/none', topology: 'noiommu', iommu: 'none', suites: NOIOMMU_SUITES },
]
export const INTEL_GUEST = SWEEP_GUESTS[0]!

/** The sweep's main guest with another vIOMMU model (`mutate --iommu`): the default topology's. */
export function mainGuest(iommu = INTEL_GUEST.iommu): SweepGuest {
  return iommu === INTEL_GUEST.iommu ? INTEL_GUEST : { key: `default/${iommu}`, topology: 'default', iommu, suites: ALL_SUITES }
}

/**
 * The guest for a site's tests (by coverage: the guests its reaching tests ran on): the main
 * guest when a test ran there; else a dedicated topology's guest (noiommu) when one ran
 * there; else the main guest with every reaching test (those of the default topology's
 * other vIOMMU models exist there by name too).
 */
export function guestFor(byGuest: Record<string, { suites: string[]; tests: string[] }> | undefined, main: SweepGuest = INTEL_GUEST): SweepGuest {
  if (!byGuest || byGuest[main.key]) return main
  return SWEEP_GUESTS.find((g) => g.topology !== 'default' && byGuest[g.key]) ?? main
}

/**
 * Tests the sweep never runs: on a busy 2-core TCG host they wait for a fault line that comes
 * late and fail on the unmutated kernel now and then (seen 2026-12-07 at load 20+), so a FAIL
 * of theirs on a mutant proves nothing. ci/mutations' iotlb-flush patch covers their rule.
 */
export const SWEEP_EXCLUDED_TESTS = ['type1: a read-only mapping refuses device writes (fault logged) and allows device reads', 'iommufd: a read-only mapping refuses device writes (fault logged) and allows device reads']

export function suitesFor(file: string): string[] {
  return SUITES_BY_FILE.find((s) => globToRegExp(s.glob).test(file))?.suites ?? ALL_SUITES
}

/** `*` matches within a path component, `**` across them, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*'
      i++
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** A site matches a glob by its file ("drivers/vfio/group.c") or its id ("drivers/vfio/group.c:417"). */
export function siteMatches(site: Site, glob: string): boolean {
  const re = globToRegExp(glob)
  return re.test(site.file) || re.test(site.id)
}

/** The files a glob list can name (globs of sites reduced to their file part). */
export function fileGlobs(globs: string[]): RegExp[] {
  return globs.map((g) => globToRegExp(g.replace(/:[^/]*$/, '')))
}

/** Deterministic PRNG (mulberry32) for the seeded sample. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** n of the sites, chosen by a seeded shuffle (same seed, same sites), kept in file order. */
export function sample<T>(items: T[], n: number, seed: number): T[] {
  if (n >= items.length) return [...items]
  const r = rng(seed)
  const idx = items.map((_, i) => i)
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    ;[idx[i], idx[j]] = [idx[j]!, idx[i]!]
  }
  return idx
    .slice(0, n)
    .sort((a, b) => a - b)
    .map((i) => items[i]!)
}

/** "GLOB=N" -> { glob, n }. */
export function parseSampleSpec(spec: string): { glob: string; n: number } {
  const m = /^(.+)=(\d+)$/.exec(spec)
  if (!m) throw new Error(`--sample takes GLOB=N (e.g. 'drivers/iommu/iommufd/*.c=40'), not "${spec}"`)
  return { glob: m[1]!, n: Number(m[2]) }
}
