// Where a kernel's mtty (samples/vfio-mdev/mtty.c, the mdev sample the mdev suites drive)
// comes from. Conform builds have it in tree (CONFIG_SAMPLE_VFIO_MDEV_MTTY). Stock Debian
// kernels have VFIO_MDEV but no SAMPLES, so for them mtty is built out of tree: mtty.c from
// Debian's linux-source package of the same version, against the linux-headers package of
// that kernel, with the compiler the kernel was built with. When that compiler is not on
// the host (Debian 6.12 and later are built with gcc-14+, the host has gcc-12), mtty is
// absent and the mdev tests SKIP with the reason recorded here: a module built with another
// compiler needs config overrides and a rebuilt objtool/modpost (../shared/FACTS.md), and a
// kernel must never claim mdev coverage that rested on such a hack.
import { execa } from 'execa'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseDepends, projectApt } from '../debian/apt.js'
import { cachedDir, cachePath, sha256 } from '../util/cache.js'
import { progress } from '../util/log.js'
import type { KernelBuild } from './kernel-build.js'

export type MttyAvailability =
  /** The kernel's own build has the sample (CONFIG_SAMPLE_VFIO_MDEV_MTTY y or m). */
  | { kind: 'in-tree' }
  /** Built here out of tree; `file` is the .ko, `depends` the module names it needs (modinfo). */
  | { kind: 'out-of-tree'; file: string; depends: string[]; log: string; compiler: string }
  | { kind: 'absent'; reason: string }

/**
 * The compiler a kernel was built with, from CONFIG_CC_VERSION_TEXT: "gcc-12 (Debian
 * 12.2.0-14+deb12u1) 12.2.0" or "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0" -> the
 * Debian command name ("gcc-12", "gcc-14") and the version; undefined for another compiler
 * (clang). Exported for unit tests.
 */
export function kernelCompiler(ccVersionText: string): { command: string; version: string } | undefined {
  const m = /^(?:[\w-]+-linux-gnu-)?(gcc)(?:-(\d+))? \([^)]*\) (\d+\.\d+(?:\.\d+)?)/.exec(ccVersionText.trim())
  if (!m) return undefined
  const major = m[2] ?? m[3]!.split('.')[0]
  return { command: `${m[1]}-${major}`, version: m[3]! }
}

/** How a kernel gets its mtty; builds it out of tree for a Debian kernel when it can. */
export async function mttyFor(kernel: KernelBuild): Promise<MttyAvailability> {
  const cfg = kernel.config
  if (!cfg) return { kind: 'absent', reason: 'kernel config unknown: cannot tell whether it has VFIO_MDEV and mtty' }
  if (cfg.enabled('SAMPLE_VFIO_MDEV_MTTY')) return { kind: 'in-tree' }
  const noMdev = cfg.missing('VFIO_MDEV')
  if (noMdev) return { kind: 'absent', reason: noMdev }
  if (kernel.origin.kind !== 'debian') {
    return { kind: 'absent', reason: `${cfg.missing('SAMPLE_VFIO_MDEV_MTTY')} (mtty is built out of tree for debian: kernels only; build this one with guests/kconfig/conform.config)` }
  }
  const wanted = kernelCompiler(cfg.get('CC_VERSION_TEXT'))
  if (!wanted) return { kind: 'absent', reason: `cannot build mtty out of tree: unknown compiler in CONFIG_CC_VERSION_TEXT "${cfg.get('CC_VERSION_TEXT')}"` }
  const host = await execa(wanted.command, ['--version'], { reject: false })
  if (host.exitCode !== 0) {
    const gcc = await execa('gcc', ['-dumpfullversion'], { reject: false })
    return {
      kind: 'absent',
      reason:
        `mtty not built out of tree for ${kernel.id}: the kernel was built with ${wanted.command} ${wanted.version} ` +
        `(CONFIG_CC_VERSION_TEXT) and this host has no ${wanted.command}` +
        (gcc.exitCode === 0 ? ` (its gcc is ${gcc.stdout.trim()})` : '') +
        '; a module built with another compiler needs config overrides and a rebuilt objtool/modpost, which the harness does not do',
    }
  }
  try {
    return await buildDebianMtty(kernel, wanted.command, host.stdout.split('\n')[0]!)
  } catch (e) {
    const reason = `mtty out-of-tree build for ${kernel.id} failed: ${(e as Error).message}`
    progress(`warning: ${reason}`)
    return { kind: 'absent', reason }
  }
}

async function buildDebianMtty(kernel: KernelBuild, cc: string, ccText: string): Promise<MttyAvailability> {
  if (kernel.origin.kind !== 'debian') throw new Error('not a Debian kernel')
  const apt = projectApt()
  // linux-image-amd64 and linux-image-<release> carry one version; so do the headers and the source.
  const image = kernel.origin.version
  const headers = `linux-headers-${kernel.release}`
  const major = /^(\d+\.\d+)/.exec(image)?.[1]
  const source = `linux-source-${major}`
  const key = sha256([kernel.release, image, ccText, await readFile(new URL(import.meta.url))]).slice(0, 16)
  const entry = cachePath('kernels', 'mtty-out-of-tree', `${kernel.label}-${key}`)
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    progress(`mtty for ${kernel.id}: fetching ${headers}, its kbuild and ${source} ${image}`)
    const pkgs = [{ name: headers, version: image }]
    for (let i = 0; i < pkgs.length; i++) {
      const st = await apt.show(pkgs[i]!.name, pkgs[i]!.version)
      // linux-headers-X-common (= v) and linux-kbuild-M (>= v): the kernel's own packages.
      for (const d of parseDepends(st.Depends)) {
        if (/^linux-(headers|kbuild)-/.test(d.name) && !pkgs.some((p) => p.name === d.name)) pkgs.push({ name: d.name, version: image })
      }
    }
    pkgs.push({ name: source, version: image })
    const debs = await apt.download(pkgs, path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    await mkdir(root)
    for (const deb of debs.filter((d) => !path.basename(d).startsWith(source + '_'))) await execa('dpkg-deb', ['-x', deb, root])
    // The headers Makefile includes the -common tree by its absolute /usr/src path.
    const hdir = path.join(root, 'usr/src', headers)
    const mk = path.join(hdir, 'Makefile')
    await writeFile(mk, (await readFile(mk, 'utf8')).replace(/include \/usr\/src\//g, `include ${root}/usr/src/`))
    // mtty.c only, streamed out of the source tarball inside the package.
    const mod = path.join(tmp, 'mtty')
    await mkdir(mod)
    const srcDeb = debs.find((d) => path.basename(d).startsWith(source + '_'))!
    const member = `${source}/samples/vfio-mdev/mtty.c`
    const r = await execa('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -xO ./usr/src/${source}.tar.xz | tar -xJO ${member} > "$2"`, 'sh', srcDeb, path.join(mod, 'mtty.c')], { reject: false, all: true })
    if (r.exitCode !== 0) throw new Error(`could not take ${member} out of ${path.basename(srcDeb)}: ${r.all}`)
    await writeFile(path.join(mod, 'Kbuild'), 'obj-m := mtty.o\n')
    progress(`mtty for ${kernel.id}: building against ${headers} with ${cc}`)
    const b = await execa('make', ['-C', hdir, `M=${mod}`, `CC=${cc}`, 'modules'], { reject: false, all: true })
    await writeFile(path.join(tmp, 'build.log'), b.all ?? '')
    if (b.exitCode !== 0) throw new Error(`make exited ${b.exitCode}: ${(b.all ?? '').split('\n').slice(-5).join(' | ')}`)
    const info = await execa('modinfo', ['-F', 'depends', path.join(mod, 'mtty.ko')])
    const vermagic = (await execa('modinfo', ['-F', 'vermagic', path.join(mod, 'mtty.ko')])).stdout.trim()
    if (!vermagic.startsWith(kernel.release + ' ')) throw new Error(`built mtty.ko has vermagic "${vermagic}", not ${kernel.release}`)
    await execa('cp', [path.join(mod, 'mtty.ko'), path.join(tmp, 'mtty.ko')])
    await writeFile(path.join(tmp, 'mtty.json'), JSON.stringify({ depends: info.stdout.trim().split(',').filter(Boolean), compiler: ccText, packages: pkgs }, null, 2))
    await execa('rm', ['-rf', root, mod, path.join(tmp, 'debs')])
  })
  if (!built) progress(`mtty for ${kernel.id}: cached at ${dir}`)
  const meta = JSON.parse(await readFile(path.join(dir, 'mtty.json'), 'utf8')) as { depends: string[]; compiler: string }
  return { kind: 'out-of-tree', file: path.join(dir, 'mtty.ko'), depends: meta.depends, log: path.join(dir, 'build.log'), compiler: meta.compiler }
}
