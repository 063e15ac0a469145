import { defineConfig } from 'vitest/config'
import { GUEST_REBOOTED } from './harness/util/errors.js'
import { guestConcurrency } from './harness/vitest/concurrency.js'

// Two projects: `unit` needs no guest; `conformance` boots guests once per
// (kernel, topology) in its global setup and hands them to the suites as fixtures.
export default defineConfig({
  test: {
    // The verdict reporter, with the suites' behaviours and claims for the run's reports.
    reporters: ['default', './suites/verdict-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // GitHub's workflow parser imports its schema JSON without an import attribute,
          // which Node 20 refuses: vite's transform loads it (test/unit/ci-parsers.test.ts).
          server: { deps: { inline: ['@actions/workflow-parser'] } },
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'conformance',
          // The flaky-on-purpose fixture only when asked for (test/fixtures/flaky/).
          include: ['suites/**/*.test.ts', ...(process.env.VFIO_CONFORM_FLAKY_FIXTURE ? ['test/fixtures/flaky/*.test.ts'] : [])],
          globalSetup: ['harness/vitest/global-setup.ts'],
          // Hands the suites' known issues to the fixtures (harness/vitest/fixtures.ts) in each worker.
          setupFiles: ['suites/setup.ts'],
          // Suites change guest state (driver binding, group ownership): one file at a time,
          // and within a file one test at a time per guest; different guests run at once
          // (forEachTarget: harness/vitest/concurrency.ts), this many at a time.
          fileParallelism: false,
          maxConcurrency: guestConcurrency(),
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // A test that found its guest unreachable, after the harness rebooted that guest
          // (harness/guest/supervisor.ts), runs once more on the new guest; no other retry.
          retry: { count: 1, condition: new RegExp(GUEST_REBOOTED) },
        },
      },
      {
        // The GitLab template run by gitlab-ci-local on one real shard and the report job
        // (test/pipeline/gitlab-pipeline.test.ts): after the others (groupOrder), so that its
        // guest does not compete with the conformance project's and the shard's kernel is cached.
        test: {
          name: 'pipeline',
          include: ['test/pipeline/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          testTimeout: 10 * 60_000,
        },
      },
      {
        // End-to-end checks that build kernels (git bisect run on a synthetic tree): SKIP
        // unless VFIO_CONFORM_SLOW=1 (`VFIO_CONFORM_SLOW=1 npx vitest run --project slow`).
        test: {
          name: 'slow',
          include: ['test/slow/**/*.test.ts'],
          testTimeout: 90 * 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
