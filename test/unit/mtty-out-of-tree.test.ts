// The pieces of the out-of-tree mtty path that need no network: which compiler a kernel
// names, when mtty is absent and why, and how an out-of-tree module joins the tree's load order.
import { describe, expect, test } from 'vitest'
import { kernelCompiler, logGist, mttyFor } from '../../harness/kernel/mtty-out-of-tree.js'
import { MissingPackageError } from '../../harness/debian/apt.js'
import type { BuildRootApt } from '../../harness/kernel/build-root.js'
import { KernelConfig } from '../../harness/kernel/config.js'
import type { KernelBuild } from '../../harness/kernel/kernel-build.js'
import { addOutOfTreeModule, loadOrder, parseModulesDep } from '../../harness/rootfs/modules.js'

describe('kernelCompiler', () => {
  test.each([
    ['gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0', 'gcc-12', '12.2.0'],
    ['x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0', 'gcc-14', '14.2.0'],
    ['gcc (GCC) 13.2.1 20230801', 'gcc-13', '13.2.1'],
    ['Debian clang version 19.1.7 (3)', undefined, undefined],
  ])('%s', (text, command, version) => {
    const c = kernelCompiler(text)
    if (command === undefined) expect(c).toBeUndefined()
    else expect(c).toEqual({ command, version })
  })
})

describe('logGist: what of a failed build goes into the reason', () => {
  test("the tool's error, not make's cascade", () => {
    const log = [
      "make: Entering directory '/usr/src/linux-headers-7.2.13+deb14-amd64'",
      '  CC [M]  mtty.o',
      'error: objtool [signal.c:75]: read_stack_limit: fopen failed: No such file or directory',
      "make[3]: *** [/usr/src/linux-headers-7.2.13+deb14-common/scripts/Makefile.build:294: mtty.o] Error 255",
      "make: *** [/usr/src/linux-headers-7.2.13+deb14-common/Makefile:260: __sub-make] Error 2",
    ].join('\n')
    expect(logGist(log)).toBe('error: objtool [signal.c:75]: read_stack_limit: fopen failed: No such file or directory')
    expect(logGist("/build/mtty/mtty.c:12:10: fatal error: linux/x.h: No such file or directory\nmake: *** [x] Error 2")).toMatch(/^\/build\/mtty\/mtty\.c:12:10: fatal error/)
  })
  test('no error line: the last lines', () => {
    expect(logGist('a\nb\nc\nd\ne\nf\n')).toBe('b | c | d | e | f')
  })
})

describe('mttyFor without a build', () => {
  const kernel = (config: string, origin: KernelBuild['origin']): KernelBuild => ({
    id: 'x',
    label: 'x',
    release: '6.12.0',
    bzImage: '/nonexistent',
    config: KernelConfig.parse(config),
    origin,
  })
  const debian: KernelBuild['origin'] = { kind: 'debian', package: 'linux-image-amd64', version: '6.12.118-1', suites: ['trixie'] }

  test('a kernel with the sample has it in tree', async () => {
    expect(await mttyFor(kernel('CONFIG_VFIO_MDEV=m\nCONFIG_SAMPLE_VFIO_MDEV_MTTY=m\n', debian))).toEqual({ kind: 'in-tree' })
  })
  test('no VFIO_MDEV: absent, naming the option', async () => {
    expect(await mttyFor(kernel('# CONFIG_VFIO_MDEV is not set\n', debian))).toEqual({ kind: 'absent', reason: 'CONFIG_VFIO_MDEV not set' })
  })
  test("a compiler the host lacks and its suite cannot give: absent, naming the kernel's compiler and the package", async () => {
    // No apt here: the headers stanza and apt's "Unable to locate" answer are given
    // (test/unit/build-root.test.ts covers the build root itself).
    const apt: BuildRootApt = {
      show: async (pkg) => ({ Package: pkg, Depends: 'gcc-99' }),
      resolveClosure: async () => {
        throw new MissingPackageError(['gcc-99'], 'not installable from trixie, trixie-updates, trixie-security: E: Unable to locate package gcc-99')
      },
      download: async () => [],
    }
    const m = await mttyFor(kernel('CONFIG_VFIO_MDEV=m\nCONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-99 (Debian 99.1.0-1) 99.1.0"\n', debian), {
      apt,
      hostCompiler: async () => undefined,
      isRoot: () => true,
    })
    expect(m.kind).toBe('absent')
    expect(m.kind === 'absent' && m.reason).toMatch(/built with gcc-99 99\.1\.0 \(CONFIG_CC_VERSION_TEXT\) and this host has no gcc-99/)
    expect(m.kind === 'absent' && m.reason).toMatch(/Debian package gcc-99 cannot be had/)
  })
  test('a path: kernel without the sample is absent with the option named', async () => {
    const m = await mttyFor(kernel('CONFIG_VFIO_MDEV=m\n# CONFIG_SAMPLE_VFIO_MDEV_MTTY is not set\n', { kind: 'path', path: '/x' }))
    expect(m.kind === 'absent' && m.reason).toMatch(/^CONFIG_SAMPLE_VFIO_MDEV_MTTY not set/)
  })
})

describe('addOutOfTreeModule', () => {
  const dep = () =>
    parseModulesDep(
      [
        'kernel/drivers/vfio/vfio.ko.xz: kernel/drivers/iommu/iommufd/iommufd.ko.xz',
        'kernel/drivers/iommu/iommufd/iommufd.ko.xz:',
        'kernel/drivers/vfio/mdev/mdev.ko.xz:',
      ].join('\n'),
    )
  test("loads after its dependencies and theirs, named by modinfo's depends", () => {
    const d = dep()
    addOutOfTreeModule(d, '/cache/mtty/mtty.ko', ['mdev', 'vfio'])
    expect(loadOrder(d, ['mtty']).order).toEqual(['mdev', 'iommufd', 'vfio', 'mtty'])
    expect(d.get('mtty')!.file).toBe('/cache/mtty/mtty.ko')
  })
  test('a dependency built into the kernel needs nothing loaded', () => {
    const d = dep()
    addOutOfTreeModule(d, '/cache/mtty/mtty.ko', ['mdev', 'vfio_builtin'])
    expect(loadOrder(d, ['mtty']).order).toEqual(['mdev', 'mtty'])
  })
})
