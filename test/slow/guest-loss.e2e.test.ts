// End to end: a guest that stops answering in the middle of a run costs that run one retry,
// not the rest of its tests (harness/guest/supervisor.ts, harness/vitest/guest-loss.ts).
//
// The CLI runs the groups suite on Debian's 6.1 under intel-iommu. Once three tests have begun
// (their markers are on the console), this test takes the guest's SSH NIC link down through
// QEMU's QMP socket: the guest lives on, the harness's TCP connections reach QEMU and nothing
// answers behind it, which is how a guest whose network died looks (CI saw this once: every
// later test of that guest ERRORed with "Timed out while waiting for handshake").
// The run must then end with exit 0: the test that lost the guest is retried on a rebooted
// guest and passes, annotated; the incident is in incidents.jsonl and printed, with QEMU's
// state and the kernel's answer to an NMI (it panics with a backtrace: unknown_nmi_panic);
// the console log continues across the reboot; no QEMU is left after the CLI.
//
// And a guest that goes away because its kernel panicked in a test: that is the kernel's
// result, so the test FAILs with the panic (not ERROR, not retried) and the next test runs on
// the rebooted guest. A copy of the repository (git archive HEAD) gets a two-test suite: the
// first crashes the kernel through /proc/sysrq-trigger (Debian's kernels have MAGIC_SYSRQ).
//
// Cost: four boots of debian:bookworm (from the cache), ~3 min here (2 cores, TCG). Runs only
// with VFIO_CONFORM_SLOW=1: `VFIO_CONFORM_SLOW=1 npx vitest run --project slow test/slow/guest-loss.e2e.test.ts`.
import { execa } from 'execa'
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import type { GuestIncident } from '../../harness/guest/supervisor.js'
import { Qmp } from '../../harness/qemu/qmp.js'
import type { TestVerdict } from '../../harness/report/verdict.js'
import { KERNEL_DIED } from '../../harness/util/errors.js'
import { killRun, qemuOf, show, startCli, waitFor } from './cli-helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin/vfio-conform.mjs')
const SLOW = !!process.env.VFIO_CONFORM_SLOW
/** The guest's key ends so; its kernel label follows Debian's bookworm kernel (6.1.192-3 now). */
const KEY_SUFFIX = '/default/intel-iommu'

/** The run's one guest key ("debian-6.1.192-3/default/intel-iommu"), once its directory exists. */
async function guestKey(runDir: string): Promise<string | undefined> {
  const kernel = (await readdir(runDir, { withFileTypes: true }).catch(() => [])).find((d) => d.isDirectory() && d.name.startsWith('debian-'))
  return kernel && kernel.name + KEY_SUFFIX
}
/** The groups suite (suites/groups.test.ts): 13 short tests on this topology. */
const GROUPS_FILTER = '^\\S+ (group \\S|every guest PCI device is in the topology)'

test.skipIf(!SLOW)('a guest whose network dies mid-run is diagnosed and rebooted; the test that lost it passes on the retry', { timeout: 20 * 60_000 }, async ({ onTestFailed }) => {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-e2e-guest-loss-'))
  let keep = false
  onTestFailed(() => {
    keep = true
  })
  const runDir = path.join(parent, 'run')
  const args = ['run', '--kernel', 'debian:bookworm', '--topology', 'default', '--iommu', 'intel-iommu', '--filter', GROUPS_FILTER, '--results', runDir]
  const { sub, output } = startCli(CLI, args, parent)
  let exited = false
  void sub.finally(() => {
    exited = true
  })
  try {
    let key: string | undefined
    const consoleLog = () => (key ? path.join(runDir, key, 'console.log') : '/nonexistent')
    const begun = async () => {
      key ??= await guestKey(runDir)
      return ((await readFile(consoleLog(), 'utf8').catch(() => '')).match(/vfio-conform: begin test /g) ?? []).length
    }
    // Cut as soon as the first test has begun: the 13 tests take ~0.1 s each since probes are
    // one agent request (they took 5-7 s each before), so a slower look finds the suite over.
    await waitFor(async () => exited || (await begun()) >= 1, 10 * 60_000, 20)
    expect(exited, `the CLI ended before a test began\n${output().slice(-4000)}`).toBe(false)

    const qemu = await qemuOf(runDir)
    const socket = / -qmp unix:(\S+qmp\.sock),/.exec(qemu[0]?.cmdline ?? '')?.[1]
    expect(socket, `no QMP socket on QEMU's command line: ${qemu.map(show).join(' | ')}`).toBeDefined()
    const qmp = await Qmp.connect(socket!)
    await qmp.execute('set_link', { name: 'ssh-nic', up: false })
    qmp.close()
    const cutAfter = await begun()

    const r = await sub
    const out = output()
    const verdicts = JSON.parse(await readFile(path.join(runDir, 'verdicts.json'), 'utf8')) as { verdicts: TestVerdict[]; runErrors: string[]; incidents: GuestIncident[] }
    const notPassed = verdicts.verdicts.filter((v) => v.verdict !== 'PASS' && v.verdict !== 'SKIP').map((v) => `${v.verdict} ${v.name} -- ${v.reason}`)
    expect(notPassed, out.slice(-6000)).toEqual([])
    expect(r.exitCode, out.slice(-6000)).toBe(0)

    // One incident, diagnosed: QEMU alive and running, the kernel alive (it answered the NMI).
    expect(verdicts.incidents, out.slice(-6000)).toHaveLength(1)
    const [incident] = verdicts.incidents
    expect(incident!.key).toBe(key)
    expect(incident!.outcome).toMatch(/^rebooted \(boot 2\)/)
    const diagnosis = incident!.diagnosis.join('\n')
    expect(diagnosis).toMatch(/QMP: status running/)
    expect(diagnosis).toMatch(/the kernel answered an NMI/)
    expect(diagnosis).toMatch(/where the CPUs were: CPU \d/)
    // dropbear logs to the console: the connections of the run are in what the incident quotes.
    expect(diagnosis).toMatch(/console before the loss: «/)
    expect(out).toContain('guest incidents (1)')

    // The test that lost the guest: retried on the rebooted guest, passed, and says so.
    const retried = verdicts.verdicts.filter((v) => (v.annotations ?? []).some((a) => /retried on a rebooted guest/.test(a)))
    expect(retried.map((v) => `${v.verdict} ${v.name}`), `cut after ${cutAfter} tests had begun`).toHaveLength(1)
    expect(retried[0]!.verdict).toBe('PASS')
    expect(retried[0]!.name).toBe(incident!.test)

    // The console log holds both lives: the NMI's panic, the harness's line, the second boot.
    const text = await readFile(consoleLog(), 'utf8')
    const restarted = text.indexOf('vfio-conform harness: guest restarted')
    expect(restarted, 'no restart line on the console').toBeGreaterThan(0)
    expect(text.slice(0, restarted)).toMatch(/Kernel panic - not syncing: NMI: Not continuing/)
    expect(text.slice(restarted)).toMatch(/vfio-conform: ready /)

    await waitFor(async () => (await qemuOf(runDir)).length === 0, 10_000)
    expect((await qemuOf(runDir)).map(show), 'QEMU of the run still running after the CLI ended').toEqual([])
  } finally {
    await killRun(runDir)
    sub.kill('SIGKILL')
    await sub.catch(() => {})
    if (keep) process.stderr.write(`[guest-loss e2e] a check failed: kept ${parent}\n`)
    else await rm(parent, { recursive: true, force: true })
  }
})

/** The suite added to the copy: one test crashes the kernel, the next needs a working guest. */
const PANIC_SUITE = `import { expect } from 'vitest'
import { forEachTarget } from '../harness/vitest/fixtures.js'
forEachTarget((_target, test) => {
  test('e2e-panic: the kernel crashes in this test', async ({ guest }) => {
    await guest.exec('echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger', { timeoutMs: 30_000 })
  })
  test('e2e-panic: the next test', async ({ guest }) => {
    expect((await guest.run('cat /proc/sys/kernel/random/boot_id')).trim()).toMatch(/^[0-9a-f-]{36}$/)
  })
})
`

test.skipIf(!SLOW)('a kernel that panics in a test FAILs that test with the panic; the next test runs on the rebooted guest', { timeout: 20 * 60_000 }, async ({ onTestFailed }) => {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-e2e-panic-'))
  let keep = false
  onTestFailed(() => {
    keep = true
  })
  const copy = path.join(parent, 'repo')
  const runDir = path.join(parent, 'run')
  try {
    const archive = await execa('sh', ['-c', 'mkdir -p "$2" && git -C "$1" archive --format=tar HEAD | tar -x -C "$2"', 'sh', ROOT, copy], { reject: false, all: true })
    expect(archive.exitCode, `git archive HEAD | tar -x: ${archive.all}`).toBe(0)
    await symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir')
    await writeFile(path.join(copy, 'suites/e2e-panic.test.ts'), PANIC_SUITE)
    const args = ['run', '--kernel', 'debian:bookworm', '--topology', 'default', '--iommu', 'intel-iommu', '--filter', 'e2e-panic: ', '--results', runDir]
    const { sub, output } = startCli(path.join(copy, 'bin/vfio-conform.mjs'), args, parent)
    const r = await sub
    const out = output()
    const { verdicts, incidents } = JSON.parse(await readFile(path.join(runDir, 'verdicts.json'), 'utf8')) as { verdicts: TestVerdict[]; incidents: GuestIncident[] }
    const ran = verdicts.filter((v) => v.verdict !== 'SKIP').map((v) => `${v.verdict} ${v.name.replace(/^\S+ > /, '')}`)
    expect(ran, out.slice(-6000)).toEqual(['FAIL e2e-panic: the kernel crashes in this test', 'PASS e2e-panic: the next test'])
    const crashed = verdicts.find((v) => v.name.endsWith('the kernel crashes in this test'))!
    expect(crashed.reason).toContain(KERNEL_DIED)
    expect(crashed.reason).toMatch(/Kernel panic - not syncing: sysrq triggered crash/)
    expect(r.exitCode, out.slice(-6000)).toBe(1)
    expect(incidents.map((i) => i.outcome)).toEqual([expect.stringMatching(/^rebooted \(boot 2\)/)])
    expect(incidents[0]!.diagnosis[0]).toMatch(/^QEMU exited/)
    await waitFor(async () => (await qemuOf(runDir)).length === 0, 10_000)
    expect((await qemuOf(runDir)).map(show), 'QEMU of the run still running after the CLI ended').toEqual([])
  } finally {
    await killRun(runDir)
    if (keep) process.stderr.write(`[guest-loss e2e] a check failed: kept ${parent}\n`)
    else await rm(parent, { recursive: true, force: true })
  }
})
