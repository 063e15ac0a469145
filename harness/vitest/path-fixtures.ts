// Auto fixtures for suites (or parts of them) about one user-space path: every test SKIPs,
// naming the option, on a kernel that has no such path. `test.extend({ legacy: legacyPathFixture })`.
// And the hot-plug fixture (QEMU's monitor through the supervisor).
import { inject } from 'vitest'
import { GuestHotplug } from '../guest/hotplug.js'
import type { GuestSession } from '../guest/session.js'
import { askSupervisorQmp } from '../guest/supervisor.js'
import type { KernelConfig } from '../kernel/config.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { legacyMissing } from '../vfio/capabilities.js'
import type { GuestTarget } from './targets.js'

type Skip = (note: string) => never
type AutoFixture<C> = [(ctx: C, use: (v: void) => Promise<void>) => Promise<void>, { auto: true }]

/** The legacy group/container path (VFIO_GROUP + a container, VFIO's or iommufd's). */
export const legacyPathFixture: AutoFixture<{ kconfig: KernelConfig | undefined; skip: Skip }> = [
  async ({ kconfig, skip }, use) => {
    const missing = legacyMissing(kconfig)
    if (missing) skip(missing)
    await use()
  },
  { auto: true },
]

/** iommufd and the VFIO device cdev (/dev/iommu, /dev/vfio/devices/vfioN). */
export const cdevPathFixture: AutoFixture<{ requireConfig: (...opts: string[]) => void }> = [
  async ({ requireConfig }, use) => {
    requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV')
    await use()
  },
  { auto: true },
]

/**
 * Hot-plug on the test's guest (QMP device_add / device_del through the guests' supervisor,
 * which owns QEMU's monitor: harness/guest/supervisor.ts). SKIPs without ACPI hot-plug or
 * uio_pci_generic; every device the test added is removed after its processes are gone.
 * `test.extend<{ hotplug: GuestHotplug }>({ hotplug: hotplugFixture })`.
 */
export async function hotplugFixture(
  { target, guest, requireConfig }: { target: GuestTarget; guest: GuestSession; requireConfig: (...opts: string[]) => void },
  use: (hp: GuestHotplug) => Promise<void>,
): Promise<void> {
  requireConfig('HOTPLUG_PCI_ACPI', 'UIO_PCI_GENERIC')
  const sock = inject('vfioConformRun').supervisorSocket
  if (!sock) throw new HarnessError(`${HARNESS_ERROR_TAG} ${target.key}: no guest supervisor in this run: QEMU's monitor is out of reach`)
  const hp = new GuestHotplug(guest, (execute, args) => askSupervisorQmp(sock, { op: 'qmp', key: target.key, execute, arguments: args }))
  await use(hp)
  await guest.closeAgents()
  // After a kernel oops the guest is rebooted (guest fixture); a removal would hang on its locks.
  if (!(await guest.fatalSplats()).length) await hp.cleanup()
}
