// vfio-conform gate: the per-test comparison of base and head (pure), the selection shared
// with bisect-run, and the git plumbing on a toy repository (worktree, git am of a series
// that applies and of one that does not). No kernel is built here.
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  compareRuns,
  gateExitCode,
  isSplatFailure,
  renderGateReport,
  selectedVerdicts,
  selectionPattern,
  testId,
  vitestMatchName,
  type RunSide,
} from '../../harness/gate/compare.js'
import {
  applySeries,
  checkoutWorktree,
  failedPatchFromAm,
  mboxSubjects,
  openRepo,
  removeWorktree,
  resolveCommit,
  switchWorktree,
} from '../../harness/gate/worktree.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'
import { UsageError } from '../../harness/util/errors.js'

const OPEN_ONCE = 'a group opens once: an open from another process is EBUSY'
const VIABLE = 'a group whose devices are on vfio-pci or driverless is viable'
const SPLAT_REASON = 'kernel splat during this test (WARN): WARNING: CPU: 0 PID: 91 at drivers/vfio/group.c:470 vfio_group_fops_open'

/** A verdict of a test on a kernel label (base and head builds may carry different labels). */
const v = (label: string, test: string, verdict: Verdict, reason?: string): TestVerdict => ({
  project: 'conformance',
  file: 'suites/legacy-group.test.ts',
  name: `${label}/default/intel-iommu > ${test}`,
  verdict,
  ...(reason ? { reason } : {}),
})
const side = (verdicts: TestVerdict[], extra: Partial<RunSide> = {}): RunSide => ({ verdicts, runErrors: [], ...extra })
const ids = (list: Array<{ test: string }>) => list.map((c) => c.test)

describe('selection', () => {
  test('several --test patterns become one alternation; one stays as it is', () => {
    expect(selectionPattern([])).toBeUndefined()
    expect(selectionPattern(['a group opens once'])).toBe('a group opens once')
    expect(selectionPattern(['^x', 'y$'])).toBe('(?:^x)|(?:y$)')
  })
  test('matches names the way vitest does (describe and test joined by a space), not the " > " form', () => {
    expect(vitestMatchName('k/default/intel-iommu > a test')).toBe('k/default/intel-iommu a test')
    const all = [v('k', OPEN_ONCE, 'PASS'), v('k', VIABLE, 'SKIP', 'skipped')]
    expect(selectedVerdicts(all, /intel-iommu a group opens once/).map((x) => x.verdict)).toEqual(['PASS'])
    expect(selectedVerdicts(all, /^k\/default/)).toHaveLength(2)
    expect(selectedVerdicts(all, undefined)).toHaveLength(2)
  })
  test('testId drops the kernel label only', () => {
    expect(testId(`source-base/default/intel-iommu > ${OPEN_ONCE}`)).toBe(`default/intel-iommu > ${OPEN_ONCE}`)
    expect(testId(`source-head/default/intel-iommu > ${OPEN_ONCE}`)).toBe(`default/intel-iommu > ${OPEN_ONCE}`)
    expect(testId('no guest > a run needs at least one guest')).toBe('no guest > a run needs at least one guest')
    expect(testId('plain name')).toBe('plain name')
  })
  test('a splat FAIL is recognised from the fixture reason and from the boot test', () => {
    expect(isSplatFailure(v('k', OPEN_ONCE, 'FAIL', SPLAT_REASON))).toBe(true)
    expect(isSplatFailure(v('k', OPEN_ONCE, 'FAIL', "expected 'OK' to be 'EBUSY'"))).toBe(false)
    expect(isSplatFailure(v('k', 'boot is free of kernel splats', 'FAIL', 'expected [ …(1) ] to deeply equal []'))).toBe(true)
    expect(isSplatFailure(v('k', OPEN_ONCE, 'ERROR', SPLAT_REASON))).toBe(false)
  })
})

describe('compareRuns', () => {
  test('a new failure: PASS on base, FAIL on head (labels differ between the builds)', () => {
    const c = compareRuns(
      side([v('source-base', OPEN_ONCE, 'PASS'), v('source-base', VIABLE, 'PASS')]),
      side([v('source-head', OPEN_ONCE, 'FAIL', "expected 'OK' to be 'EBUSY'"), v('source-head', VIABLE, 'PASS')]),
    )
    expect(ids(c.newFailures)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(ids(c.unchanged)).toEqual([`default/intel-iommu > ${VIABLE}`])
    expect(c.onlyBase).toEqual([])
    expect(c.onlyHead).toEqual([])
    expect(gateExitCode(c)).toBe(1)
  })
  test('SKIP and XFAIL on base -> FAIL on head are new failures too', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'SKIP', 'CONFIG_X not set'), v('b', VIABLE, 'XFAIL')]), side([v('h', OPEN_ONCE, 'FAIL'), v('h', VIABLE, 'FAIL')]))
    expect(c.newFailures).toHaveLength(2)
    expect(gateExitCode(c)).toBe(1)
  })
  test('fixed: FAIL on base -> PASS on head; XFAIL -> XPASS (a known divergence gone) is fixed, not a failure', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'FAIL'), v('b', VIABLE, 'XFAIL')]), side([v('h', OPEN_ONCE, 'PASS'), v('h', VIABLE, 'XPASS')]))
    expect(ids(c.fixed)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`, `default/intel-iommu > ${VIABLE}`])
    expect(c.newFailures).toEqual([])
    expect(gateExitCode(c)).toBe(0)
  })
  test('a new splat: PASS -> splat FAIL is a new failure and a new splat', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([v('h', OPEN_ONCE, 'FAIL', SPLAT_REASON)]))
    expect(c.newFailures).toHaveLength(1)
    expect(c.newSplats).toHaveLength(1)
    expect(gateExitCode(c)).toBe(1)
  })
  test('a new splat on a test that already failed on base (assertion) is still a regression', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'FAIL', 'expected 1 to be 2')]), side([v('h', OPEN_ONCE, 'FAIL', SPLAT_REASON)]))
    expect(c.newFailures).toEqual([])
    expect(ids(c.newSplats)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(ids(c.unchanged)).toHaveLength(1)
    expect(gateExitCode(c)).toBe(1)
  })
  test('the same splat on both sides is not new', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'FAIL', SPLAT_REASON)]), side([v('h', OPEN_ONCE, 'FAIL', SPLAT_REASON)]))
    expect(c.newSplats).toEqual([])
    expect(gateExitCode(c)).toBe(0)
  })
  test('unchanged: same verdicts, FAIL on both sides included, exit 0', () => {
    const c = compareRuns(
      side([v('b', OPEN_ONCE, 'PASS'), v('b', VIABLE, 'FAIL'), v('b', 'x', 'SKIP', 'r')]),
      side([v('h', OPEN_ONCE, 'PASS'), v('h', VIABLE, 'FAIL'), v('h', 'x', 'SKIP', 'r')]),
    )
    expect(c.unchanged).toHaveLength(3)
    expect([c.newFailures, c.fixed, c.newSkips, c.newSplats, c.undetermined, c.otherChanges].every((l) => !l.length)).toBe(true)
    expect(gateExitCode(c)).toBe(0)
  })
  test('new SKIPs are reported and do not fail the gate', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([v('h', OPEN_ONCE, 'SKIP', 'CONFIG_VFIO_GROUP not set')]))
    expect(ids(c.newSkips)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(c)).toBe(0)
  })
  test('a test only on head: its FAIL is a new failure when the base run was complete', () => {
    const c = compareRuns(side([v('b', VIABLE, 'PASS')]), side([v('h', VIABLE, 'PASS'), v('h', OPEN_ONCE, 'FAIL')]))
    expect(ids(c.onlyHead)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(ids(c.newFailures)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(c)).toBe(1)
  })
  test('a test only on head, base run incomplete (run error): its FAIL cannot be compared -> 125', () => {
    const c = compareRuns(side([v('b', VIABLE, 'PASS')], { runErrors: ['suites/legacy-group.test.ts: import failed'] }), side([v('h', VIABLE, 'PASS'), v('h', OPEN_ONCE, 'FAIL')]))
    expect(c.newFailures).toEqual([])
    expect(ids(c.undetermined)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(c)).toBe(125)
  })
  test('a test only on base is reported and does not block', () => {
    const c = compareRuns(side([v('b', VIABLE, 'PASS'), v('b', OPEN_ONCE, 'PASS')]), side([v('h', VIABLE, 'PASS')]))
    expect(ids(c.onlyBase)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(c)).toBe(0)
  })
  test('ERROR on head blocks (125); a new failure elsewhere still wins (1)', () => {
    const errored = compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([v('h', OPEN_ONCE, 'ERROR', 'guest not available')]))
    expect(errored.undetermined).toHaveLength(1)
    expect(gateExitCode(errored)).toBe(125)
    const both = compareRuns(side([v('b', OPEN_ONCE, 'PASS'), v('b', VIABLE, 'PASS')]), side([v('h', OPEN_ONCE, 'ERROR'), v('h', VIABLE, 'FAIL')]))
    expect(gateExitCode(both)).toBe(1)
  })
  test('ERROR on base: a head FAIL cannot be called new (125); a head PASS needs no base (0)', () => {
    expect(gateExitCode(compareRuns(side([v('b', OPEN_ONCE, 'ERROR')]), side([v('h', OPEN_ONCE, 'FAIL')])))).toBe(125)
    const ok = compareRuns(side([v('b', OPEN_ONCE, 'ERROR')]), side([v('h', OPEN_ONCE, 'PASS')]))
    expect(ids(ok.otherChanges)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(ok)).toBe(0)
  })
  test('a side without a run: head unavailable blocks; base unavailable makes head FAILs undetermined', () => {
    const noHead = compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([], { unavailable: 'kernel build failed: make exited 2' }))
    expect(noHead.blocking).toEqual(['head: kernel build failed: make exited 2'])
    expect(noHead.onlyBase).toEqual([])
    expect(gateExitCode(noHead)).toBe(125)
    const noBase = compareRuns(side([], { unavailable: 'kernel build failed' }), side([v('h', OPEN_ONCE, 'FAIL'), v('h', VIABLE, 'PASS')]))
    expect(ids(noBase.undetermined)).toEqual([`default/intel-iommu > ${OPEN_ONCE}`])
    expect(gateExitCode(noBase)).toBe(125)
    expect(gateExitCode(compareRuns(side([], { unavailable: 'kernel build failed' }), side([v('h', VIABLE, 'PASS')])))).toBe(0)
  })
  test('head with no selected test, or run errors, blocks', () => {
    expect(gateExitCode(compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([])))).toBe(125)
    expect(gateExitCode(compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([v('h', OPEN_ONCE, 'PASS')], { runErrors: ['unhandled: x'] })))).toBe(125)
  })
  test('the report names the new failure, its verdicts and reason', () => {
    const c = compareRuns(side([v('b', OPEN_ONCE, 'PASS')]), side([v('h', OPEN_ONCE, 'FAIL', "expected 'OK' to be 'EBUSY'")]))
    const md = renderGateReport(c, {
      tree: '/src/linux',
      worktree: '/cache/gate/x/linux',
      series: '/tmp/s.mbox',
      subjects: ['vfio: drop the open-once check'],
      selection: 'a group opens once',
      topologies: ['default'],
      iommus: ['intel-iommu'],
      base: { revision: 'v6.12 (0123)', release: '6.12.118', built: false, runSeconds: 50 },
      head: { revision: 'v6.12 + 1 patch(es) (4567)', release: '6.12.118', built: true, buildSeconds: 31, runSeconds: 52 },
    })
    expect(md).toContain('**Result: NEW FAILURES (exit 1)**')
    expect(md).toContain('## New failures (1)')
    expect(md).toContain(`- \`default/intel-iommu > ${OPEN_ONCE}\`: PASS -> FAIL — expected 'OK' to be 'EBUSY'`)
    expect(md).toContain('1. vfio: drop the open-once check')
  })
})

describe('mbox and git am output', () => {
  test('subjects in order, folded headers unfolded, [PATCH n/m] stripped', () => {
    const mbox = [
      'From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001',
      'From: A <a@b>',
      'Subject: [PATCH 1/2] vfio: drop the',
      ' open-once check',
      '',
      'body',
      '---',
      'From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001',
      'From: A <a@b>',
      'Subject: [PATCH v2 2/2] [RFC] vfio: comment',
      '',
      'Subject: not a header',
      '',
    ].join('\n')
    expect(mboxSubjects(mbox)).toEqual(['vfio: drop the open-once check', 'vfio: comment'])
    expect(mboxSubjects('not an mbox at all\n')).toEqual([])
  })
  test('the patch git am stopped at', () => {
    const out = 'Applying: vfio: comment\nerror: patch failed: drivers/vfio/group.c:465\nerror: drivers/vfio/group.c: patch does not apply\nPatch failed at 0002 vfio: drop the open-once check\nhint: Use \'git am --show-current-patch=diff\''
    expect(failedPatchFromAm(out)).toEqual({ index: 2, subject: 'vfio: drop the open-once check' })
    expect(failedPatchFromAm('fatal: something else')).toBeUndefined()
  })
})

describe('worktree plumbing on a toy repository', () => {
  let dir: string
  let repoDir: string
  const run = (cwd: string, ...args: string[]) =>
    execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...args], { cwd, env: { LC_ALL: 'C' } }).then((r) => r.stdout.trim())

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gate-wt-'))
    repoDir = path.join(dir, 'repo')
    await execa('git', ['init', '-q', repoDir])
    await writeFile(path.join(repoDir, 'group.c'), 'if (group->opened_file)\n\treturn -EBUSY;\nopen();\n')
    await run(repoDir, 'add', '-A')
    await run(repoDir, 'commit', '-q', '-m', 'base')
    await run(repoDir, 'tag', 'base')
    // The series: one patch that applies on "base", made with format-patch; then the user's
    // tree moves on so that the worktree is not just the user's checkout.
    await writeFile(path.join(repoDir, 'group.c'), 'open();\n')
    await run(repoDir, 'commit', '-q', '-a', '-m', 'vfio: drop the open-once check')
    await writeFile(path.join(dir, 'good.mbox'), await run(repoDir, 'format-patch', '-1', '--stdout'))
    await run(repoDir, 'reset', '-q', '--hard', 'base')
    await writeFile(path.join(repoDir, 'group.c'), 'something else entirely\n')
    await run(repoDir, 'commit', '-q', '-a', '-m', 'rewrite group.c')
    await run(repoDir, 'tag', 'moved')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('a series that applies: deterministic head commit, worktree reused, user tree untouched', async () => {
    const repo = await openRepo(repoDir)
    const wt = path.join(dir, 'cache', 'linux')
    const base = await resolveCommit(repo, 'base')
    await checkoutWorktree(repo, wt, base)
    const first = await applySeries(wt, path.join(dir, 'good.mbox'))
    expect(first).toMatchObject({ applied: true, subjects: ['vfio: drop the open-once check'] })
    expect(await readFile(path.join(wt, 'group.c'), 'utf8')).toBe('open();\n')
    // Same base + same series = same commit (fixed committer, committer date = author date),
    // so a second gate finds head's kernel in the cache.
    await checkoutWorktree(repo, wt, base)
    expect(await readFile(path.join(wt, 'group.c'), 'utf8')).toContain('opened_file')
    const second = await applySeries(wt, path.join(dir, 'good.mbox'))
    expect(second.applied && first.applied && second.head === first.head).toBe(true)
    await switchWorktree(wt, base)
    expect(await run(wt, 'rev-parse', 'HEAD')).toBe(base)
    expect(await run(repoDir, 'status', '--porcelain')).toBe('')
    expect(await run(repoDir, 'branch', '--list')).not.toContain('gate')
    await removeWorktree(repo, wt)
    expect(await run(repoDir, 'worktree', 'list')).not.toContain(wt)
  })

  test('a series that does not apply: the patch is named, git am aborted, nothing half-applied', async () => {
    const repo = await openRepo(repoDir)
    const wt = path.join(dir, 'cache2', 'linux')
    const moved = await resolveCommit(repo, 'moved')
    await checkoutWorktree(repo, wt, moved)
    const r = await applySeries(wt, path.join(dir, 'good.mbox'))
    expect(r).toMatchObject({ applied: false, index: 1, subject: 'vfio: drop the open-once check' })
    expect(await run(wt, 'rev-parse', 'HEAD')).toBe(moved)
    expect(await run(wt, 'status', '--porcelain')).toBe('')
    await removeWorktree(repo, wt)
  })

  test('bad input is a UsageError', async () => {
    const repo = await openRepo(repoDir)
    await expect(resolveCommit(repo, 'no-such-rev')).rejects.toBeInstanceOf(UsageError)
    await expect(openRepo(path.join(dir, 'nope'))).rejects.toBeInstanceOf(UsageError)
    await writeFile(path.join(dir, 'empty.mbox'), 'hello\n')
    const wt = path.join(dir, 'cache3', 'linux')
    await checkoutWorktree(repo, wt, await resolveCommit(repo, 'base'))
    await expect(applySeries(wt, path.join(dir, 'empty.mbox'))).rejects.toBeInstanceOf(UsageError)
    await removeWorktree(repo, wt)
  })
})
