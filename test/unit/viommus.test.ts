// The vIOMMU records (guests/viommus/) are consistent, and what derives from them does.
import { describe, expect, test } from 'vitest'
import { IOMMU_MODELS, VIOMMU_LIST, VIOMMUS } from '../../guests/viommus/index.js'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { kernelCmdline, viommuUnsupported } from '../../harness/qemu/args.js'
import { splitKernelEntry } from '../../harness/kernel/resolve.js'
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
  test('a QEMU too old or without the device is named as the reason', () => {
    const q = { version: '7.1.0', versionNum: 701, devices: new Set(['intel-iommu']) }
    expect(viommuUnsupported('intel-iommu', q)).toMatch(/QEMU 7.1.0 is older than 7.2/)
    expect(viommuUnsupported('amd-iommu', { ...q, version: '7.2.22', versionNum: 702 })).toMatch(/no "amd-iommu" device/)
    expect(viommuUnsupported('none', q)).toBeUndefined()
  })
})
