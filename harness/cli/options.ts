// Every subcommand's options, declared with what their values must be, and checked before the
// command does anything (fetch, build, boot): bad input is exit 2 with one line naming the
// option, never a kernel verdict. Commands parse with parseOptions(SPEC, args) only (not
// node:util's parseArgs): test/unit/cli-options.test.ts walks COMMAND_SPECS with bad values
// for every numeric and enumerated option, and fails on a parser that is not declared here.
import { parseArgs } from 'node:util'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { IOMMU_MODELS } from '../../guests/viommus/index.js'
import { kernelSpecProblem } from '../kernel/resolve.js'
import { qemuSpecProblem } from '../qemu/qemu-spec.js'
import { UsageError } from '../util/errors.js'

/** What a value must be. */
export type ValueCheck =
  | { kind: 'flag' }
  | { kind: 'int'; min: number; max: number }
  /** A decimal number (minutes, ...). */
  | { kind: 'number'; min: number; max: number }
  | { kind: 'enum'; values: () => readonly string[] }
  | { kind: 'regex' }
  /** A kernel spec (harness/kernel/resolve.ts): its syntax; whether it exists is the provider's. */
  | { kind: 'kernel'; check: (spec: string) => string | undefined }
  /** A QEMU spec (harness/qemu/qemu-spec.ts): its syntax; whether it can be had is checked before any boot. */
  | { kind: 'qemu'; check: (spec: string) => string | undefined }
  | { kind: 'path' }
  /** Free text checked later by what reads it (a git revision, a label): say which. */
  | { kind: 'text'; why: string }

export interface OptionDef {
  check: ValueCheck
  multiple?: boolean
  short?: string
}

export interface PositionalDef {
  /** As the help shows it (N, OLD NEW, KERNEL...). */
  name: string
  check: ValueCheck
  min: number
  max: number
}

export interface CommandSpec<O extends Record<string, OptionDef> = Record<string, OptionDef>> {
  /** As typed: "run", "bench --stability". */
  command: string
  options: O
  positionals?: PositionalDef
}

type Scalar<D extends OptionDef> = D['check'] extends { kind: 'flag' } ? boolean : D['check'] extends { kind: 'int' | 'number' } ? number : string
export type OptionValues<O extends Record<string, OptionDef>> = {
  [K in keyof O]?: O[K]['multiple'] extends true ? Array<Scalar<O[K]>> : Scalar<O[K]>
}

/** Shorthands for the specs. */
export const opt = {
  flag: (): { check: { kind: 'flag' } } => ({ check: { kind: 'flag' } }),
  int: (min: number, max: number): { check: { kind: 'int'; min: number; max: number } } => ({ check: { kind: 'int', min, max } }),
  number: (min: number, max: number): { check: { kind: 'number'; min: number; max: number } } => ({ check: { kind: 'number', min, max } }),
  enumOf: (values: () => readonly string[]): { check: { kind: 'enum'; values: () => readonly string[] } } => ({ check: { kind: 'enum', values } }),
  regex: (): { check: { kind: 'regex' } } => ({ check: { kind: 'regex' } }),
  path: (): { check: { kind: 'path' } } => ({ check: { kind: 'path' } }),
  text: (why: string): { check: { kind: 'text'; why: string } } => ({ check: { kind: 'text', why } }),
  many: <D extends OptionDef>(d: D): D & { multiple: true } => ({ ...d, multiple: true }),
}

/** Every command's spec, in the order their modules declared them. */
export const COMMAND_SPECS: CommandSpec[] = []

export function commandSpec<O extends Record<string, OptionDef>>(command: string, options: O, positionals?: PositionalDef): CommandSpec<O> {
  const spec = { command, options, positionals }
  const i = COMMAND_SPECS.findIndex((s) => s.command === command)
  if (i >= 0) COMMAND_SPECS[i] = spec
  else COMMAND_SPECS.push(spec)
  return spec
}

/** Why `value` is not acceptable for `check`, or undefined when it is. */
export function valueProblem(check: ValueCheck, value: string): string | undefined {
  switch (check.kind) {
    case 'flag':
      return undefined
    case 'int': {
      const ok = /^-?\d+$/.test(value.trim()) && Number.isSafeInteger(Number(value)) && Number(value) >= check.min && Number(value) <= check.max
      return ok ? undefined : `takes a whole number ${check.min}..${check.max}, not "${value}"`
    }
    case 'number': {
      const ok = /^\d+(\.\d+)?$|^\.\d+$/.test(value.trim()) && Number(value) >= check.min && Number(value) <= check.max
      return ok ? undefined : `takes a number ${check.min}..${check.max}, not "${value}"`
    }
    case 'enum': {
      const known = check.values()
      return known.includes(value) ? undefined : `"${value}" is not one of: ${known.join(', ')}`
    }
    case 'regex':
      if (value === '') return 'takes a regular expression, not an empty string'
      try {
        new RegExp(value)
        return undefined
      } catch (e) {
        return `"${value}" is not a regular expression (${(e as Error).message})`
      }
    case 'kernel':
    case 'qemu':
      return check.check(value)
    case 'path':
    case 'text':
      return value.trim() === '' ? 'takes a value, not an empty string' : /\n/.test(value) ? 'takes one line' : undefined
  }
}

/**
 * The command line against its spec: unknown options, missing values, values of the wrong
 * kind and the wrong number of positionals are a UsageError naming the option; ints come back
 * as numbers. Pure: reads and starts nothing.
 */
export function parseOptions<O extends Record<string, OptionDef>>(
  spec: CommandSpec<O>,
  args: string[],
): { values: OptionValues<O>; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {}
  for (const [name, d] of Object.entries(spec.options)) {
    config[name] = { type: d.check.kind === 'flag' ? 'boolean' : 'string', ...(d.multiple ? { multiple: true } : {}), ...(d.short ? { short: d.short } : {}) }
  }
  // "--runs -3": node's parseArgs calls a value that starts with a dash ambiguous; a number is
  // a value (and then checked as one).
  const joined: string[] = []
  const negatives: string[] = []
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i]!)?.[1]
    const next = args[i + 1]
    if (name && config[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      joined.push(`--${name}=${next}`)
      i++
    } else if (spec.positionals && /^-\d/.test(args[i]!)) negatives.push(args[i]!)
    else joined.push(args[i]!)
  }
  if (negatives.length) joined.push('--', ...negatives)
  let parsed: { values: Record<string, unknown>; positionals: string[] }
  try {
    parsed = parseArgs({ args: joined, options: config, strict: true, allowPositionals: !!spec.positionals })
  } catch (e) {
    if (!String((e as { code?: string })?.code ?? '').startsWith('ERR_PARSE_ARGS')) throw e
    // node's messages run over lines ("... Did you forget ...? To specify ... use '--x=-XYZ'").
    throw new UsageError(`${spec.command}: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')} (try --help)`)
  }
  const values: Record<string, unknown> = {}
  for (const [name, raw] of Object.entries(parsed.values)) {
    const d = spec.options[name]!
    const check = (v: unknown) => {
      if (typeof v !== 'string') return v
      const problem = valueProblem(d.check, v)
      if (problem) throw new UsageError(`${spec.command}: --${name} ${problem}`)
      return d.check.kind === 'int' || d.check.kind === 'number' ? Number(v) : v
    }
    values[name] = Array.isArray(raw) ? raw.map(check) : check(raw)
  }
  const p = spec.positionals
  if (p) {
    const n = parsed.positionals.length
    if (n < p.min || n > p.max) {
      const want = p.min === p.max ? `${p.min}` : p.max === Infinity ? `at least ${p.min}` : `${p.min} to ${p.max}`
      throw new UsageError(`${spec.command}: takes ${want} argument(s) ${p.name}, not ${n}`)
    }
    for (const v of parsed.positionals) {
      const problem = valueProblem(p.check, v)
      if (problem) throw new UsageError(`${spec.command}: ${p.name} ${problem}`)
    }
  }
  return { values: values as OptionValues<O>, positionals: parsed.positionals }
}

// Options several commands share.
export const kernelOption = (): { check: { kind: 'kernel'; check: (spec: string) => string | undefined } } => ({ check: { kind: 'kernel', check: kernelSpecProblem } })
export const topologyOption = () => opt.many(opt.enumOf(() => Object.keys(TOPOLOGIES)))
export const iommuOption = () => opt.many(opt.enumOf(() => IOMMU_MODELS))
/** A QEMU spec (harness/qemu/qemu-spec.ts): its syntax; whether that QEMU can be had is checked before anything boots. */
export const qemuOption = (): { check: { kind: 'qemu'; check: (spec: string) => string | undefined } } => ({ check: { kind: 'qemu', check: qemuSpecProblem } })
