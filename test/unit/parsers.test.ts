// Parsers of what Debian's tools and the guest print.
import { describe, expect, test } from 'vitest'
import { parseDepends, parsePolicy, parseStanza } from '../../harness/debian/apt.js'
import { pickDebianVersion } from '../../harness/kernel/debian.js'
import { KernelConfig } from '../../harness/kernel/config.js'
import { loadOrder, modName, parseModulesDep } from '../../harness/rootfs/modules.js'
import { parsePciScan } from '../../harness/guest/pci.js'
import { defaultTopology } from '../../guests/topologies/default.js'
import { UsageError } from '../../harness/util/errors.js'
import { gzipSync } from 'node:zlib'

// Captured from `apt-cache policy linux-image-amd64 dropbear-bin` with the project apt.
const POLICY = `linux-image-amd64:
  Installed: (none)
  Candidate: 7.2.13-1
  Version table:
     7.3~rc7-1~exp1 1
          1 http://deb.debian.org/debian experimental/main amd64 Packages
     7.2.13-1 500
        500 http://deb.debian.org/debian sid/main amd64 Packages
     6.12.117-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
        500 http://deb.debian.org/debian-security trixie-security/main amd64 Packages
     6.1.192-2 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     6.1.176-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
dropbear-bin:
  Installed: 2022.83-1+deb12u3
  Candidate: 2026.94-1
  Version table:
     2026.94-1 500
        500 http://deb.debian.org/debian sid/main amd64 Packages
 *** 2022.83-1+deb12u3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
`
const ALIASES = { stable: 'trixie', oldstable: 'bookworm', unstable: 'sid', experimental: 'experimental' }

describe('apt-cache policy', () => {
  const p = parsePolicy(POLICY)
  test('versions newest first with their suites', () => {
    expect(p.get('linux-image-amd64')).toEqual([
      { version: '7.3~rc7-1~exp1', suites: ['experimental'] },
      { version: '7.2.13-1', suites: ['sid'] },
      { version: '6.12.117-1', suites: ['trixie', 'trixie-security'] },
      { version: '6.1.192-2', suites: ['bookworm-security'] },
      { version: '6.1.176-1', suites: ['bookworm'] },
    ])
  })
  test('installed marker and dpkg status lines', () => {
    expect(p.get('dropbear-bin')).toEqual([
      { version: '2026.94-1', suites: ['sid'] },
      { version: '2022.83-1+deb12u3', suites: ['bookworm'] },
    ])
  })
})

describe('debian: kernel specs', () => {
  const v = parsePolicy(POLICY).get('linux-image-amd64')!
  test.each([
    ['bookworm', '6.1.192-2'], // the security suite's newer build wins
    ['oldstable', '6.1.192-2'],
    ['trixie', '6.12.117-1'],
    ['stable', '6.12.117-1'],
    ['sid', '7.2.13-1'],
    ['unstable', '7.2.13-1'],
    ['experimental', '7.3~rc7-1~exp1'],
    ['6.1.176-1', '6.1.176-1'],
    ['6.12', '6.12.117-1'],
    ['7.3', '7.3~rc7-1~exp1'],
  ])('%s -> %s', (spec, want) => {
    expect(pickDebianVersion(spec, v, ALIASES).version).toBe(want)
  })
  test.each(['potato', '5.10', '6.12.999-1'])('%s is a usage error', (spec) => {
    expect(() => pickDebianVersion(spec, v, ALIASES)).toThrow(UsageError)
  })
})

describe('control stanzas', () => {
  test('fields, continuation lines and pinned dependencies', () => {
    const s = parseStanza('Package: linux-image-amd64\nVersion: 7.2.13-1\nDepends: linux-base-amd64 (= 7.2.13-1), linux-image-7.2.13+deb14-amd64 (= 7.2.13-1)\nDescription: x\n more\n')
    expect(s.Version).toBe('7.2.13-1')
    expect(s.Description).toBe('x\nmore')
    expect(parseDepends(s.Depends)).toEqual([
      { name: 'linux-base-amd64', version: '7.2.13-1', alternatives: ['linux-base-amd64'] },
      { name: 'linux-image-7.2.13+deb14-amd64', version: '7.2.13-1', alternatives: ['linux-image-7.2.13+deb14-amd64'] },
    ])
    expect(parseDepends('libc6 (>= 2.34), zlib1g | libz1')).toEqual([
      { name: 'libc6', version: undefined, alternatives: ['libc6'] },
      { name: 'zlib1g', version: undefined, alternatives: ['zlib1g', 'libz1'] },
    ])
  })
})

describe('kernel config', () => {
  const text = 'CONFIG_VFIO=m\nCONFIG_VFIO_GROUP=y\n# CONFIG_IOMMUFD is not set\nCONFIG_CC_VERSION_TEXT="gcc (Debian 14.2.0-19) 14.2.0"\n'
  test('values, unset and absent options', () => {
    const c = KernelConfig.parse(text)
    expect(c.get('VFIO')).toBe('m')
    expect(c.enabled('CONFIG_VFIO_GROUP')).toBe(true)
    expect(c.get('CC_VERSION_TEXT')).toBe('gcc (Debian 14.2.0-19) 14.2.0')
    expect(c.missing('VFIO', 'IOMMUFD')).toBe('CONFIG_IOMMUFD not set')
    expect(c.missing('VFIO_DEVICE_CDEV')).toBe("CONFIG_VFIO_DEVICE_CDEV absent from this kernel's config")
    expect(c.missing('VFIO', 'VFIO_GROUP')).toBeUndefined()
  })
  test('gzip (/proc/config.gz) is read the same', () => {
    expect(KernelConfig.parse(gzipSync(text)).get('VFIO')).toBe('m')
  })
})

describe('modules.dep', () => {
  // Shape of Debian 6.12's modules.dep for the modules the guest loads.
  const dep = parseModulesDep(`kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/pci/vfio-pci-core.ko.xz kernel/drivers/vfio/vfio.ko.xz kernel/virt/lib/irqbypass.ko.xz kernel/drivers/iommu/iommufd/iommufd.ko.xz
kernel/drivers/vfio/pci/vfio-pci-core.ko.xz: kernel/drivers/vfio/vfio.ko.xz kernel/virt/lib/irqbypass.ko.xz kernel/drivers/iommu/iommufd/iommufd.ko.xz
kernel/drivers/vfio/vfio.ko.xz: kernel/drivers/iommu/iommufd/iommufd.ko.xz
kernel/drivers/iommu/iommufd/iommufd.ko.xz:
kernel/virt/lib/irqbypass.ko.xz:
kernel/drivers/vfio/vfio_iommu_type1.ko.xz: kernel/drivers/vfio/vfio.ko.xz kernel/drivers/iommu/iommufd/iommufd.ko.xz
`)
  test('names are normalised', () => {
    expect(modName('kernel/drivers/vfio/pci/vfio-pci.ko.xz')).toBe('vfio_pci')
    expect(modName('a/b/mtty.ko')).toBe('mtty')
  })
  test('load order puts dependencies first and reports absent modules', () => {
    const { order, absent } = loadOrder(dep, ['vfio_pci', 'vfio_iommu_type1', 'mtty'])
    expect(absent).toEqual(['mtty'])
    expect(order).toEqual(['iommufd', 'vfio', 'irqbypass', 'vfio_pci_core', 'vfio_pci', 'vfio_iommu_type1'])
  })
  test('a dependency cycle is an error', () => {
    const cyc = parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n')
    expect(() => loadOrder(cyc, ['a'])).toThrow(/cycle/)
  })
})

describe('guest PCI scan', () => {
  // Output of PCI_SCAN_SCRIPT on Debian 6.12 with the default topology (intel-iommu).
  const scan = `/sys/devices/pci0000:00/0000:00:00.0 0x8086 0x29c0 - 0-
/sys/devices/pci0000:00/0000:00:02.0 0x1af4 0x1000 virtio-pci- 1-
/sys/devices/pci0000:00/0000:00:03.1 0x1234 0x11e8 - 2-
/sys/devices/pci0000:00/0000:00:07.0/0000:04:00.1 0x8086 0x10d3 e1000e- 7-
/sys/devices/pci0000:00/0000:00:08.0/0000:05:00.0/0000:06:00.0/0000:07:00.0 0x1234 0x11e8 vfio-pci- 12-
/sys/devices/pci0000:00/0000:00:1f.0 0x8086 0x2918 - -`
  test('paths map to topology nodes whatever the bus numbers', () => {
    const d = parsePciScan(scan, defaultTopology)
    expect(d.map((x) => [x.bdf, x.nodeId, x.driver, x.group])).toEqual([
      ['0000:00:00.0', 'q35-host', undefined, 0],
      ['0000:00:02.0', 'ssh-nic', 'virtio-pci', 1],
      ['0000:00:03.1', 'mf-edu1', undefined, 2],
      ['0000:04:00.1', 'mix-nic', 'e1000e', 7],
      ['0000:07:00.0', 'sw-edu', 'vfio-pci', 12],
      ['0000:00:1f.0', 'ich9-lpc', undefined, undefined],
    ])
  })
})

import { splitRc } from '../../harness/ssh/connection.js'
describe('in-band exit status of plumbing commands', () => {
  test('output with and without a trailing newline, and a missing marker', () => {
    expect(splitRc('a\nb\n\n__vfio_conform_rc=0\n')).toEqual({ stdout: 'a\nb\n', rc: 0 })
    expect(splitRc('partial\n__vfio_conform_rc=3\n')).toEqual({ stdout: 'partial', rc: 3 })
    expect(splitRc('no marker\n')).toEqual({ stdout: 'no marker\n' })
  })
})

import { splitKernelEntry } from '../../harness/kernel/resolve.js'
describe('kernel entries with a vIOMMU restriction', () => {
  test('SPEC@model+model restricts; an @ that names no model is part of the spec', () => {
    expect(splitKernelEntry('debian-source:6.12,compat@intel-iommu')).toEqual({ spec: 'debian-source:6.12,compat', iommus: ['intel-iommu'] })
    expect(splitKernelEntry('debian:trixie@intel-iommu+amd-iommu')).toEqual({ spec: 'debian:trixie', iommus: ['intel-iommu', 'amd-iommu'] })
    expect(splitKernelEntry('path:/home/me@work/bzImage')).toEqual({ spec: 'path:/home/me@work/bzImage' })
    expect(splitKernelEntry('debian:trixie')).toEqual({ spec: 'debian:trixie' })
  })
})
