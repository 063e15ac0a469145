// IOMMU groups: the kernel's partition of the topology's devices must be exactly the one the
// topology declares for this vIOMMU model (see guests/topologies/default.ts for why each
// group is what it is). Matching is by PCI path, so bus numbering does not matter.
import { expect } from 'vitest'
import { builtinsFor, flattenTopology, TOPOLOGIES, VIOMMUS } from '../guests/topologies/index.js'
import type { GuestSession } from '../harness/guest/session.js'
import { forEachTarget, type ConformTest } from '../harness/vitest/fixtures.js'
import type { GuestTarget } from '../harness/vitest/targets.js'

function groupRules(target: GuestTarget, test: ConformTest): void {
  const topology = TOPOLOGIES[target.topology]!
  const expected = topology.expectedGroups[target.iommu]
  const ungrouped = topology.ungrouped?.[target.iommu] ?? []
  const probeDependent = topology.probeDependent?.[target.iommu] ?? []

  if (!expected) {
    test('groups match the topology', ({ skip }) => {
      skip(`topology ${topology.name} declares no expected groups for ${target.iommu}`)
    })
    return
  }

  /**
   * The guest's devices once groups have formed. Under a model whose groups form at driver
   * probe, every `test` device is first offered to vfio-pci; a probe that fails leaves that
   * device without a group, which the group's own test then reports.
   */
  const settledDevices = async (guest: GuestSession) => {
    if (VIOMMUS[target.iommu].groupsFormAtProbe) {
      const devices = await guest.pciDevices()
      for (const { node } of flattenTopology(topology).filter((x) => x.node.role === 'test')) {
        const bdf = devices.find((d) => d.nodeId === node.id)?.bdf
        // Absent from the guest: the group's own test says so.
        if (bdf) await guest.offerDriver(bdf, 'vfio-pci')
      }
    }
    return guest.pciDevices()
  }

  test.for(expected.map((g) => [g.join(' + '), g] as const))('group %s', async ([, members], { guest }) => {
    const devices = await settledDevices(guest)
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

  if (ungrouped.length) {
    test(`devices without a group under ${target.iommu}: ${ungrouped.join(', ')}`, async ({ guest }) => {
      const devices = await settledDevices(guest)
      const grouped = devices.filter((d) => d.nodeId && ungrouped.includes(d.nodeId) && d.group !== undefined)
      expect(grouped.map((d) => `${d.nodeId} (group ${d.group})`)).toEqual([])
    })
  }

  if (probeDependent.length) {
    test(`devices grouped only if some driver probed them share no group with other devices: ${probeDependent.join(', ')}`, async ({ guest }) => {
      const devices = await settledDevices(guest)
      const dependent = (d: { nodeId?: string }) => !!d.nodeId && probeDependent.includes(d.nodeId)
      const shared = devices.filter((d) => dependent(d) && d.group !== undefined && devices.some((o) => !dependent(o) && o.group === d.group))
      expect(shared.map((d) => `${d.nodeId} (group ${d.group})`)).toEqual([])
    })
  }

  test('every guest PCI device is in the topology and in exactly one expected group', async ({ guest }) => {
    const devices = await settledDevices(guest)
    const unknown = devices.filter((d) => !d.nodeId).map((d) => `${d.bdf} (${d.vendor}:${d.device}, path ${d.pathKey})`)
    expect(unknown, 'devices the topology does not describe').toEqual([])
    const declared = [...expected.flat(), ...ungrouped, ...probeDependent]
    const undeclared = devices.filter((d) => d.nodeId && !declared.includes(d.nodeId)).map((d) => d.nodeId)
    expect(undeclared, 'devices missing from the expected groups').toEqual([])
    const absent = declared.filter((id) => !devices.some((d) => d.nodeId === id))
    expect(absent, 'expected devices the guest does not have').toEqual([])
    expect(builtinsFor(target.iommu).every((b) => declared.includes(b.id)), 'every builtin is declared').toBe(true)
  })
}

forEachTarget(groupRules)
// The igb topology is dedicated to the sriov suite; its boot groups are checked here all the same.
forEachTarget(groupRules, { dedicatedTo: 'sriov' })
