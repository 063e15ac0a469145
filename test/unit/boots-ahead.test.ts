import { describe, expect, it } from 'vitest'
import { bootsAhead } from '../../harness/vitest/global-setup.js'

// A stand-in for the parts of vitest's TestProject that bootsAhead reads.
function project(opts: { projects: string[]; testNamePattern?: RegExp; filenamePattern?: string[]; noField?: boolean }) {
  const vitest: Record<string, unknown> = {
    config: { testNamePattern: opts.testNamePattern },
    projects: opts.projects.map((name) => ({ name })),
  }
  if (!opts.noField) vitest.filenamePattern = opts.filenamePattern
  return { name: 'conformance', vitest } as unknown as Parameters<typeof bootsAhead>[0]
}

describe('guests boot ahead only in an unfiltered run that has other projects to overlap with', () => {
  it('npm test (unit, conformance, pipeline, slow; no filter) boots ahead', () => {
    expect(bootsAhead(project({ projects: ['unit', 'conformance', 'pipeline', 'slow'] }))).toBe(true)
  })
  it('the CLI run (conformance only) boots on demand', () => {
    expect(bootsAhead(project({ projects: ['conformance'] }))).toBe(false)
    expect(bootsAhead(project({ projects: ['conformance', 'slow'] }))).toBe(false)
  })
  it('a test-name filter or a file filter boots on demand', () => {
    expect(bootsAhead(project({ projects: ['unit', 'conformance'], testNamePattern: /groups/ }))).toBe(false)
    expect(bootsAhead(project({ projects: ['unit', 'conformance'], filenamePattern: ['suites/sriov.test.ts'] }))).toBe(false)
  })
  it("without vitest's internal file filter field the run counts as filtered", () => {
    expect(bootsAhead(project({ projects: ['unit', 'conformance'], noField: true }))).toBe(false)
  })
})
