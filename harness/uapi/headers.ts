// The real kernel uapi headers (linux/vfio.h, linux/iommufd.h) the TypeScript tables in
// this directory are checked against: Debian sid's linux-libc-dev, fetched through the
// project-local apt, extracted with dpkg-deb into the cache (never installed on the host).
import { execa } from 'execa'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { projectApt } from '../debian/apt.js'
import { cachedDir, cachePath, exists } from '../util/cache.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'

const PKG = 'linux-libc-dev'
const SUITE = 'sid'

export interface UapiHeaders {
  /** `<root>/usr/include`: holds linux/vfio.h and linux/iommufd.h. */
  include: string
  /** `<root>/usr/include/x86_64-linux-gnu`: holds the package's asm/ headers. */
  archInclude: string
  /** The linux-libc-dev version the headers come from. */
  version: string
}

/** Fetch (once, then from the cache) sid's linux-libc-dev and return its include directories. */
export async function uapiHeadersInfo(): Promise<UapiHeaders> {
  const apt = projectApt()
  let versions
  try {
    versions = await apt.versions(PKG)
  } catch (e) {
    throw new HarnessError(`uapi headers: cannot list ${PKG} versions through the project apt (network?): ${(e as Error).message}`)
  }
  const picked = versions.find((v) => v.suites.some((s) => s === SUITE))
  if (!picked) {
    throw new HarnessError(
      `uapi headers: no ${PKG} in suite ${SUITE} (apt offers: ${versions.map((v) => `${v.version} [${v.suites.join(',')}]`).join(', ') || 'nothing — are the apt lists empty (no network)?'})`,
    )
  }
  const entry = cachePath('uapi-headers', picked.version.replace(/[^A-Za-z0-9.+-]/g, '_'))
  const { dir, built } = await cachedDir(entry, async (tmp) => {
    const debs = await apt.download([{ name: PKG, version: picked.version }], path.join(tmp, 'debs'))
    const root = path.join(tmp, 'root')
    await mkdir(root)
    for (const deb of debs) await execa('dpkg-deb', ['-x', deb, root])
    await rm(path.join(tmp, 'debs'), { recursive: true, force: true })
    for (const h of ['usr/include/linux/vfio.h', 'usr/include/linux/iommufd.h', 'usr/include/x86_64-linux-gnu/asm/ioctl.h']) {
      if (!(await exists(path.join(root, h)))) throw new HarnessError(`uapi headers: ${PKG} ${picked.version} has no ${h}`)
    }
    await writeFile(path.join(tmp, 'version'), picked.version + '\n')
  })
  if (built) progress(`uapi headers: ${PKG} ${picked.version} (${SUITE}) extracted to ${dir}`)
  const version = (await readFile(path.join(dir, 'version'), 'utf8')).trim()
  return {
    include: path.join(dir, 'root/usr/include'),
    archInclude: path.join(dir, 'root/usr/include/x86_64-linux-gnu'),
    version,
  }
}

/** The include directory (`<root>/usr/include`) holding sid's linux/vfio.h and linux/iommufd.h. */
export async function uapiHeaders(): Promise<string> {
  return (await uapiHeadersInfo()).include
}
