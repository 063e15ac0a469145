// End to end: the CLI against real guests, for two promises of `vfio-conform run`.
//
//   1. Stopping it stops its guests. SIGINT (to the CLI's pid, not its group) while the guest
//      boots, SIGTERM while the suites run on the booted guest: the CLI ends within a minute and
//      10 s later no QEMU of the run is left (QEMU's command line holds the run directory: the
//      console log, harness/qemu/args.ts). Soft checks, reported together: the CLI ends with
//      exit code 128 + the signal's number (130 SIGINT, 143 SIGTERM; harness/cli/main.ts,
//      stopEverythingOnSignal), not killed by the signal, and no other
//      process of the run (the vitest workers: VFIO_CONFORM_RUN_DIR=<run directory> in their
//      environment) outlives it by more than 10 s. Whatever fails, `finally` kills what is left
//      of the run (only processes that name its fresh temporary directory).
//   2. The groups suite really checks the topology's declared groups: in a private copy of the
//      repository (git archive HEAD), mf-edu1 is dropped from the intel-iommu expectation of
//      guests/topologies/default.ts; the groups suite then FAILs (exit 1) naming mf-edu1, while
//      the repository as it is passes the same selection (exit 0, PASS and SKIP only).
//
// Why here and not in the unit project: both need the real CLI, a real QEMU and a real kernel.
// Cost: four boots of Debian's 6.1 (debian:bookworm, from the cache; downloaded once if absent)
// under intel-iommu; measured here (2 cores, TCG): ~10 s to SSH, 2.5 min in all. Runs only with
// VFIO_CONFORM_SLOW=1, e.g. `VFIO_CONFORM_SLOW=1 npx vitest run --project slow test/slow/cli.e2e.test.ts`.
//
// The selection is a --filter that names the groups suite's tests ("group <members>" and the
// completeness check). `--filter groups` would not do: --filter matches test names, not files,
// and none of the groups suite's test names contains "groups".
import { execa } from 'execa'
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { exists } from '../../harness/util/cache.js'
import type { TestVerdict } from '../../harness/report/verdict.js'
import { killRun, processesOf, qemuOf, show, sleep, startCli, waitFor } from './cli-helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin/vfio-conform.mjs')
const SLOW = !!process.env.VFIO_CONFORM_SLOW
const ONE_GUEST = ['--kernel', 'debian:bookworm', '--topology', 'default', '--iommu', 'intel-iommu']
/** The groups suite's tests (suites/groups.test.ts) and nothing else; vitest matches "<target key> <test name>". */
const GROUPS_FILTER = '^\\S+ (group \\S|every guest PCI device is in the topology)'
const REMOVED = 'mf-edu1'

const tmpDirs: string[] = []
async function tmpDir(tag: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), `vfio-conform-e2e-${tag}-`))
  tmpDirs.push(d)
  return d
}
let keep = false
afterAll(async () => {
  if (keep) {
    process.stderr.write(`[cli e2e] a check failed: kept ${tmpDirs.join(' ')}\n`)
    return
  }
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true })
})

describe('stopping the CLI stops its guests', () => {
  // When each signal is sent: while QEMU boots the guest, and once the guest is up and tests run.
  const cases: Array<[NodeJS.Signals, string]> = [
    ['SIGINT', 'while the guest boots'],
    ['SIGTERM', 'while the suites run on the booted guest'],
  ]
  test.skipIf(!SLOW).for(cases)('%s %s: exit 128+signal within a minute, no QEMU and no worker left', { timeout: 15 * 60_000 }, async ([signal, when], { onTestFailed }) => {
    onTestFailed(() => {
      keep = true
    })
    const parent = await tmpDir(signal.toLowerCase())
    // A directory of its own for the run: global setup puts a "latest" link next to it.
    const runDir = path.join(parent, 'run')
    const { sub, output } = startCli(CLI, ['run', ...ONE_GUEST, '--results', runDir], parent)
    let exited = false
    void sub.finally(() => {
      exited = true
    })
    let qmpDir: string | undefined
    const log = (m: string) => process.stderr.write(`[cli e2e] ${signal} ${when}: ${m}\n`)
    try {
      const t0 = Date.now()
      // Until QEMU of this run shows up (or the CLI ends without one).
      await waitFor(async () => exited || (await qemuOf(runDir)).length > 0, 5 * 60_000)
      const qemu = await qemuOf(runDir)
      expect(qemu.length, `no QEMU of ${runDir} appeared (CLI ${exited ? 'exited' : 'still running'})\n${output().slice(-4000)}`).toBeGreaterThan(0)
      // Its QMP socket's private directory (harness/guest/guest.ts), removed here if the CLI leaves it.
      qmpDir = / -qmp unix:(\S+)\/qmp\.sock,/.exec(qemu[0]!.cmdline)?.[1]
      if (signal === 'SIGTERM') {
        // Booted: global setup logs "<key>: up (init ..., SSH ...)" once SSH works.
        await waitFor(async () => exited || / up \(init [\d.]+ s, SSH [\d.]+ s\)/.test(output()), 5 * 60_000)
        expect(exited, `the CLI ended before the guest came up\n${output().slice(-4000)}`).toBe(false)
        await sleep(5_000)
        expect(exited, `the CLI ended before the signal\n${output().slice(-4000)}`).toBe(false)
      }
      expect((await qemuOf(runDir)).length, `QEMU gone before the signal\n${output().slice(-4000)}`).toBeGreaterThan(0)
      const tSignal = Date.now()
      // The CLI process only, not its group: as `kill -INT <pid>` would.
      process.kill(sub.pid!, signal)
      const r = await Promise.race([sub, sleep(60_000).then(() => undefined)])
      const exitSeconds = (Date.now() - tSignal) / 1000
      log(`QEMU up after ${((tSignal - t0) / 1000).toFixed(1)} s; the CLI ${r ? `ended (${r.exitCode !== undefined ? `exit ${r.exitCode}` : `killed by ${r.signal}`}) ${exitSeconds.toFixed(1)} s after the signal` : 'did not end within 60 s'}`)
      expect(r, `the CLI did not exit within 60 s of ${signal}\n${output().slice(-4000)}`).toBeDefined()
      const tExit = Date.now()

      // The point of it all: no guest outlives the CLI.
      await waitFor(async () => (await qemuOf(runDir)).length === 0, 10_000)
      expect((await qemuOf(runDir)).map(show), `QEMU of the run still running 10 s after the CLI ended on ${signal}`).toEqual([])

      // How it ends: exit code 128 + signal number (harness/cli/main.ts, stopEverythingOnSignal), not killed by the signal.
      const code = 128 + os.constants.signals[signal as NodeJS.Signals]
      expect
        .soft({ exitCode: r!.exitCode, killedBy: r!.signal }, `on ${signal} the CLI must exit ${code}, not die by the signal\n${output().slice(-2000)}`)
        .toEqual({ exitCode: code, killedBy: undefined })

      // Nothing else of the run either: the vitest workers the CLI started.
      await waitFor(async () => (await processesOf(runDir)).length === 0, 10_000)
      const left = await processesOf(runDir)
      expect.soft(left.map(show), `processes of the run (VFIO_CONFORM_RUN_DIR=${runDir}) still running 10 s after the CLI ended on ${signal}`).toEqual([])
      if (left.length) {
        await waitFor(async () => (await processesOf(runDir)).length === 0, 110_000, 1000)
        const still = (await processesOf(runDir)).length
        log(`${left.length} process(es) of the run outlived the CLI: ${still ? `${still} still there` : 'gone'} ${((Date.now() - tExit) / 1000).toFixed(0)} s after it ended`)
      }
    } finally {
      await killRun(runDir)
      sub.kill('SIGKILL')
      await sub.catch(() => {})
      if (qmpDir && /vfio-conform-qmp-/.test(qmpDir) && (await exists(qmpDir))) {
        log(`the CLI left QEMU's QMP directory ${qmpDir} behind (removed)`)
        await rm(qmpDir, { recursive: true, force: true })
      }
    }
  })
})

describe('a group expectation with a device removed makes the groups suite FAIL', () => {
  async function runGroups(cli: string, tag: string): Promise<{ exitCode?: number; verdicts: TestVerdict[]; runErrors: string[]; out: string; seconds: number }> {
    const parent = await tmpDir(tag)
    const runDir = path.join(parent, 'run')
    const t0 = Date.now()
    const { sub, output } = startCli(cli, ['run', ...ONE_GUEST, '--filter', GROUPS_FILTER, '--results', runDir], parent)
    try {
      const r = await sub
      const seconds = Math.round((Date.now() - t0) / 1000)
      const json = await readFile(path.join(runDir, 'verdicts.json'), 'utf8').catch(() => undefined)
      expect(json, `no verdicts.json in ${runDir} (exit ${r.exitCode})\n${output().slice(-4000)}`).toBeDefined()
      const { verdicts, runErrors } = JSON.parse(json!) as { verdicts: TestVerdict[]; runErrors: string[] }
      process.stderr.write(`[cli e2e] ${tag}: exit ${r.exitCode} after ${seconds} s; ${verdicts.filter((v) => v.verdict !== 'SKIP').map((v) => `${v.verdict} ${v.name}`).join('; ')}\n`)
      return { exitCode: r.exitCode, verdicts, runErrors, out: output(), seconds }
    } finally {
      await killRun(runDir)
    }
  }
  const isGroupsSuite = (v: TestVerdict) => v.file.endsWith(path.join('suites', 'groups.test.ts'))
  // The groups suite under intel-iommu: one test per expected group, and the completeness check.
  const expectedGroupTests = TOPOLOGIES.default!.expectedGroups['intel-iommu']!.length + 1

  test.skipIf(!SLOW)('the repository as it is: the groups suite passes (exit 0, PASS and SKIP only)', async ({ onTestFailed }) => {
    onTestFailed(() => {
      keep = true
    })
    const r = await runGroups(CLI, 'groups-unmodified')
    const shown = (v: TestVerdict[]) => v.map((x) => `${x.verdict} ${x.name}${x.reason ? ' -- ' + x.reason : ''}`).join('\n')
    expect(r.verdicts.filter((v) => v.verdict !== 'PASS' && v.verdict !== 'SKIP'), r.out.slice(-4000)).toEqual([])
    expect(r.runErrors).toEqual([])
    expect(r.exitCode, r.out.slice(-4000)).toBe(0)
    // The filter selected the groups suite, all of it, and nothing else.
    const ran = r.verdicts.filter((v) => v.verdict !== 'SKIP')
    expect(ran.filter((v) => !isGroupsSuite(v)), 'tests of other suites ran').toEqual([])
    expect(r.verdicts.filter((v) => isGroupsSuite(v) && v.verdict !== 'PASS'), shown(r.verdicts.filter(isGroupsSuite))).toEqual([])
    expect(ran.length, shown(ran)).toBe(expectedGroupTests)
    expect(ran.map((v) => v.name).join('\n')).toContain(`group mf-edu0 + ${REMOVED}`)
  }, 30 * 60_000)

  test.skipIf(!SLOW)(`a copy whose intel-iommu expectation lacks ${REMOVED}: exit 1, the FAILs name ${REMOVED}`, async ({ onTestFailed }) => {
    onTestFailed(() => {
      keep = true
    })
    const copy = await tmpDir('repo-copy')
    const archive = await execa('sh', ['-c', 'git -C "$1" archive --format=tar HEAD | tar -x -C "$2"', 'sh', ROOT, copy], { reject: false, all: true })
    expect(archive.exitCode, `git archive HEAD | tar -x: ${archive.all}`).toBe(0)
    await symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir')

    // The edit: intel-iommu's expectation becomes DEVICE_GROUPS without mf-edu1 (the
    // multifunction slot's group), the other models keep theirs. The exact text must be
    // there once: a change of the file's shape fails here, loudly, not later in silence.
    const file = path.join(copy, 'guests/topologies/default.ts')
    const before = await readFile(file, 'utf8')
    const from = `    'intel-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS],\n`
    const to = `    'intel-iommu': [...Q35_GROUPS, ...DEVICE_GROUPS.map((g) => g.filter((id) => id !== '${REMOVED}'))],\n`
    expect(before, `${file} declares the multifunction group`).toContain(`  ['mf-edu0', '${REMOVED}'],\n`)
    expect(before.split(from).length - 1, `"${from.trim()}" occurs once in ${file}`).toBe(1)
    const after = before.replace(from, to)
    await writeFile(file, after)
    expect(await readFile(file, 'utf8')).toContain(to)

    const r = await runGroups(path.join(copy, 'bin/vfio-conform.mjs'), 'groups-removed')
    const fails = r.verdicts.filter((v) => v.verdict === 'FAIL')
    const shown = fails.map((v) => `${v.name} -- ${v.reason}`).join('\n')
    expect(r.exitCode, r.out.slice(-4000)).toBe(1)
    expect(r.verdicts.filter((v) => v.verdict === 'ERROR' || v.verdict === 'XPASS'), r.out.slice(-4000)).toEqual([])
    expect(r.runErrors).toEqual([])
    expect(fails.length, r.out.slice(-4000)).toBeGreaterThan(0)
    // Every FAIL is the groups suite's and is about the removed device ...
    expect(fails.filter((v) => !isGroupsSuite(v)), shown).toEqual([])
    expect(fails.some((v) => `${v.name}\n${v.reason ?? ''}`.includes(REMOVED)), `a FAIL whose name or reason names ${REMOVED}:\n${shown}`).toBe(true)
    expect(fails.filter((v) => !`${v.name}\n${v.reason ?? ''}\n${v.detail ?? ''}`.includes(REMOVED)), `FAILs not about ${REMOVED}`).toEqual([])
    // ... and the groups it did not touch still PASS.
    expect(r.verdicts.filter((v) => isGroupsSuite(v) && v.verdict === 'PASS').map((v) => v.name).join('\n')).toContain('group acs-edu')
  }, 30 * 60_000)
})
