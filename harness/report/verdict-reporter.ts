// A vitest reporter that turns results into PASS/FAIL/SKIP/ERROR, prints a per-test table and
// a summary, and writes verdicts.json into the run directory for the CLI's exit code.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Reporter, SerializedError, TestModule } from 'vitest/node'
import { HARNESS_ERROR_TAG, isHarnessErrorLike } from '../util/errors.js'
import '../vitest/subtests.js'
import { countVerdicts, exitCodeFor, type TestVerdict } from './verdict.js'
import { readRunResults } from '../claims/results.js'
import { writeReports } from './formats/index.js'
import { kernelDiff, renderKernelDiff } from './kernel-diff.js'

const cleanMsg = (m: string) => m.replace(HARNESS_ERROR_TAG, '').trim()

export default class VerdictReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): Promise<void> | void {
    const verdicts: TestVerdict[] = []
    const runErrors: string[] = unhandled.map((e) => `unhandled: ${cleanMsg(e.message ?? String(e))}`)
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
        const d = tc.diagnostic()
        const base = {
          project: tc.project.name,
          file,
          name: tc.fullName,
          durationMs: d?.duration,
          annotations: tc.annotations().map((a) => a.message),
        }
        // A program's own subtests (the kernel's selftests): one verdict each, whatever the
        // test that ran them concluded (that test checks only that the program ran through).
        for (const sub of tc.meta().subtests ?? []) {
          const key = tc.fullName.split(' > ')[0]!
          const s = { ...base, name: `${key} > ${sub.name}`, durationMs: undefined, annotations: [], detail: sub.detail }
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
          const errs = r.errors ?? []
          const harness = errs.some((e) => isHarnessErrorLike(e))
          const first = errs[0]
          verdicts.push({
            ...base,
            verdict: harness ? 'ERROR' : 'FAIL',
            reason: cleanMsg(first?.message ?? 'failed').split('\n')[0],
            detail: errs.map((e) => cleanMsg(`${e.message}${e.diff ? '\n' + e.diff : ''}`)).join('\n\n'),
          })
        }
      }
    }
    this.print(verdicts, runErrors)
    const runDir = process.env.VFIO_CONFORM_RUN_DIR_ACTUAL
    if (runDir) {
      const out = { verdicts, runErrors, counts: countVerdicts(verdicts), exitCode: exitCodeFor(verdicts, runErrors) }
      return mkdir(runDir, { recursive: true })
        .then(() => writeFile(path.join(runDir, 'verdicts.json'), JSON.stringify(out, null, 2)))
        .then(() => writeRunReports(runDir, verdicts))
    }
  }

  private print(verdicts: TestVerdict[], runErrors: string[]): void {
    const w = (s: string) => process.stdout.write(s + '\n')
    w('')
    w('vfio-conform verdicts')
    w('---------------------')
    for (const v of verdicts) {
      const reason = v.reason ? `  -- ${v.reason.slice(0, 160)}` : ''
      w(`${v.verdict.padEnd(5)} ${v.project === 'unit' ? '[unit] ' : ''}${v.name}${reason}`)
    }
    for (const e of runErrors) w(`ERROR ${e.split('\n')[0]}`)
    const diff = renderKernelDiff(kernelDiff(verdicts))
    if (diff) w(diff)
    const c = countVerdicts(verdicts)
    w('')
    w(`PASS ${c.PASS}  FAIL ${c.FAIL}  SKIP ${c.SKIP}  ERROR ${c.ERROR + runErrors.length}  XFAIL ${c.XFAIL}  XPASS ${c.XPASS}`)
    if (c.XPASS) w(`!!! ${c.XPASS} known issue(s) no longer reproduce (XPASS): update suites/known-issues.ts`)
    // The plain closing line CI systems read; ERRORs and XPASSes count as failed there,
    // XFAILs as passed (they behaved as the known-issues list says).
    w(`vfio-conform: ${c.PASS + c.XFAIL} passed, ${c.FAIL + c.XPASS + c.ERROR + runErrors.length} failed, ${c.SKIP} skipped`)
  }
}

/**
 * The report formats (KTAP, JUnit, KCIDB, behaviours Markdown and HTML) next to verdicts.json.
 * A unit-only run has no kernel to report on. A report that cannot be rendered is a run
 * error in its own right, printed, never a silent gap.
 */
async function writeRunReports(runDir: string, verdicts: TestVerdict[]): Promise<void> {
  if (!verdicts.some((v) => v.project !== 'unit')) return
  try {
    await writeReports(await readRunResults(runDir), runDir)
  } catch (e) {
    process.stdout.write(`ERROR writing the reports into ${runDir}: ${(e as Error).message}\n`)
    process.exitCode = 125
  }
}
