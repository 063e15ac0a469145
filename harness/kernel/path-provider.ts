// path:<bzImage>[,modules=<dir>][,config=<file>]: a user's own build.
// modules= is an INSTALL_MOD_PATH (containing lib/modules/<release>) or the
// lib/modules/<release> directory itself.
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { exists } from '../util/cache.js'
import { UsageError } from '../util/errors.js'
import { bzImageVersion } from './bzimage.js'
import { KernelConfig } from './config.js'
import type { KernelBuild } from './kernel-build.js'

export async function pathKernel(spec: string): Promise<KernelBuild> {
  const [imageArg, ...opts] = spec.split(',')
  if (!imageArg) throw new UsageError('path: needs a bzImage, e.g. path:arch/x86/boot/bzImage,modules=/tmp/mods')
  const image = path.resolve(imageArg)
  const kv: Record<string, string> = {}
  for (const o of opts) {
    const [k, ...v] = o.split('=')
    if (!k || !v.length || !['modules', 'config'].includes(k)) throw new UsageError(`path: unknown option "${o}" (use modules=<dir>, config=<file>)`)
    kv[k] = path.resolve(v.join('='))
  }
  const { release } = await bzImageVersion(image)

  let modulesDir: string | undefined
  if (kv.modules) {
    if (!(await exists(kv.modules))) throw new UsageError(`modules directory ${kv.modules} does not exist`)
    const candidates = [path.join(kv.modules, 'lib/modules', release), path.join(kv.modules, release), kv.modules]
    for (const c of candidates) {
      if (await exists(path.join(c, 'modules.dep'))) {
        if (path.basename(c) !== release) {
          throw new UsageError(`modules directory ${c} is for kernel ${path.basename(c)}, but ${image} is ${release}`)
        }
        modulesDir = c
        break
      }
    }
    if (!modulesDir) {
      const found = await readdir(path.join(kv.modules, 'lib/modules')).catch(() => [] as string[])
      throw new UsageError(
        found.length
          ? `modules directory ${kv.modules} is for kernel ${found.join(', ')}, but ${image} is ${release}`
          : `${kv.modules} has no lib/modules/${release}/modules.dep (run make modules_install INSTALL_MOD_PATH=${kv.modules})`,
      )
    }
  }

  // A config the user named must exist: never silently fall back to another one.
  if (kv.config && !(await exists(kv.config))) throw new UsageError(`config file ${kv.config} does not exist`)
  // The config: given, or the build tree's .config (bzImage lives in arch/x86/boot), or the
  // modules dir's copy; otherwise the guest's /proc/config.gz is read after boot.
  let config: KernelConfig | undefined
  const configCandidates = [kv.config, path.join(path.dirname(image), 'config'), path.resolve(path.dirname(image), '../../../.config')]
  for (const c of configCandidates) {
    if (c && (await exists(c))) {
      config = KernelConfig.parse(await readFile(c))
      break
    }
  }

  return {
    // The id is a spec again (the run hands resolved ids to its global setup): with the
    // options, else the guest would boot without the modules it was given.
    id: ['path:' + image, ...(kv.modules ? [`modules=${kv.modules}`] : []), ...(kv.config ? [`config=${kv.config}`] : [])].join(','),
    label: `path-${release}`.replace(/[^A-Za-z0-9.+-]/g, '_'),
    release,
    bzImage: image,
    modulesDir,
    config,
    origin: { kind: 'path', path: image },
  }
}
