// A newc ("070701") cpio writer. The guest's initramfs is written by us rather than by
// the host's cpio so that owners and modes are exactly what the recipe says (root-owned,
// 0600 keys) whoever runs the harness, and so that archives can be concatenated: the
// kernel unpacks base + modules + per-run archives in order.
// Format: Documentation/driver-api/early-userspace/buffer-format.rst.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let ino = 1
  let offset = 0
  const push = (b: Buffer) => {
    parts.push(b)
    offset += b.length
  }
  const pad4 = () => {
    const n = (4 - (offset % 4)) % 4
    if (n) push(Buffer.alloc(n))
  }
  const header = (name: string, mode: number, uid: number, gid: number, size: number, rmajor = 0, rminor = 0) => {
    const nameBuf = Buffer.from(name.replace(/^\/+/, '') + '\0')
    const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0')
    const fields = [
      '070701', hex(ino++), hex(mode), hex(uid), hex(gid), hex(1), hex(0), hex(size),
      hex(0), hex(0), hex(rmajor), hex(rminor), hex(nameBuf.length), hex(0),
    ]
    push(Buffer.from(fields.join('')))
    push(nameBuf)
    pad4()
  }
  for (const e of entries) {
    switch (e.type) {
      case 'dir':
        header(e.path, S_IFDIR | (e.mode ?? 0o755), e.uid ?? 0, e.gid ?? 0, 0)
        break
      case 'file':
        header(e.path, S_IFREG | (e.mode ?? 0o644), e.uid ?? 0, e.gid ?? 0, e.data.length)
        push(e.data)
        pad4()
        break
      case 'symlink': {
        const t = Buffer.from(e.target)
        header(e.path, S_IFLNK | 0o777, 0, 0, t.length)
        push(t)
        pad4()
        break
      }
      case 'chardev':
        header(e.path, S_IFCHR | (e.mode ?? 0o600), 0, 0, 0, e.major, e.minor)
        break
    }
  }
  header('TRAILER!!!', 0, 0, 0, 0)
  // Pad to 512 so that concatenated archives start on a block boundary, as cpio(1) does.
  const n = (512 - (offset % 512)) % 512
  if (n) push(Buffer.alloc(n))
  return Buffer.concat(parts)
}

/** Parent directories of every entry, so the archive never relies on the kernel creating them. */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const seen = new Set(entries.filter((e) => e.type === 'dir').map((e) => norm(e.path)))
  const dirs: CpioEntry[] = []
  for (const e of entries) {
    const parts = norm(e.path).split('/')
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/')
      if (!seen.has(d)) {
        seen.add(d)
        dirs.push({ type: 'dir', path: d })
      }
    }
  }
  return [...dirs.sort((a, b) => a.path.length - b.path.length), ...entries]
}

function norm(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '')
}
