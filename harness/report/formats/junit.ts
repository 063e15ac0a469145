// JUnit XML of a finished run, for CI systems (GitLab, Jenkins, GitHub test reporters).
//
// <testsuites> holds one <testsuite> per guest target ("<kernel>/<topology>/<iommu>", with the
// kernel, vIOMMU, accelerator and QEMU version as <properties>), one "unit" suite, one
// "conformance" suite for verdicts without a target key and one "run" suite for run errors.
// A testcase's classname is its suite file and its name the full test name (target key
// included, as vitest names it), so tools that flatten the suites still see distinct tests.
//
// Verdicts, as the run's exit code reads them:
//   PASS   a passed testcase
//   FAIL   <failure type="FAIL">            counted in failures
//   XPASS  <failure type="XPASS">           a failure: the known-issues list is stale
//   ERROR  <error type="ERROR">             counted in errors, never in failures
//   SKIP   <skipped message="reason"/>      counted in skipped
//   XFAIL  a passed testcase; <properties> name the known issue and <system-out> says it
//          failed as known
// Run errors become <error> testcases of the "run" suite, so a CI gate on errors sees them.
import { countsText } from '../repeat.js'
import path from 'node:path'
import type { RunResults } from '../../claims/results.js'
import type { TestVerdict } from '../verdict.js'
import { runModel, verdictsOf, type SuiteGroup, type TargetGroup } from './run-model.js'
import { cleanText, firstLine } from './text.js'

// A type alias, not an interface: it must pass as Record<string, string> to attrs().
type Property = { name: string; value: string }

interface JunitCase {
  classname: string
  name: string
  /** Seconds. */
  time?: number
  properties: Property[]
  outcome?: { kind: 'failure' | 'error'; type: string; message: string; text: string } | { kind: 'skipped'; message: string }
  systemOut?: string
}

interface JunitSuite {
  name: string
  properties: Property[]
  cases: JunitCase[]
  systemErr?: string
}

export function renderJunit(run: RunResults): string {
  const model = runModel(run)
  const suites: JunitSuite[] = []
  if (model.unit.length) suites.push({ name: 'unit', properties: [{ name: 'project', value: 'unit' }], cases: casesOf(model.unit) })
  for (const k of model.kernels) {
    for (const t of k.targets) suites.push(targetSuite(k.label, k.release, t))
  }
  if (model.unplaced.length) suites.push({ name: 'conformance', properties: [{ name: 'note', value: 'verdicts without a target key' }], cases: casesOf(model.unplaced) })
  if (model.runErrors.length) {
    suites.push({
      name: 'run',
      properties: [],
      cases: model.runErrors.map((e, i) => ({
        classname: 'run',
        name: `run error ${i + 1}`,
        properties: [],
        outcome: { kind: 'error', type: 'ERROR', message: firstLine(e), text: cleanText(e) },
      })),
    })
  }

  const all = suites.flatMap((s) => s.cases)
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites${attrs({ name: `vfio-conform ${path.basename(model.dir)}`, ...counts(all) })}>`]
  for (const s of suites) out.push(...suiteXml(s))
  out.push('</testsuites>')
  return out.join('\n') + '\n'
}

function targetSuite(label: string, release: string | undefined, t: TargetGroup): JunitSuite {
  const g = t.target
  const props: Array<[string, string | undefined]> = [
    ['kernel', label],
    ['kernel_release', release],
    ['topology', t.topology],
    ['iommu', t.iommu],
    ['guest_status', g?.status],
    ['guest_skip_reason', g?.skipReason && firstLine(g.skipReason)],
    ['accel', g?.accel],
    ['qemu', g?.qemu],
    ['console_log', g?.consoleLog],
  ]
  return {
    name: t.key,
    properties: props.filter((p): p is [string, string] => !!p[1]).map(([name, value]) => ({ name, value })),
    cases: casesOf(t.suites),
    systemErr: g?.status === 'error' && g.error ? cleanText(g.error) : undefined,
  }
}

function casesOf(suites: SuiteGroup[]): JunitCase[] {
  return verdictsOf(suites).map(testCase)
}

function testCase(v: TestVerdict): JunitCase {
  const c: JunitCase = {
    classname: v.file,
    name: v.name,
    time: v.durationMs !== undefined ? v.durationMs / 1000 : undefined,
    // The element types already tell PASS, FAIL, ERROR and SKIP apart; XFAIL and XPASS need saying.
    properties: v.verdict === 'XFAIL' || v.verdict === 'XPASS' || v.verdict === 'FLAKY' ? [{ name: 'verdict', value: v.verdict }] : [],
  }
  const text = cleanText(v.detail ?? v.reason ?? '')
  const message = firstLine(v.reason ?? v.detail ?? '')
  const issue = v.knownIssue
  if (issue) c.properties.push({ name: 'known_issue', value: issue.id }, { name: 'known_issue_ref', value: issue.ref })
  switch (v.verdict) {
    case 'FAIL':
      c.outcome = { kind: 'failure', type: 'FAIL', message: message || 'failed', text }
      break
    case 'XPASS':
      c.outcome = { kind: 'failure', type: 'XPASS', message: message || `known issue ${issue?.id ?? '?'} no longer reproduces`, text }
      break
    case 'ERROR':
      c.outcome = { kind: 'error', type: 'ERROR', message: message || 'error', text }
      break
    case 'SKIP':
      c.outcome = { kind: 'skipped', message: message || 'skipped' }
      break
    case 'XFAIL':
      c.systemOut = cleanText(
        `XFAIL: failed as known issue ${issue?.id ?? '?'}: ${issue?.reason ?? v.reason ?? ''} [${issue?.ref ?? ''}]` + (v.detail ? `\n${v.detail}` : ''),
      )
      break
    case 'FLAKY': {
      const rounds = countsText(v.rounds)
      c.properties.push({ name: 'flaky', value: rounds })
      if (!v.flakyAllowed) c.outcome = { kind: 'failure', type: 'FLAKY', message: message || `flaky: ${rounds}`, text }
      else c.systemOut = cleanText(`FLAKY (allowed by --allow-flaky): ${rounds}` + (text ? `\n${text}` : ''))
      break
    }
    case 'PASS':
      break
  }
  // What the test recorded (e.g. the fault line a DMA test found).
  if (v.annotations?.length) c.systemOut = cleanText([...v.annotations, ...(c.systemOut ? [c.systemOut] : [])].join('\n'))
  return c
}

function counts(cases: JunitCase[]): Record<string, string> {
  const n = (kind: string) => cases.filter((c) => c.outcome?.kind === kind).length
  const time = cases.reduce((s, c) => s + (c.time ?? 0), 0)
  return { tests: String(cases.length), failures: String(n('failure')), errors: String(n('error')), skipped: String(n('skipped')), time: seconds(time) }
}

function suiteXml(s: JunitSuite): string[] {
  const out = [`  <testsuite${attrs({ name: s.name, ...counts(s.cases) })}>`]
  if (s.properties.length) out.push('    <properties>', ...s.properties.map((p) => `      <property${attrs(p)}/>`), '    </properties>')
  for (const c of s.cases) out.push(...caseXml(c))
  if (s.systemErr) out.push(`    <system-err>${xmlText(s.systemErr)}</system-err>`)
  out.push('  </testsuite>')
  return out
}

function caseXml(c: JunitCase): string[] {
  const head = `    <testcase${attrs({ classname: c.classname, name: c.name, ...(c.time !== undefined ? { time: seconds(c.time) } : {}) })}`
  const body: string[] = []
  if (c.properties.length) body.push('      <properties>', ...c.properties.map((p) => `        <property${attrs(p)}/>`), '      </properties>')
  const o = c.outcome
  if (o?.kind === 'skipped') body.push(`      <skipped${attrs({ message: o.message })}/>`)
  else if (o) body.push(`      <${o.kind}${attrs({ type: o.type, message: o.message })}>${xmlText(o.text)}</${o.kind}>`)
  if (c.systemOut) body.push(`      <system-out>${xmlText(c.systemOut)}</system-out>`)
  return body.length ? [`${head}>`, ...body, '    </testcase>'] : [`${head}/>`]
}

const seconds = (s: number) => (Math.round(s * 1000) / 1000).toFixed(3)

// Characters XML 1.0 does not allow at all (not even as references): C0 controls other than
// tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF.
const XML_ILLEGAL = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** Escaped element content; characters XML cannot carry are dropped. */
export function xmlText(s: string): string {
  return s.replace(XML_ILLEGAL, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Escaped attribute value: also quotes, and whitespace a parser would otherwise normalise to spaces. */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')
}

function attrs(a: Record<string, string>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlAttr(v)}"`)
    .join('')
}
