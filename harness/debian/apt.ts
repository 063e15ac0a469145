// A project-local apt: its own sources list, state and cache under the project's cache
// dir, the system's Debian keyring for signatures. The machine's apt configuration is
// never read for sources nor written. Used for kernels, the guest's userland packages,
// linux-libc-dev (uapi headers), linux-source and the build roots of out-of-tree modules
// (resolveClosure: ../kernel/build-root.ts).
import { execa } from 'execa'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
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

/**
 * The suites of one release family as the project's sources name them: "trixie" ->
 * trixie, trixie-updates, trixie-security; "sid" -> sid. Empty for a suite the project does
 * not read. A build root is resolved against one family only, so that it never mixes
 * releases (a trixie root must not pick sid's libc6 because sid's is newer).
 */
export function suiteFamily(codename: string): string[] {
  return SOURCES.map(([, s]) => s).filter((s) => s === codename || s.startsWith(codename + '-'))
}

function sourcesList(suites: string[]): string {
  return SOURCES.filter(([, s]) => suites.includes(s)).map(([m, s]) => `deb [signed-by=${KEYRING}] ${m} ${s} main`).join('\n') + '\n'
}

/**
 * Debian packages the archive (as the project's lists know it) cannot give: not in the
 * suite, no installable version, or a download that failed. `packages` names them, so that
 * whoever skips because of it can say which.
 */
export class MissingPackageError extends Error {
  override name = 'MissingPackageError'
  constructor(
    readonly packages: string[],
    readonly detail: string,
  ) {
    super(`Debian package${packages.length === 1 ? '' : 's'} ${packages.join(', ')} cannot be had: ${detail}`)
  }
}

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

  /**
   * The -o options that point apt at the project's state. `alt` (resolveClosure) swaps in
   * another sources list, dpkg status and cache dir (so its pkgcache.bin, made for other
   * sources, lands there and not in the project's) while reading the same package lists.
   */
  private opts(alt?: { dir: string }): string[] {
    const r = this.root
    const e = alt?.dir ?? r
    return [
      `-o`, `Dir::Etc::SourceList=${e}/sources.list`,
      `-o`, `Dir::Etc::SourceParts=${e}/sources.list.d`,
      `-o`, `Dir::Etc::Preferences=${e}/preferences`,
      `-o`, `Dir::Etc::PreferencesParts=${e}/preferences.d`,
      `-o`, `Dir::State=${r}/state`,
      `-o`, `Dir::State::status=${alt ? `${alt.dir}/status` : `${r}/state/status`}`,
      `-o`, `Dir::Cache=${alt ? `${alt.dir}/cache` : `${r}/cache`}`,
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
   * `what` names the purpose in the progress line instead of listing every package (a build
   * root is ~70). A package that cannot be fetched throws MissingPackageError naming it.
   */
  async download(pkgs: Array<{ name: string; version: string }>, destDir: string, what?: string): Promise<string[]> {
    await this.update()
    await mkdir(destDir, { recursive: true })
    const specs = pkgs.map((p) => `${p.name}=${p.version}`)
    progress(what ? `apt: downloading ${pkgs.length} packages for ${what}` : `apt: downloading ${specs.join(' ')}`)
    const r = await execa('apt-get', [...this.opts(), '-q', 'download', ...specs], { cwd: destDir, reject: false, all: true })
    if (r.exitCode !== 0) {
      const missing = parseAptProblems(r.all ?? '')
      if (missing.length) throw new MissingPackageError(missing, `apt-get download: ${lastLines(r.all ?? '', 3)}`)
      throw new HarnessError(`apt-get download ${what ? `(${pkgs.length} packages for ${what})` : specs.join(' ')} failed: ${lastLines(r.all ?? '', 5)}`)
    }
    const files = await readdir(destDir)
    return pkgs.map((p) => {
      const f = files.find((x) => x.startsWith(`${p.name}_`) && x.endsWith('.deb'))
      if (!f) throw new MissingPackageError([p.name], `apt-get download left no .deb for ${p.name}=${p.version}`)
      return path.join(destDir, f)
    })
  }

  /**
   * The packages (exact versions) that `apt-get install --no-install-recommends pkgs` would
   * install on an empty system whose sources are only `suites`: the dependency closure, for
   * a build root unpacked with dpkg-deb (../kernel/build-root.ts). apt simulates (-s) against
   * an empty dpkg status of its own and a sources list of those suites, reading the lists
   * that update() keeps; nothing is installed, the host's dpkg status is never read. A
   * package apt cannot find or satisfy throws MissingPackageError naming it.
   */
  async resolveClosure(pkgs: string[], suites: string[]): Promise<Array<{ name: string; version: string }>> {
    if (!suites.length) throw new UsageError('resolveClosure: no suites given')
    await this.update()
    const dir = await mkdtemp(path.join(this.root, 'closure-'))
    try {
      for (const d of ['sources.list.d', 'preferences.d', 'cache/archives/partial']) await mkdir(path.join(dir, d), { recursive: true })
      await writeFile(path.join(dir, 'sources.list'), sourcesList(suites))
      await writeFile(path.join(dir, 'status'), '')
      const r = await execa('apt-get', [...this.opts({ dir }), '-q', '-s', '--no-install-recommends', 'install', ...pkgs], { reject: false, all: true })
      const missing = parseAptProblems(r.all ?? '')
      if (missing.length) throw new MissingPackageError(missing, `not installable from ${suites.join(', ')}: ${lastLines((r.all ?? '').split('\n').filter((l) => !/^(Reading|Building|NOTE|Note)/.test(l)).join('\n'), 4)}`)
      if (r.exitCode !== 0) throw new HarnessError(`apt-get -s install (${suites.join(', ')}) failed: ${lastLines(r.all ?? '', 5)}`)
      const out = parseSimulation(r.stdout)
      if (!out.length) throw new HarnessError(`apt-get -s install (${suites.join(', ')}) installs nothing: ${lastLines(r.all ?? '', 5)}`)
      return out
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The "Inst name (version origins [arch])" lines of `apt-get -s install`: what apt would
 * install, in its order. Exported for unit tests.
 */
export function parseSimulation(text: string): Array<{ name: string; version: string }> {
  const out: Array<{ name: string; version: string }> = []
  for (const m of text.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) /gm)) {
    const name = m[1]!.replace(/:(amd64|all)$/, '')
    if (!out.some((p) => p.name === name)) out.push({ name, version: m[2]! })
  }
  return out
}

/**
 * The packages apt's output says it could not find, satisfy or fetch: "Unable to locate
 * package X", "Version 'v' for 'X' was not found", "Package 'X' has no installation
 * candidate", "Y : Depends: X but it is not installable", "Failed to fetch .../X_v_amd64.deb".
 * Exported for unit tests.
 */
export function parseAptProblems(text: string): string[] {
  const out: string[] = []
  const add = (n: string) => {
    if (n && !out.includes(n)) out.push(n)
  }
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null
    if ((m = /^E: Unable to locate package (\S+)/.exec(line))) add(m[1]!)
    else if ((m = /^E: Version '[^']*' for '([^']+)' was not found/.exec(line))) add(m[1]!)
    else if ((m = /^E: Package '([^']+)' has no installation candidate/.exec(line))) add(m[1]!)
    else if ((m = /^E: Couldn't find any package by (?:glob|regex) '([^']+)'/.exec(line))) add(m[1]!)
    else if ((m = /^\s*(?:\S+ : )?(?:Pre-)?Depends: (\S+)(?: \([^)]*\))? but (?:it is not installable|it is a virtual package|it is not going to be installed|\S+ is to be installed)/.exec(line))) add(m[1]!)
    else if ((m = /^E: Failed to fetch (\S+\.deb)\s/.exec(line))) add(decodeURIComponent(path.basename(m[1]!)).split('_')[0]!)
    // "Err:3 http://deb.debian.org/debian trixie/main amd64 cpp-14 amd64 14.2.0-19"
    else if ((m = /^Err:\d+ \S+ \S+ \S+ (\S+) \S+ \S+\s*$/.exec(line))) add(m[1]!)
  }
  return out
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
