// KTAP version 1 (Documentation/dev-tools/ktap.rst, https://docs.kernel.org/dev-tools/ktap.html)
// of a finished run, for kernel tooling that reads kselftest/KUnit output.
//
// Nesting (two spaces per level, each level opened by its own version line and plan):
//   top level: "unit" (the unit project), then one subtest per kernel label, then
//              "conformance" (verdicts without a target key) and "run" (run errors), when any
//   kernel  -> "<topology>/<iommu>" -> suite file -> test
//
// Verdicts:
//   PASS   ok N name
//   FAIL   not ok N name                      the failure text as "# " lines just before it
//   SKIP   ok N name # SKIP <reason>
//   XFAIL  ok N name # XFAIL <known issue id>  KTAP lists the XFAIL directive ("used by some
//          kselftest tests", whose ksft_test_result_xfail() also prints "ok"); the known
//          issue's reason and reference, and the failure seen, as "# " lines
//   XPASS  not ok N name                      KTAP has no XPASS directive; a "# XPASS: ..."
//          line says which known issue no longer reproduces (a failure: the list is stale)
//   ERROR  not ok N name # ERROR <reason>     the ERROR directive of the current ktap.rst
//          (added after the first KTAP v1 text; parsers that lack it fall back to "not ok",
//          as the spec asks); the full text as "# " lines when it is more than that line
// A parent is "not ok" when a child is, "ok ... # SKIP" when every child skipped, else "ok".
import { countsText } from '../repeat.js'
import path from 'node:path'
import type { RunResults } from '../../claims/results.js'
import type { TestVerdict } from '../verdict.js'
import { runModel, type KernelGroup, type SuiteGroup, type TargetGroup } from './run-model.js'
import { cleanText, firstLine } from './text.js'

/** Diagnostic lines kept per test; a splat or a long diff is cut after this many. */
const MAX_DIAGNOSTIC_LINES = 200

type Result = 'ok' | 'not ok'

/** A KTAP test at any level: a leaf, or a parent whose result bubbles up from its children. */
interface KtapNode {
  name: string
  /** "# " lines printed just before the result line. */
  diagnostics: string[]
  children?: KtapNode[]
  /** Leaves only; parents derive theirs. */
  result?: Result
  /** "SKIP reason", "XFAIL id", "ERROR reason" (without the "# "). */
  directive?: string
}

export function renderKtap(run: RunResults): string {
  const model = runModel(run)
  const top: KtapNode[] = []
  if (model.unit.length) top.push(group('unit', [], model.unit.map(suiteNode)))
  for (const k of model.kernels) top.push(kernelNode(k))
  if (model.unplaced.length) top.push(group('conformance', ['conformance verdicts without a target key'], model.unplaced.map(suiteNode)))
  if (model.runErrors.length) top.push(runErrorsNode(model.runErrors))

  const out: string[] = ['KTAP version 1', `1..${top.length}`, `# vfio-conform results ${path.basename(model.dir)}`]
  top.forEach((n, i) => emit(n, i + 1, 0, out))
  return out.join('\n') + '\n'
}

function kernelNode(k: KernelGroup): KtapNode {
  const about = [k.release && `release ${k.release}`, k.id && `spec ${k.id}`].filter(Boolean).join(', ')
  return group(k.label, about ? [`kernel ${k.label}: ${about}`] : [], k.targets.map(targetNode))
}

function targetNode(t: TargetGroup): KtapNode {
  const name = `${t.topology}/${t.iommu}`
  const g = t.target
  const diagnostics: string[] = []
  if (g?.accel || g?.qemu) diagnostics.push(`guest ${t.key}: ${[g.accel, g.qemu && `QEMU ${g.qemu}`].filter(Boolean).join(', ')}`)
  if (g?.status === 'error' && g.error) diagnostics.push(...diagnosticLines(`guest error: ${g.error}`))

  if (t.suites.length) {
    const node = group(name, diagnostics, t.suites.map(suiteNode))
    // The guest's own state says more than "every test skipped" or "a test errored".
    if (g?.status === 'skip' && g.skipReason && node.directive?.startsWith('SKIP')) node.directive = `SKIP ${directiveText(g.skipReason)}`
    if (g?.status === 'error' && g.error) Object.assign(node, { result: 'not ok', directive: `ERROR ${directiveText(g.error)}` })
    return node
  }
  // No test ran on this guest: a leaf that says why.
  if (g?.status === 'error') return { name, diagnostics, result: 'not ok', directive: `ERROR ${directiveText(g.error ?? 'guest failed')}` }
  return { name, diagnostics, result: 'ok', directive: `SKIP ${directiveText(g?.skipReason ?? 'no test ran on this guest')}` }
}

function suiteNode(s: SuiteGroup): KtapNode {
  return group(s.file, [], s.tests.map((t) => testNode(t.test, t.verdict)))
}

function testNode(name: string, v: TestVerdict): KtapNode {
  const node = verdictNode(name, v)
  // What the test recorded (e.g. the fault line a DMA test found), before its result line.
  return { ...node, diagnostics: [...(v.annotations ?? []).flatMap((a) => diagnosticLines(a)), ...node.diagnostics] }
}

function verdictNode(name: string, v: TestVerdict): KtapNode {
  const text = v.detail ?? v.reason ?? ''
  const issue = v.knownIssue
  switch (v.verdict) {
    case 'PASS':
      return { name, diagnostics: [], result: 'ok' }
    case 'FAIL':
      return { name, diagnostics: diagnosticLines(text || 'failed'), result: 'not ok' }
    case 'SKIP':
      return { name, diagnostics: [], result: 'ok', directive: `SKIP ${directiveText(v.reason ?? 'skipped')}` }
    case 'XFAIL':
      return {
        name,
        diagnostics: [
          ...(issue ? diagnosticLines(`known issue ${issue.id}: ${issue.reason} [${issue.ref}]`) : []),
          ...(v.detail ? diagnosticLines(`failed as known: ${v.detail}`) : []),
        ],
        result: 'ok',
        directive: `XFAIL ${directiveText(issue?.id ?? v.reason ?? 'known issue')}`,
      }
    case 'XPASS':
      return { name, diagnostics: diagnosticLines(`XPASS: ${v.reason ?? `known issue ${issue?.id ?? '?'} no longer reproduces`}`), result: 'not ok' }
    case 'FLAKY':
      // KTAP has no flaky result: "not ok" (ok when --allow-flaky names it), the counts in a comment.
      return {
        name,
        diagnostics: [`FLAKY: ${countsText(v.rounds)}${v.flakyAllowed ? ' (allowed by --allow-flaky)' : ''}`, ...diagnosticLines(text)],
        result: v.flakyAllowed ? 'ok' : 'not ok',
      }
    case 'ERROR': {
      const directive = `ERROR ${directiveText(v.reason || text || 'error')}`
      // The full text only when it says more than the directive's one line.
      const more = cleanText(text).trim() !== directive.slice('ERROR '.length)
      return { name, diagnostics: more ? diagnosticLines(text) : [], result: 'not ok', directive }
    }
  }
}

function runErrorsNode(errors: string[]): KtapNode {
  const children = errors.map((e, i): KtapNode => ({
    name: `run error ${i + 1}`,
    diagnostics: diagnosticLines(e),
    result: 'not ok',
    directive: `ERROR ${directiveText(e)}`,
  }))
  return group('run', ['errors outside any test (a suite that failed to load, an unhandled rejection)'], children)
}

/** A parent node: "not ok" if a child is, SKIP if every child skipped, else "ok". */
function group(name: string, diagnostics: string[], children: KtapNode[]): KtapNode {
  const results = children.map(resultOf)
  const node: KtapNode = { name, diagnostics, children }
  if (results.includes('not ok')) node.result = 'not ok'
  else if (children.length && children.every(isSkip)) {
    node.result = 'ok'
    node.directive = 'SKIP every subtest skipped'
  } else node.result = 'ok'
  return node
}

const resultOf = (n: KtapNode): Result => n.result ?? 'ok'
const isSkip = (n: KtapNode) => n.result === 'ok' && (n.directive ?? '').startsWith('SKIP')

function emit(n: KtapNode, number: number, depth: number, out: string[]): void {
  const pad = '  '.repeat(depth)
  if (n.children) {
    const inner = '  '.repeat(depth + 1)
    out.push(`${inner}KTAP version 1`, `${inner}1..${n.children.length}`)
    n.children.forEach((c, i) => emit(c, i + 1, depth + 1, out))
  }
  for (const d of n.diagnostics) out.push(d ? `${pad}# ${d}` : `${pad}#`)
  const directive = n.directive ? ` # ${n.directive}` : ''
  out.push(`${pad}${n.result ?? 'ok'} ${number} ${description(n.name)}${directive}`)
}

/** A description "can't include #" and must stay on its line. */
function description(name: string): string {
  return cleanText(name).replace(/\s+/g, ' ').replace(/#/g, '%23').trim()
}

/** Directive data: one line, after the "# " separator. */
function directiveText(s: string): string {
  return firstLine(s) || '-'
}

/** Free text as diagnostic lines (without the "# " prefix), cut after MAX_DIAGNOSTIC_LINES. */
function diagnosticLines(s: string): string[] {
  const text = cleanText(s).replace(/\n+$/, '')
  if (!text.trim()) return []
  const lines = text.split('\n')
  if (lines.length <= MAX_DIAGNOSTIC_LINES) return lines
  return [...lines.slice(0, MAX_DIAGNOSTIC_LINES), `[... ${lines.length - MAX_DIAGNOSTIC_LINES} more lines]`]
}
