// Review-thread claims: how a run's verdicts decide a claim per kernel x vIOMMU
// (harness/claims/evaluate.ts), the reports, and the registry's own consistency.
import { describe, expect, test } from 'vitest'
import { evaluateClaims, splitTestName, type RunTarget } from '../../harness/claims/evaluate.js'
import { kernelMatches, selectKernels } from '../../harness/claims/kernel-filter.js'
import { renderClaimsJson, renderClaimsMarkdown, renderClaimsTable } from '../../harness/claims/report.js'
import { readRunResults } from '../../harness/claims/results.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'
import { UsageError } from '../../harness/util/errors.js'
import { CLAIMS, THREADS } from '../../suites/claims/registry.js'
import type { Claim } from '../../harness/claims/types.js'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { readFileSync, readdirSync } from 'node:fs'
import { tempDir } from './temp-dirs.js'

const thread = THREADS[0]!
const K1 = 'debian-source-6.12.118-1'
const K2 = 'debian-6.1.192-2'
const target = (label: string, iommu = 'intel-iommu', topology = 'default', status = 'ready'): RunTarget => ({
  key: `${label}/${topology}/${iommu}`,
  kernel: { id: label, label, release: '6.x' },
  topology,
  iommu,
  status,
})
const tv = (label: string, test: string, verdict: Verdict, extra: Partial<TestVerdict> = {}, iommu = 'intel-iommu', topology = 'default'): TestVerdict => ({
  project: 'conformance',
  file: 'suites/x.test.ts',
  name: `${label}/${topology}/${iommu} > ${test}`,
  verdict,
  ...extra,
})

const claim = (over: Partial<Claim> = {}): Claim => ({
  id: 'c',
  thread,
  claimedBy: 'someone',
  claim: 'something holds',
  decidedBy: [
    { test: /^rule one/, path: 'legacy' },
    { test: /^rule two/, path: 'legacy' },
    { test: /^cdev rule/, path: 'iommufd', optional: true },
  ],
  holdsWhen: 'all-pass',
  refutedWhen: 'any-fail',
  ...over,
})

const cellOf = (verdicts: TestVerdict[], c: Claim = claim(), targets = [target(K1)]) => evaluateClaims(verdicts, targets, [c]).results[0]!.cells[0]!

describe('claim verdicts', () => {
  test('HOLDS when every matching test passed', () => {
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two: detail', 'PASS'), tv(K1, 'cdev rule', 'PASS'), tv(K1, 'unrelated', 'FAIL')])
    expect(cell.verdict).toBe('HOLDS')
    expect(cell.evidence.map((e) => e.test)).toEqual(['rule one', 'rule two: detail', 'cdev rule'])
    expect(cell.why).toBe('3 passed')
  })

  test('one FAIL refutes, whatever else passed or skipped', () => {
    const cell = cellOf([
      tv(K1, 'rule one', 'PASS'),
      tv(K1, 'rule two', 'FAIL', { reason: "expected 'OK' to be 'EBUSY'" }),
      tv(K1, 'cdev rule', 'SKIP', { reason: 'CONFIG_IOMMUFD not set' }),
    ])
    expect(cell.verdict).toBe('REFUTED')
    expect(cell.why).toContain('FAIL "rule two"')
    expect(cell.why).toContain("expected 'OK' to be 'EBUSY'")
  })

  test('a FAIL of an optional test refutes too', () => {
    expect(cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'PASS'), tv(K1, 'cdev rule', 'FAIL')]).verdict).toBe('REFUTED')
  })

  test('a FAIL outweighs an ERROR', () => {
    expect(cellOf([tv(K1, 'rule one', 'ERROR', { reason: 'SSH lost' }), tv(K1, 'rule two', 'FAIL')]).verdict).toBe('REFUTED')
  })

  test('XFAIL is a known divergence: REFUTED, with the known issue id, reason and reference', () => {
    const knownIssue = { id: 'virtio-iommu-probe-order-groups', reason: 'grouped apart', ref: 'drivers/iommu/iommu.c: pci_device_group' }
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'XFAIL', { knownIssue, reason: 'x' })])
    expect(cell.verdict).toBe('REFUTED')
    expect(cell.why).toContain('known divergence virtio-iommu-probe-order-groups')
    expect(cell.why).toContain('[drivers/iommu/iommu.c: pci_device_group]')
  })

  test('all SKIP: UNDECIDED with the SKIP reason', () => {
    const cell = cellOf([
      tv(K1, 'rule one', 'SKIP', { reason: 'CONFIG_VFIO_GROUP not set' }),
      tv(K1, 'rule two', 'SKIP', { reason: 'CONFIG_VFIO_GROUP not set' }),
    ])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('2 skipped: CONFIG_VFIO_GROUP not set')
  })

  test('a required test skipped keeps it UNDECIDED even if others passed', () => {
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'SKIP', { reason: 'topology default casts no hostDriverGroup' })])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toContain('casts no hostDriverGroup')
  })

  test('an optional test skipped does not keep it from holding; the skip is reported', () => {
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'PASS'), tv(K1, 'cdev rule', 'SKIP', { reason: 'CONFIG_IOMMUFD not set' })])
    expect(cell.verdict).toBe('HOLDS')
    expect(cell.why).toBe('2 passed; 1 optional skipped: CONFIG_IOMMUFD not set')
  })

  test('a SKIP without a note (a test filtered out of the run) says so', () => {
    const cell = cellOf([tv(K1, 'rule one', 'SKIP', { reason: 'skipped' }), tv(K1, 'rule two', 'SKIP')])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('2 skipped: skipped with no reason (left out of the run by a filter?)')
  })

  test('ERROR: UNDECIDED with the error', () => {
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'ERROR', { reason: '[harness-error] guest is not available: boot deadline' })])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('1 errored: guest is not available: boot deadline')
  })

  test('no matching test: UNDECIDED, "no test ran" (never decided by zero tests)', () => {
    const cell = cellOf([tv(K1, 'unrelated', 'PASS')])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('no test ran')
    expect(cell.evidence).toEqual([])
  })

  test('a column whose only topology is dedicated to one suite: UNDECIDED, saying it cannot be decided there', () => {
    const cell = cellOf([tv(K1, 'noiommu thing', 'PASS')], claim(), [target(K1, 'none', 'noiommu')])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('cannot be decided here: no test deciding it runs on topology noiommu (it runs only the noiommu suite)')
  })

  test('a claim with no pattern at all is UNDECIDED, not HOLDS', () => {
    expect(cellOf([tv(K1, 'rule one', 'PASS')], claim({ decidedBy: [] })).verdict).toBe('UNDECIDED')
  })

  test('a required pattern no test matched: UNDECIDED, naming it (e.g. results older than the test)', () => {
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'cdev rule', 'PASS')])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('no test ran for /^rule two/')
  })

  test('only optional tests ran: UNDECIDED', () => {
    const c = claim({ decidedBy: [{ test: /^rule one/, path: 'legacy' }, { test: /^cdev rule/, path: 'iommufd', optional: true }] })
    const cell = cellOf([tv(K1, 'cdev rule', 'PASS'), tv(K1, 'rule one', 'SKIP', { reason: 'no legacy' })], c)
    expect(cell.verdict).toBe('UNDECIDED')
  })

  test('a guest that failed to boot: its tests are ERROR, and with no test the guest problem is named', () => {
    const t = { ...target(K1), status: 'error', error: '[harness-error] boot deadline passed\nconsole tail' }
    const cell = cellOf([], claim(), [t])
    expect(cell.verdict).toBe('UNDECIDED')
    expect(cell.why).toBe('no test ran (guest default: error (boot deadline passed))')
  })

  test('not reproducible in emulation: NOT REPRODUCIBLE everywhere, with the reason, whatever ran', () => {
    const c = claim({ status: { kind: 'not reproducible in emulation', reason: 'QEMU does not model it' } })
    const cell = cellOf([tv(K1, 'rule one', 'FAIL')], c)
    expect(cell.verdict).toBe('NOT REPRODUCIBLE')
    expect(cell.why).toContain('QEMU does not model it')
  })

  test('XPASS counts as a pass (the kernel behaved as the test expects) and is reported', () => {
    const knownIssue = { id: 'stale', reason: 'r', ref: 'x' }
    const cell = cellOf([tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'XPASS', { knownIssue })])
    expect(cell.verdict).toBe('HOLDS')
    expect(cell.why).toContain('XPASS (known issue no longer reproduces: stale)')
  })

  test('one column per kernel label x vIOMMU; topologies of the pair are merged; verdicts decide only their own column', () => {
    const targets = [target(K1), target(K1, 'virtio-iommu'), target(K2), target(K1, 'intel-iommu', 'wide')]
    const ev = evaluateClaims(
      [
        tv(K1, 'rule one', 'PASS'),
        tv(K1, 'rule two', 'PASS'),
        tv(K1, 'rule two', 'PASS', {}, 'intel-iommu', 'wide'),
        tv(K1, 'rule one', 'PASS', {}, 'virtio-iommu'),
        tv(K1, 'rule two', 'FAIL', {}, 'virtio-iommu'),
        tv(K2, 'rule one', 'SKIP', { reason: 'no' }),
        { project: 'unit', file: 'test/unit/x.test.ts', name: 'rule one', verdict: 'FAIL' },
      ],
      targets,
      [claim()],
    )
    expect(ev.columns.map((c) => c.id)).toEqual([`${K1}/intel-iommu`, `${K1}/virtio-iommu`, `${K2}/intel-iommu`])
    expect(ev.columns[0]!.topologies).toEqual(['default', 'wide'])
    expect(ev.results[0]!.cells.map((c) => c.verdict)).toEqual(['HOLDS', 'REFUTED', 'UNDECIDED'])
    expect(ev.results[0]!.cells[0]!.evidence).toHaveLength(3)
  })

  test('without targets.json, columns come from the test names', () => {
    const ev = evaluateClaims([tv(K2, 'rule one', 'PASS'), tv(K2, 'rule two', 'PASS', {}, 'amd-iommu')], [], [claim()])
    expect(ev.columns.map((c) => c.id)).toEqual([`${K2}/intel-iommu`, `${K2}/amd-iommu`])
  })

  test('splitTestName', () => {
    expect(splitTestName(`${K1}/default/intel-iommu > a group opens once: an open from another process is EBUSY`)).toEqual({
      label: K1,
      topology: 'default',
      iommu: 'intel-iommu',
      key: `${K1}/default/intel-iommu`,
      test: 'a group opens once: an open from another process is EBUSY',
    })
    expect(splitTestName('no prefix')).toBeUndefined()
  })
})

describe('reports', () => {
  const ev = evaluateClaims(
    [tv(K1, 'rule one', 'PASS'), tv(K1, 'rule two', 'PASS'), tv(K2, 'rule one', 'SKIP', { reason: 'CONFIG_X not set' }), tv(K2, 'rule two', 'SKIP', { reason: 'CONFIG_X not set' })],
    [target(K1), target(K2)],
    [claim(), claim({ id: 'p2p', decidedBy: [], status: { kind: 'not reproducible in emulation', reason: 'QEMU' } })],
  )

  test('terminal table: a row per claim, a column per kernel x vIOMMU, short cells, reasons for what did not hold', () => {
    const text = renderClaimsTable(ev, { resultsDir: 'r' })
    expect(text).toMatch(/^c\s+HOLDS\s+UNDECIDED$/m)
    expect(text).toMatch(/^p2p\s+N\/REPRO\s+N\/REPRO$/m)
    expect(text).toContain(`T1  ${K1} / intel-iommu`)
    expect(text).toContain('T2 UNDECIDED: 2 skipped: CONFIG_X not set')
  })

  test('markdown: claim in our words, thread reference, per kernel verdict, evidence test names', () => {
    const md = renderClaimsMarkdown(ev)
    expect(md).toContain(`### Thread: "${thread.subject}" (${thread.date}`)
    expect(md).toContain('1. something holds')
    expect(md).toContain(`**HOLDS** on ${K1} / intel-iommu: 2 passed`)
    expect(md).toContain('PASS `rule one` [legacy]')
    expect(md).toContain(`UNDECIDED on ${K2} / intel-iommu: 2 skipped: CONFIG_X not set`)
    expect(md).toContain('NOT REPRODUCIBLE on every kernel')
  })
})

describe('--kernel and --json', () => {
  const bookworm = { id: 'debian:6.1.192-2', label: 'debian-6.1.192-2', release: '6.1.0-56-amd64', origin: { kind: 'debian', suites: ['bookworm-security'] } }
  const trixie = { id: 'debian:6.12.118-1', label: 'debian-6.12.118-1', release: '6.12.118+deb13-amd64', origin: { kind: 'debian', suites: ['trixie'] } }
  const src = { id: 'debian-source:6.12.118-1', label: 'debian-source-6.12.118-1', release: '6.12.118', origin: { kind: 'source' } }
  const compat = { id: 'debian-source:6.12.118-1,compat', label: 'debian-source-6.12.118-1-compat', release: '6.12.118', origin: { kind: 'source' } }

  test('a kernel is named by the spec it was run as, its id, label or uname -r, at version boundaries', () => {
    expect(kernelMatches('debian:bookworm', bookworm)).toBe(true)
    expect(kernelMatches('debian:trixie', bookworm)).toBe(false)
    expect(kernelMatches('debian:6.1', bookworm)).toBe(true)
    expect(kernelMatches('debian:6.1', trixie)).toBe(false)
    expect(kernelMatches('debian:6.12.118-1', trixie)).toBe(true)
    expect(kernelMatches('6.12.118+deb13-amd64', trixie)).toBe(true)
    expect(kernelMatches('debian-6.1.192-2', bookworm)).toBe(true)
    expect(kernelMatches('debian-source:6.12', src)).toBe(true)
    expect(kernelMatches('debian-source:6.12', compat)).toBe(true)
    expect(kernelMatches('debian-source-6.12.118-1-compat', src)).toBe(false)
    expect(kernelMatches('debian:6.12', src)).toBe(false)
    expect(kernelMatches('debian:bookworm', { ...src, origin: { kind: 'source' } })).toBe(false)
    expect(kernelMatches('', trixie)).toBe(false)
  })

  const targets: RunTarget[] = [bookworm, trixie, src].map((k) => ({ key: `${k.label}/default/intel-iommu`, kernel: k, topology: 'default', iommu: 'intel-iommu', status: 'ready' }))
  const verdicts = [
    tv(bookworm.label, 'rule one', 'PASS'),
    tv(bookworm.label, 'rule two', 'PASS'),
    tv(trixie.label, 'rule one', 'FAIL', { reason: 'expected EBUSY, got OK' }),
    tv(src.label, 'rule one', 'SKIP', { reason: 'CONFIG_X not set' }),
  ]

  test('--kernel keeps the columns of the kernels named, cells still aligned with their columns', () => {
    const ev = selectKernels(evaluateClaims(verdicts, targets, [claim()]), targets, ['debian:trixie', 'debian:bookworm'])
    expect(ev.columns.map((c) => c.kernel)).toEqual([bookworm.label, trixie.label])
    expect(ev.results[0]!.cells.map((c) => [c.column, c.verdict])).toEqual([
      [`${bookworm.label}/intel-iommu`, 'HOLDS'],
      [`${trixie.label}/intel-iommu`, 'REFUTED'],
    ])
    expect(selectKernels(evaluateClaims(verdicts, targets, [claim()]), targets, [])).toEqual(evaluateClaims(verdicts, targets, [claim()]))
  })

  test('--kernel naming a kernel the results do not have is bad usage, listing the ones they have', () => {
    const ev = evaluateClaims(verdicts, targets, [claim()])
    expect(() => selectKernels(ev, targets, ['debian:sid'])).toThrow(UsageError)
    expect(() => selectKernels(ev, targets, ['debian:sid'])).toThrow(/debian:6\.1\.192-2, debian:6\.12\.118-1, debian-source:6\.12\.118-1/)
  })

  test('--json: per claim and column the verdict, why and the deciding tests', () => {
    const doc = JSON.parse(renderClaimsJson(evaluateClaims(verdicts, targets, [claim()]), { resultsDir: 'r' }))
    expect(doc.resultsDir).toBe('r')
    expect(doc.columns.map((c: { id: string }) => c.id)).toEqual(targets.map((t) => `${t.kernel.label}/intel-iommu`))
    const cells = doc.claims[0].cells
    expect(cells.map((c: { verdict: string }) => c.verdict)).toEqual(['HOLDS', 'REFUTED', 'UNDECIDED'])
    expect(cells[1].evidence).toEqual([{ test: 'rule one', topology: 'default', verdict: 'FAIL', reason: 'expected EBUSY, got OK' }])
    expect(cells[2].why).toContain('CONFIG_X not set')
  })
})

describe('results directory', () => {
  test('missing verdicts.json is a UsageError that says to run first', async () => {
    const dir = await tempDir('claims-')
    await expect(readRunResults(dir)).rejects.toBeInstanceOf(UsageError)
    await expect(readRunResults(dir)).rejects.toThrow(/vfio-conform run/)
  })

  test('unparsable verdicts.json is a UsageError; missing targets.json is only a note', async () => {
    const dir = await tempDir('claims-')
    await writeFile(path.join(dir, 'verdicts.json'), '{"verdicts": [')
    await expect(readRunResults(dir)).rejects.toBeInstanceOf(UsageError)
    await writeFile(path.join(dir, 'verdicts.json'), JSON.stringify({ verdicts: [tv(K1, 'rule one', 'PASS')], runErrors: [] }))
    const r = await readRunResults(dir)
    expect(r.verdicts).toHaveLength(1)
    expect(r.targets).toEqual([])
    expect(r.targetsNote).toMatch(/targets\.json: missing/)
  })
})

describe('the registry', () => {
  // Every test name in the suites, as written (a literal first argument of test(...), or of a
  // suite's extended test API named like legacyTest(...)).
  const suitesDir = path.join(import.meta.dirname, '../../suites')
  const names = readdirSync(suitesDir)
    .filter((f) => f.endsWith('.test.ts'))
    .flatMap((f) => [...readFileSync(path.join(suitesDir, f), 'utf8').matchAll(/\b(?:test|\w+Test)\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2]!.replace(/\\'/g, "'")))

  test('ids are unique, and every claim is decided by tests or marked not reproducible', () => {
    expect(new Set(CLAIMS.map((c) => c.id)).size).toBe(CLAIMS.length)
    for (const c of CLAIMS) {
      if (c.status) expect(c.status.reason.length, c.id).toBeGreaterThan(20)
      else expect(c.decidedBy.some((p) => !p.optional), `${c.id} needs a required test`).toBe(true)
    }
  })

  test.each(CLAIMS.flatMap((c) => c.decidedBy.map((p) => [c.id, p.test] as const)))('%s: %s matches exactly one suite test', (_id, re) => {
    expect(names.filter((n) => re.test(n))).toHaveLength(1)
  })

  test('every claim names a known thread', () => {
    for (const c of CLAIMS) expect(THREADS).toContain(c.thread)
  })
})
