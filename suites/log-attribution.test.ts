// The harness's own promise, checked on a real kernel: a splat raised during a test fails that
// test, and only that one. LKDTM (CONFIG_LKDTM, in the conform fragment) raises a real WARN
// when "WARNING" is written to /sys/kernel/debug/provoke-crash/DIRECT (drivers/misc/lkdtm/
// bugs.c lkdtm_WARNING: WARN_ON(1)). The first test declares the WARN it raises
// (guest.expected.expectSplat): the fixture then requires it between this test's markers,
// and would FAIL the test if it were missing. The second test runs next on the same guest:
// had the WARN leaked past the first test's end marker, the fixture would fail it. Once per
// kernel: nothing here depends on the topology, the vIOMMU or QEMU.
import { expect } from 'vitest'
import { findSplats } from '../harness/guest/splats.js'
import { errnoOf } from '../harness/agent/client.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

const LKDTM = '/sys/kernel/debug/provoke-crash/DIRECT'

forEachTarget((target, test) => {
  let raisedAt: number | undefined

  test('a real WARN (LKDTM WARNING) raised in a test is found between that test\'s markers and attributed to it', async ({ guest, requireConfig }) => {
    requireConfig('LKDTM')
    guest.expected.expectSplat('WARN')
    const from = await guest.console.size()
    const a = await guest.agent()
    expect(errnoOf(await a.writeFile(LKDTM, 'WARNING')), `write WARNING to ${LKDTM}`).toBe('OK')
    // The WARN line changed format over the years ("WARNING: CPU: 0 PID: 1 at f.c:1 fn" up to
    // 6.x, "WARNING: f.c:1 at fn, CPU#0: comm/pid" in 7.x): the splat parser knows both.
    const until = Date.now() + 30_000
    let warn: ReturnType<typeof findSplats>[number] | undefined
    while (!warn && Date.now() < until) {
      warn = findSplats(await guest.console.read(from)).find((s) => s.kind === 'WARN' && /lkdtm/.test(s.excerpt))
      // The WARN is printed by the write's own call chain, but reaches the console file a
      // little later: look again every 250 ms, up to 30 s.
      if (!warn) await new Promise((r) => setTimeout(r, 250))
    }
    expect(warn?.title, 'a WARN splat naming lkdtm on the console after the write').toMatch(/lkdtm/)
    raisedAt = from
  })

  test('the next test on the same guest does not get that WARN', async ({ guest, requireConfig, skip }) => {
    requireConfig('LKDTM')
    if (raisedAt === undefined) skip('the WARN was not raised (see the previous test)')
    // The fixture judges this test's own console window; here, the WARN is before it.
    const before = await guest.console.read(raisedAt!, await guest.console.size())
    expect(findSplats(before).filter((s) => /lkdtm/.test(s.excerpt)), 'the WARN is on the console, before this test began').toHaveLength(1)
  })
}, { oncePerKernel: true, qemuIndependent: true })
