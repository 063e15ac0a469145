// The build root of out-of-tree modules for Debian kernels whose compiler the host lacks
// (harness/kernel/build-root.ts), without apt, network or chroot: which suite, which packages
// are asked of apt and against which suites, where things are inside the root, and the
// reason mtty is absent when a package cannot be had.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { MissingPackageError, parseAptProblems, parseSimulation, type Stanza } from '../../harness/debian/apt.js'
import {
  BUILD_ROOT_TOOLS,
  buildRootEntry,
  buildRootSpec,
  buildRootSuite,
  chrootArgv,
  headerIncludes,
  kernelHeaderPackages,
  moduleBuildPlan,
  splitHeaderDepends,
  type BuildRootApt,
} from '../../harness/kernel/build-root.js'
import { KernelConfig } from '../../harness/kernel/config.js'
import type { KernelBuild } from '../../harness/kernel/kernel-build.js'
import { kernelCompiler, mttyFor } from '../../harness/kernel/mtty-out-of-tree.js'
import { exists } from '../../harness/util/cache.js'
import { UsageError } from '../../harness/util/errors.js'
import { tempDir } from './temp-dirs.js'

// Stanzas as the archive has them (Depends fields copied from trixie-security and sid).
const R612 = '6.12.118+deb13-amd64'
const V612 = '6.12.118-1'
const R72 = '7.2.13+deb14-amd64'
const V72 = '7.2.13-1'
const STANZAS: Record<string, Stanza> = {
  [`linux-headers-${R612}`]: {
    Package: `linux-headers-${R612}`,
    Depends: `linux-base (>= 4.12~), linux-headers-6.12.118+deb13-common (= ${V612}), linux-image-${R612} (= ${V612}) | linux-image-${R612}-unsigned (= ${V612}), linux-kbuild-6.12.118+deb13, gcc-14`,
  },
  'linux-headers-6.12.118+deb13-common': { Package: 'linux-headers-6.12.118+deb13-common' },
  'linux-kbuild-6.12.118+deb13': {
    Package: 'linux-kbuild-6.12.118+deb13',
    Depends: 'libc6 (>= 2.38), libelf1t64 (>= 0.144), libssl3t64 (>= 3.0.0), zlib1g (>= 1:1.2.3.4), pahole',
  },
  [`linux-headers-${R72}`]: {
    Package: `linux-headers-${R72}`,
    Depends: `gcc-16-for-host, linux-base (>= 4.12~), linux-base-${R72} (= ${V72}), linux-headers-7.2.13+deb14-common (= ${V72}), linux-kbuild-7.2.13+deb14`,
  },
  'linux-headers-7.2.13+deb14-common': { Package: 'linux-headers-7.2.13+deb14-common' },
  'linux-kbuild-7.2.13+deb14': {
    Package: 'linux-kbuild-7.2.13+deb14',
    Depends: 'pahole, libc6 (>= 2.38), libelf1t64 (>= 0.144), libssl3t64 (>= 3.0.0), zlib1g (>= 1:1.2.3.4)',
  },
}

/** A ProjectApt stand-in: stanzas from STANZAS, calls recorded, closure/download answers given. */
function fakeApt(opts: { closure?: (pkgs: string[], suites: string[]) => Array<{ name: string; version: string }>; download?: () => string[] } = {}) {
  const calls: { show: string[]; closure: Array<{ pkgs: string[]; suites: string[] }>; download: string[][] } = { show: [], closure: [], download: [] }
  const apt: BuildRootApt = {
    async show(pkg, version) {
      calls.show.push(`${pkg}=${version}`)
      const st = STANZAS[pkg]
      if (!st) throw new UsageError(`Debian package ${pkg}${version ? '=' + version : ''} not found in the project's apt lists`)
      return st
    },
    async resolveClosure(pkgs, suites) {
      calls.closure.push({ pkgs, suites })
      if (!opts.closure) throw new Error('test: no closure')
      return opts.closure(pkgs, suites)
    },
    async download(pkgs) {
      calls.download.push(pkgs.map((p) => `${p.name}=${p.version}`))
      if (!opts.download) throw new Error('test: no download')
      return opts.download()
    },
  }
  return { apt, calls }
}

const gcc = (text: string) => kernelCompiler(text)!

describe('buildRootSuite: which Debian suite builds a kernel', () => {
  test.each([
    [['trixie-security'], 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', 'trixie'],
    [['trixie'], 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', 'trixie'],
    [['sid'], 'x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0', 'sid'],
    // experimental has no toolchain of its own: its kernels build in sid
    [['experimental'], 'x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0', 'sid'],
    [['bookworm-security'], 'gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0', 'bookworm'],
    // no suite known for the package: the compiler decides
    [[], 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', 'trixie'],
    [[], 'gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0', 'bookworm'],
    [[], 'x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0', 'sid'],
    [[], 'x86_64-linux-gnu-gcc-17 (Debian 17.0.1-1) 17.0.1', 'sid'],
    [[], 'gcc-10 (Debian 10.2.1-6) 10.2.1', undefined],
  ])('%j built with %s -> %s', (suites, cc, want) => {
    expect(buildRootSuite(suites, gcc(cc))).toBe(want)
  })
})

describe('the packages of a build root', () => {
  test("headers Depends split into the kernel's own packages and what they need from the suite", () => {
    expect(splitHeaderDepends(STANZAS[`linux-headers-${R612}`]!.Depends)).toEqual({
      own: ['linux-headers-6.12.118+deb13-common', 'linux-kbuild-6.12.118+deb13'],
      suite: ['gcc-14'],
    })
    // 7.x: no linux-base-<release> (the kernel's split image), no linux-base (maintainer scripts)
    expect(splitHeaderDepends(STANZAS[`linux-headers-${R72}`]!.Depends)).toEqual({
      own: ['linux-headers-7.2.13+deb14-common', 'linux-kbuild-7.2.13+deb14'],
      suite: ['gcc-16-for-host'],
    })
    // 6.1: linux-compiler-gcc-12-x86 is left to the compiler asked for by name
    expect(splitHeaderDepends('linux-headers-6.1.0-57-common (= 6.1.192-3), linux-kbuild-6.1 (>= 6.1.192-3), linux-compiler-gcc-12-x86')).toEqual({
      own: ['linux-headers-6.1.0-57-common', 'linux-kbuild-6.1'],
      suite: [],
    })
  })

  test("the kernel's packages are followed from linux-headers-<release>, pinned to the kernel's version", async () => {
    const { apt } = fakeApt()
    expect(await kernelHeaderPackages(apt, R612, V612)).toEqual({
      own: [
        { name: `linux-headers-${R612}`, version: V612 },
        { name: 'linux-headers-6.12.118+deb13-common', version: V612 },
        { name: 'linux-kbuild-6.12.118+deb13', version: V612 },
      ],
      suite: ['gcc-14', 'libc6', 'libelf1t64', 'libssl3t64', 'zlib1g', 'pahole'],
    })
  })

  test('a headers package the lists lack: MissingPackageError naming it', async () => {
    const { apt } = fakeApt()
    const e = await kernelHeaderPackages(apt, '6.12.999+deb13-amd64', '6.12.999-1').catch((x) => x)
    expect(e).toBeInstanceOf(MissingPackageError)
    expect((e as MissingPackageError).packages).toEqual(['linux-headers-6.12.999+deb13-amd64'])
  })

  test('trixie + gcc-14: the toolchain, Kbuild tools and kbuild libraries, resolved against trixie and its updates only', () => {
    const spec = buildRootSpec('trixie', 'gcc-14', ['gcc-14', 'libc6', 'libelf1t64', 'libssl3t64', 'zlib1g', 'pahole'])
    expect(spec.suites).toEqual(['trixie', 'trixie-updates', 'trixie-security'])
    expect(spec.compiler).toBe('gcc-14')
    expect(spec.packages).toEqual(
      [...BUILD_ROOT_TOOLS, 'gcc-14', 'libc6', 'libelf1t64', 'libssl3t64', 'zlib1g', 'pahole'].sort(),
    )
    for (const p of ['gcc-14', 'binutils', 'libc6-dev', 'make', 'dash', 'mawk', 'coreutils', 'sed', 'grep']) expect(spec.packages).toContain(p)
    expect(spec.packages.filter((p) => p.startsWith('linux-'))).toEqual([])
  })

  test('sid + gcc-16: sid alone', () => {
    const spec = buildRootSpec('sid', 'gcc-16', ['gcc-16-for-host', 'pahole'])
    expect(spec.suites).toEqual(['sid'])
    expect(spec.packages).toContain('gcc-16')
    expect(spec.packages).toContain('gcc-16-for-host')
  })

  test('a suite the project does not read is refused', () => {
    expect(() => buildRootSpec('forky', 'gcc-15', [])).toThrow(/does not read that suite/)
  })

  test('kernels of one suite share a root, cached by suite + compiler', () => {
    const a = buildRootEntry(buildRootSpec('trixie', 'gcc-14', ['gcc-14', 'libc6', 'pahole']))
    const b = buildRootEntry(buildRootSpec('trixie', 'gcc-14', ['pahole', 'libc6', 'gcc-14']))
    const c = buildRootEntry(buildRootSpec('sid', 'gcc-16', ['gcc-16-for-host']))
    expect(a).toBe(b)
    expect(path.basename(a)).toMatch(/^trixie-gcc-14-[0-9a-f]{12}$/)
    expect(path.basename(c)).toMatch(/^sid-gcc-16-/)
    expect(path.dirname(a)).toMatch(/kernels[/]build-root$/)
  })
})

describe('paths inside the root', () => {
  test('make runs in the chroot with the headers at /usr/src and M= inside the root', () => {
    const plan = moduleBuildPlan('/cache/x/root', R612, 'gcc-14', 'mtty')
    expect(plan.headers).toBe(`/usr/src/linux-headers-${R612}`)
    expect(plan.modDir).toBe('/build/mtty')
    expect(plan.hostDir).toBe('/cache/x/root/build/mtty')
    // chroot in a private mount + pid namespace with /proc mounted inside the root (objtool
    // reads /proc/self/maps), a clean environment
    expect(plan.argv.slice(0, 5)).toEqual(['unshare', '--mount', '--pid', '--fork', '--mount-proc=/cache/x/root/proc'])
    const c = plan.argv.indexOf('chroot')
    expect(plan.argv.slice(c, c + 4)).toEqual(['chroot', '/cache/x/root', '/usr/bin/env', '-i'])
    expect(plan.argv.slice(-6)).toEqual(['make', '-C', `/usr/src/linux-headers-${R612}`, 'M=/build/mtty', 'CC=gcc-14', 'modules'])
    // nothing of the host's environment: a clean PATH inside the root
    expect(chrootArgv('/r', ['true'])).toContain('PATH=/usr/sbin:/usr/bin:/sbin:/bin')
  })

  test("the headers Makefile's absolute /usr/src include resolves inside the root as unpacked", async () => {
    const root = await tempDir('build-root-')
    const plan = moduleBuildPlan(root, R612, 'gcc-14', 'mtty')
    // what dpkg-deb -x of linux-headers-<release> and -common leaves
    await mkdir(path.join(root, plan.headers), { recursive: true })
    await mkdir(path.join(root, '/usr/src/linux-headers-6.12.118+deb13-common'), { recursive: true })
    await writeFile(path.join(root, plan.headers, 'Makefile'), 'include /usr/src/linux-headers-6.12.118+deb13-common/Makefile\n')
    await writeFile(path.join(root, '/usr/src/linux-headers-6.12.118+deb13-common/Makefile'), '# top Makefile\n')
    const incs = headerIncludes('include /usr/src/linux-headers-6.12.118+deb13-common/Makefile\n')
    expect(incs).toEqual(['/usr/src/linux-headers-6.12.118+deb13-common/Makefile'])
    for (const inc of incs) expect(await exists(path.join(root, inc))).toBe(true)
    expect(headerIncludes('MAKEFLAGS += -rR\n-include /usr/src/a/Makefile\ninclude relative.mk\n')).toEqual(['/usr/src/a/Makefile'])
  })
})

describe("apt's answers", () => {
  test('apt-get -s install: the closure in order, with exact versions', () => {
    const sim = [
      'NOTE: This is only a simulation!',
      'Inst gcc-14-base (14.2.0-19 Debian:13.8/stable [amd64])',
      'Inst libc6 (2.41-12+deb13u5 Debian:13.8/stable [amd64]) []',
      'Inst linux-libc-dev (6.12.118-1 Debian-Security:13/stable-security [all])',
      'Inst libpcre2-8-0 (10.46-1~deb13u3 Debian:13.8/stable, Debian-Security:13/stable-security [amd64])',
      'Conf libc6 (2.41-12+deb13u5 Debian:13.8/stable [amd64])',
    ].join('\n')
    expect(parseSimulation(sim)).toEqual([
      { name: 'gcc-14-base', version: '14.2.0-19' },
      { name: 'libc6', version: '2.41-12+deb13u5' },
      { name: 'linux-libc-dev', version: '6.12.118-1' },
      { name: 'libpcre2-8-0', version: '10.46-1~deb13u3' },
    ])
  })

  test('what apt could not find, satisfy or fetch, by package name', () => {
    expect(parseAptProblems('Reading package lists...\nE: Unable to locate package gcc-99\nE: Unable to locate package nosuch')).toEqual(['gcc-99', 'nosuch'])
    expect(parseAptProblems("E: Version '9.9-1' for 'linux-headers-x' was not found")).toEqual(['linux-headers-x'])
    expect(parseAptProblems("E: Package 'gcc-16' has no installation candidate")).toEqual(['gcc-16'])
    expect(
      parseAptProblems(
        [
          'The following packages have unmet dependencies:',
          ' gcc-14 : Depends: cpp-14 (= 14.2.0-19) but it is not installable',
          '          Depends: libgcc-14-dev (= 14.2.0-19) but it is not going to be installed',
          'E: Unable to correct problems, you have held broken packages.',
        ].join('\n'),
      ),
    ).toEqual(['cpp-14', 'libgcc-14-dev'])
    expect(
      parseAptProblems(
        [
          'Err:3 http://deb.debian.org/debian trixie/main amd64 libstdc++6 amd64 14.2.0-19',
          '  404  Not Found [IP: 151.101.2.132 80]',
          'E: Failed to fetch http://deb.debian.org/debian/pool/main/g/gcc-14/libstdc%2b%2b6_14.2.0-19_amd64.deb  404  Not Found [IP: 151.101.2.132 80]',
        ].join('\n'),
      ),
    ).toEqual(['libstdc++6'])
    expect(parseAptProblems('Get:1 http://deb.debian.org/debian trixie/main amd64 make amd64 4.4.1-2 [463 kB]\nFetched 463 kB in 0s')).toEqual([])
  })
})

describe('mttyFor when the host lacks the compiler', () => {
  const saved = process.env.VFIO_CONFORM_CACHE
  beforeAll(async () => {
    process.env.VFIO_CONFORM_CACHE = await tempDir('build-root-cache-')
  })
  afterAll(() => {
    if (saved === undefined) delete process.env.VFIO_CONFORM_CACHE
    else process.env.VFIO_CONFORM_CACHE = saved
  })
  const kernel = (release: string, ccText: string, version: string, suites: string[]): KernelBuild => ({
    id: `debian:${version}`,
    label: `debian-${version}`,
    release,
    bzImage: '/nonexistent',
    config: KernelConfig.parse(`CONFIG_VFIO_MDEV=m\nCONFIG_CC_VERSION_TEXT="${ccText}"\n`),
    origin: { kind: 'debian', package: 'linux-image-amd64', version, suites },
  })
  const noHostCompiler = async () => undefined
  const isRoot = () => true
  const missing = (name: string) => () => {
    throw new MissingPackageError([name], `not installable from trixie: E: Unable to locate package ${name}`)
  }

  test('6.12 (gcc-14): the trixie build root is asked for, then absent naming the missing package', async () => {
    const { apt, calls } = fakeApt({ closure: missing('gcc-14') })
    const m = await mttyFor(kernel(R612, 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', V612, ['trixie-security']), { apt, hostCompiler: noHostCompiler, isRoot })
    expect(calls.closure).toEqual([
      {
        pkgs: [...BUILD_ROOT_TOOLS, 'gcc-14', 'libc6', 'libelf1t64', 'libssl3t64', 'zlib1g', 'pahole'].sort(),
        suites: ['trixie', 'trixie-updates', 'trixie-security'],
      },
    ])
    expect(m.kind).toBe('absent')
    const reason = m.kind === 'absent' ? m.reason : ''
    expect(reason).toMatch(/built with gcc-14 14\.2\.0 \(CONFIG_CC_VERSION_TEXT\) and this host has no gcc-14/)
    expect(reason).toMatch(/Debian trixie build root/)
    expect(reason).toMatch(/Debian package gcc-14 cannot be had/)
  })

  test('7.2 (gcc-16): the sid build root, with gcc-16-for-host that its headers need', async () => {
    const { apt, calls } = fakeApt({ closure: missing('gcc-16-for-host') })
    const m = await mttyFor(kernel(R72, 'x86_64-linux-gnu-gcc-16 (Debian 16.2.0-4) 16.2.0', V72, ['sid']), { apt, hostCompiler: noHostCompiler, isRoot })
    expect(calls.closure[0]!.suites).toEqual(['sid'])
    expect(calls.closure[0]!.pkgs).toEqual(expect.arrayContaining(['gcc-16', 'gcc-16-for-host', 'pahole', 'libc6-dev', 'make']))
    expect(m.kind === 'absent' && m.reason).toMatch(/Debian package gcc-16-for-host cannot be had/)
  })

  test("the kernel's headers missing from the archive: absent naming them, no build root asked for", async () => {
    const { apt, calls } = fakeApt()
    const m = await mttyFor(kernel('6.12.999+deb13-amd64', 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', '6.12.999-1', ['trixie']), { apt, hostCompiler: noHostCompiler, isRoot })
    expect(calls.closure).toEqual([])
    expect(m.kind === 'absent' && m.reason).toMatch(/Debian package linux-headers-6\.12\.999\+deb13-amd64 cannot be had/)
  })

  test('not root: absent saying so, before anything is fetched', async () => {
    const { apt, calls } = fakeApt()
    const m = await mttyFor(kernel(R612, 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', V612, ['trixie-security']), { apt, hostCompiler: noHostCompiler, isRoot: () => false })
    expect(calls.show).toEqual([])
    expect(m.kind === 'absent' && m.reason).toMatch(/a Debian trixie build root needs root \(chroot\)/)
  })

  test('a package whose download fails: absent naming it', async () => {
    const { apt, calls } = fakeApt({
      closure: () => [{ name: 'cpp-14', version: '14.2.0-19' }],
      download: () => {
        throw new MissingPackageError(['cpp-14'], 'apt-get download: E: Failed to fetch .../cpp-14_14.2.0-19_amd64.deb 404 Not Found')
      },
    })
    const m = await mttyFor(kernel(R612, 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', V612, ['trixie-security']), { apt, hostCompiler: noHostCompiler, isRoot })
    expect(calls.download).toEqual([['cpp-14=14.2.0-19']])
    expect(m.kind === 'absent' && m.reason).toMatch(/Debian package cpp-14 cannot be had: apt-get download/)
  })

  test('the host has the compiler: built on the host, no build root', async () => {
    const { apt, calls } = fakeApt()
    // The host path fetches the kernel's packages first; the fake download fails, so it stops there.
    const m = await mttyFor(kernel(R612, 'x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', V612, ['trixie-security']), {
      apt,
      hostCompiler: async () => 'gcc-14 (Debian 14.2.0-19) 14.2.0',
      isRoot,
    })
    expect(calls.closure).toEqual([])
    expect(calls.download[0]).toEqual([`linux-headers-${R612}=${V612}`, `linux-headers-6.12.118+deb13-common=${V612}`, `linux-kbuild-6.12.118+deb13=${V612}`, `linux-source-6.12=${V612}`])
    expect(m.kind === 'absent' && m.reason).toMatch(/^mtty out-of-tree build for debian:6\.12\.118-1 failed: test: no download/)
  })
})
