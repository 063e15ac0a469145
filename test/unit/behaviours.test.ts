// The behaviours registry against the suites' sources (every pattern still names a test), and
// the table's cell rules on synthetic verdicts.
import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'
import { BEHAVIOURS } from '../../suites/behaviours.js'
import { behaviourTable, renderBehavioursMarkdown } from '../../harness/report/behaviours.js'
import type { TestVerdict } from '../../harness/report/verdict.js'

/** Test titles as written in a suite file; `${path.name}` (the DMA suite's paths) expanded. */
function titles(file: string): string[] {
  const src = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
  const out: string[] = []
  // test('...'), a suite's extended API (legacyTest('...')), and test.for(cases)('...').
  for (const m of src.matchAll(/(?:\b(?:test|\w+Test)\(|\.for\([\s\S]*?\)\)\()\s*(?:'((?:[^'\\]|\\.)*)'|`([^`]*)`|"((?:[^"\\]|\\.)*)")/g)) {
    const t = (m[1] ?? m[2] ?? m[3]!).replace(/\\'/g, "'")
    if (t.includes('${path.name}')) out.push(t.replace('${path.name}', 'type1'), t.replace('${path.name}', 'iommufd'))
    else out.push(t)
  }
  return out
}

describe('behaviours registry', () => {
  test('ids are 1..28, in order', () => {
    expect(BEHAVIOURS.map((b) => b.id)).toEqual(Array.from({ length: 28 }, (_, i) => i + 1))
  })
  for (const b of BEHAVIOURS) {
    test(`behaviour ${b.id}: every pattern matches a test of its suite`, () => {
      for (const p of b.tests) {
        const names = titles(p.file)
        expect(names.length, `${p.file} has tests`).toBeGreaterThan(0)
        expect(names.filter((n) => p.test.test(n)), `${p.file}: ${p.test}`).not.toEqual([])
      }
    })
  }
})

describe('behaviourTable', () => {
  const v = (name: string, verdict: TestVerdict['verdict'], extra: Partial<TestVerdict> = {}): TestVerdict => ({
    project: 'conformance',
    file: 'suites/legacy-group.test.ts',
    name,
    verdict,
    ...extra,
  })
  const K = 'k1/default/intel-iommu > '
  const C = 'k1-compat/default/intel-iommu > '
  const verdicts = [
    v(K + 'a group opens once: a second open in the same process is EBUSY', 'PASS'),
    v(K + 'a group opens once: an open from another process is EBUSY', 'FAIL', { reason: 'expected OK to be EBUSY' }),
    v(K + 'GET_DEVICE_FD before SET_CONTAINER is EINVAL', 'PASS'),
    v(K + 'SET_CONTAINER twice is EINVAL', 'SKIP', { reason: 'CONFIG_VFIO_CONTAINER not set' }),
    v(K + 'while a group is held, binding a host driver to another of its devices is EBUSY; after release it binds', 'XFAIL', {
      knownIssue: { id: 'ki-1', reason: 'r', ref: 'ref.c' },
    }),
    v(C + 'GET_DEVICE_FD before SET_CONTAINER is EINVAL', 'ERROR', { reason: '[harness-error] SSH lost' }),
    v('[unit] something', 'FAIL', { project: 'unit' }),
  ]
  const t = behaviourTable(verdicts, [], BEHAVIOURS)
  const cell = (id: number, col: string) => t.rows.find((r) => r.behaviour.id === id)!.cells.find((c) => c.column === col)!

  test('columns are kernel x vIOMMU from the test names; unit verdicts are left out', () => {
    expect(t.columns.map((c) => c.id)).toEqual(['k1/intel-iommu', 'k1-compat/intel-iommu'])
  })
  test('one FAIL makes the cell FAIL, with the test and its message in the notes', () => {
    expect(cell(1, 'k1/intel-iommu').verdict).toBe('FAIL')
    expect(cell(1, 'k1/intel-iommu').notes).toEqual(['FAIL "a group opens once: an open from another process is EBUSY": expected OK to be EBUSY'])
  })
  test('PASS with a SKIP is PASS, counted; only XFAIL is XFAIL with the known issue; no test is "-"', () => {
    expect(cell(3, 'k1/intel-iommu')).toMatchObject({ verdict: 'PASS', counts: { PASS: 1, SKIP: 1 } })
    expect(cell(5, 'k1/intel-iommu').verdict).toBe('XFAIL')
    expect(cell(5, 'k1/intel-iommu').notes[0]).toMatch(/known issue ki-1 \[ref\.c\]/)
    expect(cell(7, 'k1/intel-iommu').verdict).toBe('-')
  })
  test('the compat behaviour applies to -compat kernels only, and an ERROR there is ERROR', () => {
    expect(cell(12, 'k1/intel-iommu').verdict).toBe('n/a')
    expect(cell(12, 'k1-compat/intel-iommu').verdict).toBe('ERROR')
    expect(cell(12, 'k1-compat/intel-iommu').notes[0]).toBe('ERROR "GET_DEVICE_FD before SET_CONTAINER is EINVAL": SSH lost')
  })
  test('Markdown: a row per behaviour, a column per kernel x vIOMMU, notes for non-clean cells', () => {
    const md = renderBehavioursMarkdown(t)
    const rows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l))
    expect(rows).toHaveLength(28)
    expect(rows[0]).toMatch(/\| FAIL 1\/2 \| - \|$/)
    expect(md).toContain('- **1** on `k1/intel-iommu`: FAIL')
  })
})
