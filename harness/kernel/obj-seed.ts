// A copy of a kernel object directory made for another copy of the same source tree: kbuild's
// text files name the tree and the object directory by absolute path (every .cmd's command
// line, dependency lists, the generated Makefile, the `source` link), so a plain copy of the
// directory next to another tree rebuilds every object (the commands differ). Rewriting those
// paths makes make see the same commands and rebuild nothing that the trees do not differ in.
// Used by the mutation sweep's workspace (harness/mutate/workspace.ts) and by
// ci/mutations/seed-obj.ts (a private tree of another kernel version).
import { execa } from 'execa'
import { lstat, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'

export interface ObjLocation {
  /** The source tree (absolute). */
  tree: string
  /** Its object directory (absolute). */
  obj: string
}

/**
 * Rewrite `from`'s tree and object paths into `to`'s in the kbuild text files and links of
 * `dir` (a copy of `from.obj`, by default at `to.obj`; elsewhere when it is renamed there
 * afterwards), keeping each rewritten file's mtime (make compares it with its targets').
 */
export async function rebaseObjDir(from: ObjLocation, to: ObjLocation, dir = to.obj): Promise<void> {
  const rewrite = (s: string) => s.split(from.tree).join(to.tree).split(from.obj).join(to.obj)
  const names = (s: string) => s.includes(from.tree) || s.includes(from.obj)
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isSymbolicLink()) {
        const t = await readlink(p)
        if (names(t)) {
          await rm(p)
          await symlink(rewrite(t), p)
        }
      } else if (e.name.endsWith('.cmd') || e.name === 'Makefile' || e.name.endsWith('.d') || e.name === 'auto.conf.cmd') {
        const t = await readFile(p, 'utf8')
        if (names(t)) {
          const st = await lstat(p)
          await writeFile(p, rewrite(t))
          await execa('touch', ['-m', '-d', `@${st.mtimeMs / 1000}`, p])
        }
      }
    }
  }
  await walk(dir)
}
