// Usage: tsx ci/mutations/seed-obj.ts <pristine spec> <private tree>
//   e.g. tsx ci/mutations/seed-obj.ts debian-source:7.2 ~/.cache/vfio-conform/mutations/tree-7.2
//
// run.sh calls it once, right after it made a private tree: the object directory that
// `vfio-conform run --kernel source:<private tree>` will use is made a copy of the conform
// build's (the same Debian tree built with the same fragment, by npm test or the main job),
// with kbuild's paths rewritten (harness/kernel/obj-seed.ts), so the private tree's first
// build recompiles nothing instead of building every object. Without such a conform build, or
// when the object directory already exists, it does nothing (the build is then a full one,
// helped by ccache). Prints what it did.
import { execa } from 'execa'
import { readdir, readFile, realpath, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { rebaseObjDir } from '../../harness/kernel/obj-seed.js'
import { canonicalFragment, mergeFragments, objDirKey, parseFragment } from '../../harness/kernel/source-build.js'
import { sourceBuildRequest } from '../../harness/kernel/source-provider.js'
import { cachePath, exists, withLock } from '../../harness/util/cache.js'

const [spec, treeArg] = process.argv.slice(2)
if (!spec || !treeArg) {
  console.error('usage: seed-obj.ts <pristine spec, e.g. debian-source:7.2> <private tree>')
  process.exit(2)
}

async function fragmentText(files: string[]): Promise<string> {
  return canonicalFragment(mergeFragments(...(await Promise.all(files.map(async (f) => parseFragment(await readFile(f, 'utf8'), f))))))
}

/** The object directory of the newest finished conform build of `tree` with this fragment text. */
async function conformObjDir(tree: string, identity: string | undefined, fragment: string): Promise<string | undefined> {
  const root = cachePath('kernels', 'source')
  const found: Array<{ objDir: string; at: string }> = []
  for (const e of await readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, e)
    if (!(await exists(path.join(dir, '.complete')))) continue
    const o = await readFile(path.join(dir, 'origin.json'), 'utf8').then((t) => JSON.parse(t) as { tree?: string; identity?: string; objDir?: string }, () => undefined)
    if (!o?.objDir || o.tree !== tree || (identity && o.identity !== identity)) continue
    if ((await readFile(path.join(dir, 'fragment.config'), 'utf8').catch(() => '')) !== fragment) continue
    if (!(await exists(path.join(o.objDir, 'vmlinux')))) continue
    found.push({ objDir: o.objDir, at: (await readFile(path.join(dir, '.complete'), 'utf8').catch(() => '')) + e })
  }
  return found.sort((a, b) => b.at.localeCompare(a.at))[0]?.objDir
}

try {
  const pristine = await sourceBuildRequest(spec)
  const privateTree = await realpath(treeArg)
  const own = await sourceBuildRequest(`source:${privateTree}`)
  const target = cachePath('kernels', 'source-obj', objDirKey(privateTree, own.fragments.map((f) => path.resolve(f))))
  if (await exists(path.join(target, '.config'))) {
    console.log(`seed-obj: ${target} exists already: kept`)
    process.exit(0)
  }
  const from = await conformObjDir(await realpath(pristine.tree), pristine.identity, await fragmentText(own.fragments))
  if (!from) {
    console.log(`seed-obj: no finished conform build of ${spec} with this fragment: the private tree's first build is a full one`)
    process.exit(0)
  }
  await withLock(target + '.lock', () =>
    withLock(from + '.lock', async () => {
      const tmp = `${target}.seed-${process.pid}`
      await rm(tmp, { recursive: true, force: true })
      const r = await execa('cp', ['-a', '--reflink=auto', from, tmp], { reject: false, all: true })
      if (r.exitCode !== 0) throw new Error(`copying ${from} failed: ${r.all}`)
      await rebaseObjDir({ tree: await realpath(pristine.tree), obj: from }, { tree: privateTree, obj: target }, tmp)
      await rm(target, { recursive: true, force: true })
      await rename(tmp, target)
    }),
  )
  console.log(`seed-obj: ${target} seeded from ${from} (the conform build of ${spec})`)
} catch (e) {
  console.error(`seed-obj: ${spec} ${treeArg}: ${(e as Error).message}`)
  process.exit(1)
}
