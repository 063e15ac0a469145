// debian:<suite-or-version>: a stock Debian kernel, fetched by package name through the
// project-local apt (never installed on the host), extracted, and given a modules.dep.
import { execa } from 'execa'
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseDepends, projectApt, type PackageVersion } from '../debian/apt.js'
import { cachedDir, cachePath, exists } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { KernelConfig } from './config.js'
import type { KernelBuild } from './kernel-build.js'

const META = 'linux-image-amd64'
const SUITES = ['bookworm', 'trixie', 'forky', 'sid', 'experimental']

/** Pick the metapackage version that a `debian:` spec names. Exported for unit tests. */
export function pickDebianVersion(
  spec: string,
  versions: PackageVersion[],
  aliases: Record<string, string>,
): PackageVersion {
  const base = (s: string) => s.replace(/-(security|updates|backports)$/, '')
  const codename = aliases[spec] ?? spec
  if (SUITES.includes(codename) || Object.values(aliases).includes(codename)) {
    const v = versions.find((x) => x.suites.some((s) => base(s) === codename))
    if (!v) throw new UsageError(`debian:${spec}: no kernel in suite ${codename} (offered: ${listVersions(versions)})`)
    return v
  }
  if (!/^\d+\.\d+/.test(spec)) {
    throw new UsageError(`debian:${spec}: unknown Debian suite or kernel version (suites: ${SUITES.join(', ')}, stable, oldstable, unstable; versions: ${listVersions(versions)})`)
  }
  const exact = versions.find((x) => x.version === spec)
  if (exact) return exact
  // "6.12" -> newest 6.12.x; "7.3" also matches "7.3~rc7-1~exp1".
  const prefix = versions.find((x) => x.version.startsWith(spec + '.') || x.version.startsWith(spec + '~') || x.version.startsWith(spec + '-'))
  if (prefix) return prefix
  throw new UsageError(`debian:${spec}: no such kernel version in Debian (offered: ${listVersions(versions)})`)
}

function listVersions(v: PackageVersion[]): string {
  return v.map((x) => `${x.version} [${x.suites.join(',')}]`).join(', ')
}

export async function debianKernel(spec: string): Promise<KernelBuild> {
  const apt = projectApt()
  const versions = await apt.versions(META)
  if (!versions.length) throw new HarnessError(`apt knows no ${META}: the project apt lists are empty`)
  const picked = pickDebianVersion(spec, versions, await apt.suiteAliases())
  const entryDir = cachePath('kernels', 'debian', picked.version.replace(/[^A-Za-z0-9.+-]/g, '_'))

  const { dir, built } = await cachedDir(entryDir, async (tmp) => {
    // Follow only exactly pinned dependencies: those are the kernel's own packages
    // (image, and in 7.x the split binary/modules/base packages), not linux-base or kmod.
    const pkgs: Array<{ name: string; version: string }> = []
    const queue = [{ name: META, version: picked.version }]
    while (queue.length) {
      const p = queue.shift()!
      if (pkgs.some((x) => x.name === p.name)) continue
      pkgs.push(p)
      const st = await apt.show(p.name, p.version)
      for (const d of parseDepends(st.Depends)) if (d.version && /^linux-/.test(d.name)) queue.push({ name: d.name, version: d.version })
    }
    const debs = await apt.download(pkgs, path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    await mkdir(root)
    progress(`kernel debian:${picked.version}: extracting ${debs.length} package(s)`)
    for (const deb of debs) await execa('dpkg-deb', ['-x', deb, root])
    await layoutKernel(root, tmp)
    await rm(root, { recursive: true, force: true })
    await rm(path.join(tmp, 'debs'), { recursive: true, force: true })
    await writeFile(path.join(tmp, 'origin.json'), JSON.stringify({ packages: pkgs, suites: picked.suites }, null, 2))
  })
  if (!built) progress(`kernel debian:${picked.version}: cached at ${dir}`)
  const release = (await readFile(path.join(dir, 'release'), 'utf8')).trim()
  return {
    id: `debian:${picked.version}`,
    label: `debian-${picked.version}`.replace(/[^A-Za-z0-9.+-]/g, '_'),
    release,
    bzImage: path.join(dir, 'vmlinuz'),
    modulesDir: path.join(dir, 'lib/modules', release),
    config: KernelConfig.parse(await readFile(path.join(dir, 'config'))),
    origin: { kind: 'debian', package: META, version: picked.version, suites: picked.suites },
  }
}

/**
 * Move vmlinuz, config and the modules tree from an extracted package root into `out`, and
 * run depmod. Layouts differ: 6.1 has boot/ + lib/modules; 6.12 boot/ + usr/lib/modules;
 * 7.x puts vmlinuz and config inside usr/lib/modules/<release>/ (split packages).
 */
async function layoutKernel(root: string, out: string): Promise<void> {
  let mods: string | undefined
  for (const c of ['usr/lib/modules', 'lib/modules']) {
    const d = path.join(root, c)
    const rels = (await exists(d)) ? await readdir(d) : []
    if (rels.length > 1) throw new HarnessError(`kernel packages hold several module trees: ${rels.join(', ')}`)
    if (rels[0]) mods = path.join(d, rels[0])
  }
  if (!mods) throw new HarnessError('no lib/modules/<release> directory in the kernel packages')
  const release = path.basename(mods)
  const pick = async (names: string[]): Promise<string | undefined> => {
    for (const n of names) if (await exists(n)) return n
    return undefined
  }
  const vmlinuz = await pick([path.join(root, 'boot', `vmlinuz-${release}`), path.join(mods, 'vmlinuz')])
  const config = await pick([path.join(root, 'boot', `config-${release}`), path.join(mods, 'config')])
  if (!vmlinuz) throw new HarnessError(`no vmlinuz for ${release} in the kernel packages`)
  if (!config) throw new HarnessError(`no config for ${release} in the kernel packages`)
  await cp(vmlinuz, path.join(out, 'vmlinuz'))
  await cp(config, path.join(out, 'config'))
  await mkdir(path.join(out, 'lib/modules'), { recursive: true })
  await rename(mods, path.join(out, 'lib/modules', release))
  // Debian's packages ship no modules.dep: make it here (depmod knows .ko.xz and .ko.zst).
  const r = await execa('depmod', ['-b', out, release], { reject: false, all: true })
  if (r.exitCode !== 0) throw new HarnessError(`depmod -b ${out} ${release} failed: ${r.all}`)
  await writeFile(path.join(out, 'release'), release + '\n')
}
