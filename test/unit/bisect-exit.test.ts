// vfio-conform bisect-run: the mapping from a step's outcome to the exit code git bisect run
// acts on, the command's own handling of bad usage (no build, no guest), and, on a toy
// repository with the installed git, the git behaviour the contract relies on.
import { execa } from 'execa'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { BISECT_EXIT, bisectExitCode, bisectOutcome, bisectRunCommand, type BisectStep } from '../../harness/cli/bisect-run.js'
import type { TestVerdict, Verdict } from '../../harness/report/verdict.js'

const OPEN_ONCE = 'a group opens once: an open from another process is EBUSY'
const v = (test: string, verdict: Verdict, reason?: string): TestVerdict => ({
  project: 'conformance',
  file: 'suites/legacy-group.test.ts',
  name: `source-tree/default/intel-iommu > ${test}`,
  verdict,
  ...(reason ? { reason } : {}),
})
const ran = (verdicts: TestVerdict[], select?: RegExp, runErrors: string[] = []): BisectStep => ({ stage: 'ran', verdicts, runErrors, select })
// Tests the --test pattern left out: vitest reports them as skipped.
const filteredOut = v('when the holder exits, the group opens again', 'SKIP', 'skipped')

describe('bisectOutcome', () => {
  test.each<[string, BisectStep, number, string]>([
    ['selected tests pass: good', ran([v(OPEN_ONCE, 'PASS'), filteredOut], /a group opens once/), 0, 'good'],
    ['a selected FAIL: bad', ran([v(OPEN_ONCE, 'FAIL', "expected 'OK' to be 'EBUSY'"), filteredOut], /a group opens once/), 1, 'bad'],
    ['an XPASS (stale known issue) counts as a FAIL: bad', ran([v(OPEN_ONCE, 'XPASS')]), 1, 'bad'],
    ['a FAIL beside an ERROR is still bad: the failure was observed', ran([v(OPEN_ONCE, 'FAIL'), v('x', 'ERROR')]), 1, 'bad'],
    ['an ERROR (boot, SSH) and no FAIL: skip', ran([v(OPEN_ONCE, 'PASS'), v('x', 'ERROR', 'guest not available')]), 125, 'skip'],
    ['a run error and no FAIL: skip', ran([v(OPEN_ONCE, 'PASS')], undefined, ['suites/x.test.ts: import failed']), 125, 'skip'],
    ['every selected test SKIPs (kernel lacks the option): skip', ran([v(OPEN_ONCE, 'SKIP', 'CONFIG_VFIO_GROUP not set'), filteredOut], /a group opens once/), 125, 'skip'],
    ['a run without verdicts: skip', ran([]), 125, 'skip'],
    ['XFAIL only: good (the known divergence, as documented)', ran([v(OPEN_ONCE, 'XFAIL')]), 0, 'good'],
    ['the kernel does not build: skip', { stage: 'build-failed', reason: 'kernel build failed: make -j2 bzImage modules exited 2' }, 125, 'skip'],
    ['the harness failed before verdicts: skip', { stage: 'harness-error', reason: 'the run wrote no verdicts' }, 125, 'skip'],
    ['bad usage: abort', { stage: 'usage', reason: 'unknown topology "defualt"' }, 128, 'abort'],
    ['a --test pattern that matches no test name: abort', ran([filteredOut], /a group opens twice/), 128, 'abort'],
  ])('%s', (_name, step, code, outcome) => {
    const o = bisectOutcome(step)
    expect(o.exitCode).toBe(code)
    expect(o.outcome).toBe(outcome)
    expect(bisectExitCode(step)).toBe(code)
  })

  test('a pattern matching nothing, with the left-out tests not reported (only counted), aborts too', () => {
    expect(bisectExitCode({ stage: 'ran', verdicts: [], runErrors: [], select: /a group opens twice/, notSelected: 312 })).toBe(128)
  })
  test('a pattern matching nothing while run errors hid tests is a skip, not an abort', () => {
    expect(bisectExitCode(ran([], /a group opens once/, ['suites/legacy-group.test.ts: import failed']))).toBe(125)
  })
  test('the reason names the first failing test', () => {
    expect(bisectOutcome(ran([v(OPEN_ONCE, 'FAIL', "expected 'OK' to be 'EBUSY'")])).why).toBe(
      `1 of 1 selected FAILed; first: source-tree/default/intel-iommu > ${OPEN_ONCE}: expected 'OK' to be 'EBUSY'`,
    )
  })
  test('only 0, 1, 125 and 128 exist', () => {
    expect(Object.values(BISECT_EXIT).sort((a, b) => a - b)).toEqual([0, 1, 125, 128])
  })
})

describe('bisectRunCommand: bad usage aborts the bisect before any build', () => {
  let lines: string[] = []
  beforeAll(() => {
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')))
    vi.spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(() => {
    lines = []
  })
  afterAll(() => {
    vi.restoreAllMocks()
  })
  test.each([
    ['an unknown option', ['--filter', 'x']],
    ['a --tree that does not exist', ['--tree', '/nonexistent/linux']],
    ['an unknown topology', ['--tree', os.tmpdir(), '--topology', 'defualt']],
    ['an unknown vIOMMU', ['--tree', os.tmpdir(), '--iommu', 'intel']],
    ['a --test that is no regular expression', ['--tree', os.tmpdir(), '--test', 'a group (opens']],
    ['a positional argument', ['a group opens once']],
  ])('%s: 128 and one "abort" line', async (_name, args) => {
    expect(await bisectRunCommand(args)).toBe(128)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^vfio-conform bisect-run: abort \(bad usage: .+\) at .+$/)
  })
})

describe('git bisect run, as the installed git behaves', () => {
  // Commits 1..6; commit 4 "introduces the bug". What git does with each exit code is
  // why bisect-run uses 0 / 1 / 125 and 128, and never 2 for bad usage.
  let repo: string
  const sh = (script: string) => ['sh', '-c', script]
  const bisect = async (cmd: string[]) => {
    const g = (...a: string[]) => execa('git', a, { cwd: repo, reject: false, all: true, env: { LC_ALL: 'C' } })
    await g('bisect', 'reset')
    await g('bisect', 'start', 'HEAD', 'HEAD~5')
    const started = (await g('bisect', 'log')).all ?? ''
    const r = await g('bisect', 'run', ...cmd)
    const log = (await g('bisect', 'log')).all ?? ''
    await g('bisect', 'reset')
    // What the run marked, beyond the two ends given to "start".
    return { code: r.exitCode, out: r.all ?? '', log, marked: log.slice(started.length).trim() }
  }
  beforeAll(async () => {
    repo = await mkdtemp(path.join(os.tmpdir(), 'bisect-contract-'))
    const g = (...a: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...a], { cwd: repo })
    await g('init', '-q')
    for (let i = 1; i <= 6; i++) {
      await writeFile(path.join(repo, 'n'), `${i}\n`)
      await g('add', 'n')
      await g('commit', '-q', '-m', `commit ${i}`)
    }
  })
  afterAll(async () => {
    await rm(repo, { recursive: true, force: true })
  })

  test('0 good / 1 bad find the first bad commit', async () => {
    const r = await bisect(sh('[ "$(cat n)" -lt 4 ] && exit 0; exit 1'))
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/is the first bad commit[\s\S]*commit 4/)
  })
  test('125 on a commit skips it; the bisect still converges', async () => {
    // The first commit tested is 3 (the middle); the bug is in 5 here, so skipping 3 leaves no doubt.
    const r = await bisect(sh('n=$(cat n); [ "$n" = 3 ] && exit 125; [ "$n" -lt 5 ] && exit 0; exit 1'))
    expect(r.out).toMatch(/is the first bad commit[\s\S]*commit 5/)
    expect(r.log).toMatch(/git bisect skip/)
  })
  test('exit 2 (what `run` uses for bad usage) would mark every commit bad: a wrong answer, silently', async () => {
    const r = await bisect(sh('exit 2'))
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/is the first bad commit[\s\S]*commit 2/)
  })
  test('exit 128 aborts the bisect at the first step, marking nothing', async () => {
    const r = await bisect(sh('exit 128'))
    expect(r.code).toBe(128)
    expect(r.out).toMatch(/bisect run failed: exit code 128/)
    expect(r.marked).toBe('')
  })
})
