// Coverage data (harness/coverage/data.ts): gcov's JSON in, per-test coverage out, and
// which error-return sites it reaches. The gcov output is gcov-12's, of a copy of
// vfio_group_ioctl_unset_container (Linux 6.12, drivers/vfio/group.c) compiled with
// -fprofile-arcs -ftest-coverage and run once with a group that has an IOMMU and one
// container user (so neither error path ran); the errnos were numbers there (no kernel headers).
import { describe, expect, it } from 'vitest'
import { CoverageBuilder, fileTotals, parseGcovJson, siteReach, testsReaching } from '../../harness/coverage/data.js'
import { errorSites } from '../../harness/coverage/sites.js'

const GCOV_OUT = '{"gcc_version": "12.2.0", "files": [{"lines": [{"branches": [], "count": 1, "line_number": 2, "unexecuted_block": false}, {"branches": [], "count": 1, "line_number": 3, "unexecuted_block": false, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 7, "unexecuted_block": false, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 0, "line_number": 9, "unexecuted_block": true, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 11, "unexecuted_block": false, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 12, "unexecuted_block": false, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 0, "line_number": 14, "unexecuted_block": true, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 17, "unexecuted_block": true, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 18, "unexecuted_block": false, "function_name": "vfio_group_ioctl_unset_container"}, {"branches": [], "count": 1, "line_number": 20, "unexecuted_block": false, "function_name": "main"}], "functions": [{"blocks": 8, "end_column": 1, "start_line": 3, "name": "vfio_group_ioctl_unset_container", "blocks_executed": 5, "execution_count": 1, "demangled_name": "vfio_group_ioctl_unset_container", "start_column": 31, "end_line": 19}, {"blocks": 1, "end_column": 118, "start_line": 20, "name": "main", "blocks_executed": 1, "execution_count": 1, "demangled_name": "main", "start_column": 5, "end_line": 20}], "file": "/tmp/gc/drivers/vfio/group.c"}], "format_version": "1", "current_working_directory": "/tmp/gc", "data_file": "grp-group.gcda"}'

const SOURCE = `struct vfio_group { int iommu; int container; int container_users; };
static int vfio_group_has_iommu(struct vfio_group *g) { return g->iommu; }
__attribute__((noinline)) int vfio_group_ioctl_unset_container(struct vfio_group *group)
{
	int ret = 0;

	if (!vfio_group_has_iommu(group)) {
		ret = -EINVAL;
		goto out_unlock;
	}
	if (group->container) {
		if (group->container_users != 1) {
			ret = -EBUSY;
			goto out_unlock;
		}
	}
out_unlock:
	return ret;
}
int main(int argc, char **argv) { struct vfio_group g = { argc, 1, 1 }; return vfio_group_ioctl_unset_container(&g); }
`

const kernel = { id: 'debian-source:6.12.118-1,gcov', release: '6.12.118', tree: '/tmp/gc', objDir: '/obj', gcov: 'gcov-12' }

describe('gcov JSON', () => {
  it('keeps profiled files, relative to the tree, with line and function counts', () => {
    const m = parseGcovJson(GCOV_OUT + '\n', '/tmp/gc')
    expect([...m.keys()]).toEqual(['drivers/vfio/group.c'])
    const f = m.get('drivers/vfio/group.c')!
    expect(f.lines.get(9)).toEqual({ count: 0, branches: [] })
    expect(f.lines.get(8)).toBeUndefined()
    expect(f.lines.get(11)?.count).toBe(1)
    expect(f.functions.find((x) => x.name === 'vfio_group_ioctl_unset_container')).toEqual({ name: 'vfio_group_ioctl_unset_container', line: 3, endLine: 19, count: 1 })
  })

  it('leaves out files that are not profiled', () => {
    expect(parseGcovJson(GCOV_OUT.replace('/tmp/gc/drivers/vfio/group.c', '/tmp/gc/include/linux/list.h'), '/tmp/gc').size).toBe(0)
  })
})

describe('per-test coverage', () => {
  // A second snapshot: the same function returning -EBUSY (line 14's goto ran).
  const busy = GCOV_OUT.replace('"count": 0, "line_number": 14', '"count": 1, "line_number": 14')
  const build = () => {
    const b = new CoverageBuilder(kernel)
    const boot = b.test({ name: '(boot)', file: '', guest: 'g1' })
    const t = b.test({ name: 'g1 > groups > unset with two users is EBUSY', file: 'suites/groups.test.ts', guest: 'g1' })
    b.add(boot, parseGcovJson(GCOV_OUT, '/tmp/gc'))
    b.add(t, parseGcovJson(busy, '/tmp/gc'))
    return b.result(new Date('2026-12-07T00:00:00Z'))
  }

  it('sums counts and lists the tests that reach each line', () => {
    const d = build()
    expect(d.format).toBe('vfio-conform-coverage/1')
    expect(d.tests.map((t) => t.name)).toEqual(['(boot)', 'g1 > groups > unset with two users is EBUSY'])
    const f = d.files['drivers/vfio/group.c']!
    expect(f.lines['11']).toEqual({ count: 2, tests: [0, 1] })
    expect(f.lines['14']).toEqual({ count: 1, tests: [1] })
    expect(f.lines['9']).toEqual({ count: 0, tests: [] })
    expect(f.functions['vfio_group_ioctl_unset_container']).toEqual({ line: 3, endLine: 19, count: 2, tests: [0, 1] })
    expect(testsReaching(d, 'drivers/vfio/group.c', 14)).toEqual([1])
  })

  it('an error-return site is reached when its branch ran (the errno store has no code of its own)', () => {
    const d = build()
    const sites = errorSites(SOURCE, 'drivers/vfio/group.c')
    expect(sites.map((s) => s.errno)).toEqual(['EINVAL', 'EBUSY'])
    const reach = sites.map((s) => siteReach(d, s))
    expect(reach.map((r) => [r.site.errno, r.status, r.tests])).toEqual([
      ['EINVAL', 'not reached', []],
      ['EBUSY', 'reached', [1]],
    ])
    expect(fileTotals(d.files['drivers/vfio/group.c'], reach)).toEqual({
      lines: { hit: 9, total: 10 },
      functions: { hit: 2, total: 2 },
      branches: { hit: 0, total: 0 },
      sites: { hit: 1, total: 2 },
    })
    expect(siteReach(d, { ...sites[0]!, file: 'drivers/vfio/other.c' }).status).toBe('not built')
  })
})
