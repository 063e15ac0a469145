// gate --coverage (harness/gate/coverage.ts): which error returns a series adds, removes or
// changes, and the gate.md section. The diff is git's own (-U0) between Linux 6.12's
// vfio_group_ioctl_unset_container (drivers/vfio/group.c) and a changed copy.
import { execa } from 'execa'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CoverageBuilder, parseGcovJson } from '../../harness/coverage/data.js'
import { judgeSites, parseUnifiedDiff, renderCoverageSection, touchedSites } from '../../harness/gate/coverage.js'
import { UNSET_CONTAINER } from './kernel-excerpts.js'

const BASE = UNSET_CONTAINER

// The series: the EINVAL check goes, the EBUSY check changes, an EPERM check comes.
const HEAD = BASE.replace(
  `	if (!vfio_group_has_iommu(group)) {
		ret = -EINVAL;
		goto out_unlock;
	}
`,
  '',
)
  .replace('group->container_users != 1', 'group->container_users > 1')
  .replace(
    `		vfio_group_detach_container(group);`,
    `		if (!capable(CAP_SYS_ADMIN)) {
			ret = -EPERM;
			goto out_unlock;
		}
		vfio_group_detach_container(group);`,
  )

async function gitDiff(a: string, b: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gate-cov-'))
  try {
    await writeFile(path.join(dir, 'a.c'), a)
    await writeFile(path.join(dir, 'b.c'), b)
    const r = await execa('git', ['diff', '--no-index', '-U0', '--no-color', 'a.c', 'b.c'], { cwd: dir, reject: false })
    return r.stdout.replace(/a\/a\.c/g, 'a/drivers/vfio/group.c').replace(/b\/b\.c/g, 'b/drivers/vfio/group.c')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('gate --coverage', () => {
  it('parses git diff -U0 hunks per file', async () => {
    const hunks = parseUnifiedDiff(await gitDiff(BASE, HEAD))
    expect([...hunks.keys()]).toEqual(['drivers/vfio/group.c'])
    expect(hunks.get('drivers/vfio/group.c')!.length).toBeGreaterThan(0)
    expect(parseUnifiedDiff('--- a/x.c\n+++ /dev/null\n@@ -3,2 +0,0 @@\n-a\n-b\n').get('x.c')).toEqual([{ baseStart: 3, baseCount: 2, headStart: 0, headCount: 0 }])
  })

  it('classifies the sites a series adds, removes and changes', async () => {
    const hunks = parseUnifiedDiff(await gitDiff(BASE, HEAD)).get('drivers/vfio/group.c')!
    const t = touchedSites('drivers/vfio/group.c', BASE, HEAD, hunks)
    expect(t.map((x) => [x.change, x.site.errno, x.site.line, x.site.guard?.text])).toEqual([
      ['changed', 'EBUSY', 14, 'group->container_users > 1'],
      ['added', 'EPERM', 18, '!capable(CAP_SYS_ADMIN)'],
      ['removed', 'EINVAL', 13, '!vfio_group_has_iommu(group)'],
    ])
    // No hunk near a site: nothing touched.
    expect(touchedSites('drivers/vfio/group.c', BASE, BASE.replace('int ret = 0;', 'int ret = 0; /* */'), [{ baseStart: 9, baseCount: 1, headStart: 9, headCount: 1 }])).toEqual([])
  })

  it('warns of an added or changed check that no test reaches, and names the tests of the others', async () => {
    const hunks = parseUnifiedDiff(await gitDiff(BASE, HEAD)).get('drivers/vfio/group.c')!
    const touched = touchedSites('drivers/vfio/group.c', BASE, HEAD, hunks)
    // Head's coverage: line 15 (the EBUSY goto) ran in one test; line 19 (the EPERM goto) never.
    const b = new CoverageBuilder({ id: 'source:/k,gcov', release: '6.12.118', tree: '/k', objDir: '/o', gcov: 'gcov-12' })
    const test = b.test({ name: 'k/default/intel-iommu > groups > unset while in use is EBUSY', file: 'suites/groups.test.ts', guest: 'k/default/intel-iommu' })
    const gcov = JSON.stringify({
      files: [{ file: '/k/drivers/vfio/group.c', lines: [{ line_number: 15, count: 1 }, { line_number: 19, count: 0 }], functions: [] }],
    })
    b.add(test, parseGcovJson(gcov, '/k'))
    const md = renderCoverageSection(judgeSites(touched, b.result()))
    expect(md).toContain('**Warning: an added check that no test reaches**: `drivers/vfio/group.c:18` vfio_group_ioctl_unset_container() -EPERM if (!capable(CAP_SYS_ADMIN))')
    expect(md).toContain('| changed | `drivers/vfio/group.c:14` vfio_group_ioctl_unset_container() -EBUSY | `if (group->container_users > 1)` | yes | `groups > unset while in use is EBUSY` |')
    expect(md).toContain('| removed | `drivers/vfio/group.c:13` vfio_group_ioctl_unset_container() -EINVAL | `if (!vfio_group_has_iommu(group))` | no coverage |')
    expect(renderCoverageSection([])).toContain('adds, removes or changes no error return')
  })
})
