// Validation of KCIDB data against kcidb-schema.json (KCIDB I/O schema v5.3, see its $comment).
//
// kcidb-io validates with a Draft-07 validator and a format checker; here that is ajv's
// default (Draft-07) class. The schema uses three formats; ajv knows none of them without
// the ajv-formats package, which the project does not depend on, so they are checked here:
//   uri        an absolute URI (RFC 3986: a scheme, ':', no whitespace) that WHATWG URL parses
//   date-time  RFC 3339 ("2020-08-14T23:08:06.967000+00:00")
//   email      local@domain, no whitespace
import { readFileSync } from 'node:fs'
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv'

// ajv is CommonJS: under NodeNext the default import is module.exports, whose .default is the class.
const Ajv = AjvModule.default

const SCHEMA_URL = new URL('./kcidb-schema.json', import.meta.url)

const RFC3339_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

let compiled: ValidateFunction | undefined

function validator(): ValidateFunction {
  if (compiled) return compiled
  const ajv = new Ajv({ allErrors: true, strict: true })
  ajv.addFormat('uri', (s: string) => /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/.test(s) && canParseUrl(s))
  ajv.addFormat('date-time', (s: string) => RFC3339_DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)))
  ajv.addFormat('email', (s: string) => /^[^\s@]+@[^\s@]+$/.test(s))
  compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as object)
  return compiled
}

function canParseUrl(s: string): boolean {
  try {
    new URL(s)
    return true
  } catch {
    return false
  }
}

/** Schema violations of `data` as "<JSON pointer>: <message>" lines; [] when it is valid KCIDB v5.3. */
export function validateKcidb(data: unknown): string[] {
  const validate = validator()
  if (validate(data)) return []
  return (validate.errors ?? []).map(describeError)
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath || '/'
  const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty?: string }).additionalProperty})` : ''
  const allowed = e.keyword === 'enum' ? ` (${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).join(', ')})` : ''
  return `${where}: ${e.message ?? e.keyword}${extra}${allowed}`
}
