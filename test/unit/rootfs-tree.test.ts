// Paths of the guest's files inside the extracted Debian packages (harness/rootfs/base.ts):
// symlinks resolve inside the tree, and a merged-/usr suite (trixie) is found under usr/.
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { expect, test } from 'vitest'
import { resolveInTree } from '../../harness/rootfs/base.js'
import { tempDir } from './temp-dirs.js'

test('merged /usr: lib64/ld-linux-x86-64.so.2 is usr/lib64/..., and its relative link resolves from there', async () => {
  const root = await tempDir('vfio-conform-rootfs-')
  await mkdir(path.join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true })
  await mkdir(path.join(root, 'usr/lib64'), { recursive: true })
  await writeFile(path.join(root, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), 'ld')
  await symlink('../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', path.join(root, 'usr/lib64/ld-linux-x86-64.so.2'))
  expect(await resolveInTree(root, 'lib64/ld-linux-x86-64.so.2')).toBe(path.join(root, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'))
  // An absolute link resolves inside the tree, not on the host.
  await mkdir(path.join(root, 'lib'), { recursive: true })
  await symlink('/usr/lib64/ld-linux-x86-64.so.2', path.join(root, 'lib/ld.so'))
  expect(await resolveInTree(root, 'lib/ld.so')).toBe(path.join(root, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'))
  await expect(resolveInTree(root, 'lib64/missing.so')).rejects.toThrow(/lib64\/missing.so missing from the extracted packages/)
})
