// A throwaway build root for out-of-tree modules of stock Debian kernels.
//
// Why it exists: a Debian kernel's linux-headers package can only be used with the userland
// of the suite the kernel was built in. Its Kbuild config (include/config/auto.conf) records
// what *that* compiler supports (CONFIG_GCC_VERSION, CONFIG_CC_HAS_*, e.g.
// CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT -> -fmin-function-alignment, which gcc-12 rejects),
// and the prebuilt fixdep, modpost, genksyms and objtool of linux-kbuild-<ver> (the headers'
// scripts/ and tools/ are symlinks into /usr/lib/linux-kbuild-<ver>) are linked against that
// suite's glibc. When the host lacks the kernel's compiler (the host is bookworm: gcc-12;
// Debian 6.12 is built with gcc-14 in trixie, 7.x with gcc-16 in sid), the module is built
// here instead: the suite's own packages (compiler, binutils, libc6-dev, make, a shell, the
// tools Kbuild runs, the kernel packages' own dependencies), resolved by the project-local
// apt against an empty dpkg status and that suite only, unpacked with dpkg-deb -x under the
// cache (once per suite + compiler), and entered with chroot (the harness runs as root).
// Nothing of it is installed on the host; the host's apt configuration is never touched.
// Kbuild will not catch a wrong compiler by itself here: Debian's headers carry a
// .kernelvariables (CC = $(CROSS_COMPILE)gcc-N, DEBIAN_KERNEL_NO_CC_VERSION_CHECK = y) that
// turns off the top Makefile's "the compiler differs from the one used to build the kernel"
// warning, so the choice of compiler is this module's and mtty-out-of-tree.ts's to get right.
import { execa } from 'execa'
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MissingPackageError, parseDepends, suiteFamily, type Stanza } from '../debian/apt.js'
import { cachedDir, cachePath, exists, sha256 } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'

/** The apt calls a build root needs (ProjectApt has them); injected so tests need no apt. */
export interface BuildRootApt {
  show(pkg: string, version?: string): Promise<Stanza>
  resolveClosure(pkgs: string[], suites: string[]): Promise<Array<{ name: string; version: string }>>
  download(pkgs: Array<{ name: string; version: string }>, destDir: string, what?: string): Promise<string[]>
}

/**
 * What Kbuild's external-module build (make -C <headers> M=<dir> modules) runs besides the
 * compiler and the kernel's own scripts, each with why:
 * - binutils: as, ld (LD [M] links the .ko), nm (scripts/check-local-export), objcopy;
 * - libc6-dev: gcc's own link needs (crt files, libc.so) and Kbuild's compiler probes;
 * - make; dash (/bin/sh of every recipe) and bash (scripts with #!/bin/bash);
 * - coreutils (mkdir, rm, mv, cat, head, ...), sed, grep, diffutils (cmp in filechk),
 *   findutils (find, xargs), mawk (scripts/Makefile.build writes <mod>.mod with awk);
 * - base-files: the /bin, /lib, /lib64 -> usr/ links of a merged-/usr suite (trixie on),
 *   through which the dynamic loader /lib64/ld-linux-x86-64.so.2 is found.
 */
export const BUILD_ROOT_TOOLS = [
  'base-files',
  'bash',
  'binutils',
  'coreutils',
  'dash',
  'diffutils',
  'findutils',
  'grep',
  'libc6-dev',
  'make',
  'mawk',
  'sed',
]

/** Suites a build root can be made of, oldest first, and the gcc each builds its kernels with. */
const SUITE_COMPILER: Array<[suite: string, gccMajor: number]> = [
  ['bookworm', 12],
  ['trixie', 14],
  ['sid', 16],
]

/**
 * The Debian suite whose packages build a kernel's modules: the suite the kernel package
 * came from ("trixie-security" -> trixie; experimental, not a complete suite, -> sid),
 * otherwise the suite whose kernels that gcc builds (gcc-12 bookworm, gcc-14 trixie,
 * newer sid). Undefined when neither says. Exported for unit tests.
 */
export function buildRootSuite(kernelSuites: string[], compiler: { command: string; version: string }): string | undefined {
  const base = kernelSuites.map((s) => s.replace(/-(security|updates|backports|proposed-updates)$/, '')).map((s) => (s === 'experimental' ? 'sid' : s))
  const known = SUITE_COMPILER.map(([s]) => s)
  const fromKernel = known.find((s) => base.includes(s))
  if (fromKernel) return fromKernel
  const major = Number(compiler.version.split('.')[0])
  const exact = SUITE_COMPILER.find(([, m]) => m === major)
  if (exact) return exact[0]
  if (major > SUITE_COMPILER[SUITE_COMPILER.length - 1]![1]) return 'sid'
  return undefined
}

/**
 * Split a linux-headers/-common/linux-kbuild stanza's Depends into the kernel's own packages
 * (linux-headers-<x>, linux-kbuild-<x>: unpacked per kernel, pinned to the kernel's version) and
 * what they need from the suite (gcc-14, gcc-16-for-host, libc6, libelf1t64, libssl3t64,
 * zlib1g, pahole: part of the build root). Other linux-* packages are left out: linux-base
 * (maintainer scripts), linux-image-<release> and linux-base-<release> (the kernel itself) and
 * linux-compiler-gcc-N-x86 (an empty package that depends on gcc-N, which the build root
 * asks for by name). Exported for unit tests.
 */
export function splitHeaderDepends(depends: string | undefined): { own: string[]; suite: string[] } {
  const own: string[] = []
  const suite: string[] = []
  for (const d of parseDepends(depends)) {
    if (/^linux-(headers|kbuild)-/.test(d.name)) own.push(d.name)
    else if (!/^linux-/.test(d.name)) suite.push(d.name)
  }
  return { own, suite }
}

/**
 * The kernel's own packages that make its build tree (linux-headers-<release>, its -common
 * and linux-kbuild-<ver>, all of the kernel's version) and what they need from the suite,
 * read from their stanzas. A package the lists lack throws MissingPackageError naming it.
 */
export async function kernelHeaderPackages(
  apt: Pick<BuildRootApt, 'show'>,
  release: string,
  version: string,
): Promise<{ own: Array<{ name: string; version: string }>; suite: string[] }> {
  const own = [{ name: `linux-headers-${release}`, version }]
  const suite: string[] = []
  for (let i = 0; i < own.length; i++) {
    const p = own[i]!
    let st: Stanza
    try {
      st = await apt.show(p.name, p.version)
    } catch (e) {
      if (e instanceof UsageError) throw new MissingPackageError([p.name], (e as Error).message)
      throw e
    }
    const deps = splitHeaderDepends([st['Pre-Depends'], st.Depends].filter(Boolean).join(', '))
    for (const n of deps.own) if (!own.some((x) => x.name === n)) own.push({ name: n, version })
    for (const n of deps.suite) if (!suite.includes(n)) suite.push(n)
  }
  return { own, suite }
}

export interface BuildRootSpec {
  /** The release family, e.g. "trixie". */
  suite: string
  /** Its suites as the project's sources name them (trixie, trixie-updates, trixie-security). */
  suites: string[]
  /** The compiler command, e.g. "gcc-14". */
  compiler: string
  /** What is asked of apt; the root is the dependency closure of these. */
  packages: string[]
}

/**
 * The request for one build root: Kbuild's tools, the compiler and what the kernel's own
 * packages need from the suite. Exported for unit tests.
 */
export function buildRootSpec(suite: string, compiler: string, kernelNeeds: string[]): BuildRootSpec {
  const suites = suiteFamily(suite)
  if (!suites.length) throw new UsageError(`no build root from Debian ${suite}: the project's apt does not read that suite`)
  const packages = [...new Set([...BUILD_ROOT_TOOLS, compiler, ...kernelNeeds])].sort()
  return { suite, suites, compiler, packages }
}

/**
 * Bump when the root's layout (unpacking, fix-ups) changes, so that old entries are not
 * reused. The entry is otherwise named by suite + compiler and the requested package names,
 * so the kernels of one suite (all 6.12 kernels: trixie + gcc-14) share a root.
 */
export const BUILD_ROOT_LAYOUT = '1'

export function buildRootEntry(spec: BuildRootSpec): string {
  const key = sha256([BUILD_ROOT_LAYOUT, '\0', spec.suites.join(','), '\0', spec.packages.join(',')]).slice(0, 12)
  return cachePath('kernels', 'build-root', `${spec.suite}-${spec.compiler}-${key}`)
}

export interface BuildRoot {
  /** The cache entry (manifest.json beside root/). */
  dir: string
  /** The directory chroot enters. */
  root: string
  /** First line of `<compiler> --version` run inside the root. */
  compilerText: string
  packages: Array<{ name: string; version: string }>
}

/**
 * The build root of a spec, made once: resolve the closure, download it, unpack it, fix up
 * what maintainer scripts would have done, and check the compiler runs inside.
 */
export async function ensureBuildRoot(spec: BuildRootSpec, apt: BuildRootApt): Promise<BuildRoot> {
  const what = `the ${spec.compiler} build root (Debian ${spec.suite})`
  const { dir, built } = await cachedDir(buildRootEntry(spec), async (tmp) => {
    const t0 = Date.now()
    progress(`build root ${spec.suite}/${spec.compiler}: resolving ${spec.packages.length} packages and their dependencies against ${spec.suites.join(', ')}`)
    const closure = await apt.resolveClosure(spec.packages, spec.suites)
    const debDir = path.join(tmp, 'debs')
    const debs = await apt.download(closure, debDir, what)
    const bytes = await totalSize(debs)
    const root = path.join(tmp, 'root')
    progress(`build root ${spec.suite}/${spec.compiler}: unpacking ${debs.length} packages (${mb(bytes)} MB of .deb) with dpkg-deb -x`)
    await unpackDebs(debs, root)
    await fixUpRoot(root)
    await rm(debDir, { recursive: true, force: true })
    const cc = await runInRoot(root, [spec.compiler, '--version'])
    if (cc.exitCode !== 0) throw new HarnessError(`${spec.compiler} does not run inside ${what}: ${cc.all}`)
    const compilerText = (cc.stdout ?? '').split('\n')[0]!.trim()
    const du = await execa('du', ['-sb', root])
    const rootBytes = Number(du.stdout.split(/\s/)[0])
    const seconds = Math.round((Date.now() - t0) / 1000)
    await writeFile(
      path.join(tmp, 'manifest.json'),
      JSON.stringify({ ...spec, compilerText, packages: closure, debBytes: bytes, rootBytes, seconds, made: new Date().toISOString() }, null, 2) + '\n',
    )
    progress(`build root ${spec.suite}/${spec.compiler}: ready, ${closure.length} packages, ${mb(rootBytes)} MB unpacked, ${seconds} s (${compilerText})`)
  })
  const meta = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { compilerText: string; packages: BuildRoot['packages'] }
  if (!built) progress(`build root ${spec.suite}/${spec.compiler}: cached at ${dir}`)
  return { dir, root: path.join(dir, 'root'), compilerText: meta.compilerText, packages: meta.packages }
}

/**
 * dpkg-deb -x each package into root; base-files first, so that a merged-/usr suite's
 * /bin, /lib, /lib64 links exist before anything is unpacked through them.
 */
export async function unpackDebs(debs: string[], root: string): Promise<void> {
  await mkdir(root, { recursive: true })
  const first = (d: string) => (path.basename(d).startsWith('base-files_') ? 0 : 1)
  for (const deb of [...debs].sort((a, b) => first(a) - first(b))) {
    const r = await execa('dpkg-deb', ['-x', deb, root], { reject: false, all: true })
    if (r.exitCode !== 0) throw new HarnessError(`dpkg-deb -x ${path.basename(deb)} failed: ${r.all}`)
  }
}

/**
 * What maintainer scripts (never run here) or a booted system would provide: /usr/bin/awk
 * (an update-alternatives link that mawk's postinst makes), /bin/sh if the suite's dash does
 * not ship it, /dev/null (Kbuild's cc-option and as-instr probes compile from and to it;
 * without it they silently fail and flags go missing), a world-writable /tmp for gcc and
 * the /proc mount point (chrootArgv).
 */
async function fixUpRoot(root: string): Promise<void> {
  const usrBin = path.join(root, 'usr/bin')
  if (!(await exists(path.join(usrBin, 'awk'))) && (await exists(path.join(usrBin, 'mawk')))) await symlink('mawk', path.join(usrBin, 'awk'))
  if (!(await exists(path.join(root, 'bin/sh'))) && !(await exists(path.join(usrBin, 'sh')))) await symlink('dash', path.join(usrBin, 'sh'))
  await mkdir(path.join(root, 'dev'), { recursive: true })
  const devNull = path.join(root, 'dev/null')
  if (!(await exists(devNull))) {
    const r = await execa('mknod', ['-m', '666', devNull, 'c', '1', '3'], { reject: false, all: true })
    if (r.exitCode !== 0) throw new HarnessError(`cannot make /dev/null in the build root (mknod needs root): ${r.all}`)
  }
  await mkdir(path.join(root, 'tmp'), { recursive: true })
  await chmod(path.join(root, 'tmp'), 0o1777)
  await mkdir(path.join(root, 'proc'), { recursive: true })
}

/**
 * A private copy of a build root for one build, made of hard links (fast, no space): the
 * kernel's headers are unpacked into the copy, the module is built in it, and it is removed
 * afterwards; the shared root is never written to (the headers add files, they replace none).
 */
export async function cloneRoot(shared: string, dest: string): Promise<void> {
  await rm(dest, { recursive: true, force: true })
  const r = await execa('cp', ['-al', shared, dest], { reject: false, all: true })
  if (r.exitCode !== 0) throw new HarnessError(`cp -al ${shared} ${dest} failed: ${r.all}`)
}

/** The environment of commands in a build root: nothing of the host's leaks in. */
export const ROOT_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/tmp', 'TMPDIR=/tmp', 'LC_ALL=C']

/**
 * argv to run a command inside a root: chroot with a clean environment, in a private mount
 * and pid namespace whose /proc is mounted at <root>/proc. objtool needs /proc: since 7.x its
 * signal handler setup (tools/objtool/signal.c, read_stack_limit) reads /proc/self/maps and
 * every CC [M] fails with "fopen failed" without it. The mount lives in the namespace only,
 * so it vanishes with the command and never outlives it on the host (unshare: util-linux).
 * Exported for unit tests.
 */
export function chrootArgv(root: string, argv: string[]): string[] {
  return ['unshare', '--mount', '--pid', '--fork', `--mount-proc=${path.join(root, 'proc')}`, 'chroot', root, '/usr/bin/env', '-i', ...ROOT_ENV, ...argv]
}

export async function runInRoot(root: string, argv: string[]) {
  const [cmd, ...args] = chrootArgv(root, argv)
  return execa(cmd!, args, { reject: false, all: true })
}

/**
 * Where an external module is built inside a root: the headers tree at its packaged path
 * (/usr/src/linux-headers-<release>, whose Makefile includes the -common tree by its
 * absolute /usr/src path, valid as is inside the chroot), the module's directory M=/build/<name>
 * (hostDir: the same directory seen from the host) and the make command line. Exported for
 * unit tests.
 */
export function moduleBuildPlan(root: string, release: string, compiler: string, name: string) {
  const headers = `/usr/src/linux-headers-${release}`
  const modDir = `/build/${name}`
  return {
    headers,
    modDir,
    hostDir: path.join(root, modDir),
    argv: chrootArgv(root, ['make', '-C', headers, `M=${modDir}`, `CC=${compiler}`, 'modules']),
  }
}

/**
 * The absolute paths a headers Makefile includes: Debian's linux-headers-<release>/Makefile
 * is one line, "include /usr/src/linux-headers-<ver>-common/Makefile". Inside the root that
 * path is where the -common package unpacked, so it needs no rewriting (on the host it
 * does: see the host path in mtty-out-of-tree.ts). Exported for unit tests.
 */
export function headerIncludes(makefile: string): string[] {
  return [...makefile.matchAll(/^\s*-?include\s+(\/\S+)/gm)].map((m) => m[1]!)
}

async function totalSize(files: string[]): Promise<number> {
  let n = 0
  for (const f of files) n += (await stat(f)).size
  return n
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(0)
}
