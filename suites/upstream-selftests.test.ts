// The kernel's own iommufd and VFIO selftests (tools/testing/selftests/iommu, and vfio where
// the tree has it: Linux 6.18+), built statically from the same tree as the kernel
// (harness/selftests/build.ts), run inside the guest. Their KTAP
// is parsed and every subtest is reported as a test of its own next to our suites (the
// reporter expands `meta.subtests`: harness/report/verdict-reporter.ts). The vitest test
// itself says only whether the program ran to the end of its plan; the subtests carry the
// verdicts. The iommufd programs use IOMMUFD_TEST's mock domain and device; the VFIO programs
// take a real device (the topology's singleton-group edu on vfio-pci) and run their own
// FIXTURE_VARIANT per IOMMU mode. Both run once per kernel and QEMU, on the kernel's first guest
// of the default topology on that QEMU (intel-iommu in the run's order).
import { expect } from 'vitest'
import { SELFTESTS } from '../harness/selftests/build.js'
import { parseKtap } from '../harness/selftests/ktap.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'
import type { SubtestMeta } from '../harness/vitest/subtests.js'
import { readFile } from 'node:fs/promises'

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages'
/** 2 MiB pages: 144 MiB of the guest's 1 GiB, enough for the largest (128 MiB) hugetlb buffer. */
const HUGEPAGES = 72

/** Under TCG the 6.x/7.x iommufd program takes minutes; a hung one must not eat the run. */
const RUN_TIMEOUT_MS = 25 * 60_000

forEachTarget((target, test) => {
  for (const st of target.selftests ?? []) {
    const spec = SELFTESTS.find((s) => s.dir === st.dir)!
    if (st.kind === 'absent') {
      test(`upstream selftests ${st.dir}`, ({ skip }) => skip(st.reason))
      continue
    }
    if (!st.programs.length) {
      test(`upstream selftests ${st.dir}`, ({ skip }) => skip(`built, not run: ${st.note ?? 'no program to run'}`))
      continue
    }
    for (const m of st.missing ?? []) {
      test(`upstream selftest ${st.dir}/${m.name}: runs to the end of its plan in the guest (subtests reported one by one)`, ({ skip }) => skip(m.reason))
    }
    for (const p of st.programs) {
      test(
        `upstream selftest ${st.dir}/${p.name}: runs to the end of its plan in the guest (subtests reported one by one)`,
        async ({ guest, requireConfig, task, castPart, skip }) => {
          requireConfig(...spec.needs)
          // A program that drives a device gets the topology's device for the part, on
          // vfio-pci, as its last argument (the VFIO selftests' vfio_selftests_get_bdf).
          const bdf = spec.device ? (await guest.vfioGroup(castPart(spec.device))).bdf(castPart(spec.device)) : undefined
          const where = `/tmp/selftests/${st.dir}/${p.name}`
          await guest.run(`mkdir -p /tmp/selftests/${st.dir} && cat > ${where} && chmod +x ${where}`, { stdin: await readFile(p.file), timeoutMs: 120_000 })
          // The MAP_HUGETLB variants (iommufd_mock_domain.*_hugepage, dirty tracking *_huge up
          // to 128 MiB) need hugetlb pages reserved; given back afterwards.
          await guest.exec(`[ -w ${NR_HUGEPAGES} ] && echo ${HUGEPAGES} > ${NR_HUGEPAGES}`)
          // kselftest_harness prints KTAP on stdout; its own failures go to stderr.
          const r = await guest.exec(`cd /tmp/selftests/${st.dir} && ./${p.name}${bdf ? ` ${bdf}` : ''} 2>&1`, { timeoutMs: RUN_TIMEOUT_MS }).finally(() =>
            guest.exec(`[ -w ${NR_HUGEPAGES} ] && echo 0 > ${NR_HUGEPAGES}`),
          )
          const ktap = parseKtap(r.stdout)
          // kselftest's exit code 4 (KSFT_SKIP) before any KTAP: the program itself found
          // nothing it can test here (vfio_pci_driver_test: no lib/drivers driver for the device).
          if (!ktap.version && r.code === 4) skip(`${p.name} skipped itself (KSFT_SKIP): ${r.stdout.trim().split('\n').pop() ?? ''}`)
          const subtests: SubtestMeta[] = ktap.cases.map((c) => ({
            name: `${st.dir}/${p.name}: ${c.name}`,
            verdict: c.result,
            reason: c.reason ?? (c.result === 'FAIL' ? c.diagnostics.filter((d) => !/^\s*(RUN|OK|FAIL)\s/.test(d.trim())).join(' | ') || 'not ok' : undefined),
            detail: c.diagnostics.join('\n'),
          }))
          task.meta.subtests = subtests
          expect(ktap.version, `no KTAP/TAP header in the output of ${p.name} (exit ${r.code}): ${r.stdout.slice(0, 400)}`).toBeDefined()
          expect(ktap.cases.length, `${p.name} reported no subtest (exit ${r.code})`).toBeGreaterThan(0)
          if (ktap.planned !== undefined) {
            expect(ktap.cases.length, `${p.name} stopped after ${ktap.cases.length} of ${ktap.planned} planned subtests (exit ${r.code}, signal ${r.signal ?? 'none'})`).toBe(ktap.planned)
          }
        },
        RUN_TIMEOUT_MS + 60_000,
      )
    }
  }
}, { oncePerKernel: true })
