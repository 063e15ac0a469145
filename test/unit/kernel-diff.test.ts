// Differences between kernels in one run: outcome changes listed, coverage gaps counted.
import { describe, expect, test } from 'vitest'
import { kernelDiff, renderKernelDiff } from '../../harness/report/kernel-diff.js'
import type { TestVerdict } from '../../harness/report/verdict.js'

const v = (name: string, verdict: TestVerdict['verdict'], reason?: string): TestVerdict => ({ project: 'conformance', file: 'suites/x.test.ts', name, verdict, reason })

describe('kernelDiff', () => {
  const d = kernelDiff([
    v('base/default/intel-iommu > a group opens once', 'PASS'),
    v('head/default/intel-iommu > a group opens once', 'FAIL', 'expected OK to be EBUSY'),
    v('base/default/amd-iommu > a group opens once', 'PASS'),
    v('head/default/amd-iommu > a group opens once', 'PASS'),
    v('base/default/intel-iommu > BIND twice is EINVAL', 'SKIP', 'CONFIG_IOMMUFD not set'),
    v('head/default/intel-iommu > BIND twice is EINVAL', 'PASS'),
    v('base/default/intel-iommu > known', 'XFAIL'),
    v('head/default/intel-iommu > known', 'PASS'),
    v('[unit] x', 'FAIL'),
  ])
  test('a test good on one kernel and FAIL on another is a difference, with the message', () => {
    expect(d.kernels).toEqual(['base', 'head'])
    expect(d.differences).toEqual([{ test: 'default/intel-iommu > a group opens once', verdicts: { base: 'PASS', head: 'FAIL' }, reason: 'expected OK to be EBUSY' }])
  })
  test('XFAIL vs PASS is no difference; SKIP vs PASS is counted as coverage', () => {
    expect(d.coverage).toEqual([{ ranOn: 'head', skippedOn: 'base', count: 1, reasons: ['CONFIG_IOMMUFD not set'] }])
  })
  test('text: one marked line per difference; nothing for a one-kernel run', () => {
    const t = renderKernelDiff(d)
    expect(t).toContain('!! default/intel-iommu > a group opens once')
    expect(t).toContain('base: PASS   head: FAIL')
    expect(renderKernelDiff(kernelDiff([v('k/default/intel-iommu > t', 'FAIL')]))).toBe('')
  })
})
