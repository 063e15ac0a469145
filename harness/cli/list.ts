// `vfio-conform list`: every rule of the conformance suites with its suite file, behaviour,
// claims and the mutation that proves it can FAIL (harness/rules/catalogue.ts). Boots nothing
// and needs no kernel or QEMU: the suites' tests are collected by vitest against stand-in
// targets (harness/rules/collect.ts).
import { fileURLToPath } from 'node:url'
import type { Registries } from '../registries.js'
import { EXIT } from '../report/verdict.js'
import { buildCatalogue, filterSubject, renderCatalogueJson, renderCatalogueText } from '../rules/catalogue.js'
import { collectSuiteTests } from '../rules/collect.js'
import { readMutations } from '../rules/mutations.js'
import { commandSpec, opt, parseOptions } from './options.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export const LIST_HELP = `  vfio-conform list [--filter PATTERN] [--json]
      Every rule (a test of the conformance suites, by name) with its suite file, its
      behaviour (suites/behaviours.ts), the claims it decides (suites/claims/registry.ts)
      and the mutation that proves it can FAIL (ci/mutations/*.patch, its "# Filter:"
      line), or "none". --filter: a regular expression on the rule's name, as \`run
      --filter\` takes it. Boots nothing; needs no kernel or QEMU. Tests named after a guest
      (groups, hot-plug slots) are listed for every topology and vIOMMU model it is meant
      for, the upstream selftests as a kernel built from source has them.`

export const LIST_SPEC = commandSpec('list', { filter: opt.regex(), json: opt.flag() })

export async function listCommand(args: string[], reg: Pick<Registries, 'behaviours' | 'claims'>): Promise<number> {
  const { values } = parseOptions(LIST_SPEC, args)
  const filter = values.filter === undefined ? undefined : new RegExp(values.filter)
  const [tests, mutations] = await Promise.all([collectSuiteTests(), readMutations(ROOT)])
  const all = buildCatalogue(tests, { behaviours: reg.behaviours, claims: reg.claims, mutations })
  const catalogue = filter ? { ...all, rules: all.rules.filter((r) => filter.test(filterSubject(r.name))) } : all
  if (values.json) {
    process.stdout.write(renderCatalogueJson(catalogue))
  } else {
    process.stdout.write(renderCatalogueText(catalogue))
    for (const m of all.idleMutations) console.error(`vfio-conform: note: mutation ${m} selects no test (its "# Filter:" line)`)
  }
  return EXIT.ok
}
