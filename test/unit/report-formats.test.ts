// Report formats of a finished run (harness/report/formats/): KTAP structure and directives,
// JUnit counts, failure/error separation and escaping, KCIDB schema validity and statuses,
// and the files `vfio-conform report` writes.
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, test, vi } from 'vitest'
import type { RunTarget } from '../../harness/claims/evaluate.js'
import type { RunResults } from '../../harness/claims/results.js'
import { reportCommand } from '../../harness/cli/report.js'
import { RENDER_REPORT, REPORT_FILES, writeReports } from '../../harness/report/formats/index.js'
import { renderJunit, xmlAttr } from '../../harness/report/formats/junit.js'
import { kcidbData, renderKcidb, validateKcidb, type KcidbData } from '../../harness/report/formats/kcidb.js'
import { renderKtap } from '../../harness/report/formats/ktap.js'
import type { TestVerdict } from '../../harness/report/verdict.js'
import { UsageError } from '../../harness/util/errors.js'
import { tempDir } from './temp-dirs.js'
import { REGISTRIES } from '../../suites/registries.js'

// ---------------------------------------------------------------------------------------
// A small run: two kernels, a verdict of every kind, one unit verdict.

const K1 = 'debian-6.1.192-2'
const K2 = 'source-linux'
const SHA = '0123456789abcdef0123456789abcdef01234567'
const EMPTY = 'e3b0c44298fc1c14'
const RUN_DIR = '/tmp/vfio-conform-results/2026-11-25T20-10-37-235Z'
const SKIP_WHY = 'CONFIG_VIRTIO_IOMMU not set: this kernel cannot drive virtio-iommu'
const NASTY_REASON = `expected <a & "b"> 'c'\x07 to be []`
const NASTY_DETAIL = `${NASTY_REASON}\n\x1b[32m- Expected\x1b[39m\nline <two> & 'three'\x07`
const HUGE = '\u{1F600}x'.repeat(10_000) // 20000 code points, 30000 UTF-16 units

const debianOrigin = { kind: 'debian', package: 'linux-image-amd64', version: '6.1.192-2', suites: ['bookworm-security'] }
const sourceOrigin = {
  kind: 'source',
  tree: '/src/linux',
  identity: `git:${SHA}+diff:${EMPTY}+untracked:${EMPTY}`,
  fragment: ['/repo/guests/kconfig/conform.config', '/repo/guests/kconfig/conform-compat.config'],
  dropped: [],
}
const guest = (label: string, origin: object | null, iommu: string, extra: object) => ({
  key: `${label}/default/${iommu}`,
  kernel: { id: label, label, release: label === K1 ? '6.1.0-56-amd64' : '6.12.0', origin },
  topology: 'default',
  iommu,
  runDir: `${RUN_DIR}/${label}/default/${iommu}`,
  consoleLog: `${RUN_DIR}/${label}/default/${iommu}/console.log`,
  ...extra,
})
const TARGETS = [
  guest(K1, debianOrigin, 'intel-iommu', { status: 'ready', accel: 'tcg', qemu: '7.2.22' }),
  guest(K1, debianOrigin, 'virtio-iommu', { status: 'skip', skipReason: SKIP_WHY }),
  guest(K2, sourceOrigin, 'intel-iommu', { status: 'ready', accel: 'kvm', qemu: '9.2.0' }),
  guest(K2, sourceOrigin, 'amd-iommu', { status: 'error', error: `[harness-error] ${K2}/default/amd-iommu: boot failed: boot deadline` }),
] as RunTarget[]

const cv = (label: string, iommu: string, file: string, test: string, verdict: TestVerdict['verdict'], extra: Partial<TestVerdict> = {}): TestVerdict => ({
  project: 'conformance',
  file: `suites/${file}.test.ts`,
  name: `${label}/default/${iommu} > ${test}`,
  verdict,
  ...extra,
})
const KI_BRIDGE = { id: 'ki-bridge', reason: 'probe fails behind a pcie-pci-bridge', ref: 'drivers/iommu/virtio-iommu.c' }
const KI_ORDER = { id: 'ki-order', reason: 'groups form at probe', ref: 'drivers/iommu/iommu.c' }
const VERDICTS: TestVerdict[] = [
  { project: 'unit', file: 'test/unit/parsers.test.ts', name: 'parsers > reads a line', verdict: 'PASS', durationMs: 3 },
  cv(K1, 'intel-iommu', 'boot', 'runs the requested kernel', 'PASS', { durationMs: 1500 }),
  cv(K1, 'intel-iommu', 'groups', 'group q35-host', 'FAIL', { reason: NASTY_REASON, detail: NASTY_DETAIL, durationMs: 250 }),
  cv(K1, 'intel-iommu', 'groups', 'issue #42 stays fixed', 'PASS'),
  cv(K1, 'virtio-iommu', 'boot', 'runs the requested kernel', 'SKIP', { reason: SKIP_WHY }),
  cv(K2, 'intel-iommu', 'groups', 'group pcipci + bridged-edu', 'XFAIL', {
    knownIssue: KI_BRIDGE,
    reason: `ki-bridge: ${KI_BRIDGE.reason} [${KI_BRIDGE.ref}]`,
    detail: 'members without a group: bridged-edu',
  }),
  cv(K2, 'intel-iommu', 'groups', 'group rp-mix', 'XPASS', { knownIssue: KI_ORDER, reason: 'known issue ki-order no longer reproduces: update suites/known-issues.ts' }),
  cv(K2, 'intel-iommu', 'legacy-group', 'a group opens once', 'ERROR', { reason: `${K2}/default/intel-iommu: SSH connection lost`, detail: `${K2}/default/intel-iommu: SSH connection lost\nconsole tail` }),
  cv(K2, 'intel-iommu', 'legacy-group', 'a huge failure', 'FAIL', { reason: 'too long', detail: HUGE }),
  cv(K2, 'amd-iommu', 'boot', 'runs the requested kernel', 'ERROR', { reason: `guest ${K2}/default/amd-iommu is not available: boot failed: boot deadline` }),
]
const RUN: RunResults = { dir: RUN_DIR, verdicts: VERDICTS, targets: TARGETS, runErrors: [] }

// ---------------------------------------------------------------------------------------
// A minimal KTAP reader: checks version and plan lines, numbering and indentation as it goes.

interface KtapTest {
  result: 'ok' | 'not ok'
  number: number
  name: string
  directive?: string
  data?: string
  diagnostics: string[]
  children?: KtapTest[]
}

function parseKtap(text: string): KtapTest[] {
  const lines = text.split('\n')
  expect(lines.at(-1)).toBe('')
  const { tests, pos } = parseBlock(lines, 0, 0)
  expect(pos).toBe(lines.length - 1)
  return tests
}

function parseBlock(lines: string[], start: number, indent: number): { tests: KtapTest[]; pos: number } {
  const pad = ' '.repeat(indent)
  expect(lines[start]).toBe(`${pad}KTAP version 1`)
  const plan = /^1\.\.(\d+)$/.exec(lines[start + 1]?.slice(indent) ?? '')
  expect(lines[start + 1]?.startsWith(pad) && plan, `plan after line ${start + 1}`).toBeTruthy()
  const tests: KtapTest[] = []
  let children: KtapTest[] | undefined
  let diagnostics: string[] = []
  let pos = start + 2
  while (pos < lines.length - 1) {
    const line = lines[pos]!
    const depth = line.length - line.trimStart().length
    if (depth < indent) break
    if (depth === indent + 2 && line.trim() === 'KTAP version 1') {
      const child = parseBlock(lines, pos, indent + 2)
      children = child.tests
      pos = child.pos
      continue
    }
    expect(depth, `indentation of line ${pos + 1}: ${line}`).toBe(indent)
    const body = line.slice(indent)
    if (body.startsWith('#')) {
      diagnostics.push(body.replace(/^# ?/, ''))
      pos++
      continue
    }
    const m = /^(ok|not ok) (\d+) ([^#]*?)(?: # (\S+)(?: (.*))?)?$/.exec(body)
    expect(m, `result line ${pos + 1}: ${line}`).toBeTruthy()
    tests.push({ result: m![1] as KtapTest['result'], number: Number(m![2]), name: m![3]!, directive: m![4], data: m![5], diagnostics, children })
    children = undefined
    diagnostics = []
    pos++
  }
  expect(tests.length, `plan of the block at line ${start + 1}`).toBe(Number(plan![1]))
  expect(tests.map((t) => t.number)).toEqual(tests.map((_, i) => i + 1))
  expect(children, 'a subtest block without its result line').toBeUndefined()
  return { tests, pos }
}

const child = (tests: KtapTest[] | undefined, name: string): KtapTest => {
  const t = tests?.find((x) => x.name === name)
  expect(t, `subtest "${name}" among ${tests?.map((x) => x.name).join(', ')}`).toBeDefined()
  return t!
}
const at = (tests: KtapTest[], ...names: string[]): KtapTest => names.slice(1).reduce((t, n) => child(t.children, n), child(tests, names[0]!))

describe('KTAP', () => {
  const ktap = renderKtap(RUN)
  // Parsed in each test (not in a hook): a broken structure fails every test, it skips none.
  let parsed: KtapTest[] | undefined
  const tree = () => (parsed ??= parseKtap(ktap))

  test('every plan matches its result lines, every subtest block is two spaces deeper', () => {
    expect(() => parseKtap(ktap)).not.toThrow()
    expect(() => parseKtap(ktap.replace('\n  1..2\n', '\n  1..3\n'))).toThrow(/plan of the block/)
    expect(() => parseKtap(ktap.replace('\n      ok 1 ', '\n       ok 1 '))).toThrow(/indentation/)
  })

  test('opens with the version line and plans one top-level subtest for the unit tests and one per kernel', () => {
    expect(ktap.split('\n').slice(0, 2)).toEqual(['KTAP version 1', '1..3'])
    expect(tree().map((t) => t.name)).toEqual(['unit', K1, K2])
    expect(at(tree(), 'unit', 'test/unit/parsers.test.ts', 'parsers > reads a line').result).toBe('ok')
  })

  test('nests kernel -> topology/vIOMMU -> suite file -> test, two spaces a level', () => {
    expect(child(tree(), K1).children!.map((t) => t.name)).toEqual(['default/intel-iommu', 'default/virtio-iommu'])
    expect(child(tree(), K2).children!.map((t) => t.name)).toEqual(['default/intel-iommu', 'default/amd-iommu'])
    expect(at(tree(), K1, 'default/intel-iommu').children!.map((t) => t.name)).toEqual(['suites/boot.test.ts', 'suites/groups.test.ts'])
    expect(ktap).toContain(`\n      ok 1 runs the requested kernel # SKIP ${SKIP_WHY}\n`)
  })

  test('SKIP and XFAIL are ok with their directive; FAIL, XPASS and ERROR are not ok', () => {
    const skip = at(tree(), K1, 'default/virtio-iommu', 'suites/boot.test.ts', 'runs the requested kernel')
    expect([skip.result, skip.directive, skip.data]).toEqual(['ok', 'SKIP', SKIP_WHY])
    const xfail = at(tree(), K2, 'default/intel-iommu', 'suites/groups.test.ts', 'group pcipci + bridged-edu')
    expect([xfail.result, xfail.directive, xfail.data]).toEqual(['ok', 'XFAIL', 'ki-bridge'])
    expect(xfail.diagnostics.join('\n')).toContain('known issue ki-bridge: probe fails behind a pcie-pci-bridge')
    const xpass = at(tree(), K2, 'default/intel-iommu', 'suites/groups.test.ts', 'group rp-mix')
    expect([xpass.result, xpass.directive]).toEqual(['not ok', undefined])
    expect(xpass.diagnostics[0]).toMatch(/^XPASS: known issue ki-order no longer reproduces/)
    const error = at(tree(), K2, 'default/intel-iommu', 'suites/legacy-group.test.ts', 'a group opens once')
    expect([error.result, error.directive, error.data]).toEqual(['not ok', 'ERROR', `${K2}/default/intel-iommu: SSH connection lost`])
    const fail = at(tree(), K1, 'default/intel-iommu', 'suites/groups.test.ts', 'group q35-host')
    expect([fail.result, fail.directive]).toEqual(['not ok', undefined])
    expect(fail.diagnostics).toContain(`line <two> & 'three'`)
  })

  test('results bubble up: a failure makes every parent not ok, all-skipped parents SKIP', () => {
    expect(child(tree(), K1).result).toBe('not ok')
    expect(at(tree(), K1, 'default/intel-iommu').result).toBe('not ok')
    expect(at(tree(), K1, 'default/intel-iommu', 'suites/boot.test.ts').result).toBe('ok')
    const skipped = at(tree(), K1, 'default/virtio-iommu')
    expect([skipped.result, skipped.directive, skipped.data]).toEqual(['ok', 'SKIP', SKIP_WHY])
    const broken = at(tree(), K2, 'default/amd-iommu')
    expect([broken.result, broken.directive]).toEqual(['not ok', 'ERROR'])
    expect(broken.data).toContain('boot failed: boot deadline')
    expect(broken.data).not.toContain('[harness-error]')
  })

  test('descriptions carry no "#" and the output no control characters or ANSI colours', () => {
    expect(at(tree(), K1, 'default/intel-iommu', 'suites/groups.test.ts', 'issue %2342 stays fixed').result).toBe('ok')
    expect(ktap).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/)
  })

  test('run errors get a top-level "run" subtest of ERRORs', () => {
    const withErrors = parseKtap(renderKtap({ ...RUN, runErrors: ['suites/x.test.ts: failed to load'] }))
    const run = child(withErrors, 'run')
    expect(run.result).toBe('not ok')
    expect(run.children!.map((t) => [t.result, t.directive, t.data])).toEqual([['not ok', 'ERROR', 'suites/x.test.ts: failed to load']])
  })
})

// ---------------------------------------------------------------------------------------

const attrsOf = (tag: string): Record<string, string> => Object.fromEntries([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))

/** Tags nest and close, text holds no raw "<", every "&" starts an entity. */
function expectWellFormedXml(xml: string): void {
  expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true)
  const stack: string[] = []
  for (const m of xml.replace(/^<\?xml[^>]*\?>/, '').matchAll(/<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    if (m[1]) expect(stack.pop(), `closing </${m[2]}>`).toBe(m[2])
    else if (!m[4]) stack.push(m[2]!)
  }
  expect(stack).toEqual([])
  const text = xml.replace(/^<\?xml[^>]*\?>/, '').replace(/<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g, '')
  expect(text).not.toContain('<')
  expect(xml).not.toMatch(/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/)
  expect(xml).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f]/)
}

interface JunitSuiteSeen {
  attrs: Record<string, string>
  body: string
}
const suitesOf = (xml: string): JunitSuiteSeen[] => [...xml.matchAll(/<testsuite( [^>]*)>([\s\S]*?)<\/testsuite>/g)].map((m) => ({ attrs: attrsOf(m[1]!), body: m[2]! }))
const caseOf = (xml: string, name: string): string => {
  const m = [...xml.matchAll(/<testcase( [^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)].find((x) => attrsOf(x[1]!).name === xmlAttr(name))
  expect(m, `testcase ${name}`).toBeDefined()
  return m![0]
}
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length

describe('JUnit XML', () => {
  const xml = renderJunit(RUN)

  test('is well-formed XML with one testsuite per target and one for the unit tests', () => {
    expectWellFormedXml(xml)
    expect(suitesOf(xml).map((s) => s.attrs.name)).toEqual(['unit', `${K1}/default/intel-iommu`, `${K1}/default/virtio-iommu`, `${K2}/default/intel-iommu`, `${K2}/default/amd-iommu`])
  })

  test('count attributes match the testcases: FAIL and XPASS are failures, ERROR errors, XFAIL passes', () => {
    for (const s of suitesOf(xml)) {
      expect(Number(s.attrs.tests), s.attrs.name).toBe(count(s.body, /<testcase /g))
      expect(Number(s.attrs.failures), s.attrs.name).toBe(count(s.body, /<failure /g))
      expect(Number(s.attrs.errors), s.attrs.name).toBe(count(s.body, /<error /g))
      expect(Number(s.attrs.skipped), s.attrs.name).toBe(count(s.body, /<skipped /g))
    }
    const all = attrsOf(/<testsuites [^>]*>/.exec(xml)![0])
    expect([all.tests, all.failures, all.errors, all.skipped]).toEqual(['10', '3', '2', '1'])
    const k2 = suitesOf(xml).find((s) => s.attrs.name === `${K2}/default/intel-iommu`)!.attrs
    expect([k2.tests, k2.failures, k2.errors, k2.skipped]).toEqual(['4', '2', '1', '0'])
  })

  test('keeps failures and errors apart', () => {
    const fail = caseOf(xml, `${K1}/default/intel-iommu > group q35-host`)
    expect(fail).toContain('<failure type="FAIL"')
    expect(fail).not.toContain('<error')
    const error = caseOf(xml, `${K2}/default/intel-iommu > a group opens once`)
    expect(error).toContain('<error type="ERROR"')
    expect(error).not.toContain('<failure')
    expect(caseOf(xml, `${K2}/default/intel-iommu > group rp-mix`)).toContain('<failure type="XPASS"')
  })

  test('an XFAIL passes and names its known issue', () => {
    const xfail = caseOf(xml, `${K2}/default/intel-iommu > group pcipci + bridged-edu`)
    expect(xfail).not.toMatch(/<(failure|error|skipped)/)
    expect(xfail).toContain('<property name="known_issue" value="ki-bridge"/>')
    expect(xfail).toMatch(/<system-out>XFAIL: failed as known issue ki-bridge/)
  })

  test('skips carry their reason, times are seconds', () => {
    expect(caseOf(xml, `${K1}/default/virtio-iommu > runs the requested kernel`)).toContain(`<skipped message="${SKIP_WHY}"/>`)
    expect(caseOf(xml, `${K1}/default/intel-iommu > runs the requested kernel`)).toContain('time="1.500"')
  })

  test('escapes markup and quotes, drops control characters and colours', () => {
    const fail = caseOf(xml, `${K1}/default/intel-iommu > group q35-host`)
    expect(fail).toContain('message="expected &lt;a &amp; &quot;b&quot;&gt; &apos;c&apos; to be []"')
    expect(fail).toContain(`line &lt;two&gt; &amp; 'three'</failure>`)
    expect(fail).toContain('\n- Expected\n')
    expect(xml).not.toContain('\x1b')
    expect(xmlAttr('a\u0000b\ufffec\ud800d "e"\n')).toBe('abcd &quot;e&quot;&#10;')
  })
})

// ---------------------------------------------------------------------------------------

describe('KCIDB', () => {
  let rendered: KcidbData | undefined
  const kcidb = () => (rendered ??= JSON.parse(renderKcidb(RUN)) as KcidbData)
  const byName = (name: string) => kcidb().tests.filter((t) => t.misc?.test === name)
  const one = (name: string) => {
    const found = byName(name)
    expect(found, name).toHaveLength(1)
    return found[0]!
  }

  test('validates against the KCIDB v5.3 schema', () => {
    expect(validateKcidb(kcidb())).toEqual([])
    expect(kcidb().version).toEqual({ major: 5, minor: 3 })
  })

  test('one test per conformance verdict (no unit verdicts), with unique ids under the origin', () => {
    expect(kcidb().tests).toHaveLength(9)
    expect(new Set(kcidb().tests.map((t) => t.id)).size).toBe(9)
    for (const t of kcidb().tests) {
      expect(t.id.startsWith('vfio_conform:')).toBe(true)
      expect(t.origin).toBe('vfio_conform')
      expect(t.path).toMatch(/^vfio_conform(\.[a-zA-Z0-9_-]+)+$/)
    }
    // One path per test, whichever target ran it.
    const boots = kcidb().tests.filter((t) => t.comment === 'runs the requested kernel')
    expect(boots).toHaveLength(3)
    expect(new Set(boots.map((t) => t.path))).toEqual(new Set(['vfio_conform.boot.runs_the_requested_kernel']))
  })

  test('maps verdicts to KCIDB statuses', () => {
    const status = (name: string) => one(name).status
    expect(status(`${K1}/default/intel-iommu > runs the requested kernel`)).toBe('PASS')
    expect(status(`${K1}/default/intel-iommu > group q35-host`)).toBe('FAIL')
    expect(status(`${K1}/default/virtio-iommu > runs the requested kernel`)).toBe('SKIP')
    expect(status(`${K2}/default/intel-iommu > group pcipci + bridged-edu`)).toBe('FAIL')
    expect(status(`${K2}/default/intel-iommu > group rp-mix`)).toBe('PASS')
    expect(status(`${K2}/default/intel-iommu > a group opens once`)).toBe('ERROR')
    expect(status(`${K2}/default/amd-iommu > runs the requested kernel`)).toBe('MISS')
  })

  test('known issues become issues, XFAIL and XPASS incidents (present / absent)', () => {
    expect(kcidb().issues.map((i) => i.id).sort()).toEqual(['vfio_conform:ki-bridge', 'vfio_conform:ki-order'])
    const incident = (name: string) => kcidb().incidents.find((i) => i.test_id === one(name).id)
    expect(incident(`${K2}/default/intel-iommu > group pcipci + bridged-edu`)).toMatchObject({ issue_id: 'vfio_conform:ki-bridge', present: true })
    expect(incident(`${K2}/default/intel-iommu > group rp-mix`)).toMatchObject({ issue_id: 'vfio_conform:ki-order', present: false })
    expect(kcidb().incidents).toHaveLength(2)
  })

  test('duration in seconds, environment, console log URL, excerpt cut to the schema maximum', () => {
    const boot = one(`${K1}/default/intel-iommu > runs the requested kernel`)
    expect(boot.duration).toBe(1.5)
    expect(boot.environment).toEqual({ comment: 'default/intel-iommu', misc: { topology: 'default', iommu: 'intel-iommu', accel: 'tcg', qemu: '7.2.22' } })
    expect(boot.log_url).toBe(`file://${RUN_DIR}/${K1}/default/intel-iommu/console.log`)
    expect(boot.log_excerpt).toBeUndefined()
    const huge = one(`${K2}/default/intel-iommu > a huge failure`).log_excerpt!
    expect(Array.from(huge)).toHaveLength(16384)
    expect(huge.endsWith('[... truncated]')).toBe(true)
    expect(one(`${K1}/default/intel-iommu > group q35-host`).log_excerpt).toBe(`${NASTY_REASON.replace('\x07', '')}\n- Expected\nline <two> & 'three'`)
  })

  test('checkouts and builds, one per kernel, with what the kernel origin tells', () => {
    expect(kcidb().checkouts.map((c) => c.id)).toEqual([`vfio_conform:${K1}`, `vfio_conform:${K2}`])
    expect(kcidb().checkouts[0]).toMatchObject({ tree_name: 'debian', valid: true })
    expect(kcidb().checkouts[1]).toMatchObject({ git_commit_hash: SHA, patchset_hash: '', valid: true })
    expect(kcidb().builds.map((b) => [b.id, b.checkout_id, b.architecture, b.config_name, b.status])).toEqual([
      [`vfio_conform:${K1}:build`, `vfio_conform:${K1}`, 'x86_64', 'debian', 'PASS'],
      [`vfio_conform:${K2}:build`, `vfio_conform:${K2}`, 'x86_64', 'conform+conform-compat', 'PASS'],
    ])
    for (const t of kcidb().tests) expect(kcidb().builds.map((b) => b.id)).toContain(t.build_id)
  })

  test('a kernel whose build failed has a FAIL build with the error', () => {
    const broken = guest('source-broken', null, 'intel-iommu', { status: 'error', error: 'kernel source:/src/linux: kernel build failed: make exited 2 (bzImage)' }) as RunTarget
    const d = kcidbData({ ...RUN, targets: [broken], verdicts: [] })
    expect(d.builds).toEqual([expect.objectContaining({ status: 'FAIL', log_excerpt: expect.stringContaining('kernel build failed') })])
    expect(validateKcidb(d)).toEqual([])
  })

  test('the schema refuses an unknown status, a dashed origin in an id, an unknown field', () => {
    const broken = structuredClone(kcidb()) as unknown as { tests: Array<Record<string, unknown>> }
    broken.tests[0]!.status = 'XFAIL'
    broken.tests[1]!.id = 'vfio-conform:x'
    broken.tests[2]!.verdict = 'PASS'
    const errors = validateKcidb(broken)
    expect(errors).toContain('/tests/0/status: must be equal to one of the allowed values (FAIL, ERROR, MISS, PASS, DONE, SKIP)')
    expect(errors.some((e) => e.startsWith('/tests/1/id: must match pattern'))).toBe(true)
    expect(errors).toContain('/tests/2: must NOT have additional properties (verdict)')
    expect(validateKcidb({ tests: [] })).toContain("/: must have required property 'version'")
  })

  test('the generator refuses to emit data that does not validate', () => {
    const bad = guest('nul\0label', debianOrigin, 'intel-iommu', { status: 'ready' }) as RunTarget
    expect(() => renderKcidb({ ...RUN, targets: [bad], verdicts: [] })).toThrow(/does not validate against KCIDB schema v5\.3.*\/checkouts\/0\/id/)
  })
})

// ---------------------------------------------------------------------------------------

describe('writing the reports', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  async function resultsDir(): Promise<string> {
    const dir = await tempDir('vfio-conform-report-')
    await writeFile(path.join(dir, 'verdicts.json'), JSON.stringify({ verdicts: VERDICTS, runErrors: [] }))
    await writeFile(path.join(dir, 'targets.json'), JSON.stringify(TARGETS))
    return dir
  }

  test('writeReports writes the five files and returns their paths', async () => {
    const out = await tempDir('vfio-conform-out-')
    const written = await writeReports(RUN, path.join(out, 'sub'), REGISTRIES)
    expect(written).toEqual(['report.ktap', 'report.junit.xml', 'report.kcidb.json', 'behaviours.md', 'behaviours.html'].map((f) => path.join(out, 'sub', f)))
    expect(readFileSync(written[0]!, 'utf8')).toBe(renderKtap(RUN))
    expect(readFileSync(written[1]!, 'utf8')).toBe(renderJunit(RUN))
    expect(readFileSync(written[2]!, 'utf8')).toBe(renderKcidb(RUN))
    expect(readFileSync(written[3]!, 'utf8')).toMatch(/^### vfio-conform: behaviours per kernel and vIOMMU/)
    expect(readFileSync(written[4]!, 'utf8')).toMatch(/^<!doctype html>[\s\S]*<table>/)
  })

  test('the Markdown report ends with the claims section, decided by the run\'s own verdicts', async () => {
    const owner = "two users with one device each of a multi-device group: A binds, B's bind is EPERM; after A exits, B binds"
    const cdev = 'a group has one iommufd owner: its other device bound to another iommufd in another process is EPERM'
    const md = (v: TestVerdict['verdict']) =>
      RENDER_REPORT.markdown({ ...RUN, verdicts: [...VERDICTS, cv(K2, 'intel-iommu', 'privileges', owner, v), cv(K2, 'intel-iommu', 'iommufd-cdev', cdev, 'PASS')] }, REGISTRIES)
    const holds = md('PASS')
    const refuted = md('FAIL')
    const section = (text: string) => text.slice(text.indexOf('## Review-thread claims, tested'))
    expect(holds.indexOf('## Review-thread claims, tested')).toBeGreaterThan(holds.indexOf('### vfio-conform: behaviours per kernel and vIOMMU'))
    const deviceFirst = (text: string) => section(text).split(/\n(?=\d+\. )/).find((c) => c.includes('`device-first-one-owner-per-group`'))!
    expect(deviceFirst(holds)).toContain(`**HOLDS** on ${K2} / intel-iommu`)
    expect(deviceFirst(refuted)).toContain(`**REFUTED** on ${K2} / intel-iommu`)
    expect(deviceFirst(refuted)).not.toContain('**HOLDS**')
  })

  test('`report --format junit --out DIR` writes only JUnit there and prints its path', async () => {
    const dir = await resultsDir()
    const out = path.join(dir, 'out')
    const printed: string[] = []
    vi.spyOn(console, 'log').mockImplementation((s: string) => void printed.push(s))
    expect(await reportCommand(['--results', dir, '--format', 'junit', '--out', out], REGISTRIES)).toBe(0)
    expect(printed.map((p) => path.resolve(p))).toEqual([path.join(out, REPORT_FILES.junit)])
    expect(existsSync(path.join(out, REPORT_FILES.ktap))).toBe(false)
    expect(readFileSync(path.join(out, REPORT_FILES.junit), 'utf8')).toContain(`<testsuite name="${K1}/default/intel-iommu"`)
  })

  test('`report` writes every format into the results directory by default', async () => {
    const dir = await resultsDir()
    vi.spyOn(console, 'log').mockImplementation(() => {})
    expect(await reportCommand(['--results', dir], REGISTRIES)).toBe(0)
    for (const f of Object.values(REPORT_FILES)) expect(existsSync(path.join(dir, f)), f).toBe(true)
  })

  test('an unknown format or a missing results directory is bad usage', async () => {
    const dir = await resultsDir()
    await expect(reportCommand(['--results', dir, '--format', 'pdf'], REGISTRIES)).rejects.toThrow(UsageError)
    await expect(reportCommand(['--results', path.join(dir, 'nothing-here')], REGISTRIES)).rejects.toThrow(UsageError)
  })
})
