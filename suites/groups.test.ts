// IOMMU groups: the kernel's partition of the topology's devices must be exactly the one the
// topology declares for this vIOMMU model (see guests/topologies/default.ts for why each
// group is what it is). Matching is by PCI path, so bus numbering does not matter.
import { expect } from 'vitest'
import { Q35_BUILTINS, TOPOLOGIES } from '../guests/topologies/index.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

forEachTarget((target, test) => {
  const topology = TOPOLOGIES[target.topology]!
  const expected = topology.expectedGroups[target.iommu]

  if (!expected) {
    test('groups match the topology', ({ skip }) => {
      skip(`topology ${topology.name} declares no expected groups for ${target.iommu}`)
    })
    return
  }

  test.for(expected.map((g) => [g.join(' + '), g] as const))('group %s', async ([, members], { guest }) => {
    const devices = await guest.pciDevices()
    const groupOf = new Map(devices.filter((d) => d.nodeId).map((d) => [d.nodeId!, d.group]))
    for (const m of members) expect(groupOf.has(m), `device ${m} is not present in the guest`).toBe(true)
    const groups = members.map((m) => groupOf.get(m))
    // Every member has a group, all the same one ...
    expect(groups.every((g) => g !== undefined), `members without a group: ${members.filter((m) => groupOf.get(m) === undefined).join(', ')}`).toBe(true)
    expect(new Set(groups).size, `members are split over groups ${JSON.stringify(Object.fromEntries(members.map((m, i) => [m, groups[i]])))}`).toBe(1)
    // ... and nothing else is in it.
    const others = devices.filter((d) => d.group === groups[0] && !members.includes(d.nodeId ?? d.bdf))
    expect(others.map((d) => d.nodeId ?? d.bdf), `group ${groups[0]} also holds other devices`).toEqual([])
  })

  test('every guest PCI device is in the topology and in exactly one expected group', async ({ guest }) => {
    const devices = await guest.pciDevices()
    const unknown = devices.filter((d) => !d.nodeId).map((d) => `${d.bdf} (${d.vendor}:${d.device}, path ${d.pathKey})`)
    expect(unknown, 'devices the topology does not describe').toEqual([])
    const declared = expected.flat()
    const undeclared = devices.filter((d) => d.nodeId && !declared.includes(d.nodeId)).map((d) => d.nodeId)
    expect(undeclared, 'devices missing from the expected groups').toEqual([])
    const absent = declared.filter((id) => !devices.some((d) => d.nodeId === id))
    expect(absent, 'expected devices the guest does not have').toEqual([])
    expect(Q35_BUILTINS.every((b) => declared.includes(b.id))).toBe(true)
  })
})
