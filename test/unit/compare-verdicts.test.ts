// vfio-conform compare: two runs' verdicts test by test (harness/report/compare-verdicts.ts),
// and the command's exit code (0 identical, 1 any difference, 2 bad usage).
import { execa } from 'execa'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { compareVerdicts, identical, renderComparison } from '../../harness/report/compare-verdicts.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'
import { tempDir } from './temp-dirs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const v = (name: string, verdict: Verdict, project = 'conformance'): TestVerdict => ({ project, file: 'suites/x.test.ts', name, verdict, reason: verdict === 'SKIP' ? 'CONFIG_IOMMUFD not set' : undefined })

test('same verdicts are identical whatever the order, durations or unit tests', () => {
  const a = [v('k/default/intel-iommu > t1', 'PASS'), { ...v('k/default/intel-iommu > t2', 'SKIP'), durationMs: 5 }, v('unit thing', 'FAIL', 'unit')]
  const b = [{ ...v('k/default/intel-iommu > t2', 'SKIP'), durationMs: 1 }, v('k/default/intel-iommu > t1', 'PASS')]
  const c = compareVerdicts(a, b)
  expect(identical(c)).toBe(true)
  expect(c.same).toBe(2)
})

test('a changed verdict and a test only one run has are each named', () => {
  const c = compareVerdicts(
    [v('k/a > t1', 'PASS'), v('k/a > gone', 'SKIP'), v('k/a > t3', 'XFAIL')],
    [v('k/a > t1', 'FAIL'), v('k/a > t3', 'XFAIL'), v('k/a > new', 'PASS')],
  )
  expect(identical(c)).toBe(false)
  expect(c.changed.map((x) => `${x.old}->${x.new} ${x.name}`)).toEqual(['PASS->FAIL k/a > t1'])
  expect(c.onlyOld.map((x) => x.name)).toEqual(['k/a > gone'])
  expect(c.onlyNew.map((x) => x.name)).toEqual(['k/a > new'])
  expect(renderComparison(c)).toContain('CHANGED PASS -> FAIL  k/a > t1')
})

test('the command: exit 0 when identical, 1 on a difference, 2 on bad usage', async () => {
  const dir = await tempDir('vfio-conform-compare-')
  const write = async (name: string, vs: TestVerdict[]) => {
    await writeFile(path.join(dir, name), JSON.stringify({ verdicts: vs, runErrors: [] }))
    return path.join(dir, name)
  }
  const a = await write('a.json', [v('k/a > t1', 'PASS')])
  const b = await write('b.json', [v('k/a > t1', 'PASS')])
  const c = await write('c.json', [v('k/a > t1', 'SKIP')])
  const cli = (...args: string[]) => execa('node', [path.join(ROOT, 'bin/vfio-conform.mjs'), 'compare', ...args], { reject: false, all: true })
  expect((await cli(a, b)).exitCode).toBe(0)
  const diff = await cli(a, c)
  expect(diff.exitCode).toBe(1)
  expect(diff.all).toContain('CHANGED PASS -> SKIP  k/a > t1')
  expect((await cli(a)).exitCode).toBe(2)
  expect((await cli(a, path.join(dir, 'missing.json'))).exitCode).toBe(2)
})
