// Which QEMU runs a guest: `--qemu SPEC` (and a kernel entry's "@qemu=SPEC").
//   host                     the host's qemu-system-x86_64 (or VFIO_CONFORM_QEMU); the default
//   debian:<suite|version>   Debian's qemu-system-x86 of that suite (trixie, sid, stable, ...)
//                            or version prefix (10.0, 11.1.3), fetched through the project apt
//                            into the cache and run from a root of that suite's own packages,
//                            never installed (the host's libc is older than the suite's)
//   path:<binary>            a QEMU binary of your own
//
// How a Debian QEMU runs without being installed: the root holds qemu-system-x86's dependency
// closure in that suite (its libc, glib, pixman, ..., and qemu-system-data, seabios, ipxe-qemu
// for the firmware and option ROMs), unpacked with dpkg-deb like a kernel build root
// (../kernel/build-root.ts). A wrapper script in the cache entry starts the binary through the
// root's own dynamic loader with the root's libraries, and points QEMU's firmware search at the
// root (-L: searched before the built-in /usr/share paths, which hold the host's own QEMU's
// files). QEMU loads its modules (accel, display, audio, ...) from the built-in module dir, and
// falls back to it for any module the root lacks: that dir holds the host QEMU's modules, which
// abort a QEMU of another build ("Only modules from the same build can be loaded"). So the
// wrapper runs QEMU in a private mount namespace with the root's module dir bound over the
// built-in one (unshare --mount, as the build roots' chroot does; needs root). Every step is
// exec, so the QEMU process is the one the harness started (its pid, its pdeathsig).
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { projectApt, suiteFamily, type PackageVersion } from '../debian/apt.js'
import { unpackDebs } from '../kernel/build-root.js'
import { cachedDir, cachePath, exists } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { probeQemu, type QemuInfo } from './qemu-binary.js'

export type QemuSpec = { kind: 'host' } | { kind: 'debian'; want: string } | { kind: 'path'; binary: string }

export const QEMU_SPEC_HELP =
  'host (default: qemu-system-x86_64 on PATH, or VFIO_CONFORM_QEMU), debian:<suite|version> (e.g. debian:trixie, debian:sid, debian:10.0: ' +
  "Debian's QEMU fetched through the project apt, run from a root of its suite's packages, not installed), path:<binary>"

/** The Debian package that holds qemu-system-x86_64. */
export const QEMU_PACKAGE = 'qemu-system-x86'

/** Suites a `debian:` QEMU may be named by (besides the aliases stable, testing, unstable, ...). */
const SUITES = ['bookworm', 'trixie', 'forky', 'sid']

export function parseQemuSpec(spec: string): QemuSpec {
  if (spec === 'host') return { kind: 'host' }
  const i = spec.indexOf(':')
  const kind = i < 0 ? spec : spec.slice(0, i)
  const rest = i < 0 ? '' : spec.slice(i + 1)
  if (kind === 'debian' && rest) return { kind: 'debian', want: rest }
  if (kind === 'path' && rest) return { kind: 'path', binary: path.resolve(rest) }
  throw new UsageError(`unknown QEMU spec "${spec}": use ${QEMU_SPEC_HELP}`)
}

/** Why a QEMU spec is not one (undefined: it is); pure, for option checking before anything runs. */
export function qemuSpecProblem(spec: string): string | undefined {
  try {
    parseQemuSpec(spec)
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

/** "1:11.1.3+ds-1" -> "11.1.3+ds-1" (the epoch says nothing to a user). */
export const withoutEpoch = (v: string) => v.replace(/^\d+:/, '')

/** The release family of an apt suite name: "trixie-security" -> "trixie". */
const family = (suite: string) => suite.replace(/-(security|updates|backports|proposed-updates)$/, '')

/**
 * The qemu-system-x86 version a `debian:` spec names and the suite its root is made of: a
 * suite (or alias) gives that suite's newest; a version prefix ("10.0", "11.1.3") the newest
 * version that starts with it. Exported for unit tests.
 */
export function pickDebianQemu(want: string, versions: PackageVersion[], aliases: Record<string, string>): { version: string; suite: string } {
  const offered = () => versions.map((v) => `${withoutEpoch(v.version)} [${[...new Set(v.suites.map(family))].join(',')}]`).join(', ')
  const codename = aliases[want] ?? want
  if (SUITES.includes(codename) || Object.values(aliases).includes(codename)) {
    const v = versions.find((x) => x.suites.some((s) => family(s) === codename))
    if (!v) throw new UsageError(`debian:${want}: no QEMU in Debian ${codename} (offered: ${offered()})`)
    return { version: v.version, suite: codename }
  }
  if (!/^\d+(\.\d+)*$/.test(want)) throw new UsageError(`debian:${want}: not a Debian suite or QEMU version (suites: ${SUITES.join(', ')}, stable, unstable, ...; versions: ${offered()})`)
  const v = versions.find((x) => {
    const bare = withoutEpoch(x.version)
    return bare === want || bare.startsWith(want + '.') || bare.startsWith(want + '+') || bare.startsWith(want + '-')
  })
  if (!v) throw new UsageError(`debian:${want}: no such QEMU version in Debian (offered: ${offered()})`)
  // Newest suite family first in the lists' order is not guaranteed: prefer the oldest family
  // that offers it (its libc is the oldest that runs it).
  const fams = SUITES.filter((s) => v.suites.some((x) => family(x) === s))
  return { version: v.version, suite: fams[0] ?? family(v.suites[0]!) }
}

/** Bump when the layout of a QEMU root entry changes. */
const QEMU_ROOT_LAYOUT = '1'

export function debianQemuEntry(suite: string, version: string): string {
  return cachePath('qemu', `${suite}-${withoutEpoch(version).replace(/[^A-Za-z0-9.+-]/g, '_')}-l${QEMU_ROOT_LAYOUT}`)
}

/**
 * The wrapper that runs the root's QEMU (see the file comment). Relocatable: it finds the
 * root beside itself. Exported for unit tests.
 */
export function wrapperScript(): string {
  return `#!/bin/sh
# Runs this cache entry's QEMU from its root without installing it (harness/qemu/qemu-spec.ts).
R=$(dirname "$(readlink -f "$0")")/../root
LIB="$R/usr/lib/x86_64-linux-gnu"
exec unshare --mount --propagation private sh -c '
  R=$1; LIB=$2; shift 2
  mount --bind "$LIB/qemu" /usr/lib/x86_64-linux-gnu/qemu || exit 125
  exec "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB" "$R/usr/bin/qemu-system-x86_64" \\
    -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" -L "$R/usr/lib/ipxe/qemu" "$@"
' sh "$R" "$LIB" "$@"
`
}

/** Fetch (once) a Debian QEMU into the cache and return its wrapper. */
async function debianQemu(want: string): Promise<string> {
  const apt = projectApt()
  const versions = await apt.versions(QEMU_PACKAGE)
  if (!versions.length) throw new HarnessError(`apt knows no ${QEMU_PACKAGE}: the project apt lists are empty`)
  const { version, suite } = pickDebianQemu(want, versions, await apt.suiteAliases())
  const entry = debianQemuEntry(suite, version)
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    const t0 = Date.now()
    const suites = suiteFamily(suite)
    progress(`QEMU debian:${want}: ${QEMU_PACKAGE} ${withoutEpoch(version)} (${suite}): resolving its packages against ${suites.join(', ')}`)
    const closure = await apt.resolveClosure([`${QEMU_PACKAGE}=${version}`], suites)
    const debs = await apt.download(closure, path.join(tmp, 'debs'), `QEMU ${withoutEpoch(version)}`)
    progress(`QEMU debian:${want}: unpacking ${debs.length} packages`)
    await unpackDebs(debs, path.join(tmp, 'root'))
    await rm(path.join(tmp, 'debs'), { recursive: true, force: true })
    // The bind mount needs its target to exist on the host; an empty dir where the host has no QEMU.
    await mkdir('/usr/lib/x86_64-linux-gnu/qemu', { recursive: true }).catch(() => {})
    await mkdir(path.join(tmp, 'root/usr/lib/x86_64-linux-gnu/qemu'), { recursive: true })
    await mkdir(path.join(tmp, 'bin'), { recursive: true })
    await writeFile(path.join(tmp, 'bin/qemu-system-x86_64'), wrapperScript())
    await chmod(path.join(tmp, 'bin/qemu-system-x86_64'), 0o755)
    const seconds = Math.round((Date.now() - t0) / 1000)
    await writeFile(path.join(tmp, 'manifest.json'), JSON.stringify({ package: QEMU_PACKAGE, version, suite, packages: closure, seconds, made: new Date().toISOString() }, null, 2) + '\n')
  })
  const binary = path.join(dir, 'bin/qemu-system-x86_64')
  if (built) progress(`QEMU debian:${want}: ${withoutEpoch(version)} ready in ${dir}`)
  return binary
}

/** The host's QEMU binary (VFIO_CONFORM_QEMU overrides the name). */
export function hostQemuBinary(): string {
  return process.env.VFIO_CONFORM_QEMU ?? 'qemu-system-x86_64'
}

const bySpec = new Map<string, Promise<QemuInfo>>()

/** The host's QEMU (the default of every run). */
export function qemuInfo(): Promise<QemuInfo> {
  return qemuFor('host')
}

/**
 * The QEMU a spec names, fetched if need be, probed (version, devices, KVM) once per spec.
 * A QEMU that does not run is a UsageError naming the spec.
 */
export function qemuFor(spec = 'host'): Promise<QemuInfo> {
  let p = bySpec.get(spec)
  if (!p) {
    p = (async () => {
      const s = parseQemuSpec(spec)
      const binary = s.kind === 'host' ? hostQemuBinary() : s.kind === 'path' ? s.binary : await debianQemu(s.want)
      if (s.kind === 'path' && !(await exists(binary))) throw new UsageError(`--qemu ${spec}: no such file`)
      return { ...(await probeQemu(binary)), spec }
    })()
    bySpec.set(spec, p)
    p.catch(() => bySpec.delete(spec))
  }
  return p
}

/**
 * The suffix a guest's identity gets for its QEMU: none for the host's (the reference every
 * earlier result was made with), "@qemu-<version>" otherwise (so that guests of one kernel on
 * two QEMUs are two columns, and a test name says which QEMU it ran on).
 */
export function qemuKeySuffix(q: Pick<QemuInfo, 'spec' | 'version'>): string {
  return q.spec === 'host' ? '' : `@qemu-${q.version}`
}

export interface QemuOffer {
  spec: string
  version: string
  suites: string[]
  /** Where it is: the host binary's path, or the cache entry when fetched already. */
  cached?: string
}

/** What `vfio-conform qemus` lists: the host's QEMU and every Debian QEMU the project apt offers. */
export async function availableQemus(): Promise<{ host?: QemuInfo; hostError?: string; debian: QemuOffer[] }> {
  let host: QemuInfo | undefined
  let hostError: string | undefined
  try {
    host = await qemuFor('host')
  } catch (e) {
    hostError = (e as Error).message
  }
  const apt = projectApt()
  const versions = await apt.versions(QEMU_PACKAGE)
  const debian: QemuOffer[] = []
  const named = new Set<string>()
  for (const v of versions) {
    const fams = [...new Set(v.suites.map(family))]
    const suite = SUITES.find((s) => fams.includes(s)) ?? fams[0]!
    // The newest version of a suite is named by the suite, the others by their version.
    const spec = named.has(suite) ? `debian:${withoutEpoch(v.version).replace(/[+~-].*$/, '')}` : `debian:${suite}`
    named.add(suite)
    const entry = debianQemuEntry(suite, v.version)
    debian.push({ spec, version: withoutEpoch(v.version), suites: v.suites, cached: (await exists(path.join(entry, '.complete'))) ? entry : undefined })
  }
  return { host, hostError, debian }
}
