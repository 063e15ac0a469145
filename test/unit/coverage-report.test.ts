// The coverage report (harness/coverage/report.ts) and the coverage command's kernel specs.
import { describe, expect, it } from 'vitest'
import { CoverageBuilder, parseGcovJson } from '../../harness/coverage/data.js'
import { coverageReport, renderHtmlFile, renderHtmlIndex, renderText } from '../../harness/coverage/report.js'
import { gcovSpec } from '../../harness/cli/coverage.js'
import { UsageError } from '../../harness/util/errors.js'

// drivers/vfio/container.c (Linux 6.12)
const SOURCE = `static void *vfio_noiommu_open(unsigned long arg)
{
	if (arg != VFIO_NOIOMMU_IOMMU)
		return ERR_PTR(-EINVAL);
	if (!capable(CAP_SYS_RAWIO))
		return ERR_PTR(-EPERM);

	return NULL;
}
`

function data() {
  const b = new CoverageBuilder({ id: 'debian-source:6.12.118-1,gcov', release: '6.12.118', tree: '/k', objDir: '/o', gcov: 'gcov-12' })
  const t = b.test({ name: 'k/noiommu/none > noiommu > an unprivileged user cannot use a no-IOMMU container', file: 'suites/noiommu.test.ts', guest: 'k/noiommu/none' })
  const lines = [3, 4, 5, 6, 8].map((n) => ({ line_number: n, count: n === 4 ? 0 : 1, branches: n === 3 ? [{ count: 0 }, { count: 1 }] : n === 5 ? [{ count: 1 }, { count: 0 }] : [] }))
  b.add(t, parseGcovJson(JSON.stringify({ files: [{ file: '/k/drivers/vfio/container.c', lines, functions: [{ name: 'vfio_noiommu_open', start_line: 1, end_line: 9, execution_count: 1 }] }] }), '/k'))
  return b.result(new Date('2026-12-07T00:00:00Z'))
}

describe('coverage report', () => {
  it('per file and function: lines, branches, functions, error returns; each site with its tests', () => {
    const rep = coverageReport(data(), new Map([['drivers/vfio/container.c', SOURCE]]))
    expect(rep.totals).toEqual({ lines: { hit: 4, total: 5 }, functions: { hit: 1, total: 1 }, branches: { hit: 2, total: 4 }, sites: { hit: 1, total: 2 } })
    const text = renderText(rep, { functions: true, sites: true })
    expect(text).toMatch(/drivers\/vfio\/container\.c +4\/5 80\.0% +2\/4 50\.0% +1\/1 100\.0% +1\/2 50\.0%/)
    expect(text).toMatch(/ {2}vfio_noiommu_open +4\/5 80\.0%/)
    expect(text).toContain('- drivers/vfio/container.c:4 vfio_noiommu_open -EINVAL if (arg != VFIO_NOIOMMU_IOMMU)')
    expect(text).toContain('+ drivers/vfio/container.c:6 vfio_noiommu_open -EPERM if (!capable(CAP_SYS_RAWIO))  <- noiommu > an unprivileged user cannot use a no-IOMMU container')
  })

  it('HTML: an index linking each file, and the annotated source', () => {
    const rep = coverageReport(data(), new Map([['drivers/vfio/container.c', SOURCE]]))
    expect(renderHtmlIndex(rep)).toContain('<a href="drivers_vfio_container_c.html">drivers/vfio/container.c</a>')
    const page = renderHtmlFile(rep, rep.files[0]!, SOURCE)
    expect(page).toContain('<tr class="site-miss" id="L4">')
    expect(page).toContain('<tr class="site-hit" id="L6">')
    expect(page).toContain('reached by noiommu &gt; an unprivileged user cannot use a no-IOMMU container')
  })
})

describe('coverage kernel specs', () => {
  it('adds ,gcov to source specs, keeping a vIOMMU restriction', () => {
    expect(gcovSpec('debian-source:stable')).toBe('debian-source:stable,gcov')
    expect(gcovSpec('debian-source:6.12,compat@intel-iommu')).toBe('debian-source:6.12,compat,gcov@intel-iommu')
    expect(gcovSpec('source:/src/linux,gcov')).toBe('source:/src/linux,gcov')
    expect(() => gcovSpec('debian:stable')).toThrow(UsageError)
  })
})
