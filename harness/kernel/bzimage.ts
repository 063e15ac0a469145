// Facts read from an x86 bzImage header (Documentation/arch/x86/boot.rst).
import { open } from 'node:fs/promises'
import { UsageError } from '../util/errors.js'

/** Read the kernel version string of a bzImage; UsageError when the file is not one. */
export async function bzImageVersion(file: string): Promise<{ release: string; full: string }> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`kernel image ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
  })
  try {
    const hdr = Buffer.alloc(0x220)
    // A directory opens but does not read (EISDIR): bad input too, not a harness error.
    const { bytesRead } = await fh.read(hdr, 0, hdr.length, 0).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`kernel image ${file}: ${e.code === 'EISDIR' ? 'is a directory, not a bzImage' : e.message}`)
    })
    // "HdrS" at 0x202 marks the boot protocol header; 0x55AA at 0x1FE the boot sector.
    if (bytesRead < hdr.length || hdr.toString('latin1', 0x202, 0x206) !== 'HdrS') {
      throw new UsageError(`${file} is not an x86 kernel image (no bzImage "HdrS" header)`)
    }
    const protocol = hdr.readUInt16LE(0x206)
    const versionPtr = hdr.readUInt16LE(0x20e)
    if (protocol < 0x200 || versionPtr === 0) throw new UsageError(`${file}: bzImage header has no version string`)
    const vbuf = Buffer.alloc(256)
    await fh.read(vbuf, 0, vbuf.length, versionPtr + 0x200)
    const full = vbuf.toString('latin1', 0, vbuf.indexOf(0) < 0 ? vbuf.length : vbuf.indexOf(0))
    const release = full.split(' ')[0]!
    if (!/^\d+\.\d+/.test(release)) throw new UsageError(`${file}: unreadable kernel version "${full.slice(0, 60)}"`)
    return { release, full }
  } finally {
    await fh.close()
  }
}
