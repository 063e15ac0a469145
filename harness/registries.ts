// What the suites declare beside their tests, handed to the harness as inputs: the harness
// never imports suites/ (test/unit/import-graph.test.ts). The project's own registries are
// suites/registries.ts; the entry points pass them in: bin/vfio-conform.mjs to the CLI,
// suites/verdict-reporter.ts to the verdict reporter (vitest.config.ts, ci/run-shard.sh),
// suites/setup.ts to the fixtures in the workers.
import type { Claim, ClaimThread } from './claims/types.js'
import type { Behaviour } from './report/behaviours.js'
import type { KnownIssue } from './vitest/known-issues.js'
import type { PathRules } from './coverage/rule-table.js'

export interface Registries {
  /** Known, understood divergences: XFAIL while they reproduce, XPASS once they stop. */
  knownIssues: KnownIssue[]
  /** The behaviours table's rows (behaviours.md, `vfio-conform behaviours`). */
  behaviours: Behaviour[]
  /** Review-thread claims and the tests that decide them (`vfio-conform claims`). */
  claims: Claim[]
  /** The threads the claims come from. */
  threads: ClaimThread[]
  /** Rules on several user-space paths and each path's check (`vfio-conform coverage --rule-table`). */
  pathRules: PathRules
}
