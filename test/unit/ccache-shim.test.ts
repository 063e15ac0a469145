// harness/kernel/ccache-shim/ccache: what it hands the real ccache, and that a copy of a tree
// at another path then hits the original's objects in a real ccache (one small C file, ms).
import { execa } from 'execa'
import { cp, mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CCACHE_SHIM_DIR, kbuildEnv, TREE_LINK, type Toolchain } from '../../harness/kernel/source-build.js'

const SHIM = path.join(CCACHE_SHIM_DIR, 'ccache')
let dir = ''

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccache-shim-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The arguments the shim passes on, run in `cwd` with the tree `tree`. */
async function passedOn(cwd: string, tree: string, args: string[]): Promise<string[]> {
  const echo = path.join(dir, 'echo-args')
  await writeFile(echo, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 })
  const r = await execa(SHIM, args, { cwd, env: { VFIO_CONFORM_CCACHE: echo, VFIO_CONFORM_KTREE: tree } })
  return r.stdout.split('\n')
}

describe('ccache-shim', () => {
  test('the tree path becomes the object dir link in every argument; other paths stay', async () => {
    const tree = path.join(dir, 'a/linux')
    const obj = path.join(dir, 'a/obj')
    await mkdir(tree, { recursive: true })
    await mkdir(obj, { recursive: true })
    await symlink(tree, path.join(obj, TREE_LINK))
    const out = await passedOn(obj, tree, ['gcc', `-I${tree}/include`, '-include', `${tree}/include/linux/kconfig.h`, `-fmacro-prefix-map=${tree}/=`, `-I${tree}-other/x`, '-I./include', '-c', '-o', 'kernel/a.o', `${tree}/kernel/a.c`, tree])
    expect(out).toEqual(['gcc', `-I${TREE_LINK}/include`, '-include', `${TREE_LINK}/include/linux/kconfig.h`, `-fmacro-prefix-map=${TREE_LINK}/=`, `-I${tree}-other/x`, '-I./include', '-c', '-o', 'kernel/a.o', `${TREE_LINK}/kernel/a.c`, TREE_LINK])
  })

  test('without the link in the working directory, or with a profiled compile, nothing is rewritten', async () => {
    const tree = path.join(dir, 'b/linux')
    await mkdir(tree, { recursive: true })
    expect(await passedOn(dir, tree, ['gcc', `${tree}/a.c`])).toEqual(['gcc', `${tree}/a.c`])
    const obj = path.join(dir, 'b/obj')
    await mkdir(obj, { recursive: true })
    await symlink(tree, path.join(obj, TREE_LINK))
    // gcov's notes must name the real source file (harness/coverage/gcov.ts strips the tree path).
    expect(await passedOn(obj, tree, ['gcc', '-fprofile-arcs', '-ftest-coverage', `${tree}/a.c`])).toEqual(['gcc', '-fprofile-arcs', '-ftest-coverage', `${tree}/a.c`])
  })

  test('kbuildEnv makes the link, re-points a stale one, and names the real tree', async () => {
    const tree = path.join(dir, 'c/linux')
    const obj = path.join(dir, 'c/obj')
    await mkdir(tree, { recursive: true })
    const tc: Toolchain = { makeVars: [], env: { PATH: `${CCACHE_SHIM_DIR}:/usr/bin` }, compiler: 'gcc', ccache: true, shim: true }
    const env = await kbuildEnv(tc, tree, obj)
    expect(env.VFIO_CONFORM_KTREE).toBe(tree)
    expect(await readlink(path.join(obj, TREE_LINK))).toBe(tree)
    const other = path.join(dir, 'c/linux2')
    await mkdir(other)
    await kbuildEnv(tc, other, obj)
    expect(await readlink(path.join(obj, TREE_LINK))).toBe(other)
    expect((await kbuildEnv({ ...tc, shim: false }, tree, obj)).VFIO_CONFORM_KTREE).toBeUndefined()
  })

  test('a copy of a tree at another path hits the objects of the original in a real ccache', async (ctx) => {
    const which = await execa('sh', ['-c', 'command -v ccache && command -v gcc'], { reject: false })
    if (which.exitCode !== 0) ctx.skip(true, 'needs ccache and gcc on the host (apt-get install ccache gcc)')
    const ccacheDir = path.join(dir, 'ccache')
    const compile = async (top: string) => {
      const tree = path.join(top, 'linux')
      const obj = path.join(top, 'obj')
      await mkdir(path.join(obj, 'kernel'), { recursive: true })
      const tc: Toolchain = { makeVars: [], env: {}, compiler: 'gcc', ccache: true, shim: true }
      const env = { ...(await kbuildEnv(tc, tree, obj)), CCACHE_DIR: ccacheDir, CCACHE_NOHASHDIR: '1', VFIO_CONFORM_CCACHE: which.stdout.split('\n')[0]! }
      // As kbuild calls it: absolute tree paths, relative object paths, a dependency file.
      await execa(SHIM, ['gcc', '-Wp,-MMD,kernel/.a.o.d', `-I${tree}/include`, `-fmacro-prefix-map=${tree}/=`, '-c', '-o', 'kernel/a.o', `${tree}/kernel/a.c`], { cwd: obj, env })
      const stats = await execa(which.stdout.split('\n')[0]!, ['--print-stats'], { env: { ...process.env, CCACHE_DIR: ccacheDir } })
      const n = (k: string) => Number(new RegExp(`^${k}\\t(\\d+)$`, 'm').exec(stats.stdout)?.[1] ?? 0)
      return { hits: n('direct_cache_hit') + n('preprocessed_cache_hit'), misses: n('cache_miss') }
    }
    const first = path.join(dir, 'd/first')
    await mkdir(path.join(first, 'linux/include'), { recursive: true })
    await mkdir(path.join(first, 'linux/kernel'), { recursive: true })
    await writeFile(path.join(first, 'linux/include/a.h'), '#define A 42\n')
    await writeFile(path.join(first, 'linux/kernel/a.c'), '#include <a.h>\nconst char *a_file = __FILE__;\nint a(void) { return A; }\n')
    expect(await compile(first)).toEqual({ hits: 0, misses: 1 })
    const second = path.join(dir, 'd/elsewhere/second')
    await cp(path.join(first, 'linux'), path.join(second, 'linux'), { recursive: true })
    expect(await compile(second)).toEqual({ hits: 1, misses: 1 })
    // A changed header is a miss: ccache checks the files through the link, in this tree.
    await writeFile(path.join(second, 'linux/include/a.h'), '#define A 43\n')
    expect(await compile(second)).toEqual({ hits: 1, misses: 2 })
  })
})
