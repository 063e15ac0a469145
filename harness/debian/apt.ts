// A project-local apt: its own sources list, state and cache under the project's cache
// dir, the system's Debian keyring for signatures. The machine's apt configuration is
// never read for sources nor written. Used for kernels, the guest's userland packages,
// linux-libc-dev (uapi headers) and linux-source.
import { execa } from 'execa'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { cachePath, exists, withLock } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'
const MIRROR = process.env.VFIO_CONFORM_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'
const SECURITY = process.env.VFIO_CONFORM_DEBIAN_SECURITY ?? 'http://deb.debian.org/debian-security'

/** Suites the project reads. Security suites carry the newest stable kernels. */
const SOURCES: Array<[string, string]> = [
  [MIRROR, 'bookworm'],
  [MIRROR, 'bookworm-updates'],
  [SECURITY, 'bookworm-security'],
  [MIRROR, 'trixie'],
  [MIRROR, 'trixie-updates'],
  [SECURITY, 'trixie-security'],
  [MIRROR, 'sid'],
  [MIRROR, 'experimental'],
]

/** Lists older than this are refreshed; a run within it reads no index from the network. */
const LIST_MAX_AGE_MS = 6 * 3600 * 1000

export interface PackageVersion {
  version: string
  /** Codenames of the suites that offer this version (e.g. "bookworm-security"). */
  suites: string[]
}

export type Stanza = Record<string, string>

export class ProjectApt {
  readonly root: string
  private updated = false

  constructor(root = cachePath('apt')) {
    this.root = root
  }

  private opts(): string[] {
    const r = this.root
    return [
      `-o`, `Dir::Etc::SourceList=${r}/sources.list`,
      `-o`, `Dir::Etc::SourceParts=${r}/sources.list.d`,
      `-o`, `Dir::Etc::Preferences=${r}/preferences`,
      `-o`, `Dir::Etc::PreferencesParts=${r}/preferences.d`,
      `-o`, `Dir::State=${r}/state`,
      `-o`, `Dir::State::status=${r}/state/status`,
      `-o`, `Dir::Cache=${r}/cache`,
      // Kept on disk: a host whose apt.conf.d empties these (Debian's container images do,
      // docker-clean) would have every apt-cache call parse all lists again (~3 s each).
      `-o`, `Dir::Cache::pkgcache=pkgcache.bin`,
      `-o`, `Dir::Cache::srcpkgcache=srcpkgcache.bin`,
      `-o`, `APT::Architecture=amd64`,
      `-o`, `APT::Architectures=amd64`,
      `-o`, `Acquire::Languages=none`,
      `-o`, `Debug::NoLocking=true`,
      `-o`, `APT::Sandbox::User=root`,
    ]
  }

  private async prepare(): Promise<void> {
    const r = this.root
    for (const d of ['sources.list.d', 'preferences.d', 'state/lists/partial', 'cache/archives/partial']) {
      await mkdir(path.join(r, d), { recursive: true })
    }
    if (!(await exists(KEYRING))) {
      throw new UsageError(`${KEYRING} is missing: install debian-archive-keyring (apt-get install debian-archive-keyring)`)
    }
    const list = SOURCES.map(([m, s]) => `deb [signed-by=${KEYRING}] ${m} ${s} main`).join('\n') + '\n'
    // Rewritten only when it changes: a newer sources.list makes apt rebuild its package cache.
    const file = path.join(r, 'sources.list')
    if ((await readFile(file, 'utf8').catch(() => '')) !== list) await writeFile(file, list)
    if (!(await exists(path.join(r, 'state/status')))) await writeFile(path.join(r, 'state/status'), '')
  }

  /** Refresh the package lists when they are missing or old. */
  async update(force = false): Promise<void> {
    if (this.updated && !force) return
    await withLock(path.join(this.root, 'lock'), async () => {
      await this.prepare()
      const stamp = path.join(this.root, 'state/updated')
      const fresh = await stat(stamp).then((s) => Date.now() - s.mtimeMs < LIST_MAX_AGE_MS, () => false)
      if (!fresh || force) {
        progress('apt: refreshing the project-local package lists (bookworm, trixie, sid, experimental)')
        const r = await execa('apt-get', [...this.opts(), '-q', 'update'], { reject: false, all: true })
        if (r.exitCode !== 0 || /^(W|E): /m.test(r.all ?? '')) {
          const bad = (r.all ?? '').split('\n').filter((l) => /^(W|E):/.test(l))
          // A warning about one suite (e.g. experimental briefly unsigned) is survivable when
          // the lists we have still answer; a failed update with no lists at all is not.
          if (r.exitCode !== 0 && !(await this.hasLists())) {
            throw new HarnessError(`apt-get update failed: ${bad.join(' | ') || r.shortMessage}`)
          }
          progress(`apt: update warned: ${bad.join(' | ')}`)
        }
        await writeFile(stamp, new Date().toISOString())
      }
    })
    this.updated = true
  }

  private async hasLists(): Promise<boolean> {
    const files = await readdir(path.join(this.root, 'state/lists')).catch(() => [] as string[])
    return files.some((f) => f.endsWith('_Packages'))
  }

  /** Versions of a package, newest first, with the suites that offer each. */
  async versions(pkg: string): Promise<PackageVersion[]> {
    return (await this.versionsMany([pkg])).get(pkg) ?? []
  }

  /** Versions of several packages with one apt-cache call. */
  async versionsMany(pkgs: string[]): Promise<Map<string, PackageVersion[]>> {
    await this.update()
    const r = await execa('apt-cache', [...this.opts(), 'policy', ...pkgs])
    return parsePolicy(r.stdout)
  }

  /** The stanza of one package version (apt-cache show pkg=ver). */
  async show(pkg: string, version?: string): Promise<Stanza> {
    await this.update()
    const r = await execa('apt-cache', [...this.opts(), 'show', version ? `${pkg}=${version}` : pkg], { reject: false })
    if (r.exitCode !== 0 || !r.stdout.trim()) {
      throw new UsageError(`Debian package ${pkg}${version ? '=' + version : ''} not found in the project's apt lists`)
    }
    return parseStanza(r.stdout.split(/\n\n/)[0]!)
  }

  /** Map of suite aliases (stable, oldstable, unstable, …) to codenames, from the Release files. */
  async suiteAliases(): Promise<Record<string, string>> {
    await this.update()
    const dir = path.join(this.root, 'state/lists')
    const out: Record<string, string> = {}
    for (const f of await readdir(dir)) {
      if (!f.endsWith('InRelease') && !f.endsWith('_Release')) continue
      const text = await readFile(path.join(dir, f), 'utf8')
      const suite = /^Suite: (\S+)/m.exec(text)?.[1]
      const code = /^Codename: (\S+)/m.exec(text)?.[1]
      if (suite && code) out[suite] = code
    }
    // experimental's Codename is "rc-buggy"; its list lines say "experimental".
    if (out.experimental === 'rc-buggy') out.experimental = 'experimental'
    return out
  }

  /**
   * Download exact package versions into destDir (the .deb files), returning their paths.
   * apt verifies each file against the signed index, so what lands is what Debian published.
   */
  async download(pkgs: Array<{ name: string; version: string }>, destDir: string): Promise<string[]> {
    await this.update()
    await mkdir(destDir, { recursive: true })
    const specs = pkgs.map((p) => `${p.name}=${p.version}`)
    progress(`apt: downloading ${specs.join(' ')}`)
    const r = await execa('apt-get', [...this.opts(), '-q', 'download', ...specs], { cwd: destDir, reject: false, all: true })
    if (r.exitCode !== 0) throw new HarnessError(`apt-get download ${specs.join(' ')} failed: ${lastLines(r.all ?? '', 5)}`)
    const files = await readdir(destDir)
    return pkgs.map((p) => {
      const f = files.find((x) => x.startsWith(`${p.name}_`) && x.endsWith('.deb'))
      if (!f) throw new HarnessError(`apt-get download left no .deb for ${p.name}`)
      return path.join(destDir, f)
    })
  }
}

/** Parse `apt-cache policy` output (one or more packages). Exported for unit tests. */
export function parsePolicy(text: string): Map<string, PackageVersion[]> {
  const out = new Map<string, PackageVersion[]>()
  let cur: PackageVersion[] | undefined
  let inTable = false
  for (const line of text.split('\n')) {
    const pkg = /^(\S+):$/.exec(line)
    if (pkg) {
      cur = []
      out.set(pkg[1]!, cur)
      inTable = false
      continue
    }
    if (/^\s+Version table:/.test(line)) {
      inTable = true
      continue
    }
    if (!inTable || !cur) continue
    // " *** 1.2-3 500" or "     1.2-3 500": a version line; "        500 http://... suite/main amd64 Packages": an origin.
    const v = /^\s{1,5}(?:\*\*\*\s+)?(\S+)\s+-?\d+\s*$/.exec(line)
    if (v) {
      cur.push({ version: v[1]!, suites: [] })
      continue
    }
    const s = /^\s+-?\d+\s+\S+\s+(\S+?)\/\S+\s/.exec(line)
    if (s && cur.length) cur[cur.length - 1]!.suites.push(s[1]!)
  }
  return out
}

export function parseStanza(text: string): Stanza {
  const out: Stanza = {}
  let key = ''
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && key) out[key] += '\n' + line.trim()
    else {
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line)
      if (m) {
        key = m[1]!
        out[key] = m[2]!
      }
    }
  }
  return out
}

/** Parse a Depends field into package names with an optional exact version pin. */
export function parseDepends(field: string | undefined): Array<{ name: string; version?: string; alternatives: string[] }> {
  if (!field) return []
  return field.split(',').map((dep) => {
    const alts = dep.split('|').map((a) => a.trim())
    const m = /^([^\s(:]+)(?::\S+)?\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(alts[0]!)
    return { name: m?.[1] ?? alts[0]!, version: m?.[2], alternatives: alts.map((a) => a.split(/[\s(:]/)[0]!) }
  })
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join(' | ')
}

let shared: ProjectApt | undefined
export function projectApt(): ProjectApt {
  return (shared ??= new ProjectApt())
}
