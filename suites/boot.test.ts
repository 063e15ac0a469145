// The guest itself: the kernel we asked for is the one running, and it booted clean.
import { expect } from 'vitest'
import { forEachTarget } from '../harness/vitest/fixtures.js'

forEachTarget((target, test) => {
  test('runs the requested kernel', async ({ guest, annotate }) => {
    const release = (await guest.run('uname -r')).trim()
    expect(release).toBe(target.kernel.release)
    const t = target.times!
    await annotate(
      `kernel ${release} (${target.kernel.id}), ${target.accel}: QEMU up ${t.qemuStart} ms, init ${t.init} ms, SSH ${t.ssh} ms`,
    )
  })

  test('boot is free of kernel splats', () => {
    // Splats during boot belong to no test; they fail this one, with their text.
    expect(target.bootSplats.map((s) => `${s.kind}: ${s.title}\n${s.excerpt}`)).toEqual([])
  })

  test('VFIO is loaded: /dev/vfio/vfio exists and vfio-pci is registered', async ({ guest, requireConfig }) => {
    requireConfig('VFIO', 'VFIO_PCI')
    const r = await guest.exec('ls -l /dev/vfio/vfio && ls -d /sys/bus/pci/drivers/vfio-pci')
    expect(r.code, r.stderr).toBe(0)
  })
}, { everywhere: true })
