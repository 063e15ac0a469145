// The pieces of the out-of-tree mtty path that need no network: which compiler a kernel
// names, and how an out-of-tree module joins the tree's load order.
import { describe, expect, test } from 'vitest'
import { kernelCompiler, mttyFor } from '../../harness/kernel/mtty-out-of-tree.js'
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
  test("a compiler the host lacks: absent, naming the kernel's compiler", async () => {
    const m = await mttyFor(kernel('CONFIG_VFIO_MDEV=m\nCONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-99 (Debian 99.1.0-1) 99.1.0"\n', debian))
    expect(m.kind).toBe('absent')
    expect(m.kind === 'absent' && m.reason).toMatch(/built with gcc-99 99\.1\.0 \(CONFIG_CC_VERSION_TEXT\) and this host has no gcc-99/)
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
