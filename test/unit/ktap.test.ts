// The KTAP reader against output in the shape kselftest_harness.h prints (TAP 13, "#  RUN",
// diagnostics, directives, totals) and nested KTAP as Documentation/dev-tools/ktap.rst shows.
import { describe, expect, test } from 'vitest'
import { parseKtap } from '../../harness/selftests/ktap.js'

const KSELFTEST = `TAP version 13
1..4
# Starting 4 tests from 3 test cases.
#  RUN           iommufd.simple_close ...
#            OK  iommufd.simple_close
ok 1 iommufd.simple_close
#  RUN           iommufd_ioas.mock_domain.ioas_destroy ...
# iommufd.c:412:ioas_destroy:Expected 0 (0) == _test_ioctl_destroy(self->fd, self->ioas_id) (16)
# ioas_destroy: Test terminated by assertion
#          FAIL  iommufd_ioas.mock_domain.ioas_destroy
not ok 2 iommufd_ioas.mock_domain.ioas_destroy
#  RUN           iommufd_dirty_tracking.domain_dirty8k.enforce_dirty ...
#      SKIP      no dirty tracking
#            OK  iommufd_dirty_tracking.domain_dirty8k.enforce_dirty
ok 3 iommufd_dirty_tracking.domain_dirty8k.enforce_dirty # SKIP no dirty tracking
[   12.345678] some kernel line on the same console
ok 4 iommufd.cmd_fail # XFAIL known
# FAILED: 2 / 4 tests passed.
# Totals: pass:1 fail:1 xfail:1 xpass:0 skip:1 error:0
`

describe('parseKtap', () => {
  const r = parseKtap(KSELFTEST)
  test('version, plan and totals', () => {
    expect(r.version).toBe('TAP 13')
    expect(r.planned).toBe(4)
    expect(r.totals).toEqual({ pass: 1, fail: 1, xfail: 1, xpass: 0, skip: 1, error: 0 })
  })
  test('results with names, directives and the diagnostics printed before them', () => {
    expect(r.cases.map((c) => [c.number, c.name, c.result, c.reason])).toEqual([
      [1, 'iommufd.simple_close', 'PASS', undefined],
      [2, 'iommufd_ioas.mock_domain.ioas_destroy', 'FAIL', undefined],
      [3, 'iommufd_dirty_tracking.domain_dirty8k.enforce_dirty', 'SKIP', 'no dirty tracking'],
      [4, 'iommufd.cmd_fail', 'XFAIL', 'known'],
    ])
    expect(r.cases[1]!.diagnostics).toEqual([
      ' RUN           iommufd_ioas.mock_domain.ioas_destroy ...',
      'iommufd.c:412:ioas_destroy:Expected 0 (0) == _test_ioctl_destroy(self->fd, self->ioas_id) (16)',
      'ioas_destroy: Test terminated by assertion',
      '         FAIL  iommufd_ioas.mock_domain.ioas_destroy',
    ])
    expect(r.other).toEqual(['[   12.345678] some kernel line on the same console'])
  })
  test('nested KTAP: children carry the parent name', () => {
    const n = parseKtap(['KTAP version 1', '1..1', '  KTAP version 1', '  1..2', '  ok 1 a', '  not ok 2 b', 'not ok 1 suite'].join('\n'))
    expect(n.cases.map((c) => `${c.name}:${c.result}`)).toEqual(['a:PASS', 'b:FAIL', 'suite:FAIL'])
  })
})
