// path:<bzImage>,modules=<dir>,config=<file>: the resolved id is a spec that resolves to the
// same kernel (the run hands ids to its global setup; an id without modules= once booted
// every path: kernel without its modules, and the mutation sweep's mdev tests all SKIPped).
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { resolveKernel } from '../../harness/kernel/resolve.js'

/** The smallest file bzImageVersion reads: boot protocol header and a version string. */
function fakeBzImage(release: string): Buffer {
  const b = Buffer.alloc(0x600)
  b.write('HdrS', 0x202, 'latin1')
  b.writeUInt16LE(0x20f, 0x206)
  b.writeUInt16LE(0x300, 0x20e)
  b.write(`${release} (test@host) #1 SMP`, 0x500, 'latin1')
  return b
}

describe('path: kernels', () => {
  it('keep their modules and config through the resolved id', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-path-kernel-'))
    const image = path.join(dir, 'bzImage')
    await writeFile(image, fakeBzImage('6.12.118'))
    await mkdir(path.join(dir, 'mods/lib/modules/6.12.118'), { recursive: true })
    await writeFile(path.join(dir, 'mods/lib/modules/6.12.118/modules.dep'), 'kernel/samples/vfio-mdev/mtty.ko:\n')
    await writeFile(path.join(dir, 'config'), 'CONFIG_VFIO=y\n')
    const k = await resolveKernel(`path:${image},modules=${dir}/mods,config=${dir}/config`)
    expect(k.modulesDir).toBe(path.join(dir, 'mods/lib/modules/6.12.118'))
    const again = await resolveKernel(k.id)
    expect(again.modulesDir).toBe(k.modulesDir)
    expect(again.config?.get('VFIO')).toBe('y')
    expect((await resolveKernel(`path:${image}`)).id).toBe(`path:${image}`)
  })
})
