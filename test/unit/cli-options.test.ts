// Bad input is never a kernel verdict: every option value of every subcommand is checked before
// the command does anything (harness/cli/options.ts). The option list is the parsers' own:
// every spec that the CLI's modules declare (COMMAND_SPECS), every command that the help names,
// and no parser outside options.ts, so a new option or command that skips the checks fails
// here. The CLI itself, run as a user would, is in cli-bad-input.test.ts.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import { COMMAND_SPECS, parseOptions, type CommandSpec, type ValueCheck } from '../../harness/cli/options.js'
import { UsageError } from '../../harness/util/errors.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Where CLI parsers live: the subcommands and the bench commands they run. */
const PARSER_DIRS = ['harness', 'bench']

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...(await tsFiles(rel)))
    else if (e.name.endsWith('.ts')) out.push(rel)
  }
  return out
}

let help = ''
const sources = new Map<string, string>()

beforeAll(async () => {
  for (const d of PARSER_DIRS) for (const f of await tsFiles(d)) sources.set(f, await readFile(path.join(ROOT, f), 'utf8'))
  // Every module that declares a spec, so that COMMAND_SPECS holds them all.
  for (const [f, text] of sources) if (/\bcommandSpec\(/.test(text) && !f.endsWith('cli/options.ts')) await import(path.join(ROOT, f))
  const { REGISTRIES } = await import('../../suites/registries.js')
  help = (await import('../../harness/cli/main.js')).help(REGISTRIES)
})

/** Values that `check` must refuse. */
function badValues(check: ValueCheck): string[] {
  switch (check.kind) {
    case 'int':
      return [String(check.min - 1), String(check.max + 1), '-3', '1.5', 'x', '', ' ', '1e3', '0x10', '3 4'].filter((v) => {
        const n = Number(v)
        // A value in range written plainly is good (e.g. -3 for a seed).
        return !(/^-?\d+$/.test(v) && n >= check.min && n <= check.max)
      })
    case 'number':
      return [String(check.min / 2), String(check.max * 2), '-3', 'x', '', ' ', '1e3', '0x10', '3 4', '1.2.3']
    case 'enum':
      return ['no-such-value', '', ' ', check.values()[0] + 'x']
    case 'regex':
      return ['(', '[a-', '']
    case 'kernel':
      return ['no-such-kind:x', 'bookworm', 'debian:', 'debian-source:', 'debian:bookworm@no-such-viommu', 'path:', 'debian:bookworm@qemu=sid']
    case 'qemu':
      return ['sid', 'debian:', 'path:', 'no-such-kind:x', '']
    case 'path':
    case 'text':
      return ['', ' ']
    case 'flag':
      return []
  }
}

function goodValues(check: ValueCheck): string[] {
  switch (check.kind) {
    case 'int':
      return [String(check.min), String(check.max)]
    case 'number':
      return [String(check.min), String(check.max)]
    case 'enum':
      return [...check.values()]
    case 'regex':
      return ['a.b', 'ownership model']
    case 'kernel':
      return ['debian:bookworm', 'debian-source:6.12,compat@intel-iommu', 'path:/boot/vmlinuz', 'debian:trixie@amd-iommu@qemu=debian:sid']
    case 'qemu':
      return ['host', 'debian:sid', 'debian:10.0', 'path:/usr/bin/qemu-system-x86_64']
    case 'path':
    case 'text':
      return ['something']
    case 'flag':
      return []
  }
}

/** Parse; the UsageError's message, or undefined when it parsed. */
function refusal(spec: CommandSpec, args: string[]): string | undefined {
  try {
    parseOptions(spec, args)
    return undefined
  } catch (e) {
    expect(e, `${spec.command} ${args.join(' ')}: a UsageError (exit 2), not ${(e as Error)?.name}`).toBeInstanceOf(UsageError)
    return (e as Error).message
  }
}

describe('every option of every subcommand is checked before anything runs', () => {
  test('no command line is parsed outside harness/cli/options.ts', () => {
    const raw = [...sources].filter(([f, text]) => !f.endsWith('cli/options.ts') && /\bparseArgs\b[\s\S]*from 'node:util'|from 'node:util'[\s\S]*\bparseArgs\(/.test(text)).map(([f]) => f)
    expect(raw, 'parse with parseOptions(commandSpec(...)) so that the values are checked and listed here').toEqual([])
  })

  test('every command the help names has a spec, and the spec has every option its usage shows', () => {
    const specs = new Map(COMMAND_SPECS.map((s) => [s.command, s]))
    // "  vfio-conform run [--kernel SPEC]..." up to the next command's line.
    const blocks = help.split(/\n(?=\s+vfio-conform [a-z])/).filter((b) => /^\s+vfio-conform [a-z]/.test(b))
    expect(blocks.length).toBeGreaterThan(8)
    for (const block of blocks) {
      const m = /^\s+vfio-conform ([a-z-]+)( --(?:speed|stability|first-run))?/.exec(block)!
      const command = m[1] + (m[2] ?? '')
      const spec = specs.get(command)
      expect(spec, `"vfio-conform ${command}" in the help has no commandSpec`).toBeDefined()
      // Options in the usage part (brackets and the first line), not in the prose.
      const usage = block.split('\n').filter((l, i) => i === 0 || /^\s{20,}\[/.test(l)).join(' ')
      for (const o of usage.matchAll(/--([a-z][a-z-]*)/g)) {
        if (command.startsWith('bench') && ['speed', 'stability', 'first-run'].includes(o[1]!)) continue
        expect(Object.keys(spec!.options), `${command}: the help shows --${o[1]}`).toContain(o[1])
      }
    }
  })

  test('the walk covers the subcommands', () => {
    const names = COMMAND_SPECS.map((s) => s.command)
    for (const c of ['run', 'model', 'bench', 'bench --speed', 'bench --stability', 'bench --first-run', 'gate', 'bisect-run', 'claims', 'behaviours', 'report', 'compare', 'list', 'mutate', 'setup', 'kernels', 'qemus']) {
      expect(names).toContain(c)
    }
  })

  test('free-text options say what checks them later', () => {
    for (const s of COMMAND_SPECS) {
      for (const [name, d] of Object.entries(s.options)) if (d.check.kind === 'text') expect(d.check.why.length, `${s.command} --${name}`).toBeGreaterThan(10)
    }
  })

  test('bad values: a UsageError of one line naming the option (exit 2)', () => {
    let walked = 0
    for (const s of COMMAND_SPECS) {
      for (const [name, d] of Object.entries(s.options)) {
        const bad = d.check.kind === 'flag' ? [] : badValues(d.check)
        for (const v of bad) {
          for (const args of [[`--${name}`, v], [`--${name}=${v}`]]) {
            const msg = refusal(s, args)
            expect(msg, `${s.command} ${args.join(' ')} was accepted`).toBeDefined()
            expect(msg!, 'one line').not.toMatch(/\n/)
            expect(msg!, 'names the option').toContain(`--${name}`)
            walked++
          }
        }
        // A missing value, and a value given to a flag.
        const missing = refusal(s, [`--${name}${d.check.kind === 'flag' ? '=yes' : ''}`])
        expect(missing, `${s.command} --${name} (${d.check.kind === 'flag' ? 'a value for a flag' : 'no value'}) was accepted`).toMatch(new RegExp(`--${name}\\b`))
        walked++
      }
      expect(refusal(s, ['--no-such-option']), s.command).toMatch(/--no-such-option/)
      const p = s.positionals
      if (!p) {
        expect(refusal(s, ['stray']), `${s.command} takes no arguments`).toBeDefined()
        continue
      }
      for (const v of badValues(p.check)) expect(refusal(s, Array(Math.max(1, p.min)).fill(v)), `${s.command} ${p.name} "${v}"`).toContain(p.name)
      if (p.min > 0) expect(refusal(s, []), `${s.command} without ${p.name}`).toContain(p.name)
      if (p.max !== Infinity) expect(refusal(s, Array(p.max + 1).fill(goodValues(p.check)[0])), `${s.command}: too many`).toContain(p.name)
    }
    expect(walked).toBeGreaterThan(200)
  })

  test('good values parse, ints as numbers', () => {
    for (const s of COMMAND_SPECS) {
      for (const [name, d] of Object.entries(s.options)) {
        for (const v of goodValues(d.check)) {
          expect(refusal(s, [`--${name}`, v]), `${s.command} --${name} ${v}`).toBeUndefined()
          const got = parseOptions(s, [`--${name}`, v]).values[name]
          const one = Array.isArray(got) ? got[0] : got
          expect(one).toBe(d.check.kind === 'int' || d.check.kind === 'number' ? Number(v) : v)
        }
        if (d.check.kind === 'flag') expect(parseOptions(s, [`--${name}`]).values[name]).toBe(true)
      }
      if (s.positionals) {
        const p = s.positionals
        expect(refusal(s, Array(p.min).fill(goodValues(p.check)[0])), `${s.command} with ${p.min} ${p.name}`).toBeUndefined()
      }
    }
  })

  test('model --runs -3 (the case that booted four guests and said FAIL "null") is refused as --runs', async () => {
    const { MODEL_SPEC } = await import('../../harness/cli/run-options.js')
    expect(refusal(MODEL_SPEC, ['--runs', '-3'])).toBe('model: --runs takes a whole number 1..100000, not "-3"')
    expect(parseOptions(MODEL_SPEC, ['--seed', '-3']).values.seed).toBe(-3)
  })
})
