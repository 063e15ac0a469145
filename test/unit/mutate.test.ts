import { describe, expect, it } from 'vitest'
import { blankNonCode, findSites, statementEnd } from '../../harness/mutate/sites.js'
import { applyMutant, mutantFor } from '../../harness/mutate/mutants.js'
import { globToRegExp, parseSampleSpec, sample, siteMatches, suitesFor } from '../../harness/mutate/select.js'
import { classify, baselineProblems, type RunOutcome, type Baseline } from '../../harness/mutate/sweep.js'
import { parseExplanations, renderReport } from '../../harness/mutate/report.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'

// Shaped like drivers/vfio/group.c and drivers/iommu/iommufd/ioas.c of 6.12.
const GROUP_C = `// SPDX-License-Identifier: GPL-2.0-only
#include <linux/vfio.h>
#define X(a) \\
	do { } while (0)

static int vfio_group_ioctl_unset_container(struct vfio_group *group)
{
	int ret = 0;

	mutex_lock(&group->group_lock);
	if (!vfio_group_has_iommu(group)) {
		ret = -EINVAL;
		goto out_unlock;
	}
	if (group->container) {
		/* "return -EBUSY" in a comment is no site */
		if (group->container_users != 1) {
			ret = -EBUSY;
			goto out_unlock;
		}
		vfio_group_detach_container(group);
	}
out_unlock:
	mutex_unlock(&group->group_lock);
	return ret;
}

static struct vfio_group *vfio_group_alloc(struct iommu_group *iommu_group)
{
	struct vfio_group *group;

	group = kzalloc(sizeof(*group), GFP_KERNEL);
	if (!group)
		return ERR_PTR(-ENOMEM);
	if (WARN_ON(!group->container))
		return ERR_PTR(-EINVAL);
	switch (x) {
	case 1:
		if (y)
			break;
		return -ENOTTY;
	default:
		return -ENOTTY;
	}
	return group;
}

static int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd)
{
	int rc;

	rc = -EOVERFLOW;
	if (cmd->iova >= ULONG_MAX ||
	    cmd->length >= ULONG_MAX)
		goto out_put;
	rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length, &unmapped);
	if (rc)
		goto out_put;
	vfio_device_unblock_group(device);
	return 0;
out_put:
	return rc;
}
`

describe('mutate: sites', () => {
  it('blanks comments, strings and preprocessor lines but keeps offsets', () => {
    const s = 'a /* b */ "c;" // d\n#define E \\\n  f\ng'
    const b = blankNonCode(s)
    expect(b.length).toBe(s.length)
    expect(b.replace(/\s+/g, ' ').trim()).toBe('a " " g')
  })

  it('finds a statement end across nested if/else and blocks', () => {
    const c = 'if (a) { x; } else if (b) y; z;'
    expect(c.slice(0, statementEnd(c, 0))).toBe('if (a) { x; } else if (b) y;')
  })

  it('finds the innermost checks that return or set an errno, and the iommufd style', () => {
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    const brief = sites.map((s) => [s.line, s.func, s.kind, s.errno ?? '', s.text, s.staticReason ?? ''])
    expect(brief).toEqual([
      [11, 'vfio_group_ioctl_unset_container', 'errno-check', 'EINVAL', '!vfio_group_has_iommu(group)', ''],
      [17, 'vfio_group_ioctl_unset_container', 'errno-check', 'EBUSY', 'group->container_users != 1', ''],
      [33, 'vfio_group_alloc', 'errno-check', 'ENOMEM', '!group', 'allocation-failure'],
      [35, 'vfio_group_alloc', 'errno-check', 'EINVAL', 'WARN_ON(!group->container)', 'warn-on'],
      [53, 'iommufd_ioas_unmap', 'errno-check', 'EOVERFLOW', 'cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX', ''],
      [59, 'iommufd_ioas_unmap', 'release', '', 'vfio_device_unblock_group(device);', ''],
    ])
    expect(sites[1]!.id).toBe('drivers/vfio/group.c:17')
  })

  it('makes one mutant per site: the check never fires, its side effects stay; a release is skipped', () => {
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    const drop = mutantFor(sites[1]!, GROUP_C)
    expect(drop.operator).toBe('drop-check')
    expect(drop.after.trim()).toBe('if ((group->container_users != 1) && 0) {')
    const mutated = applyMutant(drop, GROUP_C)
    expect(mutated.length).toBe(GROUP_C.length + '() && 0'.length)
    expect(findSites('drivers/vfio/group.c', mutated).map((s) => s.text)).toContain('(group->container_users != 1) && 0')
    const skip = mutantFor(sites[5]!, GROUP_C)
    expect(skip.operator).toBe('skip-release')
    expect(applyMutant(skip, GROUP_C)).not.toContain('vfio_device_unblock_group(device);')
    // The key follows the file's content and the edit.
    expect(mutantFor(sites[1]!, GROUP_C).key).toBe(drop.key)
    expect(mutantFor(sites[1]!, GROUP_C + '\n').key).not.toBe(drop.key)
    expect(() => applyMutant(drop, GROUP_C.replace('container_users != 1', 'container_users != 2'))).toThrow(/changed under the site/)
  })
})

describe('mutate: release sites', () => {
  // drivers/iommu/iommufd/pages.c do_update_pinned (6.12): the uncharge is an else's body.
  const PAGES_C = `static int do_update_pinned(struct iopt_pages *pages, unsigned long npages,
			    bool inc, struct pfn_reader_user *user)
{
	int rc = 0;

	switch (pages->account_mode) {
	case IOPT_PAGES_ACCOUNT_USER:
		if (inc)
			rc = incr_user_locked_vm(pages, npages);
		else
			decr_user_locked_vm(pages, npages);
		break;
	}
	return rc;
}
`
  it('a release call that is an else\'s body is a site; its mutant leaves an empty else', () => {
    const sites = findSites('drivers/iommu/iommufd/pages.c', PAGES_C).filter((s) => s.kind === 'release')
    expect(sites.map((s) => [s.line, s.func, s.text])).toEqual([[11, 'do_update_pinned', 'decr_user_locked_vm(pages, npages);']])
    const mutated = applyMutant(mutantFor(sites[0]!, PAGES_C), PAGES_C)
    expect(mutated).toMatch(/else\n\t\t\t; \/\* vfio-conform mutant: skipped decr_user_locked_vm \*\/\n\t\tbreak;/)
  })
})

describe('mutate: selection', () => {
  it('globs match files and sites', () => {
    expect(globToRegExp('drivers/iommu/iommufd/*.c').test('drivers/iommu/iommufd/ioas.c')).toBe(true)
    expect(globToRegExp('drivers/vfio/*.c').test('drivers/vfio/pci/vfio_pci_core.c')).toBe(false)
    expect(globToRegExp('drivers/vfio/**').test('drivers/vfio/pci/vfio_pci_core.c')).toBe(true)
    const site = findSites('drivers/vfio/group.c', GROUP_C)[1]!
    expect(siteMatches(site, 'drivers/vfio/group.c')).toBe(true)
    expect(siteMatches(site, 'drivers/vfio/group.c:17')).toBe(true)
    expect(siteMatches(site, 'drivers/vfio/group.c:11')).toBe(false)
  })

  it('samples reproducibly', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i)
    expect(sample(xs, 10, 1)).toEqual(sample(xs, 10, 1))
    expect(sample(xs, 10, 1)).not.toEqual(sample(xs, 10, 2))
    expect(sample(xs, 10, 1)).toHaveLength(10)
    expect(sample(xs, 60, 1)).toEqual(xs)
    expect(parseSampleSpec('drivers/iommu/iommufd/*.c=40')).toEqual({ glob: 'drivers/iommu/iommufd/*.c', n: 40 })
    expect(() => parseSampleSpec('drivers/vfio')).toThrow(/GLOB=N/)
  })

  it('runs the suites of the rule\'s path for each file', () => {
    expect(suitesFor('drivers/vfio/group.c')).toContain('legacy-group')
    expect(suitesFor('drivers/iommu/iommufd/ioas.c')).toContain('iommufd-cdev')
    expect(suitesFor('drivers/vfio/pci/vfio_pci_core.c')).toContain('dma-isolation')
  })
})

const v = (name: string, verdict: Verdict, reason?: string): TestVerdict => ({ project: 'conformance', file: 'suites/x.test.ts', name: `k/default/intel-iommu > ${name}`, verdict, reason })
const outcome = (verdicts: TestVerdict[], extra: Partial<RunOutcome> = {}): RunOutcome => ({ verdicts, runErrors: [], exitCode: 0, timedOut: false, ms: 1000, splats: [], ...extra })
const baseline: Baseline = { suites: ['x'], verdicts: { a: 'PASS', b: 'PASS', c: 'XFAIL', d: 'SKIP' }, ms: 1000, date: '' }

describe('mutate: outcomes', () => {
  it('a FAIL kills; an ERROR, a hang or a splat is a kill by crash, said so; all PASS survives', () => {
    expect(classify(outcome([v('a', 'PASS'), v('b', 'FAIL', 'expected EBUSY')]), baseline)).toMatchObject({ outcome: 'killed', by: ['b'] })
    expect(classify(outcome([v('c', 'XPASS')]), baseline).outcome).toBe('killed')
    expect(classify(outcome([v('a', 'ERROR', 'guest lost')]), baseline)).toMatchObject({ outcome: 'killed-by-crash' })
    expect(classify(outcome([v('a', 'FAIL', 'the kernel died during this test (BUG: kernel NULL pointer dereference)')]), baseline).outcome).toBe('killed-by-crash')
    expect(classify(outcome([], { timedOut: true }), baseline).reason).toMatch(/hung/)
    expect(classify(outcome([], { runErrors: ['boot failed'] }), baseline).outcome).toBe('killed-by-crash')
    expect(classify(outcome([v('a', 'PASS')], { splats: ['BUG: kernel NULL pointer dereference'] }), baseline).outcome).toBe('killed-by-crash')
    const s = classify(outcome([v('a', 'PASS'), v('b', 'SKIP', 'no mdev'), v('d', 'SKIP')]), baseline)
    expect(s.outcome).toBe('survived')
    expect(s.reason).toMatch(/b PASS->SKIP/)
  })

  it('a kill by crash the kernel left no evidence of runs once more, and the second run decides', async () => {
    const { runTwiceIfUnproven, crashWithoutKernelEvidence } = await import('../../harness/mutate/sweep.js')
    const lost = outcome([v('a', 'ERROR', 'guest SSH not ready after 300 s')])
    const died = outcome([v('a', 'FAIL', 'the kernel died during this test (BUG: kernel NULL pointer dereference)')])
    expect(crashWithoutKernelEvidence(lost, classify(lost, baseline))).toBe(true)
    expect(crashWithoutKernelEvidence(died, classify(died, baseline))).toBe(false)
    expect(crashWithoutKernelEvidence(outcome([v('a', 'PASS')], { splats: ['WARNING: at x'] }), { outcome: 'killed-by-crash' })).toBe(false)
    // The host was unlucky once: the second run's verdicts count, and the reason names the first.
    const runs = [lost, outcome([v('a', 'PASS'), v('b', 'FAIL', 'expected EBUSY')])]
    let n = 0
    const r = await runTwiceIfUnproven(async () => runs[n++]!, baseline)
    expect(n).toBe(2)
    expect(r.c.outcome).toBe('killed')
    expect(r.c.reason).toMatch(/second run \(the first: ERROR a/)
    // Stopped twice: a kill by crash, said so.
    n = 0
    const again = await runTwiceIfUnproven(async () => (n++, lost), baseline)
    expect([n, again.c.outcome]).toEqual([2, 'killed-by-crash'])
    expect(again.c.reason).toMatch(/the same on a second run/)
    // The kernel's own evidence needs no second run.
    n = 0
    expect((await runTwiceIfUnproven(async () => (n++, died), baseline)).c.outcome).toBe('killed-by-crash')
    expect(n).toBe(1)
  })

  it('tests flaky on the unmutated kernel are left out of the mutants\' runs', async () => {
    const { mutantFilter } = await import('../../harness/mutate/sweep.js')
    const b: Baseline = { ...baseline, flaky: ['type1: a read-only mapping (fault logged)'] }
    const all = new RegExp(mutantFilter(undefined, b)!)
    expect(all.test('k/default/intel-iommu type1: a read-only mapping (fault logged)')).toBe(false)
    expect(all.test('k/default/intel-iommu type1: DMA to a mapped IOVA')).toBe(true)
    const some = new RegExp(mutantFilter(['a', 'type1: a read-only mapping (fault logged)'], b)!)
    expect(some.test('k/default/intel-iommu a')).toBe(true)
    expect(some.test('k/default/intel-iommu b')).toBe(false)
    expect(some.test('k/default/intel-iommu type1: a read-only mapping (fault logged)')).toBe(false)
    expect(new RegExp(mutantFilter(undefined, baseline)!).test('k/default/intel-iommu iommufd: a read-only mapping refuses device writes (fault logged) and allows device reads')).toBe(false)
  })

  it('a baseline with a FAIL, an ERROR or no test at all is refused', () => {
    expect(baselineProblems(outcome([v('a', 'PASS'), v('c', 'XFAIL')]))).toEqual([])
    expect(baselineProblems(outcome([v('a', 'FAIL', 'x')]))).toEqual(['FAIL a: x'])
    expect(baselineProblems(outcome([]))).toEqual(['no test ran'])
  })

  it('reports per file with the survivors', () => {
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    const results = new Map(
      sites.slice(0, 3).map((s, i) => {
        const m = mutantFor(s, GROUP_C)
        const { span: _s, ...site } = s
        const outcome = (['killed', 'survived', 'no-test'] as const)[i]!
        return [s.id, { kernelId: 'k', kernelKey: 'kk', key: m.key, site, operator: m.operator, diff: '', outcome, reason: 'r', by: [], suites: ['legacy-group'], passed: 3, date: '' }]
      }),
    )
    const text = renderReport(sites, results)
    expect(text).toContain('| `drivers/vfio/group.c` | 6 | 1 | 0 | 1 | 0 | 1 | 0 | 3 | 50% |')
    expect(text).toContain('- `drivers/vfio/group.c:17` vfio_group_ioctl_unset_container: dropped `if (group->container_users != 1)` (-EBUSY)')
    // Explained (same kernel, site and check): counted apart, out of the score; a moved check is not applied.
    const survivor = results.get('drivers/vfio/group.c:17')!
    const explained = parseExplanations(`survivors:\n  - site: drivers/vfio/group.c:17\n    kernel: k\n    check: "${survivor.site.text}"\n    class: equivalent\n    reason: a later check returns the same EBUSY\n`)
    const text2 = renderReport(sites, results, { explained })
    expect(text2).toContain('| `drivers/vfio/group.c` | 6 | 1 | 0 | 0 | 1 | 1 | 0 | 3 | 100% |')
    expect(text2).toContain('Survivors (0)')
    expect(text2).toContain('- `drivers/vfio/group.c:17` vfio_group_ioctl_unset_container (equivalent): a later check returns the same EBUSY')
    expect(renderReport(sites, results, { explained: [{ ...explained[0]!, check: 'moved' }] })).toContain('Survivors (1)')
    expect(() => parseExplanations('survivors:\n  - site: x\n    class: maybe\n')).toThrow(/entry 1/)
  })
})

describe('mutate: schemata', () => {
  it('guards every mutant of a file by its number (the boot parameter turns one on)', async () => {
    const { applySchemata, SCHEMATA_PARAM } = await import('../../harness/mutate/mutants.js')
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    const ms = sites.map((s, i) => ({ mutant: mutantFor(s, GROUP_C), n: i + 1 }))
    const out = applySchemata(GROUP_C, ms)
    expect(out).toContain('if (vfio_conform_taken(2, !!(group->container_users != 1)) && !VFIO_CONFORM_MUTANT_ON(2)) {')
    expect(out).toContain('if (vfio_conform_taken(6, 1) && !VFIO_CONFORM_MUTANT_ON(6)) vfio_device_unblock_group(device);')
    expect(out).toContain('static unsigned long vfio_conform_seen[BITS_TO_LONGS(7)];')
    expect(out).toContain(`__setup("${SCHEMATA_PARAM}=", vfio_conform_mutant_setup);`)
    // The guards keep every check where it was: the instrumented file has the same checks, in order.
    const checks = (xs: ReturnType<typeof findSites>) => xs.filter((s) => s.kind === 'errno-check').map((s) => s.func)
    expect(checks(findSites('drivers/vfio/group.c', out))).toEqual(checks(sites))
    expect(() => applySchemata(GROUP_C.replace('container_users != 1', 'x'), ms)).toThrow(/changed under the site/)
  })
})

describe('mutate: coverage picks the tests', () => {
  it('a check whose error path no test takes is no-test; one taken runs only the tests that take it', async () => {
    const { CoverageIndex, testsPattern } = await import('../../harness/mutate/coverage.js')
    const line = (n: number, count: number, tests: number[]) => [String(n), { count, tests }] as const
    const data = {
      format: 'vfio-conform-coverage/1' as const,
      generated: '',
      kernel: { id: 'k', release: 'r', tree: '/t', objDir: '/o', gcov: 'gcov-12' },
      tests: [
        { name: '(boot)', file: '', guest: 'g' },
        { name: 'k/default/intel-iommu > UNSET_CONTAINER with none set is EINVAL, and EBUSY', file: 'suites/legacy-group.test.ts', guest: 'g' },
        { name: 'k/default/intel-iommu > the ownership model > sequences', file: 'suites/ownership-model.test.ts', guest: 'g' },
      ],
      files: {
        'drivers/vfio/group.c': {
          // if (!vfio_group_has_iommu) { ret = -EINVAL; goto } never taken; the EBUSY branch taken by test 1 and 2.
          lines: Object.fromEntries([line(11, 5, [1, 2]), line(12, 0, []), line(13, 0, []), line(17, 3, [1, 2]), line(18, 2, [1, 2]), line(19, 2, [1, 2]), line(59, 0, [])]),
          functions: {},
          branches: {},
        },
      },
    }
    const idx = new CoverageIndex(data, async () => GROUP_C)
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    expect(await idx.siteTests(sites[0]!)).toMatchObject({ status: 'not reached' })
    expect(await idx.siteTests(sites[1]!)).toMatchObject({
      status: 'reached',
      suites: ['legacy-group', 'ownership-model'],
      tests: ['UNSET_CONTAINER with none set is EINVAL, and EBUSY', 'the ownership model > sequences'],
    })
    expect(await idx.siteTests(sites[5]!)).toMatchObject({ status: 'not reached' })
    expect((await idx.siteTests({ ...sites[1]!, file: 'drivers/vfio/other.c' })).status).toBe('unknown')
    const re = new RegExp(testsPattern(['the ownership model > sequences', 'a (b) c']))
    expect(re.test('k/default/intel-iommu the ownership model sequences')).toBe(true)
    expect(re.test('k/default/intel-iommu a (b) c')).toBe(true)
    expect(re.test('k/default/intel-iommu a b c')).toBe(false)
  })
})

describe('mutate: the guest of a site\'s tests', () => {
  it('a site only noiommu-topology tests reach runs them on the noiommu guest; merged coverage runs add their tests', async () => {
    const { CoverageIndex, mergeCoverage } = await import('../../harness/mutate/coverage.js')
    const { guestFor, mainGuest } = await import('../../harness/mutate/select.js')
    const kernel = { id: 'k', release: 'r', tree: '/t', objDir: '/o', gcov: 'gcov-12' }
    const run = (tests: Array<{ name: string; file: string; guest: string }>, lines: Record<string, { count: number; tests: number[] }>) => ({
      format: 'vfio-conform-coverage/1' as const, generated: '', kernel, tests,
      files: { 'drivers/vfio/group.c': { lines, functions: {}, branches: {} } },
    })
    // Main job: the EBUSY branch (lines 17-19) taken on the intel guest only; the EINVAL one (12-13) never.
    const main = run(
      [{ name: 'k-gcov/default/intel-iommu > UNSET_CONTAINER is EBUSY', file: 'suites/legacy-group.test.ts', guest: 'k-gcov/default/intel-iommu' }],
      { 11: { count: 5, tests: [0] }, 12: { count: 0, tests: [] }, 13: { count: 0, tests: [] }, 17: { count: 3, tests: [0] }, 18: { count: 2, tests: [0] }, 19: { count: 2, tests: [0] } },
    )
    // A noiommu-topology run with a new test that takes the EINVAL branch.
    const noiommu = run(
      [{ name: 'k-gcov/noiommu/none > a no-IOMMU rule', file: 'suites/noiommu.test.ts', guest: 'k-gcov/noiommu/none' }],
      { 11: { count: 1, tests: [0] }, 12: { count: 1, tests: [0] }, 13: { count: 1, tests: [0] } },
    )
    const merged = mergeCoverage([main, noiommu])
    expect(merged.tests.map((t) => t.guest)).toEqual(['k-gcov/default/intel-iommu', 'k-gcov/noiommu/none'])
    expect(merged.files['drivers/vfio/group.c']!.lines[11]).toEqual({ count: 6, tests: [0, 1] })
    const sites = findSites('drivers/vfio/group.c', GROUP_C)
    const onMain = await new CoverageIndex(main, async () => GROUP_C).siteTests(sites[0]!)
    expect(onMain.status).toBe('not reached')
    const both = new CoverageIndex(merged, async () => GROUP_C)
    const einval = await both.siteTests(sites[0]!)
    expect(einval).toMatchObject({ status: 'reached', suites: ['noiommu'], byGuest: { 'noiommu/none': { suites: ['noiommu'], tests: ['a no-IOMMU rule'] } } })
    expect(guestFor(einval.byGuest)).toMatchObject({ topology: 'noiommu', iommu: 'none', suites: ['noiommu', 'resets'] })
    const ebusy = await both.siteTests(sites[1]!)
    expect(guestFor(ebusy.byGuest)).toMatchObject({ topology: 'default', iommu: 'intel-iommu' })
    expect(guestFor(undefined).topology).toBe('default')
    // Reached on a default-topology model and on noiommu: the dedicated guest, whose tests take it.
    const t = { suites: ['resets'], tests: ['x'] }
    expect(guestFor({ 'default/virtio-iommu': t, 'noiommu/none': t }).key).toBe('noiommu/none')
    // `mutate --iommu virtio-iommu`: that model's guest is the main one.
    const virtio = mainGuest('virtio-iommu')
    expect(virtio).toMatchObject({ key: 'default/virtio-iommu', topology: 'default', iommu: 'virtio-iommu' })
    expect(guestFor({ 'default/intel-iommu': t }, virtio)).toBe(virtio)
    expect(mainGuest()).toBe(guestFor(undefined))
    expect(() => mergeCoverage([main, { ...noiommu, kernel: { ...kernel, objDir: '/other' } }])).toThrow(/different kernels/)
  })
})

describe('mutate: the schemata kernel\'s probe', () => {
  it('attributes each taken site to the test whose markers surround it', async () => {
    const { takenFromConsole } = await import('../../harness/mutate/sweep.js')
    const log = [
      '[    1.0] vfio-conform: mutant site 7 taken',
      '[    5.0] vfio-conform: begin test abc_0_1',
      '[    5.1] vfio: vfio-conform: mutant site 3 taken',
      '[    5.2] vfio-conform: end test abc_0_1',
      '[    6.0] vfio-conform: begin test abc_0_2',
      '[    6.1] vfio-conform: mutant site 12 taken',
      '[    7.0] vfio-conform: begin test zzz_9',
      '[    7.1] vfio-conform: mutant site 3 taken',
    ].join('\n')
    const names = new Map([['abc_0_1', 'a group opens once'], ['abc_0_2', 'UNSET_CONTAINER is EBUSY']])
    expect(takenFromConsole(log, names)).toEqual({ '7': ['(boot)'], '3': ['(task zzz_9)', 'a group opens once'], '12': ['UNSET_CONTAINER is EBUSY'] })
  })
})
