// The verdict reporter (harness/report/verdict-reporter.ts) with the suites' registries, for
// a vitest that names its reporter by path (`vitest run --reporter=./suites/verdict-reporter.ts`:
// ci/run-shard.sh, vitest.config.ts), where no options can be handed to it.
import VerdictReporter, { type VerdictReporterOptions } from '../harness/report/verdict-reporter.js'
import { REGISTRIES } from './registries.js'

export default class SuitesVerdictReporter extends VerdictReporter {
  constructor(options: VerdictReporterOptions = {}) {
    super({ registries: REGISTRIES, ...options })
  }
}
