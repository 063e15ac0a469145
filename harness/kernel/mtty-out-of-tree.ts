// Where a kernel's mtty (samples/vfio-mdev/mtty.c, the mdev sample the mdev suites drive)
// comes from. Conform builds have it in tree (CONFIG_SAMPLE_VFIO_MDEV_MTTY). Stock Debian
// kernels have VFIO_MDEV but no SAMPLES, so for them mtty is built out of tree: mtty.c from
// Debian's linux-source package of the same version, against the linux-headers package of
// that kernel, always with the compiler the kernel was built with (CONFIG_CC_VERSION_TEXT).
// A different compiler is never used: the headers' auto.conf describes the kernel's compiler
// (CONFIG_GCC_VERSION, CONFIG_CC_HAS_*), so another gcc gets flags it does not know or lacks
// ones the kernel relies on, and the packaged objtool/modpost/fixdep (linux-kbuild-<ver>)
// need the glibc of the kernel's suite; making that work needs config overrides and rebuilt
// tools (for 6.12 with gcc-12: CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= and
// CONFIG_DEBUG_INFO_BTF_MODULES= on the make line, objtool and modpost rebuilt from the same
// source), and a kernel must never claim mdev coverage resting on that.
// So:
// - the host has the kernel's compiler (bookworm host, 6.1 kernel, gcc-12): build on the host
//   against the extracted headers;
// - it does not (6.12: trixie's gcc-14; 7.x: sid's gcc-16): build inside a throwaway build root
//   made of that suite's own packages (./build-root.ts), entered with chroot, where the
//   compiler, glibc and the kernel's packaged Kbuild tools are exactly what Debian built with.
// A package that cannot be had (not in the archive, download failed) or a failed build leaves
// mtty absent with the reason (package named, or the build log's tail) and the mdev tests SKIP.
import { execa } from 'execa'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MissingPackageError, projectApt } from '../debian/apt.js'
import { cachedDir, cachePath, exists, sha256 } from '../util/cache.js'
import { HARNESS_ERROR_TAG } from '../util/errors.js'
import { progress } from '../util/log.js'
import {
  BUILD_ROOT_LAYOUT,
  buildRootSpec,
  buildRootSuite,
  cloneRoot,
  ensureBuildRoot,
  headerIncludes,
  kernelHeaderPackages,
  moduleBuildPlan,
  unpackDebs,
  type BuildRootApt,
} from './build-root.js'
import type { KernelBuild, MttyAvailability } from './kernel-build.js'

export type { MttyAvailability }

/**
 * The compiler a kernel was built with, from CONFIG_CC_VERSION_TEXT: "gcc-12 (Debian
 * 12.2.0-14+deb12u1) 12.2.0" or "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0" -> the
 * Debian command name ("gcc-12", "gcc-14") and the version; undefined for another compiler
 * (clang). Exported for unit tests.
 */
export function kernelCompiler(ccVersionText: string): { command: string; version: string } | undefined {
  const m = /^(?:[\w-]+-linux-gnu-)?(gcc)(?:-(\d+))? \([^)]*\) (\d+\.\d+(?:\.\d+)?)/.exec(ccVersionText.trim())
  if (!m) return undefined
  const major = m[2] ?? m[3]!.split('.')[0]
  return { command: `${m[1]}-${major}`, version: m[3]! }
}

/** What mttyFor reaches outside itself; injected by unit tests (no apt, no host compiler). */
export interface MttyDeps {
  apt: BuildRootApt
  /** First line of `<command> --version` on the host, undefined when the host has no such command. */
  hostCompiler(command: string): Promise<string | undefined>
  /** Whether this process may chroot, mknod and mount (a build root needs it). */
  isRoot(): boolean
}

async function hostCompiler(command: string): Promise<string | undefined> {
  const r = await execa(command, ['--version'], { reject: false })
  return r.exitCode === 0 ? r.stdout.split('\n')[0]! : undefined
}

/** How a kernel gets its mtty; builds it out of tree for a Debian kernel when it can. */
export async function mttyFor(kernel: KernelBuild, deps: Partial<MttyDeps> = {}): Promise<MttyAvailability> {
  const cfg = kernel.config
  if (!cfg) return { kind: 'absent', reason: 'kernel config unknown: cannot tell whether it has VFIO_MDEV and mtty' }
  if (cfg.enabled('SAMPLE_VFIO_MDEV_MTTY')) return { kind: 'in-tree' }
  const noMdev = cfg.missing('VFIO_MDEV')
  if (noMdev) return { kind: 'absent', reason: noMdev }
  if (kernel.origin.kind !== 'debian') {
    return { kind: 'absent', reason: `${cfg.missing('SAMPLE_VFIO_MDEV_MTTY')} (mtty is built out of tree for debian: kernels only; build this one with guests/kconfig/conform.config)` }
  }
  const wanted = kernelCompiler(cfg.get('CC_VERSION_TEXT'))
  if (!wanted) return { kind: 'absent', reason: `cannot build mtty out of tree: unknown compiler in CONFIG_CC_VERSION_TEXT "${cfg.get('CC_VERSION_TEXT')}"` }
  const apt = deps.apt ?? projectApt()
  const onHost = await (deps.hostCompiler ?? hostCompiler)(wanted.command)
  if (onHost) {
    try {
      return await buildDebianMtty(kernel, wanted.command, onHost, apt)
    } catch (e) {
      return failed(kernel, `mtty out-of-tree build for ${kernel.id} failed: ${describe(e)}`)
    }
  }
  // The host lacks the kernel's compiler: build in that suite's build root.
  const why = `the kernel was built with ${wanted.command} ${wanted.version} (CONFIG_CC_VERSION_TEXT) and this host has no ${wanted.command}`
  const suite = buildRootSuite(kernel.origin.suites, wanted)
  if (!suite) return failed(kernel, `mtty not built out of tree for ${kernel.id}: ${why}, and no Debian suite is known to build with it`)
  // chroot, mknod and unshare's mounts need root (the harness runs as root; a check spares a download).
  if (!(deps.isRoot ?? (() => process.getuid?.() === 0))()) return failed(kernel, `mtty not built out of tree for ${kernel.id}: ${why}, and a Debian ${suite} build root needs root (chroot)`)
  try {
    return await buildMttyInRoot(kernel, wanted.command, suite, apt)
  } catch (e) {
    return failed(kernel, `mtty not built out of tree for ${kernel.id}: ${why}, so it is built in a Debian ${suite} build root, which failed: ${describe(e)}`)
  }
}

function failed(kernel: KernelBuild, reason: string): MttyAvailability {
  progress(`warning: ${reason}`)
  return { kind: 'absent', reason }
}

/** An error as a reason: a missing package by name, anything else by its message. */
function describe(e: unknown): string {
  if (e instanceof MissingPackageError) return e.message
  return ((e as Error).message ?? String(e)).replace(HARNESS_ERROR_TAG, '').trim()
}

/** The kernel's headers packages and linux-source-<major>, all of the kernel's version. */
async function kernelPackages(kernel: KernelBuild, apt: BuildRootApt) {
  if (kernel.origin.kind !== 'debian') throw new Error('not a Debian kernel')
  // linux-image-amd64 and linux-image-<release> carry one version; so do the headers and the source.
  const image = kernel.origin.version
  const major = /^(\d+\.\d+)/.exec(image)?.[1]
  const source = `linux-source-${major}`
  const headers = await kernelHeaderPackages(apt, kernel.release, image)
  return { image, source: { name: source, version: image }, headers }
}

/** samples/vfio-mdev/mtty.c only, streamed out of the source tarball inside linux-source-<major>. */
async function extractMtty(srcDeb: string, source: string, modDir: string): Promise<void> {
  await mkdir(modDir, { recursive: true })
  const member = `${source}/samples/vfio-mdev/mtty.c`
  const r = await execa('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/src/${source}.tar.xz | tar -xJO ${member} > "$2"`, 'sh', srcDeb, path.join(modDir, 'mtty.c')], {
    reject: false,
    all: true,
  })
  if (r.exitCode !== 0) throw new Error(`could not take ${member} out of ${path.basename(srcDeb)}: ${r.all}`)
  await writeFile(path.join(modDir, 'Kbuild'), 'obj-m := mtty.o\n')
}

/**
 * Keep a failed build's log beside the cache entry (the entry's temporary dir is removed)
 * and throw with its tail and where it is.
 */
async function buildFailed(entry: string, exitCode: number | undefined, log: string): Promise<never> {
  const kept = `${entry}.failed-build.log`
  await mkdir(path.dirname(kept), { recursive: true })
  await writeFile(kept, log)
  throw new Error(`make exited ${exitCode}: ${logGist(log)} (log: ${kept})`)
}

/**
 * The lines of a failed build worth a reason: the compiler's or a tool's error lines (not
 * make's "*** [...] Error 2" cascade after them), else the log's last lines. Exported for
 * unit tests.
 */
export function logGist(log: string): string {
  const lines = log.split('\n').map((l) => l.trimEnd()).filter(Boolean)
  const errors = lines.filter((l) => !/^make(\[\d+\])?: /.test(l) && /(^|\s|:)(fatal error|error|ERROR):?\s/.test(l))
  return (errors.length ? errors.slice(0, 3) : lines.slice(-5)).join(' | ')
}

/** modinfo of the built module; its vermagic must name the kernel's release. */
async function finish(kernel: KernelBuild, ko: string, tmp: string, meta: Record<string, unknown>): Promise<void> {
  const info = await execa('modinfo', ['-F', 'depends', ko])
  const vermagic = (await execa('modinfo', ['-F', 'vermagic', ko])).stdout.trim()
  if (!vermagic.startsWith(kernel.release + ' ')) throw new Error(`built mtty.ko has vermagic "${vermagic}", not ${kernel.release}`)
  await execa('cp', [ko, path.join(tmp, 'mtty.ko')])
  await writeFile(path.join(tmp, 'mtty.json'), JSON.stringify({ depends: info.stdout.trim().split(',').filter(Boolean), ...meta }, null, 2))
}

async function readBuilt(dir: string): Promise<MttyAvailability> {
  // A log an earlier failed attempt kept (buildFailed) no longer describes this entry.
  await rm(`${dir}.failed-build.log`, { force: true })
  const meta = JSON.parse(await readFile(path.join(dir, 'mtty.json'), 'utf8')) as { depends: string[]; compiler: string }
  return { kind: 'out-of-tree', file: path.join(dir, 'mtty.ko'), depends: meta.depends, log: path.join(dir, 'build.log'), compiler: meta.compiler }
}

/** The host has the kernel's compiler: build against the headers extracted on the host. */
async function buildDebianMtty(kernel: KernelBuild, cc: string, ccText: string, apt: BuildRootApt): Promise<MttyAvailability> {
  if (kernel.origin.kind !== 'debian') throw new Error('not a Debian kernel')
  const image = kernel.origin.version
  const headers = `linux-headers-${kernel.release}`
  const key = sha256([kernel.release, image, ccText, await readFile(new URL(import.meta.url))]).slice(0, 16)
  const entry = cachePath('kernels', 'mtty-out-of-tree', `${kernel.label}-${key}`)
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    const k = await kernelPackages(kernel, apt)
    progress(`mtty for ${kernel.id}: fetching ${headers}, its kbuild and ${k.source.name} ${image}`)
    const pkgs = [...k.headers.own, k.source]
    const debs = await apt.download(pkgs, path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    const srcDeb = debs[debs.length - 1]!
    await unpackDebs(debs.slice(0, -1), root)
    // The headers Makefile includes the -common tree by its absolute /usr/src path.
    const hdir = path.join(root, 'usr/src', headers)
    const mk = path.join(hdir, 'Makefile')
    await writeFile(mk, (await readFile(mk, 'utf8')).replace(/include \/usr\/src\//g, `include ${root}/usr/src/`))
    const mod = path.join(tmp, 'mtty')
    await extractMtty(srcDeb, k.source.name, mod)
    progress(`mtty for ${kernel.id}: building against ${headers} with the host's ${cc}`)
    const b = await execa('make', ['-C', hdir, `M=${mod}`, `CC=${cc}`, 'modules'], { reject: false, all: true })
    await writeFile(path.join(tmp, 'build.log'), b.all ?? '')
    if (b.exitCode !== 0) await buildFailed(entry, b.exitCode, b.all ?? '')
    await finish(kernel, path.join(mod, 'mtty.ko'), tmp, { compiler: ccText, packages: pkgs })
    await execa('rm', ['-rf', root, mod, path.join(tmp, 'debs')])
  })
  if (!built) progress(`mtty for ${kernel.id}: cached at ${dir}`)
  return readBuilt(dir)
}

/**
 * The host lacks the kernel's compiler: build in the suite's build root (shared by the
 * suite's kernels, cached by suite + compiler). A hard-linked copy of the root gets the
 * kernel's own headers packages and mtty.c, then
 * `chroot <copy> make -C /usr/src/linux-headers-<release> M=/build/mtty CC=gcc-N modules`.
 * The module is cached by kernel version + compiler like the host build.
 */
async function buildMttyInRoot(kernel: KernelBuild, cc: string, suite: string, apt: BuildRootApt): Promise<MttyAvailability> {
  if (kernel.origin.kind !== 'debian') throw new Error('not a Debian kernel')
  const image = kernel.origin.version
  const key = sha256([kernel.release, image, `build-root ${suite} ${cc} ${BUILD_ROOT_LAYOUT}`, await readFile(new URL(import.meta.url))]).slice(0, 16)
  const entry = cachePath('kernels', 'mtty-out-of-tree', `${kernel.label}-${suite}-${cc}-${key}`)
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    progress(`mtty for ${kernel.id}: the host has no ${cc}; building in a Debian ${suite} build root`)
    const k = await kernelPackages(kernel, apt)
    const spec = buildRootSpec(suite, cc, k.headers.suite)
    const br = await ensureBuildRoot(spec, apt)
    progress(`mtty for ${kernel.id}: fetching ${k.headers.own.map((p) => p.name).join(', ')} and ${k.source.name} ${image}`)
    const pkgs = [...k.headers.own, k.source]
    const debs = await apt.download(pkgs, path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    await cloneRoot(br.root, root)
    await unpackDebs(debs.slice(0, -1), root)
    const plan = moduleBuildPlan(root, kernel.release, cc, 'mtty')
    const makefile = await readFile(path.join(root, plan.headers, 'Makefile'), 'utf8')
    for (const inc of headerIncludes(makefile)) {
      if (!(await exists(path.join(root, inc)))) throw new Error(`${plan.headers}/Makefile includes ${inc}, which no unpacked package provides`)
    }
    await extractMtty(debs[debs.length - 1]!, k.source.name, plan.hostDir)
    progress(`mtty for ${kernel.id}: building against linux-headers-${kernel.release} with ${br.compilerText} in the ${suite} build root (chroot)`)
    const [cmd, ...args] = plan.argv
    const t0 = Date.now()
    const b = await execa(cmd!, args, { reject: false, all: true })
    const log = `# ${plan.argv.join(' ')}\n# build root ${br.dir}\n${b.all ?? ''}\n`
    await writeFile(path.join(tmp, 'build.log'), log)
    if (b.exitCode !== 0) await buildFailed(entry, b.exitCode, log)
    await finish(kernel, path.join(plan.hostDir, 'mtty.ko'), tmp, {
      compiler: `${br.compilerText} (Debian ${suite} build root)`,
      buildRoot: br.dir,
      packages: pkgs,
    })
    progress(`mtty for ${kernel.id}: built in ${((Date.now() - t0) / 1000).toFixed(1)} s in the ${suite} build root`)
    await execa('rm', ['-rf', root, path.join(tmp, 'debs')])
  })
  if (!built) progress(`mtty for ${kernel.id}: cached at ${dir}`)
  return readBuilt(dir)
}
