// KCIDB data (KCIDB I/O schema v5.3, kernelci/kcidb-io; see kcidb-schema.json) of a finished
// run, for submission to KernelCI's common report database with `kcidb-submit`.
//
// Objects (origin "vfio_conform"; every id starts with "vfio_conform:", because the schema's
// id pattern is <origin>:<anything> with the origin in [a-z0-9_]+: "vfio-conform:" would not
// validate):
//   checkout  one per kernel label: "vfio_conform:<label>". Debian kernels get tree_name
//             "debian" and a comment naming the package; a source kernel built from a git
//             work tree gets git_commit_hash, and patchset_hash "" when the tree was clean.
//   build     one per kernel label: "vfio_conform:<label>:build", architecture x86_64,
//             config_name from the config fragments ("conform", "conform+conform-compat") or
//             "debian". status PASS when the kernel was resolved (built, or unpacked from its
//             package); FAIL when resolving it failed in the kernel build; MISS when it failed
//             otherwise (a download, the host); unset when targets.json is missing.
//   test      one per conformance verdict: "vfio_conform:<label>:<topology>:<iommu>:<suite>.<test>",
//             path "vfio_conform.<suite>.<test>" (suite: the file under suites/ without
//             ".test.ts"; names slugged to the schema's [a-zA-Z0-9_-] path segments), duration
//             in seconds, environment.misc {topology, iommu, accel, qemu}, log_url the file://
//             URL of the guest's console log, log_excerpt the failure text (at most 16384
//             code points, the schema's maxLength).
//   issue     one per known issue an XFAIL or XPASS names: "vfio_conform:<known issue id>".
//   incident  one per XFAIL (present: true) and XPASS (present: false), linking the test to
//             its known issue: KCIDB's own way to say "this result is a known issue".
// Unit verdicts test the harness, not a kernel, and verdicts without a target key belong to
// no build: neither is in the KCIDB data (KTAP and JUnit have them).
//
// Status, as KCIDB defines it (the state of the tested code, not of this run's exit code):
//   PASS -> PASS, FAIL -> FAIL, SKIP -> SKIP
//   ERROR -> MISS when the guest never came up (the test did not run), else ERROR (it
//            started, then the harness or the guest failed)
//   XFAIL -> FAIL: the kernel diverged from the rule, as a known issue says; the incident
//            (present) lets KCIDB triage it as known instead of as a new failure
//   XPASS -> PASS: the kernel behaved as the rule says; only the known-issues list is stale,
//            which the incident (present: false) records. Reporting FAIL would tell KernelCI
//            the kernel regressed when it got better. (The exit code, JUnit and KTAP do
//            count XPASS as a failure: they gate this project's CI, not the kernel.)
import { createHash } from 'node:crypto'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { RunResults } from '../../claims/results.js'
import type { TestVerdict, Verdict } from '../verdict.js'
import { validateKcidb } from './kcidb-validate.js'
import { runModel, type KernelGroup, type KernelOrigin, type ReportTarget, type TargetGroup } from './run-model.js'
import { cleanText, firstLine, truncateCodePoints } from './text.js'

export { validateKcidb } from './kcidb-validate.js'

export const KCIDB_ORIGIN = 'vfio_conform'
export const KCIDB_VERSION = { major: 5, minor: 3 } as const
/** maxLength of every log_excerpt in the schema. */
export const KCIDB_LOG_EXCERPT_MAX = 16384
/** Known issues carry no edit history; every one is submitted as version 1. */
const ISSUE_VERSION = 1

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP'

type Misc = Record<string, unknown>

export interface KcidbCheckout {
  id: string
  origin: string
  tree_name?: string
  git_commit_hash?: string
  patchset_hash?: string
  comment?: string
  valid?: boolean
  misc?: Misc
}

export interface KcidbResource {
  name: string
  url: string
}

export interface KcidbBuild {
  id: string
  checkout_id: string
  origin: string
  architecture: string
  config_name?: string
  comment?: string
  input_files?: KcidbResource[]
  status?: KcidbStatus
  log_excerpt?: string
  misc?: Misc
}

export interface KcidbTest {
  id: string
  build_id: string
  origin: string
  path: string
  status: KcidbStatus
  comment?: string
  duration?: number
  environment?: { comment?: string; misc?: Misc }
  log_url?: string
  log_excerpt?: string
  misc?: Misc
}

export interface KcidbIssue {
  id: string
  version: number
  origin: string
  comment?: string
  misc?: Misc
}

export interface KcidbIncident {
  id: string
  origin: string
  issue_id: string
  issue_version: number
  test_id: string
  present: boolean
  comment?: string
}

export interface KcidbData {
  version: { major: number; minor: number }
  checkouts: KcidbCheckout[]
  builds: KcidbBuild[]
  tests: KcidbTest[]
  issues: KcidbIssue[]
  incidents: KcidbIncident[]
}

/** The KCIDB data of a run (not yet validated: renderKcidb() does that). */
export function kcidbData(run: RunResults): KcidbData {
  const model = runModel(run)
  const data: KcidbData = { version: { ...KCIDB_VERSION }, checkouts: [], builds: [], tests: [], issues: [], incidents: [] }
  const issues = new Map<string, KcidbIssue>()
  const testIds = new Set<string>()

  for (const k of model.kernels) {
    const checkoutId = `${KCIDB_ORIGIN}:${k.label}`
    const buildId = `${checkoutId}:build`
    data.checkouts.push(checkout(k, checkoutId))
    data.builds.push(build(k, checkoutId, buildId))
    const slugs = testSlugs(k.targets)
    for (const t of k.targets) {
      for (const s of t.suites) {
        const suite = suiteSlug(s.file)
        for (const { test, verdict } of s.tests) {
          const leaf = `${suite}.${slugs.get(slugKey(s.file, test))!}`
          const id = uniqueId(`${KCIDB_ORIGIN}:${k.label}:${t.topology}:${t.iommu}:${leaf}`, testIds)
          data.tests.push(testRun(id, buildId, `${KCIDB_ORIGIN}.${leaf}`, test, verdict, t))
          const ki = verdict.knownIssue
          if (ki && (verdict.verdict === 'XFAIL' || verdict.verdict === 'XPASS')) {
            const issueId = `${KCIDB_ORIGIN}:${ki.id}`
            if (!issues.has(issueId)) issues.set(issueId, compact({ id: issueId, version: ISSUE_VERSION, origin: KCIDB_ORIGIN, comment: ki.reason, misc: { ref: ki.ref } }))
            const present = verdict.verdict === 'XFAIL'
            data.incidents.push({
              id: `${id}:${ki.id}`,
              origin: KCIDB_ORIGIN,
              issue_id: issueId,
              issue_version: ISSUE_VERSION,
              test_id: id,
              present,
              comment: present ? `failed as known issue ${ki.id}` : `known issue ${ki.id} no longer reproduces`,
            })
          }
        }
      }
    }
  }
  data.issues = [...issues.values()]
  return data
}

/** KCIDB JSON of a run; throws if the data does not validate against the v5.3 schema. */
export function renderKcidb(run: RunResults): string {
  const text = JSON.stringify(kcidbData(run), null, 2) + '\n'
  // Validate what a reader will parse, not the in-memory object.
  const errors = validateKcidb(JSON.parse(text))
  if (errors.length) {
    const shown = errors.slice(0, 10).join('; ')
    throw new Error(`KCIDB report of ${run.dir} does not validate against KCIDB schema v${KCIDB_VERSION.major}.${KCIDB_VERSION.minor} (${errors.length} error(s)): ${shown}`)
  }
  return text
}

function checkout(k: KernelGroup, id: string): KcidbCheckout {
  const o = k.origin
  const base = { id, origin: KCIDB_ORIGIN, misc: compact({ kernel_id: k.id, release: k.release, origin: o }) }
  if (!o) return compact({ ...base, comment: `kernel ${k.label}` })
  switch (o.kind) {
    case 'debian':
      return compact({ ...base, tree_name: 'debian', valid: true, comment: `Debian ${o.package} ${o.version} (${o.suites.join(', ')})` })
    case 'path':
      return compact({ ...base, valid: true, comment: `prebuilt kernel ${o.path}` })
    case 'source':
      return compact({ ...base, valid: true, ...sourceIdentity(o.identity), comment: `source tree ${o.tree}` })
  }
}

// sha256 of nothing, as source-build.ts's treeIdentity() abbreviates it: an empty
// `git diff HEAD` and no untracked files mean the tree is exactly the commit.
const EMPTY_SHA256_PREFIX = 'e3b0c44298fc1c14'

/** What a source tree identity (harness/kernel/source-build.ts treeIdentity) tells KCIDB. */
function sourceIdentity(identity: string): Partial<KcidbCheckout> {
  const git = /^git:([0-9a-f]{40})\+diff:([0-9a-f]+)\+untracked:([0-9a-f]+)$/.exec(identity)
  if (git) {
    const clean = git[2] === EMPTY_SHA256_PREFIX && git[3] === EMPTY_SHA256_PREFIX
    // A dirty tree's changes are no patchset KCIDB could fetch: leave the hash unset.
    return { git_commit_hash: git[1]!, ...(clean ? { patchset_hash: '' } : {}) }
  }
  if (identity.startsWith('debian:')) return { tree_name: 'debian' }
  return {}
}

function build(k: KernelGroup, checkoutId: string, id: string): KcidbBuild {
  const o = k.origin
  const failure = resolveFailure(k)
  return compact({
    id,
    checkout_id: checkoutId,
    origin: KCIDB_ORIGIN,
    architecture: 'x86_64',
    config_name: configName(o),
    comment: k.release ? `kernel ${k.release}` : undefined,
    input_files: o?.kind === 'source' ? o.fragment.map((f) => ({ name: path.basename(f), url: pathToFileURL(f).href })) : undefined,
    status: buildStatus(o, failure),
    log_excerpt: failure ? excerpt(failure) : undefined,
    misc: o?.kind === 'source' && o.dropped.length ? { dropped_config: o.dropped } : undefined,
  })
}

function configName(o: KernelOrigin | undefined): string | undefined {
  if (o?.kind === 'source') return o.fragment.map((f) => path.basename(f).replace(/\.config$/, '')).join('+')
  if (o?.kind === 'debian') return 'debian'
  return undefined
}

/** The error of a guest whose kernel could not be resolved (global-setup: "kernel <spec>: ..."). */
function resolveFailure(k: KernelGroup): string | undefined {
  if (k.origin) return undefined
  for (const t of k.targets) {
    const e = t.target?.status === 'error' ? t.target.error : undefined
    if (e && cleanText(e).startsWith('kernel ')) return e
  }
  return undefined
}

function buildStatus(o: KernelOrigin | undefined, failure: string | undefined): KcidbStatus | undefined {
  if (o) return 'PASS'
  if (failure) return /kernel build failed/.test(failure) ? 'FAIL' : 'MISS'
  return undefined
}

function testRun(id: string, buildId: string, testPath: string, test: string, v: TestVerdict, t: TargetGroup): KcidbTest {
  const g = t.target
  const text = v.verdict === 'PASS' ? undefined : v.detail ?? v.reason
  return compact({
    id,
    build_id: buildId,
    origin: KCIDB_ORIGIN,
    path: testPath,
    status: testStatus(v.verdict, g),
    comment: firstLine(test),
    duration: v.durationMs !== undefined ? Math.round(v.durationMs) / 1000 : undefined,
    environment: {
      comment: `${t.topology}/${t.iommu}`,
      misc: compact({ topology: t.topology, iommu: t.iommu, accel: g?.accel, qemu: g?.qemu, qemu_spec: g?.qemuSpec }),
    },
    log_url: g?.consoleLog && path.isAbsolute(g.consoleLog) ? pathToFileURL(g.consoleLog).href : undefined,
    log_excerpt: text ? excerpt(text) : undefined,
    misc: compact({
      verdict: v.verdict,
      file: v.file,
      test: v.name,
      reason: v.reason ? firstLine(v.reason) : undefined,
      known_issue: v.knownIssue,
      flaky: v.verdict === 'FLAKY' ? { rounds: v.rounds, allowed: v.flakyAllowed ?? false } : undefined,
    }),
  })
}

function testStatus(v: Verdict, target: ReportTarget | undefined): KcidbStatus {
  switch (v) {
    case 'PASS':
    case 'XPASS':
      return 'PASS'
    case 'FAIL':
    case 'XFAIL':
      return 'FAIL'
    case 'SKIP':
      return 'SKIP'
    case 'ERROR':
      return target?.status === 'error' ? 'MISS' : 'ERROR'
    // KCIDB has no flaky status: FAIL, with the counts in misc.flaky.
    case 'FLAKY':
      return 'FAIL'
  }
}

function excerpt(s: string): string {
  // NUL is the one character the schema's text patterns refuse; cleanText drops it with the rest.
  return truncateCodePoints(cleanText(s), KCIDB_LOG_EXCERPT_MAX)
}

// ---------------------------------------------------------------------------------------
// Paths and ids

/** Longest slug of a test name kept whole; longer ones are cut and get a hash. */
const MAX_SLUG = 80

/** A path segment: lower case, runs of anything outside [a-z0-9_-] as one "_". */
function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
}

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8)

/** "suites/claims/foo.test.ts" -> "claims.foo": the file's place under suites/, dot-separated. */
function suiteSlug(file: string): string {
  const rel = file.replace(/^suites\//, '').replace(/\.test\.[cm]?[jt]s$|\.[cm]?[jt]s$/, '')
  return rel.split('/').map((p) => slug(p) || 'suite').join('.')
}

const slugKey = (file: string, test: string) => `${file}\0${test}`

/**
 * A path segment per (suite file, test name) of a kernel, the same on every target, and
 * distinct within a suite: two names that slug alike, and slugs cut at MAX_SLUG, both get a
 * hash of the full name, whatever order the verdicts came in.
 */
function testSlugs(targets: TargetGroup[]): Map<string, string> {
  const names = new Map<string, { file: string; test: string; base: string }>()
  for (const t of targets) {
    for (const s of t.suites) {
      for (const { test } of s.tests) names.set(slugKey(s.file, test), { file: s.file, test, base: slug(test) || 'test' })
    }
  }
  const taken = new Map<string, number>()
  for (const n of names.values()) taken.set(`${n.file}\0${n.base}`, (taken.get(`${n.file}\0${n.base}`) ?? 0) + 1)
  const out = new Map<string, string>()
  for (const [key, n] of names) {
    const shared = (taken.get(`${n.file}\0${n.base}`) ?? 0) > 1
    const long = n.base.length > MAX_SLUG
    out.set(key, shared || long ? `${n.base.slice(0, MAX_SLUG).replace(/_+$/, '')}_${shortHash(n.test)}` : n.base)
  }
  return out
}

/** `id`, or `id~2`, `id~3`... when a run holds the same test twice on one target. */
function uniqueId(id: string, taken: Set<string>): string {
  let out = id
  for (let i = 2; taken.has(out); i++) out = `${id}~${i}`
  taken.add(out)
  return out
}

/** The object without its undefined properties: the schema allows no null and ajv no undefined. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
