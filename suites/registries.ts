// The suites' registries, as the harness takes them (harness/registries.ts): known issues,
// behaviours and review-thread claims, each kept in its own file beside the tests.
import type { Registries } from '../harness/registries.js'
import { BEHAVIOURS } from './behaviours.js'
import { CLAIMS, THREADS } from './claims/registry.js'
import { KNOWN_ISSUES } from './known-issues.js'
import { PATH_RULES, RULE_PATHS } from './rule-paths.js'

export const REGISTRIES: Registries = {
  knownIssues: KNOWN_ISSUES,
  behaviours: BEHAVIOURS,
  claims: CLAIMS,
  threads: THREADS,
  pathRules: { rules: PATH_RULES, paths: RULE_PATHS },
}
