// Kernels built from source with the project's config fragment (guests/kconfig/):
//
//   source:<dir>[,fragment=<file>][,compat]
//       a clean kernel tree of the user's (a git checkout or an unpacked tarball). The
//       fragment defaults to guests/kconfig/conform.config; ",compat" adds
//       conform-compat.config (iommufd provides /dev/vfio/vfio).
//   debian-source:<version|suite>[,compat]
//       Debian's linux-source-<major.minor> package (e.g. debian-source:6.12,
//       debian-source:7.2), newest version across the project apt's suites, an exact
//       package version (debian-source:6.12.117-1), or the source of a suite's kernel
//       (debian-source:stable: the main job's kernel, the same tree debian:stable boots).
import { execa } from 'execa'
import { readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { projectApt, type PackageVersion } from '../debian/apt.js'
import { cachedDir, cachePath, exists } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { buildFromSource, COMPAT_FRAGMENT, CONFORM_FRAGMENT, GCOV_FRAGMENT, type SourceBuildRequest, type SourceBuildResult } from './source-build.js'
import { pickDebianVersion } from './debian.js'

export interface SourceSpec {
  dir: string
  fragment?: string
  compat: boolean
  /** The coverage variant (",gcov"): harness/coverage/profile.ts. */
  gcov?: boolean
}

/** Parse the part after "source:". Exported for unit tests. */
export function parseSourceSpec(spec: string): SourceSpec {
  const [dir, ...opts] = spec.split(',')
  if (!dir) throw new UsageError('source: needs a kernel source directory, e.g. source:/src/linux[,fragment=<file>][,compat]')
  const out: SourceSpec = { dir, compat: false }
  for (const o of opts) {
    if (o === 'compat') out.compat = true
    else if (o === 'gcov') out.gcov = true
    else if (o.startsWith('fragment=') && o.length > 'fragment='.length) out.fragment = o.slice('fragment='.length)
    else throw new UsageError(`source: unknown option "${o}" (use fragment=<file>, compat, gcov)`)
  }
  return out
}

export interface DebianSourceSpec {
  /** "6.12": the package is linux-source-6.12 (empty until a suite spec is resolved). */
  series: string
  /** A Debian suite or alias ("stable", "trixie", "sid"): the series of that suite's linux-source. */
  suite?: string
  /** An exact package version, when the spec named one ("6.12.117-1"). */
  version?: string
  compat: boolean
  /** The coverage variant (",gcov"). */
  gcov?: boolean
}

/** Parse the part after "debian-source:". Exported for unit tests. */
export function parseDebianSourceSpec(spec: string): DebianSourceSpec {
  const [ver, ...opts] = spec.split(',')
  const m = /^(\d+\.\d+)([.~-]\S*)?$/.exec(ver ?? '')
  const suite = /^[a-z][a-z-]*$/.test(ver ?? '') ? ver : undefined
  if (!m && !suite) throw new UsageError(`debian-source: needs a kernel version or a Debian suite, e.g. debian-source:6.12, debian-source:7.2 or debian-source:stable (got "${ver ?? ''}")`)
  const out: DebianSourceSpec = m ? { series: m[1]!, compat: false } : { series: '', suite, compat: false }
  if (m?.[2]) out.version = ver
  for (const o of opts) {
    if (o === 'compat') out.compat = true
    else if (o === 'gcov') out.gcov = true
    else throw new UsageError(`debian-source: unknown option "${o}" (use compat, gcov)`)
  }
  return out
}

function fragmentsFor(compat: boolean, fragment?: string, gcov?: boolean): string[] {
  return [fragment ? path.resolve(fragment) : CONFORM_FRAGMENT, ...(compat ? [COMPAT_FRAGMENT] : []), ...(gcov ? [GCOV_FRAGMENT] : [])]
}

/** A directory that looks like a kernel tree (Makefile, Kconfig, arch/x86), else a UsageError. */
export async function assertKernelTree(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined)
  if (!st?.isDirectory()) throw new UsageError(`source: ${dir} is not a directory`)
  for (const p of ['Makefile', 'Kconfig', 'arch/x86']) {
    if (!(await exists(path.join(dir, p)))) throw new UsageError(`source: ${dir} does not look like a Linux kernel tree (no ${p})`)
  }
}

export async function sourceKernel(spec: string): Promise<SourceBuildResult> {
  return buildFromSource(await sourceRequest(spec))
}

export async function debianSourceKernel(spec: string): Promise<SourceBuildResult> {
  return buildFromSource(await debianSourceRequest(spec))
}

/**
 * What to build for a full "source:..." or "debian-source:..." spec (downloading and
 * unpacking Debian's source when needed), without building it. Used by bench/kernel-build.ts.
 */
export async function sourceBuildRequest(spec: string): Promise<SourceBuildRequest> {
  if (spec.startsWith('source:')) return sourceRequest(spec.slice('source:'.length))
  if (spec.startsWith('debian-source:')) return debianSourceRequest(spec.slice('debian-source:'.length))
  throw new UsageError(`not a source kernel spec: "${spec}" (use source:<dir>[,fragment=<file>][,compat] or debian-source:<version>[,compat])`)
}

async function sourceRequest(spec: string): Promise<SourceBuildRequest> {
  const s = parseSourceSpec(spec)
  const dir = path.resolve(s.dir)
  await assertKernelTree(dir)
  const fragments = fragmentsFor(s.compat, s.fragment, s.gcov)
  for (const f of fragments) if (!(await exists(f))) throw new UsageError(`source: config fragment ${f} does not exist`)
  const suffix = (s.fragment ? `,fragment=${path.resolve(s.fragment)}` : '') + (s.compat ? ',compat' : '') + (s.gcov ? ',gcov' : '')
  return {
    tree: dir,
    fragments,
    id: `source:${dir}${suffix}`,
    label: `source-${path.basename(dir)}${s.fragment ? '-' + path.basename(s.fragment).replace(/\.config$/, '') : ''}${s.compat ? '-compat' : ''}${s.gcov ? '-gcov' : ''}`,
    ...(s.gcov ? { gcov: true, seedFrom: fragmentsFor(s.compat, s.fragment) } : {}),
  }
}

/** Pick a linux-source-<series> version. Exported for unit tests. */
export function pickSourceVersion(spec: DebianSourceSpec, versions: PackageVersion[], offered: string[]): PackageVersion {
  const pkg = `linux-source-${spec.series}`
  const list = () => (offered.length ? offered.join(', ') : 'none')
  if (!versions.length) throw new UsageError(`debian-source:${spec.series}: Debian has no ${pkg} (offered: ${list()})`)
  if (!spec.version) return versions[0]!
  const exact = versions.find((v) => v.version === spec.version)
  if (!exact) throw new UsageError(`debian-source:${spec.version}: no such ${pkg} version (offered: ${versions.map((v) => v.version).join(', ')})`)
  return exact
}

/** The linux-source-<series> series Debian offers, from the versions of the linux-source metapackage. */
async function offeredSeries(): Promise<string[]> {
  const meta = await projectApt().versions('linux-source')
  const series = new Set<string>()
  for (const v of meta) {
    const m = /^(\d+\.\d+)/.exec(v.version)
    if (m) series.add(`${m[1]} [${v.suites.join(',')}]`)
  }
  // One line per series, with the suites of its newest version.
  const seen = new Set<string>()
  return [...series].filter((s) => {
    const k = s.split(' ')[0]!
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/**
 * A suite spec ("stable") -> the series and version of the linux-source metapackage in that
 * suite, picked the way `debian:<suite>` picks its kernel (so debian-source:stable builds the
 * source of the kernel debian:stable boots). Exported for unit tests (apt injected).
 */
export async function resolveSourceSuite(
  s: DebianSourceSpec,
  apt: { versions(pkg: string): Promise<PackageVersion[]>; suiteAliases(): Promise<Record<string, string>> },
): Promise<DebianSourceSpec> {
  if (!s.suite) return s
  let v: PackageVersion
  try {
    v = pickDebianVersion(s.suite, await apt.versions('linux-source'), await apt.suiteAliases())
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(e.message.replace(/^debian:/, 'debian-source:').replace(/\bkernel\b/, 'linux-source'))
    throw e
  }
  const series = /^(\d+\.\d+)/.exec(v.version)?.[1]
  if (!series) throw new UsageError(`debian-source:${s.suite}: linux-source ${v.version} names no kernel series`)
  return { series, version: v.version, compat: s.compat, ...(s.gcov ? { gcov: true } : {}) }
}

async function debianSourceRequest(spec: string): Promise<SourceBuildRequest> {
  const apt = projectApt()
  const s = await resolveSourceSuite(parseDebianSourceSpec(spec), apt)
  const pkg = `linux-source-${s.series}`
  const versions = await apt.versions(pkg)
  const picked = pickSourceVersion(s, versions, versions.length ? [] : await offeredSeries())
  const entry = cachePath('kernels', 'debian-source', `${pkg}_${picked.version}`.replace(/[^A-Za-z0-9.+_-]/g, '_'))
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    const debs = await apt.download([{ name: pkg, version: picked.version }], path.join(tmp, 'debs'))
    progress(`kernel debian-source:${picked.version}: unpacking ${pkg} (about a minute)`)
    // The package holds usr/src/linux-source-X.tar.xz: stream it out of the .deb and unpack.
    const tarball = `./usr/src/${pkg}.tar.xz`
    const r = await execa('bash', ['-o', 'pipefail', '-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" | tar -xJ -C "$3"', 'bash', debs[0]!, tarball, tmp], {
      reject: false,
      all: true,
    })
    if (r.exitCode !== 0) throw new HarnessError(`unpacking ${pkg} ${picked.version} failed: ${(r.all ?? '').split('\n').slice(-5).join(' | ')}`)
    await rm(path.join(tmp, 'debs'), { recursive: true, force: true })
    const dirs = (await readdir(tmp, { withFileTypes: true })).filter((d) => d.isDirectory())
    if (dirs.length !== 1) throw new HarnessError(`${pkg} ${picked.version}: expected one tree in the tarball, found ${dirs.map((d) => d.name).join(', ') || 'none'}`)
  })
  if (!built) progress(`kernel debian-source:${picked.version}: source cached at ${dir}`)
  const tree = (await readdir(dir, { withFileTypes: true })).find((d) => d.isDirectory())
  if (!tree) throw new HarnessError(`${dir}: no source tree in the cache entry`)
  const treeDir = path.join(dir, tree.name)
  await assertKernelTree(treeDir)
  const suffix = (s.compat ? ',compat' : '') + (s.gcov ? ',gcov' : '')
  return {
    tree: treeDir,
    // Debian never republishes a version with other content: the package version is the tree.
    identity: `debian:${pkg}=${picked.version}`,
    fragments: fragmentsFor(s.compat, undefined, s.gcov),
    id: `debian-source:${picked.version}${suffix}`,
    label: `debian-source-${picked.version}${s.compat ? '-compat' : ''}${s.gcov ? '-gcov' : ''}`,
    ...(s.gcov ? { gcov: true, seedFrom: fragmentsFor(s.compat) } : {}),
  }
}
