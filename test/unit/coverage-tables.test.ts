// The unreached list (harness/coverage/unreached.ts) and the rule x path table
// (harness/coverage/rule-table.ts), on excerpts of Linux 6.12 and a hand-made coverage run.
import { readFileSync } from 'node:fs'
import YAML from 'yaml'
import { describe, expect, it } from 'vitest'
import { CoverageBuilder, parseGcovJson, siteReach } from '../../harness/coverage/data.js'
import { renderRuleTable } from '../../harness/coverage/rule-table.js'
import { errorSites } from '../../harness/coverage/sites.js'
import { suggestReason, unexplained, unreachedFile } from '../../harness/coverage/unreached.js'

// drivers/vfio/group.c (vfio_group_fops_open, its checks)
const GROUP = `static int vfio_group_fops_open(struct inode *inode, struct file *filep)
{
	int ret;

	mutex_lock(&group->group_lock);
	if (refcount_read(&group->drivers) == 0) {
		ret = -ENODEV;
		goto out_unlock;
	}
	if (group->type == VFIO_NO_IOMMU && !capable(CAP_SYS_RAWIO)) {
		ret = -EPERM;
		goto out_unlock;
	}
	if (group->cdev_device_open_cnt) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (group->opened_file) {
		ret = -EBUSY;
		goto out_unlock;
	}
	group->opened_file = filep;
	ret = 0;
out_unlock:
	mutex_unlock(&group->group_lock);
	return ret;
}

static struct vfio_group *vfio_group_alloc(struct iommu_group *iommu_group, enum vfio_group_type type)
{
	struct vfio_group *group;

	group = kzalloc(sizeof(*group), GFP_KERNEL);
	if (!group)
		return ERR_PTR(-ENOMEM);
	return group;
}
`

function run() {
  const b = new CoverageBuilder({ id: 'debian-source:6.12.118-1,gcov', release: '6.12.118', tree: '/k', objDir: '/o', gcov: 'gcov-12' })
  const boot = b.test({ name: '(boot)', file: '', guest: 'k/default/intel-iommu' })
  const t = b.test({ name: 'k/default/intel-iommu > legacy group > a group opens once', file: 'suites/legacy-group.test.ts', guest: 'k/default/intel-iommu' })
  const counts: Record<number, number> = { 8: 0, 12: 0, 16: 0, 20: 1, 35: 0 }
  const lines = Object.entries(counts).map(([n, c]) => ({ line_number: Number(n), count: c }))
  b.add(boot, parseGcovJson(JSON.stringify({ files: [{ file: '/k/drivers/vfio/group.c', lines: lines.map((l) => ({ ...l, count: 0 })) }] }), '/k'))
  b.add(t, parseGcovJson(JSON.stringify({ files: [{ file: '/k/drivers/vfio/group.c', lines }] }), '/k'))
  return b.result(new Date('2026-12-07T00:00:00Z'))
}

describe('unreached error returns', () => {
  it('lists the sites no test reaches, with a suggested reason; keeps written reasons; drops reached sites', () => {
    const reach = errorSites(GROUP, 'drivers/vfio/group.c').map((s) => siteReach(run(), s))
    expect(reach.map((r) => [r.site.errno, r.site.line, r.status])).toEqual([
      ['ENODEV', 7, 'not reached'],
      ['EPERM', 11, 'not reached'],
      ['EBUSY', 15, 'not reached'],
      ['EBUSY', 19, 'reached'],
      ['ENOMEM', 35, 'not reached'],
    ])
    expect(suggestReason(reach[4]!).class).toBe('allocation')
    const meta = { kernel: 'debian-source:6.12.118-1,gcov (6.12.118)', command: 'vfio-conform coverage --unreached x.yaml', date: '2026-12-07' }
    const first = YAML.parse(unreachedFile(reach, meta)) as { sites: Array<{ site: string; class: string; reason: string }> }
    expect(first.sites.map((e) => [e.site, e.class])).toEqual([
      ['drivers/vfio/group.c:vfio_group_fops_open:ENODEV#1', 'unclassified'],
      ['drivers/vfio/group.c:vfio_group_fops_open:EPERM#1', 'unclassified'],
      ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#1', 'unclassified'],
      ['drivers/vfio/group.c:vfio_group_alloc:ENOMEM#1', 'allocation'],
    ])
    // A human explains one; the next run keeps it.
    first.sites[0]!.class = 'race'
    first.sites[0]!.reason = 'the group lost its last driver between lookup and open'
    const again = unreachedFile(reach, meta, YAML.stringify(first))
    expect(again).toContain('reason: the group lost its last driver between lookup and open')
    expect(again).toMatch(/^# {3}race: .*\(1\)$/m)
    expect(again).not.toContain('EBUSY#2')
  })
})

describe('error paths without a line of their own', () => {
  it('a one-condition guard is read from its branch outcomes [true, false], per test, not from the goto line gcov gives the exit\'s count', () => {
    const b = new CoverageBuilder({ id: 'k', release: '6.12.118', tree: '/k', objDir: '/o', gcov: 'gcov-12' })
    const t1 = b.test({ name: 'g > s > one', file: 'suites/s.test.ts', guest: 'g' })
    const t2 = b.test({ name: 'g > s > two', file: 'suites/s.test.ts', guest: 'g' })
    // line 6: if (refcount_read(&group->drivers) == 0) {  never true; lines 7-8 (ret = -ENODEV; goto) carry the exit's count.
    // line 10: if (group->type == VFIO_NO_IOMMU && !capable(CAP_SYS_RAWIO)) {  two conditions: its lines decide.
    // line 14: if (group->cdev_device_open_cnt) {  true once, in test two only; its branch lines have no code.
    const snap = (arcs14: number[]) => parseGcovJson(JSON.stringify({ files: [{ file: '/k/drivers/vfio/group.c', lines: [
      { line_number: 6, count: 2, branches: [{ count: 0 }, { count: 2 }] },
      { line_number: 7, count: 2 }, { line_number: 8, count: 2 },
      { line_number: 10, count: 2, branches: [{ count: 0 }, { count: 2 }, { count: 0 }, { count: 0 }] },
      { line_number: 11, count: 0 },
      { line_number: 14, count: 2, branches: arcs14.map((count) => ({ count })) },
    ] }] }), '/k')
    b.add(t1, snap([0, 2]))
    b.add(t2, snap([1, 1]))
    const data = b.result()
    const reach = errorSites(GROUP, 'drivers/vfio/group.c').map((s) => siteReach(data, s))
    expect(reach.slice(0, 3).map((r) => [r.site.errno, r.status, r.count, r.tests])).toEqual([
      ['ENODEV', 'not reached', 0, []],
      ['EPERM', 'not reached', 0, []],
      ['EBUSY', 'reached', 1, [t2]],
    ])
  })
})

describe('rule x path table', () => {
  it('a cell names the tests that reach its check, a gap when none does, or the reason', () => {
    const rules = [
      {
        id: 'exclusive-open',
        title: 'a group opens once',
        paths: {
          group: { sites: ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#2'] },
          cdev: { sites: ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#1'] },
          other: { reason: 'no such path here' },
        },
      },
      { id: 'checked', title: 'a check by its condition', paths: { group: { check: 'drivers/vfio/group.c:vfio_group_fops_open:group->opened_file' }, cdev: { sites: ['drivers/vfio/group.c:nope:EIO#1'] }, other: { reason: 'n' } } },
    ]
    const md = renderRuleTable(rules, { group: 'group', cdev: 'cdev', other: 'other' }, run(), new Map([['drivers/vfio/group.c', GROUP]]), { command: 'vfio-conform coverage --rule-table t.md', date: '2026-12-07' })
    expect(md).toContain('| **exclusive-open**: a group opens once | `legacy group > a group opens once`<br><small>group.c:19 vfio_group_fops_open()</small> | **GAP**: no test reaches group.c:15 vfio_group_fops_open() | n/a: no such path here |')
    expect(md).toContain('| **checked**: a check by its condition | `legacy group > a group opens once`<br><small>group.c:18 vfio_group_fops_open() if (group->opened_file)</small> | ?: no site drivers/vfio/group.c:nope:EIO#1 in this kernel |')
    expect(md).toContain('2 rules, 1 gap.')
  })

  it('via: only tests that also ran the path\'s own function count; untested: a gap with its reason', () => {
    const rules = [
      {
        id: 'r',
        title: 't',
        paths: {
          a: { sites: ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#2'], via: ['drivers/vfio/group.c:vfio_group_fops_open'] },
          b: { sites: ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#2'], via: ['drivers/vfio/group.c:vfio_group_alloc'] },
          c: { sites: ['drivers/vfio/group.c:vfio_group_fops_open:EBUSY#1'], untested: 'needs a cdev' },
        },
      },
    ]
    const md = renderRuleTable(rules, { a: 'a', b: 'b', c: 'c' }, run(), new Map([['drivers/vfio/group.c', GROUP]]), { command: 'c', date: '2026-12-07' })
    expect(md).toContain('| **r**: t | `legacy group > a group opens once`<br><small>group.c:19 vfio_group_fops_open() (via vfio_group_fops_open())</small> | **GAP**: no test reaches group.c:19 vfio_group_fops_open() (via vfio_group_alloc()) | not tested: needs a cdev (no test reaches group.c:15 vfio_group_fops_open()) |')
    expect(md).toContain('1 rules, 1 gap, 1 path not tested with the reason given.')
  })
})

describe('ci/coverage/unreached.yaml (the main job\'s kernel)', () => {
  it('every unreached error return has a class and a reason', () => {
    const text = readFileSync(new URL('../../ci/coverage/unreached.yaml', import.meta.url), 'utf8')
    expect(unexplained(text).map((e) => e.site)).toEqual([])
    expect((YAML.parse(text) as { sites: unknown[] }).sites.length).toBeGreaterThan(0)
  })
  it('a site without a reason is named', () => {
    const text = YAML.stringify({ sites: [{ site: 'a:f:EINVAL#1', line: 1, check: 'if (x)', class: 'unclassified', reason: 'TODO' }, { site: 'a:f:EBUSY#1', line: 2, check: 'if (y)', class: 'race', reason: 'r' }, { site: 'a:g:EIO#1', line: 3, check: 'if (z)', class: 'whatever', reason: 'r' }] })
    expect(unexplained(text).map((e) => e.site)).toEqual(['a:f:EINVAL#1', 'a:g:EIO#1'])
  })
})
