// The example of docs/writing-tests.md, kept compiling: tsconfig.json includes docs/, and
// test/unit/docs.test.ts checks that the page shows this file as it is. It is not a suite
// (the conformance project runs suites/**/*.test.ts); its rules are suites/legacy-group.test.ts's
// and suites/privileges.test.ts's.
import { expect } from 'vitest'
import { guestUser } from '../../guests/rootfs/recipe.js'
import { errnoOf, must, openGroup } from '../../harness/vfio/legacy.js'
import { forEachTarget } from '../../harness/vitest/fixtures.js'
import { legacyPathFixture } from '../../harness/vitest/path-fixtures.js'

forEachTarget((_target, base) => {
  // Every test here needs the legacy path: a kernel without it SKIPs, naming the option.
  const test = base.extend<{ legacy: void }>({ legacy: legacyPathFixture })

  // vfio_group_fops_open (drivers/vfio/group.c): "if (group->opened_file) return -EBUSY".
  test('a group opens once: an open from another process is EBUSY', async ({ guest, castPart }) => {
    const [dev] = castPart('multiDeviceGroup') // the topology's part: two devices of one group
    const g = await guest.vfioGroup(dev) // the group's devices go to vfio-pci
    const holder = await guest.agent({ label: 'holder' }) // one agent is one guest process (root)
    const other = await guest.agent({ label: 'other' })
    must(await openGroup(holder, g.group), 'holder open')
    expect(errnoOf(await openGroup(other, g.group))).toBe('EBUSY')
  })

  // may_open -> generic_permission: /dev/vfio/N is 0600 root:root and the user has no
  // CAP_DAC_OVERRIDE, so the open is EACCES before VFIO is asked.
  test('an unprivileged user opening /dev/vfio/N gets EACCES', async ({ guest, castPart }) => {
    const g = await guest.vfioGroup(castPart('singletonGroup'))
    const user = await guest.agent({ ...guestUser('conform-a'), caps: 'none', label: 'user' })
    expect(errnoOf(await openGroup(user, g.group))).toBe('EACCES')
  })
})
