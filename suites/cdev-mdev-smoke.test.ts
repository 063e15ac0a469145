// Smoke suite for what only conform builds have (stock Debian kernels SKIP it, naming the
// missing option): iommufd's /dev/iommu, the VFIO device cdev of every vfio-pci device,
// and an mtty mdev that gets an IOMMU group of its own.
import { randomUUID } from 'node:crypto'
import { expect } from 'vitest'
import { flattenTopology, TOPOLOGIES } from '../guests/topologies/index.js'
import { errnoOf } from '../harness/agent/client.js'
import { forEachTarget } from '../harness/vitest/fixtures.js'

/** Where the mtty sample registers its parent device (samples/vfio-mdev/mtty.c: "mtty"). */
const MTTY_PARENT = '/sys/class/mdev_bus/mtty'

forEachTarget((target, test) => {
  const topology = TOPOLOGIES[target.topology]!
  const testDevices = flattenTopology(topology).filter((x) => x.node.role === 'test').map((x) => x.node.id)

  // drivers/iommu/iommufd/main.c registers the misc device "iommu" (mode 0660).
  test('/dev/iommu is a character device', async ({ guest, requireConfig }) => {
    requireConfig('IOMMUFD')
    const a = await guest.agent()
    const r = await a.open('/dev/iommu', ['O_RDWR'])
    expect(errnoOf(r)).toBe('OK')
  })

  // drivers/vfio/device_cdev.c: vfio_init_device_cdev names the node vfio%d after the
  // device's index; sysfs shows it under <device>/vfio-dev/vfioN with its dev_t.
  test('every vfio-pci device has /dev/vfio/devices/vfioN matching sysfs vfio-dev/vfioN', async ({ guest, requireConfig }) => {
    requireConfig('VFIO_DEVICE_CDEV')
    // A device vfio-pci refuses to probe is a kernel result (FAIL at the end), not a harness error.
    const refused: string[] = []
    for (const id of testDevices) {
      const bdf = await guest.bdf(id)
      const r = await guest.exec(
        `d=/sys/bus/pci/devices/${bdf}; echo vfio-pci > $d/driver_override; [ -e $d/driver ] || echo ${bdf} > /sys/bus/pci/drivers_probe; ` +
          `[ "$(basename "$(readlink $d/driver)")" = vfio-pci ]`,
      )
      if (r.code !== 0) refused.push(`${id} (${bdf})`)
    }
    const rows = await guest.run(
      `for d in /sys/bus/pci/drivers/vfio-pci/0000:*; do b=\${d##*/}; n=$(ls $d/vfio-dev 2>/dev/null); ` +
        `echo "$b $n $(cat $d/vfio-dev/$n/dev 2>/dev/null) $(stat -c '%t:%T' /dev/vfio/devices/$n 2>/dev/null)"; done`,
    )
    const parsed = rows.trim().split('\n').map((l) => l.split(' '))
    expect(refused, 'devices vfio-pci refused to probe').toEqual([])
    expect(parsed.map((p) => p[0]).sort(), 'devices on vfio-pci').toEqual((await Promise.all(testDevices.map((id) => guest.bdf(id)))).sort())
    for (const [bdf, node, sysDev, devNode] of parsed) {
      expect(node, `${bdf}: no vfio-dev/vfioN in sysfs`).toMatch(/^vfio\d+$/)
      // sysfs dev is "major:minor" in decimal; stat %t:%T prints hex.
      const [maj, min] = (devNode ?? '').split(':').map((h) => parseInt(h, 16))
      expect(`${maj}:${min}`, `${bdf}: /dev/vfio/devices/${node} is missing or has another dev_t`).toBe(sysDev)
    }
  })

  test('an mtty mdev is created and removed, and its IOMMU group is its own', async ({ guest, requireMtty }) => {
    await requireMtty()
    const a = await guest.agent()
    const uuid = randomUUID()
    const type = `${MTTY_PARENT}/mdev_supported_types/mtty-2`
    expect(errnoOf(await a.writeFile(`${type}/create`, uuid))).toBe('OK')
    try {
      const dev = `/sys/bus/mdev/devices/${uuid}`
      const link = await a.readlink(`${dev}/iommu_group`)
      expect(errnoOf(link)).toBe('OK')
      const group = Number(link.target!.split('/').pop())
      const pciGroups = new Set((await guest.pciDevices()).map((d) => d.group).filter((g) => g !== undefined))
      expect(pciGroups.has(group), `mdev group ${group} is also a PCI device's group`).toBe(false)
      // The group holds the mdev alone, and VFIO made a group node for it.
      expect((await guest.run(`ls /sys/kernel/iommu_groups/${group}/devices`)).trim()).toBe(uuid)
      expect(errnoOf(await a.readlink(`/dev/vfio/${group}`))).toBe('EINVAL') // exists, not a link
    } finally {
      expect(errnoOf(await a.writeFile(`/sys/bus/mdev/devices/${uuid}/remove`, '1'))).toBe('OK')
    }
    expect(errnoOf(await a.readlink(`/sys/bus/mdev/devices/${uuid}`))).toBe('ENOENT')
  })
})
