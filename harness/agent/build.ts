// Builds the guest agent (guests/agent/*.c) as a static x86_64 binary with the host's gcc and
// libc6-dev. Static, so the guest needs no libc of ours for it; cached by the hash of its
// sources, the compiler's version and this file, so a second run compiles nothing.
import { execa } from 'execa'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cachedDir, cachePath, sha256 } from '../util/cache.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'

export const AGENT_SRC_DIR = fileURLToPath(new URL('../../guests/agent', import.meta.url))
export const AGENT_CFLAGS = ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-D_GNU_SOURCE']

/** Path to the built agent binary (built now when the cache has none for these sources). */
export async function buildAgent(): Promise<string> {
  const files = (await readdir(AGENT_SRC_DIR)).filter((f) => /\.[ch]$/.test(f)).sort()
  if (!files.some((f) => f.endsWith('.c'))) throw new HarnessError(`no C sources in ${AGENT_SRC_DIR}`)
  const cc = await execa('gcc', ['--version'], { reject: false })
  if (cc.exitCode !== 0) throw new HarnessError('gcc not found: the guest agent is built on the host (apt-get install gcc libc6-dev)')
  const parts: Array<string | Buffer> = [cc.stdout.split('\n')[0]!, AGENT_CFLAGS.join(' '), await readFile(fileURLToPath(import.meta.url))]
  for (const f of files) parts.push(f, await readFile(path.join(AGENT_SRC_DIR, f)))
  const key = sha256(parts).slice(0, 16)
  const { dir, built } = await cachedDir(cachePath('agent', key), async (tmp) => {
    const out = path.join(tmp, 'vfio-conform-agent')
    const r = await execa('gcc', [...AGENT_CFLAGS, '-o', out, ...files.filter((f) => f.endsWith('.c')).map((f) => path.join(AGENT_SRC_DIR, f))], {
      reject: false,
      all: true,
    })
    if (r.exitCode !== 0) throw new HarnessError(`building the guest agent failed:\n${r.all}`)
  })
  if (built) progress(`agent: built ${dir}/vfio-conform-agent`)
  return path.join(dir, 'vfio-conform-agent')
}
