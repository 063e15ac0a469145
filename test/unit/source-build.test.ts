// The pure parts of kernel builds from source: fragments, the survival check, cache keys,
// tree identity, and the source: / debian-source: specs. No kernel is built here.
import { execa } from 'execa'
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  assertCleanTree,
  buildProgressLine,
  firstBuildEstimate,
  buildKey,
  canonicalFragment,
  COMPAT_FRAGMENT,
  CONFORM_FRAGMENT,
  droppedOptions,
  formatDropped,
  isBuildStep,
  makefileVersion,
  mergeConfigText,
  mergeFragments,
  objDirKey,
  parseFragment,
  statWalkHash,
  treeIdentity,
} from '../../harness/kernel/source-build.js'
import {
  parseDebianSourceSpec,
  parseSourceSpec,
  pickSourceVersion,
  resolveSourceSuite,
  sourceKernel,
} from '../../harness/kernel/source-provider.js'
import { KernelConfig } from '../../harness/kernel/config.js'
import { UsageError } from '../../harness/util/errors.js'

const FRAGMENT = `# comment
CONFIG_64BIT=y

# CONFIG_KERNEL_XZ is not set
CONFIG_SAMPLE_VFIO_MDEV_MTTY=m
CONFIG_CMDLINE="console=ttyS0 \\"quoted\\""
CONFIG_NR_CPUS=8
`

describe('fragments', () => {
  test('parse y/m/n, strings and numbers; ignore comments', () => {
    const f = parseFragment(FRAGMENT)
    expect([...f]).toEqual([
      ['64BIT', 'y'],
      ['KERNEL_XZ', 'n'],
      ['SAMPLE_VFIO_MDEV_MTTY', 'm'],
      ['CMDLINE', 'console=ttyS0 "quoted"'],
      ['NR_CPUS', '8'],
    ])
  })

  test('a line that is not kconfig is a UsageError naming the line', () => {
    expect(() => parseFragment('CONFIG_A=y\nVFIO=y\n', 'x.config')).toThrow(UsageError)
    expect(() => parseFragment('CONFIG_A=y\nVFIO=y\n', 'x.config')).toThrow(/x\.config:2/)
  })

  test('later fragments override earlier ones', () => {
    const m = mergeFragments(parseFragment('CONFIG_VFIO_CONTAINER=y\nCONFIG_VFIO=y\n'), parseFragment('# CONFIG_VFIO_CONTAINER is not set\n'))
    expect(m.get('VFIO_CONTAINER')).toBe('n')
    expect(m.get('VFIO')).toBe('y')
  })

  test('the project fragments parse and ask for what the suites need', async () => {
    const base = parseFragment(await readFile(CONFORM_FRAGMENT, 'utf8'))
    for (const o of ['IOMMUFD', 'IOMMUFD_TEST', 'VFIO_DEVICE_CDEV', 'VFIO_NOIOMMU', 'VFIO_CONTAINER', 'INTEL_IOMMU', 'AMD_IOMMU', 'VIRTIO_IOMMU', 'IKCONFIG_PROC', 'DEBUG_KERNEL', 'FAULT_INJECTION', 'RUNTIME_TESTING_MENU', 'SAMPLES', 'PCI_MMCONFIG']) {
      expect(base.get(o), o).toBe('y')
    }
    expect(base.get('SAMPLE_VFIO_MDEV_MTTY')).toMatch(/^[ym]$/)
    const compat = mergeFragments(base, parseFragment(await readFile(COMPAT_FRAGMENT, 'utf8')))
    expect(compat.get('VFIO_CONTAINER')).toBe('n')
    expect(compat.get('IOMMUFD_VFIO_CONTAINER')).toBe('y')
  })

  test('merge drops the base lines of fragment options and appends the fragment', () => {
    const base = '# CONFIG_64BIT is not set\nCONFIG_KERNEL_XZ=y\nCONFIG_EXPERT=y\n'
    const merged = mergeConfigText(base, parseFragment(FRAGMENT))
    const lines = merged.split('\n')
    expect(lines).toContain('CONFIG_EXPERT=y')
    expect(lines).not.toContain('# CONFIG_64BIT is not set')
    expect(lines).not.toContain('CONFIG_KERNEL_XZ=y')
    expect(lines).toContain('CONFIG_64BIT=y')
    expect(lines).toContain('# CONFIG_KERNEL_XZ is not set')
    expect(lines).toContain('CONFIG_CMDLINE="console=ttyS0 \\"quoted\\""')
    // What kconfig reads back is the fragment's values.
    const cfg = KernelConfig.parse(merged)
    expect(cfg.get('CMDLINE')).toBe('console=ttyS0 "quoted"')
    expect(cfg.get('NR_CPUS')).toBe('8')
  })
})

describe('which fragment options did not survive olddefconfig', () => {
  const fragment = parseFragment(`CONFIG_IOMMUFD=y
CONFIG_SAMPLE_VFIO_MDEV_MTTY=m
CONFIG_VFIO_MDEV=m
# CONFIG_VFIO_CONTAINER is not set
CONFIG_IOMMUFD_TEST=y
CONFIG_NR_CPUS=8
`)
  test('none when every value is as asked (unset and absent both count as n)', () => {
    const cfg = `CONFIG_IOMMUFD=y
CONFIG_SAMPLE_VFIO_MDEV_MTTY=m
CONFIG_VFIO_MDEV=m
# CONFIG_VFIO_CONTAINER is not set
CONFIG_IOMMUFD_TEST=y
CONFIG_NR_CPUS=8
`
    expect(droppedOptions(fragment, cfg)).toEqual([])
    expect(droppedOptions(fragment, cfg.replace('# CONFIG_VFIO_CONTAINER is not set\n', ''))).toEqual([])
  })

  test('missing, downgraded, unexpectedly set and changed values are reported', () => {
    const cfg = `CONFIG_IOMMUFD=y
CONFIG_SAMPLE_VFIO_MDEV_MTTY=m
CONFIG_VFIO_MDEV=y
CONFIG_VFIO_CONTAINER=y
CONFIG_NR_CPUS=64
`
    const d = droppedOptions(fragment, cfg)
    expect(d).toEqual([
      { option: 'VFIO_MDEV', wanted: 'm', got: 'y' },
      { option: 'VFIO_CONTAINER', wanted: 'n', got: 'y' },
      { option: 'IOMMUFD_TEST', wanted: 'y', got: 'n' },
      { option: 'NR_CPUS', wanted: '8', got: '64' },
    ])
    expect(formatDropped(d)).toContain('CONFIG_IOMMUFD_TEST (wanted y, got unset)')
  })
})

describe('cache keys', () => {
  const parts = { identity: 'git:abc+diff:0+untracked:0', fragment: 'CONFIG_IOMMUFD=y\n', compiler: 'gcc (Debian 12.2.0-14) 12.2.0' }
  test('stable for the same inputs', () => {
    expect(buildKey(parts)).toBe(buildKey({ ...parts }))
    expect(buildKey(parts)).toMatch(/^[0-9a-f]{20}$/)
  })
  test('changes with the tree identity, the fragment, the compiler and the version marker', () => {
    const k = buildKey(parts)
    expect(buildKey({ ...parts, identity: 'git:abc+diff:1+untracked:0' })).not.toBe(k)
    expect(buildKey({ ...parts, fragment: 'CONFIG_IOMMUFD=y\n# CONFIG_VFIO_CONTAINER is not set\n' })).not.toBe(k)
    expect(buildKey({ ...parts, compiler: 'gcc (Debian 14.2.0-19) 14.2.0' })).not.toBe(k)
    expect(buildKey({ ...parts, version: 'source-build-999' })).not.toBe(k)
  })
  test('no ambiguity between parts', () => {
    expect(buildKey({ ...parts, identity: 'a', fragment: 'bc' })).not.toBe(buildKey({ ...parts, identity: 'ab', fragment: 'c' }))
  })
  test('the obj dir follows the tree path and the fragment files, not the identity', () => {
    expect(objDirKey('/src/linux', ['/f/conform.config'])).toBe(objDirKey('/src/linux', ['/f/conform.config']))
    expect(objDirKey('/src/linux', ['/f/conform.config'])).not.toBe(objDirKey('/src/linux2', ['/f/conform.config']))
    expect(objDirKey('/src/linux', ['/f/conform.config'])).not.toBe(objDirKey('/src/linux', ['/f/conform.config', '/f/conform-compat.config']))
  })
  test('comments and blank lines of a fragment do not change the key; values do', () => {
    const a = canonicalFragment(parseFragment('# why\nCONFIG_IOMMUFD=y\n\n# CONFIG_VFIO_CONTAINER is not set\n'))
    const b = canonicalFragment(parseFragment('CONFIG_IOMMUFD=y\n# other words\n# CONFIG_VFIO_CONTAINER is not set\n'))
    const c = canonicalFragment(parseFragment('CONFIG_IOMMUFD=m\n# CONFIG_VFIO_CONTAINER is not set\n'))
    expect(a).toBe(b)
    expect(buildKey({ ...parts, fragment: a })).toBe(buildKey({ ...parts, fragment: b }))
    expect(buildKey({ ...parts, fragment: a })).not.toBe(buildKey({ ...parts, fragment: c }))
  })
})

test('build step lines are counted, others not', () => {
  expect(isBuildStep('  CC      kernel/fork.o')).toBe(true)
  expect(isBuildStep('  CC [M]  samples/vfio-mdev/mtty.o')).toBe(true)
  expect(isBuildStep('  LD [M]  samples/vfio-mdev/mtty.ko')).toBe(true)
  expect(isBuildStep('  AR      lib/lib.a')).toBe(true)
  expect(isBuildStep('  GEN     Makefile')).toBe(false)
  expect(isBuildStep('kernel/fork.c:12: warning: CC something')).toBe(false)
})

describe('trees', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-src-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const fakeTree = async (name: string) => {
    const t = path.join(dir, name)
    await mkdir(path.join(t, 'arch/x86'), { recursive: true })
    await writeFile(path.join(t, 'Kconfig'), 'mainmenu "Linux"\n')
    await writeFile(path.join(t, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n')
    return t
  }

  test('kernel version from the Makefile', async () => {
    expect(await makefileVersion(await fakeTree('ver'))).toBe('6.12.118')
  })

  test('a tree configured in place is refused with a UsageError that says mrproper', async () => {
    const t = await fakeTree('dirty')
    await assertCleanTree(t)
    await writeFile(path.join(t, '.config'), 'CONFIG_64BIT=y\n')
    await expect(assertCleanTree(t)).rejects.toThrow(UsageError)
    await expect(assertCleanTree(t)).rejects.toThrow(/mrproper/)
    await expect(sourceKernel(t)).rejects.toThrow(/configured in place/)
  })

  test('source: refuses a directory that is not a kernel tree, and a missing one', async () => {
    const t = path.join(dir, 'notkernel')
    await mkdir(t)
    await writeFile(path.join(t, 'Makefile'), 'all:\n')
    await expect(sourceKernel(t)).rejects.toThrow(UsageError)
    await expect(sourceKernel(t)).rejects.toThrow(/does not look like a Linux kernel tree \(no Kconfig\)/)
    await expect(sourceKernel(path.join(dir, 'nope'))).rejects.toThrow(/not a directory/)
  })

  test('a non-git tree: identity from paths, sizes and mtimes', async () => {
    const t = await fakeTree('plain')
    const a = await statWalkHash(t)
    expect(await statWalkHash(t)).toBe(a)
    await utimes(path.join(t, 'Kconfig'), new Date(1_000_000), new Date(2_000_000))
    const b = await statWalkHash(t)
    expect(b).not.toBe(a)
    await writeFile(path.join(t, 'arch/x86/new.c'), 'int x;\n')
    expect(await statWalkHash(t)).not.toBe(b)
    expect(await treeIdentity(t)).toMatch(/^files:[0-9a-f]{32}$/)
  })

  test('a git checkout: identity from HEAD, the diff and untracked files', async () => {
    const t = await fakeTree('git')
    const git = (...a: string[]) => execa('git', ['-C', t, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a])
    await git('init', '-q')
    await git('add', '.')
    await git('commit', '-q', '-m', 'init')
    const id0 = await treeIdentity(t)
    expect(id0).toMatch(/^git:[0-9a-f]{40}\+diff:[0-9a-f]{16}\+untracked:[0-9a-f]{16}$/)
    expect(await treeIdentity(t)).toBe(id0)
    await writeFile(path.join(t, 'Kconfig'), 'mainmenu "Linux edited"\n')
    const id1 = await treeIdentity(t)
    expect(id1).not.toBe(id0)
    await writeFile(path.join(t, 'extra.c'), 'int y;\n')
    const id2 = await treeIdentity(t)
    expect(id2).not.toBe(id1)
    await writeFile(path.join(t, 'extra.c'), 'int z;\n')
    expect(await treeIdentity(t)).not.toBe(id2)
    // A subdirectory of a repository is not the checkout: it is identified by its files.
    expect(await treeIdentity(path.join(t, 'arch'))).toMatch(/^files:/)
  })
})

describe('source: specs', () => {
  test('dir, fragment, compat', () => {
    expect(parseSourceSpec('/src/linux')).toEqual({ dir: '/src/linux', compat: false })
    expect(parseSourceSpec('/src/linux,compat')).toEqual({ dir: '/src/linux', compat: true })
    expect(parseSourceSpec('../linux,fragment=my.config,compat')).toEqual({ dir: '../linux', fragment: 'my.config', compat: true })
  })
  test('bad input is a UsageError', () => {
    expect(() => parseSourceSpec('')).toThrow(UsageError)
    expect(() => parseSourceSpec('/src/linux,fragment=')).toThrow(UsageError)
    expect(() => parseSourceSpec('/src/linux,bogus')).toThrow(/unknown option "bogus"/)
  })
})

describe('debian-source: specs', () => {
  test('series, exact version, compat', () => {
    expect(parseDebianSourceSpec('6.12')).toEqual({ series: '6.12', compat: false })
    expect(parseDebianSourceSpec('7.2,compat')).toEqual({ series: '7.2', compat: true })
    expect(parseDebianSourceSpec('6.12.117-1')).toEqual({ series: '6.12', version: '6.12.117-1', compat: false })
    expect(parseDebianSourceSpec('7.3~rc7-1~exp1')).toEqual({ series: '7.3', version: '7.3~rc7-1~exp1', compat: false })
  })
  test('bad input is a UsageError', () => {
    expect(parseDebianSourceSpec('stable')).toEqual({ series: '', suite: 'stable', compat: false })
    expect(parseDebianSourceSpec('trixie,compat')).toEqual({ series: '', suite: 'trixie', compat: true })
    for (const s of ['', '6', 'v6.12', '6.12,bogus', 'Stable']) expect(() => parseDebianSourceSpec(s), s).toThrow(UsageError)
  })
  const versions = [
    { version: '6.12.118-1', suites: ['trixie-security'] },
    { version: '6.12.117-1', suites: ['trixie', 'trixie-security'] },
  ]
  test('newest version, or the exact one asked for', () => {
    expect(pickSourceVersion({ series: '6.12', compat: false }, versions, []).version).toBe('6.12.118-1')
    expect(pickSourceVersion({ series: '6.12', version: '6.12.117-1', compat: false }, versions, []).version).toBe('6.12.117-1')
  })
  test('an unknown version is a UsageError listing what exists', () => {
    expect(() => pickSourceVersion({ series: '6.6', compat: false }, [], ['7.2 [sid]', '6.12 [trixie-security]'])).toThrow(
      /no linux-source-6\.6 \(offered: 7\.2 \[sid\], 6\.12 \[trixie-security\]\)/,
    )
    expect(() => pickSourceVersion({ series: '6.12', version: '6.12.1-1', compat: false }, versions, [])).toThrow(/offered: 6\.12\.118-1, 6\.12\.117-1/)
  })
  test('a suite names the series and version of its linux-source, as debian:<suite> names its kernel', async () => {
    const apt = {
      versions: async (pkg: string) => {
        expect(pkg).toBe('linux-source')
        return [
          { version: '7.2.13-1', suites: ['sid'] },
          { version: '6.12.118-1', suites: ['trixie-security'] },
          { version: '6.1.192-3', suites: ['bookworm-security'] },
        ]
      },
      suiteAliases: async () => ({ stable: 'trixie', oldstable: 'bookworm', unstable: 'sid' }),
    }
    expect(await resolveSourceSuite(parseDebianSourceSpec('stable'), apt)).toEqual({ series: '6.12', version: '6.12.118-1', compat: false })
    expect(await resolveSourceSuite(parseDebianSourceSpec('sid,compat'), apt)).toEqual({ series: '7.2', version: '7.2.13-1', compat: true })
    expect(await resolveSourceSuite(parseDebianSourceSpec('6.12'), apt)).toEqual({ series: '6.12', compat: false })
    await expect(resolveSourceSuite(parseDebianSourceSpec('forky'), apt)).rejects.toThrow(/^debian-source:forky: no linux-source in suite forky/)
  })
})

describe('what a first build says before and while it runs', () => {
  test('the estimate scales the 2-core figure by the cores here, and says what ccache changes', () => {
    expect(firstBuildEstimate(2, false, true)).toMatch(/about 11 min with 2 cores \(11 min measured on 2 cores with an empty ccache\); less when ccache/)
    expect(firstBuildEstimate(8, false, true)).toMatch(/about 3 min with 8 cores/)
    expect(firstBuildEstimate(64, false, false)).toMatch(/about 2 min with 64 cores.*ccache is not in use/)
    expect(firstBuildEstimate(1, false, true)).toMatch(/about 22 min with 1 core /)
    expect(firstBuildEstimate(2, true, true)).toMatch(/incremental/)
  })

  test('progress: files done of expected, elapsed, and an ETA once there is a rate', () => {
    expect(buildProgressLine('debian-source:6.12', 'compile', 5, 5, 3, 1993)).toBe('kernel debian-source:6.12: compile 0m05s: 3/~1993 files compiled or linked (~0%)')
    expect(buildProgressLine('k', 'compile', 130, 120, 200, 2000)).toBe('kernel k: compile 2m10s: 200/~2000 files compiled or linked (~10%), ETA 18m00s')
    // More steps than the last full build had: never 100% or a negative ETA before make ends.
    expect(buildProgressLine('k', 'compile', 600, 600, 2100, 2000)).toBe('kernel k: compile 10m00s: 1999/~2000 files compiled or linked (~99%), ETA 0m00s')
    expect(buildProgressLine('k', 'olddefconfig', 3, 3, 0)).toBe('kernel k: olddefconfig 0m03s (0 steps)')
  })
})
