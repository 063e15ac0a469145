// Mediated devices (Documentation/driver-api/vfio-mediated-device.rst) of the mtty sample
// (samples/vfio-mdev/mtty.c): its parent registers types mtty-1 and mtty-2 under
// /sys/class/mdev_bus/mtty/mdev_supported_types; writing a UUID to a type's `create` makes an
// mdev (drivers/vfio/mdev/mdev_sysfs.c create_store -> mdev_core.c mdev_device_create), and
// writing 1 to the mdev's `remove` removes it (remove_store -> mdev_device_remove).
//
// Creating and removing go through an agent (GuestAgent.writeFile) so that a suite can assert
// the errno; reading sysfs (types, groups, cdev names) is plumbing through guest.run.
import { randomUUID } from 'node:crypto'
import type { GuestAgent, SysResult } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'

/** samples/vfio-mdev/mtty.c: mtty_dev_init registers the parent device "mtty" (class mtty). */
export const MTTY_PARENT = '/sys/class/mdev_bus/mtty'
export const MDEV_DEVICES = '/sys/bus/mdev/devices'

/** samples/vfio-mdev/mtty.c: "#define MAX_MTTYS 24", the initial value of mdev_avail_ports. */
export const MTTY_MAX_PORTS = 24

/**
 * samples/vfio-mdev/mtty.c mtty_types[]: type "1" has one port ("Single port serial"), "2"
 * two ("Dual port serial"); mdev_type_add names the type directory "<parent driver>-<name>".
 */
export const MTTY_TYPES: Record<string, { ports: number; name: string }> = {
  'mtty-1': { ports: 1, name: 'Single port serial' },
  'mtty-2': { ports: 2, name: 'Dual port serial' },
}

export interface MdevType {
  /** Directory name under mdev_supported_types, e.g. "mtty-2". */
  id: string
  name: string
  deviceApi: string
  availableInstances: number
}

export const typeDir = (type: string) => `${MTTY_PARENT}/mdev_supported_types/${type}`
export const mdevDir = (uuid: string) => `${MDEV_DEVICES}/${uuid}`

/** Every type of the mtty parent, read from sysfs. */
export async function listTypes(guest: GuestSession): Promise<MdevType[]> {
  const out = await guest.run(
    `for t in ${MTTY_PARENT}/mdev_supported_types/*; do ` +
      `echo "\${t##*/}|$(cat $t/available_instances)|$(cat $t/device_api)|$(cat $t/name)"; done`,
  )
  return out
    .trim()
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => {
      const [id, avail, deviceApi, name] = l.split('|')
      return { id: id!, availableInstances: Number(avail), deviceApi: deviceApi!, name: name! }
    })
}

/** The mdevs that exist now, with their type (the mdev_type link's last component). */
export async function listMdevs(guest: GuestSession): Promise<Array<{ uuid: string; type: string }>> {
  const out = await guest.run(`for d in ${MDEV_DEVICES}/*; do [ -e "$d" ] || continue; t=$(readlink $d/mdev_type); echo "\${d##*/} \${t##*/}"; done`)
  return out
    .trim()
    .split('\n')
    .filter((l) => l.includes(' '))
    .map((l) => {
      const [uuid, type] = l.split(' ')
      return { uuid: uuid!, type: type! }
    })
}

/** Ports of the mtty pool in use by existing mdevs (mtty_init_dev takes type->nr_ports). */
export async function mttyPortsInUse(guest: GuestSession): Promise<number> {
  return (await listMdevs(guest)).reduce((n, m) => n + (MTTY_TYPES[m.type]?.ports ?? 0), 0)
}

/** Writes a UUID into the type's `create`; the result is the write's (create_store's) errno. */
export async function createMdev(a: GuestAgent, type: string, uuid: string = randomUUID()): Promise<SysResult & { uuid: string }> {
  return { ...(await a.writeFile(`${typeDir(type)}/create`, uuid)), uuid }
}

/** Writes 1 into the mdev's `remove` (remove_store). May block: see the mdev suite. */
export function removeMdev(a: GuestAgent, uuid: string): Promise<SysResult> {
  return a.writeFile(`${mdevDir(uuid)}/remove`, '1')
}

export async function mdevExists(guest: GuestSession, uuid: string): Promise<boolean> {
  return (await guest.run(`[ -e ${mdevDir(uuid)} ] && echo yes || echo no`)).trim() === 'yes'
}

/** The IOMMU group number of an mdev (its iommu_group link). */
export async function mdevGroup(guest: GuestSession, uuid: string): Promise<number> {
  const t = (await guest.run(`readlink ${mdevDir(uuid)}/iommu_group`)).trim()
  const n = Number(t.split('/').pop())
  if (!t || !Number.isInteger(n)) throw new HarnessError(`${HARNESS_ERROR_TAG} mdev ${uuid}: no iommu_group link (${t})`)
  return n
}

/** The mdev's VFIO device cdev, /dev/vfio/devices/vfioN (drivers/vfio/device_cdev.c vfio_device_devnode). */
export async function mdevCdev(guest: GuestSession, uuid: string): Promise<string> {
  const n = (await guest.run(`ls ${mdevDir(uuid)}/vfio-dev 2>/dev/null`)).trim()
  if (!/^vfio\d+$/.test(n)) throw new HarnessError(`${HARNESS_ERROR_TAG} mdev ${uuid}: no vfio-dev/vfioN in sysfs (${n})`)
  await guest.run(`for i in $(seq 50); do [ -e /dev/vfio/devices/${n} ] && exit 0; sleep 0.1; done; echo "/dev/vfio/devices/${n} never appeared" >&2; exit 1`)
  return `/dev/vfio/devices/${n}`
}

/** Waits until /dev/vfio/N of an mdev's group exists (devtmpfs creates it asynchronously). */
export async function waitGroupNode(guest: GuestSession, group: number): Promise<void> {
  await guest.run(`for i in $(seq 50); do [ -e /dev/vfio/${group} ] && exit 0; sleep 0.1; done; echo "/dev/vfio/${group} never appeared" >&2; exit 1`)
}

/**
 * Removes mdevs as plumbing (test clean-up): every agent of the test must be closed first,
 * or a remove can block on an open device (vfio_unregister_group_dev waits for it).
 */
export async function removeMdevsQuietly(guest: GuestSession, uuids: Iterable<string>): Promise<string[]> {
  const failed: string[] = []
  for (const u of uuids) {
    try {
      const r = await guest.exec(`[ -e ${mdevDir(u)}/remove ] || exit 0; echo 1 > ${mdevDir(u)}/remove`, { timeoutMs: 60_000 })
      if (r.code !== 0) failed.push(`${u}: ${r.stderr.trim() || `exit ${r.code}`}`)
    } catch (e) {
      failed.push(`${u}: ${(e as Error).message}`)
    }
  }
  return failed
}
