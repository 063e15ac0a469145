// The rule catalogue `vfio-conform list` prints: every rule (a test of the conformance
// suites), its suite file, the behaviours it decides (suites/behaviours.ts), the review-thread
// claims it decides (suites/claims/registry.ts) and the mutations that prove it can FAIL
// (ci/mutations/). The registries are inputs, so that this module knows none of them.
import type { CollectedTest } from './collect.js'
import type { Mutation } from './mutations.js'

/** What the catalogue needs of a behaviour (suites/behaviours.ts: Behaviour). */
export interface BehaviourRef {
  id: number
  tests: Array<{ file: string; test: RegExp }>
}

/** What the catalogue needs of a claim (suites/claims/types.ts: Claim). */
export interface ClaimRef {
  id: string
  decidedBy: Array<{ test: RegExp }>
}

export interface Rule {
  /** The test's own name: the rule it states. */
  name: string
  /** Suite file, relative to the repository root. */
  file: string
  /** Where the test is declared: "topology/vIOMMU" of the guests that run it. */
  guests: string[]
  behaviours: number[]
  claims: string[]
  /** Names of the mutations whose `# Filter:` selects the test. */
  mutations: string[]
}

export interface Catalogue {
  rules: Rule[]
  /** Mutations whose filter selects no rule (or that have no `# Filter:` line): they prove nothing listed. */
  idleMutations: string[]
}

/**
 * The text a `--filter` pattern is matched against: vitest matches testNamePattern against
 * the test's name with its describe blocks' names, joined by spaces (as `run --filter` does).
 */
export const filterSubject = (name: string) => name.split(' > ').join(' ')

export function buildCatalogue(
  tests: CollectedTest[],
  registries: { behaviours: BehaviourRef[]; claims: ClaimRef[]; mutations: Mutation[] },
): Catalogue {
  const byRule = new Map<string, { file: string; name: string; guests: string[] }>()
  for (const t of tests) {
    const id = `${t.file}\0${t.name}`
    const r = byRule.get(id) ?? { file: t.file, name: t.name, guests: [] }
    const g = `${t.topology}/${t.iommu}`
    if (!r.guests.includes(g)) r.guests.push(g)
    byRule.set(id, r)
  }
  const used = new Set<string>()
  const rules = [...byRule.values()].map((r): Rule => {
    const mutations = registries.mutations.filter((m) => m.filter?.test(filterSubject(r.name))).map((m) => m.name)
    for (const m of mutations) used.add(m)
    return {
      ...r,
      behaviours: registries.behaviours.filter((b) => b.tests.some((p) => p.file === r.file && p.test.test(r.name))).map((b) => b.id),
      claims: registries.claims.filter((c) => c.decidedBy.some((p) => p.test.test(r.name))).map((c) => c.id),
      mutations,
    }
  })
  return { rules, idleMutations: registries.mutations.map((m) => m.name).filter((m) => !used.has(m)) }
}

const list = (xs: Array<string | number>) => (xs.length ? xs.join(', ') : 'none')

/**
 * One block per rule, grouped by suite file; a summary line at the end. A rule declared on
 * fewer guests than the other rules of its suite names its guests.
 */
export function renderCatalogueText(c: Catalogue): string {
  const suiteGuests = new Map<string, Set<string>>()
  for (const r of c.rules) for (const g of r.guests) suiteGuests.set(r.file, (suiteGuests.get(r.file) ?? new Set()).add(g))
  const out: string[] = []
  let file: string | undefined
  for (const r of c.rules) {
    if (r.file !== file) {
      if (file !== undefined) out.push('')
      out.push(r.file)
      file = r.file
    }
    out.push(`  ${r.name}`)
    const on = r.guests.length === suiteGuests.get(r.file)!.size ? '' : `; guests: ${r.guests.join(', ')}`
    out.push(`      behaviour: ${list(r.behaviours)}; claims: ${list(r.claims)}; mutation: ${list(r.mutations)}${on}`)
  }
  const suites = new Set(c.rules.map((r) => r.file)).size
  const proved = c.rules.filter((r) => r.mutations.length).length
  if (out.length) out.push('')
  out.push(`${c.rules.length} rules in ${suites} suite files; ${proved} with a mutation that must make them FAIL, ${c.rules.length - proved} with none`)
  return out.join('\n') + '\n'
}

export function renderCatalogueJson(c: Catalogue): string {
  return JSON.stringify({ rules: c.rules, idleMutations: c.idleMutations }, null, 2) + '\n'
}
