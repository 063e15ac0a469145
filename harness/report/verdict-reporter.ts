// A vitest reporter that turns results into PASS/FAIL/SKIP/ERROR, prints a per-test table and
// a summary, and writes verdicts.json into the run directory for the CLI's exit code.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Reporter, SerializedError, TestCase, TestModule, Vitest } from 'vitest/node'
import { GUEST_REBOOTED, HARNESS_ERROR_TAG, isHarnessErrorLike, KERNEL_DIED } from '../util/errors.js'
import '../vitest/subtests.js'
import '../vitest/timings.js'
import { countVerdicts, exitCodeFor, type TestVerdict } from './verdict.js'
import { mergeRounds } from './repeat.js'
import type { RunOptions } from '../vitest/run-options.js'
import { readRunResults } from '../claims/results.js'
import { writeReports, type ReportRegistries } from './formats/index.js'
import { kernelDiff, renderKernelDiff } from './kernel-diff.js'
import { readFileSync } from 'node:fs'
import type { GuestIncident } from '../guest/supervisor.js'

const cleanMsg = (m: string) => m.replace(HARNESS_ERROR_TAG, '').trim()

export interface VerdictReporterOptions {
  /** The suites' behaviours and claims, for the run's reports (suites/verdict-reporter.ts, the CLI). */
  registries?: ReportRegistries
}

export default class VerdictReporter implements Reporter {
  /** The run's name filter (--filter, -t): what it leaves out is not run and gets no verdict. */
  private namePattern?: RegExp
  private vitest?: Vitest

  constructor(private readonly options: VerdictReporterOptions = {}) {}

  onInit(vitest: Vitest): void {
    this.namePattern = vitest.config.testNamePattern
    this.vitest = vitest
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): Promise<void> | void {
    const verdicts: TestVerdict[] = []
    const runErrors: string[] = unhandled.map((e) => `unhandled: ${cleanMsg(e.message ?? String(e))}`)
    const selection = { selected: 0, notSelected: 0 }
    for (const mod of modules) {
      const file = path.relative(process.cwd(), mod.moduleId)
      for (const e of mod.errors()) runErrors.push(`${file}: ${cleanMsg(e.message ?? '')}`)
      // A describe block's own error (a hook, or "No test found in suite") is a harness wiring
      // problem: vitest fails the run for it, so the verdicts must not say "nothing failed".
      for (const suite of mod.children.allSuites()) {
        for (const e of suite.errors()) runErrors.push(`${file} > ${suite.fullName}: ${cleanMsg(e.message ?? '')}`)
      }
      for (const tc of mod.children.allTests()) {
        const r = tc.result()
        // Left out by a name filter (--filter, bisect-run/gate --test): not run, so no verdict
        // at all, not a SKIP. vitest marks such a test mode "skip" without a note, as it does a
        // statically skipped one (test.skipIf): what tells them apart is the pattern itself,
        // matched as vitest matches it (the suite names and the test's, joined by spaces).
        if (this.namePattern && tc.options.mode === 'skip' && r.state === 'skipped' && !r.note && !this.namePattern.test(spacedName(tc))) {
          selection.notSelected++
          continue
        }
        selection.selected++
        const d = tc.diagnostic()
        // vitest keeps every attempt's errors in one list. The only retry is the one after the
        // harness rebooted a lost guest (vitest.config.ts): the earlier attempt's errors neither
        // decide the verdict nor hide the last attempt's own FAIL; they are annotated.
        const allErrors = r.errors ?? []
        const from = (d?.retryCount ?? 0) > 0 ? Math.min(tc.meta().attemptErrorsFrom ?? 0, allErrors.length) : 0
        const rebootErrors = allErrors.slice(0, from).filter((e) => (e.message ?? '').includes(GUEST_REBOOTED))
        const lastErrors = allErrors.slice(from)
        const base = {
          project: tc.project.name,
          file,
          name: tc.fullName,
          taskId: tc.id,
          durationMs: d?.duration,
          startedAt: d?.startTime,
          timings: tc.meta().timings,
          annotations: [
            ...tc.annotations().map((a) => a.message),
            ...rebootErrors.map((e) => `attempt lost its guest, retried on a rebooted guest: ${cleanMsg(e.message ?? '').split('\n')[0]}`),
          ],
        }
        // A program's own subtests (the kernel's selftests): one verdict each, whatever the
        // test that ran them concluded (that test checks only that the program ran through).
        for (const sub of tc.meta().subtests ?? []) {
          // The test's prefix: its guest's key, and its round when the run repeats.
          const key = tc.fullName.slice(0, Math.max(0, tc.fullName.length - tc.name.length - 3)) || tc.fullName.split(' > ')[0]!
          const s = { ...base, name: `${key} > ${sub.name}`, durationMs: undefined, startedAt: undefined, timings: undefined, annotations: [], detail: sub.detail }
          if (sub.verdict === 'XFAIL') {
            // kselftest's own expected failure (XFAIL() in the test), not one of our known issues.
            const knownIssue = { id: 'upstream-xfail', reason: sub.reason ?? 'marked XFAIL by the selftest', ref: file }
            verdicts.push({ ...s, verdict: 'XFAIL', knownIssue, reason: `${knownIssue.id}: ${knownIssue.reason}` })
          } else verdicts.push({ ...s, verdict: sub.verdict, reason: sub.reason })
        }
        const ki = tc.meta().knownIssue
        if (ki) {
          const knownIssue = { id: ki.id, reason: ki.reason, ref: ki.ref }
          if (ki.verdict === 'XFAIL' && r.state === 'passed') {
            verdicts.push({ ...base, verdict: 'XFAIL', knownIssue, reason: `${ki.id}: ${ki.reason} [${ki.ref}]`, detail: ki.failure })
            continue
          }
          if (ki.verdict === 'XPASS') {
            verdicts.push({ ...base, verdict: 'XPASS', knownIssue, reason: `known issue ${ki.id} no longer reproduces: update suites/known-issues.ts [${ki.ref}]` })
            continue
          }
        }
        if (r.state === 'passed') verdicts.push({ ...base, verdict: 'PASS' })
        else if (r.state === 'skipped') verdicts.push({ ...base, verdict: 'SKIP', reason: r.note ?? (tc.options.mode === 'todo' ? 'todo' : 'skipped') })
        else if (r.state === 'failed') {
          const errs = lastErrors.length ? lastErrors : allErrors
          // A harness error is an ERROR, unless the kernel died in the test: then the failed
          // SSH commands were its doing, and the splat is the verdict (FAIL).
          const kernelDied = errs.find((e) => (e.message ?? '').includes(KERNEL_DIED))
          const harness = !kernelDied && errs.some((e) => isHarnessErrorLike(e))
          const first = kernelDied ?? errs[0]
          // Said first: a FAIL or ERROR of the attempt on a rebooted guest is read with the loss in mind.
          const retried = rebootErrors.length ? 'on the retry, after the harness rebooted the guest: ' : ''
          verdicts.push({
            ...base,
            verdict: harness ? 'ERROR' : 'FAIL',
            reason: retried + cleanMsg(first?.message ?? 'failed').split('\n')[0],
            detail: errs.map((e) => cleanMsg(`${e.message}${e.diff ? '\n' + e.diff : ''}`)).join('\n\n'),
          })
        }
      }
    }
    // --repeat: one verdict per test over the rounds (FLAKY when it varied).
    const merged = mergeRounds(verdicts, this.allowedFlaky())
    verdicts.splice(0, verdicts.length, ...merged)
    const runDir = process.env.VFIO_CONFORM_RUN_DIR_ACTUAL
    const incidents = runDir ? readIncidents(runDir) : []
    this.print(verdicts, runErrors, incidents, selection, runDir ? readGuestLines(runDir) : [])
    if (runDir) {
      const out = { verdicts, runErrors, incidents, counts: countVerdicts(verdicts), selection, exitCode: exitCodeFor(verdicts, runErrors) }
      return mkdir(runDir, { recursive: true })
        .then(() => writeFile(path.join(runDir, 'verdicts.json'), JSON.stringify(out, null, 2)))
        .then(() => writeRunReports(runDir, verdicts, this.options.registries))
    }
  }

  /** --allow-flaky patterns, from the run's options (harness/vitest/run-options.ts). */
  private allowedFlaky(): RegExp[] {
    const opts = this.vitest?.projects.map((p) => p.getProvidedContext().vfioConformOptions as RunOptions | undefined).find(Boolean)
    return (opts?.allowFlaky ?? []).map((p) => new RegExp(p))
  }

  private print(verdicts: TestVerdict[], runErrors: string[], incidents: GuestIncident[], selection: { selected: number; notSelected: number }, guests: string[]): void {
    const w = (s: string) => process.stdout.write(s + '\n')
    w('')
    w('vfio-conform verdicts')
    w('---------------------')
    for (const v of verdicts) {
      const reason = v.reason ? `  -- ${v.reason.slice(0, 160)}` : ''
      const rounds = v.rounds && v.verdict !== 'FLAKY' ? `  [x${Object.values(v.rounds).reduce((a, n) => a + (n ?? 0), 0)}]` : ''
      const allowed = v.flakyAllowed ? ' (allowed)' : ''
      w(`${v.verdict.padEnd(5)} ${v.project === 'unit' ? '[unit] ' : ''}${v.name}${rounds}${allowed}${reason}`)
    }
    for (const e of runErrors) w(`ERROR ${e.split('\n')[0]}`)
    const diff = renderKernelDiff(kernelDiff(verdicts))
    if (diff) w(diff)
    if (incidents.length) {
      // Not verdicts, but nothing a reader may miss (last before the counts, where a CI log's
      // tail shows them): a guest the harness had to reboot, and what it found.
      w('')
      w(`guest incidents (${incidents.length}): guests the harness lost (unreachable, or their kernel oopsed), diagnosed and rebooted`)
      for (const i of incidents) {
        w(`  ${i.key} at ${i.at}, in "${i.test}": ${i.reason}`)
        for (const line of i.diagnosis) w(`    - ${line}`)
        w(`    -> ${i.outcome} (console ${i.console.file}, bytes ${i.console.from}-${i.console.to})`)
      }
    }
    if (guests.length) {
      w('')
      w('guests (kernel, QEMU, accelerator):')
      for (const g of guests) w(`  ${g}`)
    }
    const c = countVerdicts(verdicts)
    w('')
    if (selection.notSelected) {
      w(`selected by the name filter: ${selection.selected} of ${selection.selected + selection.notSelected} tests (the other ${selection.notSelected} were not run and are not counted)`)
    }
    w(`PASS ${c.PASS}  FAIL ${c.FAIL}  SKIP ${c.SKIP}  ERROR ${c.ERROR + runErrors.length}  XFAIL ${c.XFAIL}  XPASS ${c.XPASS}${c.FLAKY ? `  FLAKY ${c.FLAKY}` : ''}`)
    if (c.XPASS) w(`!!! ${c.XPASS} known issue(s) no longer reproduce (XPASS): update suites/known-issues.ts`)
    const flaky = verdicts.filter((v) => v.verdict === 'FLAKY')
    const allowedN = flaky.filter((v) => v.flakyAllowed).length
    if (flaky.length) w(`!!! ${flaky.length} test(s) FLAKY: their verdict varied over the rounds${allowedN ? ` (${allowedN} allowed by --allow-flaky)` : ''}`)
    // The plain closing line CI systems read; ERRORs and XPASSes count as failed there,
    // XFAILs as passed (they behaved as the known-issues list says).
    w(`vfio-conform: ${c.PASS + c.XFAIL + allowedN} passed, ${c.FAIL + c.XPASS + c.FLAKY - allowedN + c.ERROR + runErrors.length} failed, ${c.SKIP} skipped`)
  }
}

/** A test's name as vitest's testNamePattern sees it (@vitest/runner getTaskFullName). */
function spacedName(tc: TestCase): string {
  const names: string[] = [tc.name]
  for (let p = tc.parent; p.type === 'suite'; p = p.parent) names.unshift(p.name)
  return names.join(' ')
}

/**
 * The report formats (KTAP, JUnit, KCIDB, behaviours Markdown and HTML) next to verdicts.json.
 * A unit-only run has no kernel to report on. A report that cannot be rendered is a run
 * error in its own right, printed, never a silent gap.
 */
async function writeRunReports(runDir: string, verdicts: TestVerdict[], reg: ReportRegistries | undefined): Promise<void> {
  if (!verdicts.some((v) => v.project !== 'unit')) return
  try {
    if (!reg) throw new Error('the reporter was given no registries (behaviours, claims): name suites/verdict-reporter.ts as the reporter')
    await writeReports(await readRunResults(runDir), runDir, reg)
  } catch (e) {
    process.stdout.write(`ERROR writing the reports into ${runDir}: ${(e as Error).message}\n`)
    process.exitCode = 125
  }
}

/** One line per guest of the run (targets.json): its key, kernel release, QEMU version and spec, accelerator or status. */
export function readGuestLines(runDir: string): string[] {
  let targets: Array<{ key: string; status?: string; kernel?: { release?: string }; qemu?: string; qemuSpec?: string; accel?: string; skipReason?: string }>
  try {
    targets = JSON.parse(readFileSync(path.join(runDir, 'targets.json'), 'utf8'))
  } catch {
    return []
  }
  return targets.map((t) => {
    const qemu = t.qemu ? `QEMU ${t.qemu}${t.qemuSpec && t.qemuSpec !== 'host' ? ` (${t.qemuSpec})` : ''}` : `QEMU ${t.qemuSpec ?? '?'}`
    const state = t.status === 'ready' ? (t.accel ?? '') : `${t.status}${t.skipReason ? `: ${t.skipReason.split('\n')[0]}` : ''}`
    return `${t.key}: kernel ${t.kernel?.release ?? '?'}, ${qemu}, ${state}`
  })
}

/** The guests' supervisor appends one JSON line per lost guest (harness/guest/supervisor.ts). */
export function readIncidents(runDir: string): GuestIncident[] {
  let text = ''
  try {
    text = readFileSync(path.join(runDir, 'incidents.jsonl'), 'utf8')
  } catch {
    return []
  }
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as GuestIncident)
}
