// The console watcher reads what QEMU's serial chardev wrote: lines end in "\r\n".
import { writeFile, appendFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { ConsoleLog } from '../../harness/guest/console-log.js'
import { tempDir } from './temp-dirs.js'

async function log(text: string): Promise<ConsoleLog> {
  const f = path.join(await tempDir('console-'), 'console.log')
  await writeFile(f, text)
  return new ConsoleLog(f)
}

describe('console log', () => {
  test('an end-anchored pattern matches a serial line ending in \\r\\n, at the line\'s offset', async () => {
    const c = await log('[    1.0] first\r\n[    2.0] vfio-conform: end test 7\r\n[    3.0] after\r\n')
    const hit = await c.waitFor(/vfio-conform: end test 7$/, { deadlineMs: 1000 })
    expect(hit.line).toBe('[    2.0] vfio-conform: end test 7')
    expect(hit.offset).toBe('[    1.0] first\r\n'.length)
    expect(await c.read(0, hit.offset)).toBe('[    1.0] first\r\n')
  })

  test('a failure pattern ends the wait with the failing line', async () => {
    const c = await log('[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n')
    await expect(c.waitFor(/ready/, { failure: /Kernel panic - not syncing/, deadlineMs: 1000 })).rejects.toThrow(/Unable to mount root fs/)
  })

  test('a pattern written later is found; a missing one times out', async () => {
    const c = await log('boot\r\n')
    setTimeout(() => void appendFile(c.file, 'vfio-conform: ready release=6.12\r\n'), 200)
    expect((await c.waitFor(/vfio-conform: ready /, { deadlineMs: 5000 })).line).toContain('release=6.12')
    await expect(c.waitFor(/never/, { deadlineMs: 300 })).rejects.toThrow(/within/)
  })
})
