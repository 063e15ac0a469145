// Set-up of every conformance suite file, in its worker (vitest.config.ts setupFiles): the
// fixtures take the suites' known issues as an input (the harness does not import suites/).
import { useKnownIssues } from '../harness/vitest/fixtures.js'
import { KNOWN_ISSUES } from './known-issues.js'

useKnownIssues(KNOWN_ISSUES)
