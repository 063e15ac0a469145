// SKIP reasons for the legacy path come from real config facts.
import { describe, expect, test } from 'vitest'
import { KernelConfig } from '../../harness/kernel/config.js'
import { legacyMissing } from '../../harness/vfio/capabilities.js'

const cfg = (lines: string[]) => KernelConfig.parse(lines.join('\n'))

describe('legacy VFIO capability', () => {
  test('6.1-style config (no VFIO_GROUP/VFIO_CONTAINER options) has the legacy path', () => {
    expect(legacyMissing(cfg(['CONFIG_VFIO=m', 'CONFIG_VFIO_PCI=m', 'CONFIG_VFIO_IOMMU_TYPE1=m']))).toBeUndefined()
  })
  test('6.12 Debian: container and type1', () => {
    expect(legacyMissing(cfg(['CONFIG_VFIO=m', 'CONFIG_VFIO_PCI=m', 'CONFIG_VFIO_GROUP=y', 'CONFIG_VFIO_CONTAINER=y', 'CONFIG_VFIO_IOMMU_TYPE1=m']))).toBeUndefined()
  })
  test('compat build: iommufd provides /dev/vfio/vfio', () => {
    expect(legacyMissing(cfg(['CONFIG_VFIO=y', 'CONFIG_VFIO_PCI=y', 'CONFIG_VFIO_GROUP=y', '# CONFIG_VFIO_CONTAINER is not set', 'CONFIG_IOMMUFD_VFIO_CONTAINER=y']))).toBeUndefined()
  })
  test('no provider of /dev/vfio/vfio is named', () => {
    expect(legacyMissing(cfg(['CONFIG_VFIO=y', 'CONFIG_VFIO_PCI=y', 'CONFIG_VFIO_GROUP=y', '# CONFIG_VFIO_CONTAINER is not set']))).toMatch(/CONFIG_VFIO_CONTAINER not set/)
  })
  test('groups disabled, VFIO absent, config unknown', () => {
    expect(legacyMissing(cfg(['CONFIG_VFIO=y', 'CONFIG_VFIO_PCI=y', '# CONFIG_VFIO_GROUP is not set']))).toBe('CONFIG_VFIO_GROUP not set')
    expect(legacyMissing(cfg(['# CONFIG_VFIO is not set', 'CONFIG_VFIO_PCI=m']))).toBe('CONFIG_VFIO not set')
    expect(legacyMissing(undefined)).toMatch(/config unknown/)
  })
})

import { kernelAtLeast, parseKernelRelease } from '../../harness/kernel/version.js'
describe('kernel versions', () => {
  test('Debian, source and rc releases', () => {
    expect(parseKernelRelease('6.1.0-56-amd64')).toEqual({ major: 6, minor: 1 })
    expect(parseKernelRelease('6.12.118+deb13-amd64')).toEqual({ major: 6, minor: 12 })
    expect(kernelAtLeast('6.12.118', 6, 2)).toBe(true)
    expect(kernelAtLeast('6.1.0-56-amd64', 6, 2)).toBe(false)
    expect(kernelAtLeast('7.3.0-rc7', 6, 2)).toBe(true)
    expect(kernelAtLeast('?', 6, 2)).toBe(false)
  })
})
