// Fixtures for the conformance suites, in the manner of kselftest's FIXTURE_VARIANT: a suite
// is written once and `forEachTarget` runs it for every (kernel, topology, vIOMMU) guest.
//
//   forEachTarget((target, test) => {
//     test('second open is EBUSY', async ({ guest }) => { ... })
//   })
//
// `guest` gives the test a GuestSession; around every test the fixture writes begin/end
// markers into the guest's /dev/kmsg, closes the test's agents, puts PCI drivers back as
// they were, and fails the test when the kernel splatted (WARN, BUG, Oops, ...) or logged an
// IOMMU fault in between that the test did not declare (guest.expected: harness/guest/expected-log.ts).
import { afterAll, beforeAll, describe, inject, test as base } from 'vitest'
import { TOPOLOGIES, type IommuModel, type SuiteCast } from '../../guests/topologies/index.js'
import { ConsoleFailure } from '../guest/console-log.js'
import { GuestSession, SSH_LOST } from '../guest/session.js'
import { askSupervisor, askSupervisorBoot } from '../guest/supervisor.js'
import type { KernelConfig } from '../kernel/config.js'
import { GUEST_REBOOTED, HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { MTTY_PARENT } from '../vfio/mdev.js'
import { knownIssueTestApi, type KnownIssue } from './known-issues.js'
import { isGuestRebooted, retryableFixturesApi, unreachableValue } from './guest-loss.js'
import { guestSuite } from './concurrency.js'
import { roundName } from '../report/repeat.js'
import { runOptionsFromEnv, type RunOptions } from './run-options.js'
import { targetConfig, UNUSABLE_CHECK, type GuestTarget } from './targets.js'
import './timings.js'
import type { GuestPciDevice } from '../guest/pci.js'
import { FATAL_SPLATS, findSplats, kernelSplatFailure } from '../guest/splats.js'
import { CoverageRecorder } from '../coverage/collect.js'
import path from 'node:path'
import { escapeRegExp } from '../util/regex.js'

export interface ConformFixtures {
  target: GuestTarget
  guest: GuestSession
  /** The kernel's config, when known (Debian packages and source builds always have it). */
  kconfig: KernelConfig | undefined
  /** SKIP the test, naming the options, unless the kernel has all of them (y or m). */
  requireConfig: (...opts: string[]) => void
  /**
   * SKIP unless the guest has the mtty mdev sample: in tree, or built out of tree for a stock
   * kernel; the reason says why it has none (no VFIO_MDEV, compiler mismatch, ...) or that
   * the module did not load.
   */
  requireMtty: () => Promise<void>
  /** The device(s) the topology casts for a part (see SuiteCast); SKIPs when it casts none. */
  castPart: <K extends keyof SuiteCast>(part: K) => NonNullable<SuiteCast[K]>
}

let knownIssues: KnownIssue[] | undefined

/**
 * The suites' known issues (suites/setup.ts hands them over in each worker, before the suite
 * file loads): forEachTarget wraps every test with them (XFAIL / XPASS).
 */
export function useKnownIssues(list: KnownIssue[]): void {
  knownIssues = list
}

const sessions = new Map<string, Promise<GuestSession>>()
afterAll(async () => {
  for (const s of sessions.values()) (await s.catch(() => undefined))?.close()
  sessions.clear()
})

/** A coverage build's guests: their gcov counters are taken around each test (harness/coverage/collect.ts). */
const recorders = new Map<string, CoverageRecorder>()
function coverageOf(target: GuestTarget): CoverageRecorder | undefined {
  if (!target.kernel.gcov) return undefined
  let r = recorders.get(target.key)
  if (!r) recorders.set(target.key, (r = new CoverageRecorder(inject('vfioConformRun').runDir, target.key)))
  return r
}

function sessionFor(target: GuestTarget, test: string): Promise<GuestSession> {
  let s = sessions.get(target.key)
  if (!s) {
    s = openSession(target, test)
    sessions.set(target.key, s)
    s.catch(() => sessions.delete(target.key))
  }
  return s.then(async (session) => {
    if (session.ssh.alive) return session
    sessions.delete(target.key)
    return sessionFor(target, test)
  })
}

/**
 * A session on the guest as it is now: the supervisor knows whether it was rebooted (new SSH
 * port) or given up. A guest that cannot be reached is handed to the supervisor, which
 * records why and reboots it; the test then ERRORs with a message that vitest's retry
 * condition (vitest.config.ts: GUEST_REBOOTED) matches, and runs once more on the new guest.
 */
async function openSession(target: GuestTarget, test: string): Promise<GuestSession> {
  const sock = inject('vfioConformRun').supervisorSocket
  // A reboot in progress is waited for, within the test's own timeout (120 s).
  const state = sock && target.status === 'ready'
    ? await askSupervisor(sock, { op: 'state', key: target.key }, 60_000).catch((e: Error) => {
        throw new HarnessError(`${target.key}: ${e.message} (a reboot of the guest in progress did not end in time)`)
      })
    : undefined
  if (state?.status === 'lost') throw new HarnessError(`${target.key}: guest given up: ${state.error}`)
  try {
    const session = await GuestSession.open(target, state?.sshPort)
    session.generation = state?.generation ?? 1
    return session
  } catch (e) {
    const msg = (e as Error).message
    if (!sock || !state || !msg.includes(SSH_LOST)) throw e
    throw await recoverGuest(target, state.generation, msg, test)
  }
}


/** An SSH failure of harness plumbing that means the guest is gone (not a command's own error). */
function isSshLoss(guest: GuestSession, e: Error): boolean {
  return !guest.ssh.alive || /SSH (lost|connection|error)|did not finish in/.test(e.message)
}

/**
 * Hand a guest that this test found unreachable to the supervisor: it diagnoses the loss and
 * reboots the guest in the background. Returns the error for the test: one that vitest's retry
 * condition matches (GUEST_REBOOTED) unless the supervisor gave the guest up.
 */
async function recoverGuest(target: GuestTarget, generation: number, message: string, test: string): Promise<HarnessError> {
  const sock = inject('vfioConformRun').supervisorSocket
  const msg = message.replace(HARNESS_ERROR_TAG, '').trim()
  if (!sock) return new HarnessError(msg)
  const reason = msg.includes(SSH_LOST) ? msg.slice(msg.indexOf(SSH_LOST)) : msg.replace(`${target.key}: `, '')
  let next
  try {
    next = await askSupervisor(sock, { op: 'recover', key: target.key, generation, reason, test }, 60_000)
  } catch (e) {
    return new HarnessError(`${msg}; ${(e as Error).message}`)
  }
  const seen = next.lastIncident ? ` [${next.lastIncident.diagnosis.join('; ')}]` : ''
  if (next.status === 'lost') return new HarnessError(`${msg}${seen}; ${next.error}`)
  // 'rebooting', or 'ready' on a newer boot when another test already had it rebooted.
  return new HarnessError(`${msg}${seen}; ${GUEST_REBOOTED} (boot ${generation + 1}) and retries the test on it`)
}

export const conformTest = base.extend<ConformFixtures>({
  // Overridden per describe block by forEachTarget (auto there too: vitest keeps a fixture's
  // options across overrides); reaching this default is a wiring bug.
  target: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, _use) => {
      throw new HarnessError('conformTest used outside forEachTarget(): no guest target')
    },
    { auto: true },
  ],
  kconfig: async ({ target }, use) => {
    await use(targetConfig(target))
  },
  requireConfig: async ({ kconfig, skip }, use) => {
    await use((...opts: string[]) => {
      if (!kconfig) skip(`kernel config unknown (no .config and no /proc/config.gz): cannot check ${opts.join(', ')}`)
      const missing = kconfig!.missing(...opts)
      if (missing) skip(missing)
    })
  },
  requireMtty: async ({ target, guest, requireConfig, skip }, use) => {
    await use(async () => {
      const m = target.mtty
      if (!m) skip('mtty availability unknown for this kernel')
      if (m!.kind === 'absent') skip(m!.reason ?? 'no mtty for this kernel')
      requireConfig('VFIO_MDEV')
      if ((await guest.exec(`[ -d ${MTTY_PARENT} ]`)).code !== 0) {
        skip(`${MTTY_PARENT} missing: the ${m!.kind} mtty module did not load (see "insmod" in the console log)`)
      }
    })
  },
  castPart: async ({ target, skip }, use) => {
    const cast = TOPOLOGIES[target.topology]?.cast ?? {}
    await use(<K extends keyof SuiteCast>(part: K) => {
      const v = cast[part]
      if (!v) skip(`topology ${target.topology} casts no ${String(part)}`)
      return v!
    })
  },
  guest: async ({ target, task, onTestFinished }, use) => {
    const testName = task.fullTestName ?? task.name
    let guest: GuestSession | undefined
    let drivers: GuestPciDevice[]
    let from: number
    const tag = `${task.id}`
    task.meta.attemptErrorsFrom = task.result?.errors?.length ?? 0
    // What the teardown finds is raised from this hook, registered first so that it runs last
    // (the retry condition reads the attempt's last error): see harness/vitest/guest-loss.ts.
    let teardownError: Error | undefined
    onTestFinished(() => {
      if (teardownError) throw teardownError
    })
    const setupStart = performance.now()
    try {
      guest = await sessionFor(target, testName)
      drivers = await guest.pciDevices()
      from = await guest.console.size()
      guest.testFrom = from
      guest.splatReported = false
      guest.expected.reset()
      guest.waits.clear()
      await coverageOf(target)?.beginTest(guest.ssh)
      await guest.mark(`begin test ${tag}`)
    } catch (e) {
      let err = e as Error
      // Lost before the test began (the commands above are harness plumbing): recover it.
      if (guest && isSshLoss(guest, err)) err = await recoverGuest(target, guest.generation, err.message, testName)
      if (!isGuestRebooted(err)) throw err
      // Not thrown from here: see harness/vitest/guest-loss.ts (vitest's retry and fixtures).
      await use(unreachableValue<GuestSession>(err))
      return
    }
    const setupMs = performance.now() - setupStart
    await use(guest)
    const teardownStart = performance.now()
    // Recorded however the teardown ends (bench/speed.ts).
    const recordTimings = () => {
      task.meta.timings = { setupMs, teardownMs: performance.now() - teardownStart, waits: Object.fromEntries(guest!.waits) }
    }
    onTestFinished(recordTimings)
    try {
      await guest.closeAgents()
      // The kernel oopsed in this test (a BUG in a task that held locks): putting drivers back
      // would hang on them. Its result is a FAIL with the splat (the test may have reported it
      // itself: GuestSession.expectNoKernelSplat), and the guest is rebooted for the next tests.
      const oops = await guest.fatalSplats()
      if (oops.length) {
        await recoverGuest(target, guest.generation, `kernel ${oops[0]!.kind} during the test (${oops[0]!.title})`, testName)
        if (!guest.splatReported) {
          teardownError = kernelSplatFailure(oops)
        }
        return
      }
      await guest.restoreDrivers(drivers)
      await coverageOf(target)?.endTest(guest.ssh, testName, task.file ? path.relative(process.cwd(), task.file.filepath) : '')
      const end = await guest.mark(`end test ${tag}`)
      // The end marker on the console means every line the kernel printed during the test is there too.
      let endAt: number
      try {
        endAt = (await guest.console.waitFor(new RegExp(escapeRegExp(end) + '$'), { from, deadlineMs: 30_000 })).offset
      } catch (e) {
        throw new HarnessError(`${target.key}: end-of-test marker never reached the console: ${(e as ConsoleFailure).message}`)
      }
      const text = await guest.console.read(from, endAt)
      // Splats the test reported itself (expectNoKernelSplat) are its verdict already.
      const problems = guest.expected.judge(target.iommu, text).filter((p) => !(guest!.splatReported && p.name === 'KernelSplat'))
      if (problems.length) {
        const err = new Error(problems.map((p) => p.message).join('\n\n'))
        err.name = problems[0]!.name
        throw err
      }
    } catch (e) {
      if (!isSshLoss(guest, e as Error)) {
        teardownError = e as Error
        return
      }
      // Lost while the test ran (its own error, if any, is already recorded): recover it, and
      // end this attempt with the error that has the test retried on the new guest; unless the
      // kernel died in this test (panic, Oops, BUG): that is the kernel's result, a FAIL with
      // the splat, and the rebooted guest is for the tests after it.
      const fatal = findSplats(await guest.console.read(from)).filter((x) => FATAL_SPLATS.includes(x.kind))
      const recovery = await recoverGuest(target, guest.generation, (e as Error).message, testName)
      if (!fatal.length) {
        teardownError = recovery
        return
      }
      teardownError = kernelSplatFailure(fatal)
    }
  },
})

export type ConformTest = typeof conformTest


const boots = new Map<string, Promise<void>>()

/**
 * Boot the guest of `target` if it is not yet (global setup boots it when asked first, once,
 * whichever worker asks), and copy what the boot found onto `target`: its status (ready, or
 * error with why), SSH, config, modules, QEMU version. Never throws: a guest that cannot be
 * had is a target with status 'error', whose tests ERROR.
 */
export function ensureBooted(target: GuestTarget): Promise<void> {
  if (target.status !== 'not-booted') return Promise.resolve()
  let p = boots.get(target.key)
  if (!p) {
    const sock = inject('vfioConformRun').supervisorSocket
    p = (sock ? askSupervisorBoot(sock, target.key) : Promise.reject(new Error('no guest supervisor in this run')))
      .then(
        (booted) => void Object.assign(target, booted),
        (e: Error) => void Object.assign(target, { status: 'error', error: `boot: ${e.message}` }),
      )
    boots.set(target.key, p)
  }
  return p
}

/**
 * The run's options as the CLI or global setup gave them (harness/vitest/run-options.ts);
 * outside a run (`vfio-conform list` collects the suites without one) a run's defaults.
 */
export function runOptions(): RunOptions {
  return (inject('vfioConformOptions') as RunOptions | undefined) ?? runOptionsFromEnv({})
}

/** The guests of this run, as global setup planned them (each booted on first use: ensureBooted). */
export function runTargets(): GuestTarget[] {
  return inject('vfioConformRun').targets
}

/**
 * For suites whose tests do not depend on the topology or the vIOMMU model (the ownership
 * model, the kernel's own selftests, the argument checks): true for one guest per kernel and
 * QEMU, its first guest of the default topology in run order (a guest's identity is its kernel
 * and its QEMU: a kernel on two QEMUs runs such a suite on each, since QEMU's emulation decides
 * what a DMA does). `qemuIndependent`: one guest per kernel, whatever its QEMU (for suites
 * QEMU's emulation cannot change).
 */
export function isKernelsFirstGuest(target: GuestTarget, qemuIndependent = false, targets: GuestTarget[] = runTargets()): boolean {
  const same = targets.filter((t) => t.kernel.label === target.kernel.label && t.topology === 'default' && (qemuIndependent || qemuOf(t) === qemuOf(target)))
  // Once per kernel: its first guest on the host's QEMU where it has one, whatever the run's
  // order (forEachTarget leaves a newer QEMU's guest out of such suites when the host's QEMU
  // runs that kernel too: isCoveredOnHostQemu), else its first guest.
  const first = qemuIndependent ? (same.find((t) => (t.qemuSpec ?? 'host') === 'host') ?? same[0]) : same[0]
  return first?.key === target.key
}

/** The QEMU a guest runs on, as its identity: the version when known, else the spec asked for. */
function qemuOf(t: GuestTarget): string {
  return t.qemu ?? t.qemuSpec ?? 'host'
}

/**
 * Whether `target` runs a suite that keeps to `iommus` in the main job (`vfio-conform run` with
 * no kernel, no --matrix and no --iommu): a suite whose rules do not depend on the vIOMMU model
 * may keep the main job within its budget that way; npm test (--matrix) and a run that names
 * its models run it under every model. Topologies without a vIOMMU are not narrowed.
 */
export function inMainJobShare(
  target: Pick<GuestTarget, 'iommu'>,
  iommus: readonly IommuModel[] | undefined,
  o: Pick<RunOptions, 'mainJob' | 'iommus'> = runOptions(),
): boolean {
  if (!iommus || !o.mainJob || o.iommus?.length || target.iommu === 'none') return true
  return iommus.includes(target.iommu)
}

/**
 * For suites whose rules do not depend on QEMU's emulation (mdev's mtty is a kernel sample;
 * node permissions and capabilities): true when another guest of the run runs this kernel on
 * the same topology on the host's QEMU, so a guest on another QEMU would only repeat it.
 */
export function isCoveredOnHostQemu(target: GuestTarget): boolean {
  if ((target.qemuSpec ?? 'host') === 'host') return false
  return runTargets().some((t) => (t.qemuSpec ?? 'host') === 'host' && t.kernel.label === target.kernel.label && t.topology === target.topology)
}

/**
 * Declare a suite once for every guest of the run (for a dedicated suite: every guest of the
 * topologies dedicated to it). Test names carry the target key (kernel/topology/vIOMMU).
 */
export function forEachTarget(
  body: (target: GuestTarget, test: ConformTest) => void,
  opts: { dedicatedTo?: string; everywhere?: boolean; oncePerKernel?: boolean; mainJobIommus?: readonly IommuModel[]; qemuIndependent?: boolean } = {},
): void {
  // A topology dedicated to one suite runs that suite only (and the `everywhere` suites:
  // boot checks); general suites skip it. A suite that does not depend on the topology or
  // the vIOMMU runs on one guest per kernel (no empty describe blocks for the others: vitest
  // counts those as failed suites).
  const targets = runTargets()
    .filter((t) => opts.everywhere || TOPOLOGIES[t.topology]?.dedicatedTo === opts.dedicatedTo)
    .filter((t) => !opts.oncePerKernel || isKernelsFirstGuest(t, opts.qemuIndependent))
    .filter((t) => inMainJobShare(t, opts.mainJobIommus))
    // A suite that does not depend on QEMU's emulation runs on a newer QEMU's guests only
    // where the run has no host-QEMU guest of that kernel (npm test's newer-QEMU column).
    .filter((t) => !opts.qemuIndependent || !isCoveredOnHostQemu(t))
  if (!targets.length && runTargets().length) {
    // The run has guests, none of them for this suite (e.g. a dedicated topology not chosen).
    describe('no guest for this suite', () => {
      base('this suite runs on no guest of this run', ({ skip }) => {
        skip(opts.dedicatedTo ? `no guest of topology dedicated to ${opts.dedicatedTo} in this run` : 'every guest of this run is of a dedicated topology')
      })
    })
    return
  }
  if (!targets.length) {
    describe('no guest', () => {
      base('a run needs at least one guest', () => {
        throw new HarnessError('no guest target in this run (check VFIO_CONFORM_KERNELS / --kernel)')
      })
    })
    return
  }
  // Without the list every known divergence would FAIL instead of XFAIL: a wiring error.
  if (!knownIssues) throw new HarnessError('no known-issues list: the conformance project must run suites/setup.ts (vitest.config.ts setupFiles)')
  const known = knownIssues
  const rounds = runOptions().repeat
  for (const target of targets) {
    // Guests run their tests at the same time; one guest's tests stay in order (concurrency.ts).
    guestSuite(target.key, () => {
      // The guest boots before its first test here (within the hook's timeout, not the
      // test's); vitest runs no hook of a block whose tests a filter left out, so a filtered
      // run boots only the guests of its selected tests.
      beforeAll(() => ensureBooted(target))
      // A test API with `target` bound (suites may extend it further with test.extend). The
      // fixture runs for every test, so that no test of a guest that did not boot can pass:
      // a failed guest is ERROR, a vIOMMU the kernel cannot drive is SKIP with the option.
      const test = conformTest.extend<{ target: GuestTarget }>({
        target: [
          async ({ skip, task }, use) => {
            await ensureBooted(target)
            if (target.status === 'skip') skip(target.skipReason ?? 'guest not booted')
            if (target.status !== 'ready') throw new HarnessError(`guest ${target.key} is not available: ${target.error ?? 'not booted'}`)
            if (target.unusable && task.name !== UNUSABLE_CHECK) skip(target.unusable)
            await use(target)
          },
          { auto: true },
        ],
      })
      const api = retryableFixturesApi(knownIssueTestApi(test, known, target))
      // --repeat N: the guest's tests N times over, round after round, on the same guest
      // (harness/report/repeat.ts merges them into one verdict per test).
      if (rounds === 1) body(target, api)
      else for (let k = 1; k <= rounds; k++) describe(roundName(k, rounds), () => body(target, api))
    })
  }
}
