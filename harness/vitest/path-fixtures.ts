// Auto fixtures for suites (or parts of them) about one user-space path: every test SKIPs,
// naming the option, on a kernel that has no such path. `test.extend({ legacy: legacyPathFixture })`.
import type { KernelConfig } from '../kernel/config.js'
import { legacyMissing } from '../vfio/capabilities.js'

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
