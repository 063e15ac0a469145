// The vIOMMU records (guests/viommus/) are consistent, and what derives from them does.
import { describe, expect, test } from 'vitest'
import { IOMMU_MODELS, iommuPageSize, VIOMMU_LIST, VIOMMUS } from '../../guests/viommus/index.js'
import { granuleUnusable, kernelCmdline, stableProps, topologyUnsupported, viommuDeviceArg, viommuUnsupported } from '../../harness/qemu/args.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { joinKernelEntry, kernelSpecProblem, splitKernelEntry } from '../../harness/kernel/resolve.js'
import { parseQemuSpec, pickDebianQemu, qemuKeySuffix, wrapperScript } from '../../harness/qemu/qemu-spec.js'
import { parseFaultLines } from '../../harness/dma/faults.js'

describe('vIOMMU records', () => {
  test('names are unique and every list derives from the records', () => {
    expect(new Set(IOMMU_MODELS).size).toBe(VIOMMU_LIST.length)
    for (const m of VIOMMU_LIST) expect(VIOMMUS[m.name]).toBe(m)
  })
  test('every topology names known models only', () => {
    for (const t of Object.values(TOPOLOGIES)) {
      for (const m of [...t.iommus, ...Object.keys(t.expectedGroups)]) expect(IOMMU_MODELS, `${t.name}: ${m}`).toContain(m)
    }
  })
  test("a kernel entry's @model suffix accepts every model and nothing else", () => {
    for (const m of IOMMU_MODELS) expect(splitKernelEntry(`debian:trixie@${m}`).iommus).toEqual([m])
    expect(splitKernelEntry('debian:trixie@nosuch').iommus).toBeUndefined()
  })
  for (const m of VIOMMU_LIST) {
    test(`${m.name}: its fault examples parse as fault lines (or are the driver's lines around them), its kernel args reach the command line`, () => {
      const ex = m.faults?.examples ?? []
      const parsed = parseFaultLines(m.name, ex.join('\n'))
      expect(parsed.length).toBe(ex.filter((l) => m.faults!.pattern.test(l)).length)
      for (const f of parsed) expect(f.rid).toBeTypeOf('number')
      for (const a of m.kernelArgs) expect(kernelCmdline(m.name)).toContain(a)
      // Without MSI isolation the harness sets the admin's override.
      expect(kernelCmdline(m.name).includes('allow_unsafe_interrupts=1')).toBe(!m.isolatesMsi)
    })
    test(`${m.name}: its QEMU limits say which versions, and which source decides`, () => {
      for (const l of m.limits) {
        expect(l.source).toMatch(/\S+\.(c|h)\b/)
        if (l.owner === 'qemu') expect(l.qemu?.from ?? l.qemu?.to).toBeDefined()
      }
    })
  }
  test("amd-iommu gets dma-remap=on only from a QEMU whose device lists it (11.1 yes, 10.0 and 7.2 no)", () => {
    const amd = { ...VIOMMUS['amd-iommu'], qemuDevice: VIOMMUS['amd-iommu'].qemuDevice! }
    expect(viommuDeviceArg(amd, new Set(['device-iotlb', 'dma-remap', 'dma-translation', 'intremap', 'pci-id', 'xtsup']))).toBe('amd-iommu,intremap=on,dma-remap=on')
    expect(viommuDeviceArg(amd, new Set(['device-iotlb', 'intremap', 'pt', 'xtsup']))).toBe('amd-iommu,intremap=on')
    expect(viommuDeviceArg(amd, undefined)).toBe('amd-iommu,intremap=on')
  })
  test("x- properties take their stable names where the QEMU lists them (11.1 lists both; only the stable one can be set)", () => {
    const arg = VIOMMUS['intel-iommu-fs'].qemuDevice!
    const q111 = new Set(['caching-mode', 'intremap', 'fsts', 'scalable-mode', 'x-flts', 'x-scalable-mode'])
    const q100 = new Set(['caching-mode', 'intremap', 'x-flts', 'x-scalable-mode'])
    expect(stableProps(arg, q111)).toBe('intel-iommu,intremap=on,caching-mode=on,scalable-mode=on,fsts=on')
    expect(stableProps(arg, q100)).toBe(arg)
    expect(stableProps(arg, undefined)).toBe(arg)
  })
  test('a QEMU too old or without the device is named as the reason', () => {
    const q = { version: '7.1.0', versionNum: 701, devices: new Set(['intel-iommu']) }
    expect(viommuUnsupported('intel-iommu', q)).toMatch(/QEMU 7.1.0 is older than 7.2/)
    expect(viommuUnsupported('amd-iommu', { ...q, version: '7.2.22', versionNum: 702 })).toMatch(/no "amd-iommu" device/)
    expect(viommuUnsupported('none', q)).toBeUndefined()
  })
  test('virtio-iommu with a 64 KiB granule needs QEMU 9.0 (granule property), and on 4 KiB guest pages names the driver that refuses it', () => {
    expect(viommuUnsupported('virtio-iommu-64k', { version: '7.2.22', versionNum: 702, devices: new Set(['virtio-iommu-pci']) })).toMatch(/QEMU 7.2.22 is older than 9.0.*granule=64k/)
    expect(viommuUnsupported('virtio-iommu-64k', { version: '10.0.13', versionNum: 1000, devices: new Set(['virtio-iommu-pci']) })).toBeUndefined()
    expect(granuleUnusable('virtio-iommu-64k')).toMatch(/64 KiB granule is larger than the guest's 4 KiB pages.*viommu_domain_finalise/)
    expect(granuleUnusable('virtio-iommu-64k', 0x10000)).toBeUndefined()
    expect(iommuPageSize('virtio-iommu-64k')).toBe(0x10000)
    expect(iommuPageSize('intel-iommu')).toBe(0x1000)
    for (const m of IOMMU_MODELS.filter((m) => m !== 'virtio-iommu-64k')) expect(granuleUnusable(m), m).toBeUndefined()
  })
  test("a topology whose device model the QEMU's -device help lacks SKIPs naming the QEMU version and the model's first release", () => {
    const base = ['virtio-net-pci', 'edu', 'pcie-root-port']
    const q72 = { version: '7.2.22', devices: new Set(base) }
    expect(topologyUnsupported(TOPOLOGIES.igb!, q72)).toBe('QEMU 7.2.22 has no "igb" device (igb is in QEMU 8.0 and later): topology igb needs it')
    expect(topologyUnsupported(TOPOLOGIES.igb!, { version: '10.0.13', devices: new Set([...base, 'igb']) })).toBeUndefined()
    expect(topologyUnsupported(TOPOLOGIES.noiommu!, q72)).toBeUndefined()
  })
})

describe('--qemu SPEC', () => {
  const versions = [
    { version: '1:11.1.3+ds-1', suites: ['sid'] },
    { version: '1:10.0.13+ds-0+deb13u1', suites: ['trixie', 'trixie-security'] },
    { version: '1:7.2+dfsg-7+deb12u18', suites: ['bookworm'] },
  ]
  const aliases = { stable: 'trixie', unstable: 'sid', oldstable: 'bookworm' }
  test('a suite, an alias or a version prefix picks a Debian QEMU and the suite of its root', () => {
    expect(pickDebianQemu('sid', versions, aliases)).toEqual({ version: '1:11.1.3+ds-1', suite: 'sid' })
    expect(pickDebianQemu('stable', versions, aliases)).toEqual({ version: '1:10.0.13+ds-0+deb13u1', suite: 'trixie' })
    expect(pickDebianQemu('10.0', versions, aliases)).toEqual({ version: '1:10.0.13+ds-0+deb13u1', suite: 'trixie' })
    expect(pickDebianQemu('11', versions, aliases).suite).toBe('sid')
    expect(() => pickDebianQemu('9.2', versions, aliases)).toThrow(/no such QEMU version in Debian \(offered: 11\.1\.3\+ds-1 \[sid\]/)
    expect(() => pickDebianQemu('forky', versions, aliases)).toThrow(/no QEMU in Debian forky/)
    expect(() => pickDebianQemu('latest', versions, aliases)).toThrow(/not a Debian suite or QEMU version/)
  })
  test('specs: host, debian:X, path:X; anything else is bad usage naming the forms', () => {
    expect(parseQemuSpec('host')).toEqual({ kind: 'host' })
    expect(parseQemuSpec('debian:sid')).toEqual({ kind: 'debian', want: 'sid' })
    expect(parseQemuSpec('path:/opt/q')).toEqual({ kind: 'path', binary: '/opt/q' })
    expect(() => parseQemuSpec('debian:')).toThrow(/unknown QEMU spec "debian:": use host/)
    expect(() => parseQemuSpec('sid')).toThrow(/unknown QEMU spec/)
  })
  test('a kernel entry carries its QEMU after its models, in either order', () => {
    expect(splitKernelEntry('debian-source:6.12,compat@intel-iommu@qemu=debian:sid')).toEqual({ spec: 'debian-source:6.12,compat', iommus: ['intel-iommu'], qemu: 'debian:sid' })
    expect(splitKernelEntry('debian:trixie@qemu=debian:10.0@amd-iommu')).toEqual({ spec: 'debian:trixie', iommus: ['amd-iommu'], qemu: 'debian:10.0' })
    expect(joinKernelEntry(splitKernelEntry('debian:trixie@amd-iommu@qemu=debian:sid'))).toBe('debian:trixie@amd-iommu@qemu=debian:sid')
    expect(splitKernelEntry('debian-source:7.2@qemu=debian:trixie@topology=igb')).toEqual({ spec: 'debian-source:7.2', qemu: 'debian:trixie', topologies: ['igb'] })
    expect(joinKernelEntry(splitKernelEntry('debian-source:7.2@amd-iommu@qemu=debian:trixie@topology=igb+default'))).toBe('debian-source:7.2@amd-iommu@qemu=debian:trixie@topology=igb+default')
    expect(kernelSpecProblem('debian-source:7.2@topology=nosuch')).toMatch(/"nosuch" is not a topology/)
    expect(kernelSpecProblem('debian-source:7.2@qemu=debian:trixie@topology=igb')).toBeUndefined()
  })
  test("a guest's key names its QEMU unless it is the host's", () => {
    expect(qemuKeySuffix({ spec: 'host', version: '7.2.22' })).toBe('')
    expect(qemuKeySuffix({ spec: 'debian:sid', version: '11.1.3' })).toBe('@qemu-11.1.3')
  })
  test('the wrapper runs the root through its own loader, firmware from the root first, modules bound over the built-in dir', () => {
    const w = wrapperScript()
    expect(w).toMatch(/ld-linux-x86-64\.so\.2" --library-path "\$LIB" "\$R\/usr\/bin\/qemu-system-x86_64"/)
    expect(w).toMatch(/mount --bind "\$LIB\/qemu" \/usr\/lib\/x86_64-linux-gnu\/qemu/)
    expect(w).toMatch(/-L "\$R\/usr\/share\/qemu" -L "\$R\/usr\/share\/seabios"/)
  })
})
