// Hot-plug slots are data beside the boot topology: they must name real buses, their groups
// must be well formed, and the PCI scan must know an added device by its id.
import { describe, expect, test } from 'vitest'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { findNode, flattenTopology, hotplugNodes, pathIndex } from '../../guests/topologies/types.js'
import { parsePciScan } from '../../harness/guest/pci.js'
import { defaultTopology } from '../../guests/topologies/default.js'

describe('hot-plug slots', () => {
  for (const t of Object.values(TOPOLOGIES)) {
    test(`${t.name}: each slot is on a bridge of the topology, at a free address, and its group holds its device`, () => {
      const boot = flattenTopology(t)
      const paths = new Set(boot.map((x) => x.path.join('/')))
      for (const { node, path, parent, slot } of hotplugNodes(t)) {
        expect(parent.role).toBe('bridge')
        expect(paths.has(path.join('/')), `${slot.id}: ${path.join('/')} is taken at boot`).toBe(false)
        expect(slot.groupAfterAdd).toContain(node.id)
        for (const m of slot.groupAfterAdd) if (m !== node.id) expect(boot.some((x) => x.node.id === m), `${slot.id}: ${m}`).toBe(true)
      }
      const ids = [...boot.map((x) => x.node.id), ...hotplugNodes(t).map((x) => x.node.id)]
      expect(new Set(ids).size).toBe(ids.length)
      const c = t.cast
      if (c.hotplugIntoGroup) {
        const s = t.hotplugSlots!.find((x) => x.id === c.hotplugIntoGroup!.slot)!
        expect(s.groupAfterAdd).toContain(c.hotplugIntoGroup.owned)
        expect(findNode(t, c.hotplugIntoGroup.owned).node.role).toBe('test')
      }
      if (c.hotplugSingleton) expect(t.hotplugSlots!.find((x) => x.id === c.hotplugSingleton)!.groupAfterAdd).toHaveLength(1)
    })
  }

  test('an added device is known by its id in the PCI scan, by path like the boot devices', () => {
    const idx = pathIndex(defaultTopology, 'intel-iommu')
    expect(idx.get('06.0/02.0')).toBe('hp-bridged-edu')
    expect(idx.get('09.0/00.0')).toBe('hp-acs-edu')
    const scan = '/sys/devices/pci0000:00/0000:00:06.0/0000:03:02.0 0x1234 0x11e8 - 5-\n'
    expect(parsePciScan(scan, defaultTopology, 'intel-iommu')[0]).toMatchObject({ bdf: '0000:03:02.0', nodeId: 'hp-bridged-edu', group: 5 })
    expect(findNode(defaultTopology, 'hp-noacs-edu').path).toEqual(['0a.0', '00.0'])
  })
})
