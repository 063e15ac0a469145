// Subtests a test reports for a program it ran (the kernel's selftests): each becomes a verdict
// of its own in the report, named "<target> > <subtest name>", next to the test that ran it.
// The test stores them in task.meta.subtests; harness/report/verdict-reporter.ts expands them.

export interface SubtestMeta {
  /** Shown after the target key, e.g. "iommu/iommufd: iommufd_ioas.mock_domain.area". */
  name: string
  /** The program's own verdict (KTAP ok / not ok / # SKIP / # XFAIL). */
  verdict: 'PASS' | 'FAIL' | 'SKIP' | 'XFAIL'
  /** SKIP/XFAIL directive text, or the failure's diagnostics on one line. */
  reason?: string
  /** Every diagnostic line the program printed for the subtest. */
  detail?: string
}

declare module 'vitest' {
  interface TaskMeta {
    subtests?: SubtestMeta[]
  }
}
