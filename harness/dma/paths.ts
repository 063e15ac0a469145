// The two user APIs through which a process gives a device DMA access, written once for the
// DMA suites (like kselftest's FIXTURE_VARIANT): each takes devices into one address space of
// one process and maps/unmaps in it.
//   type1   - container + group (drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map/unmap)
//   iommufd - device cdev + IOAS (drivers/iommu/iommufd/ioas.c iommufd_ioas_map/unmap)
import type { GuestAgent, SysResult } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import type { KernelConfig } from '../kernel/config.js'
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../uapi/iommufd.js'
import { legacyMissing } from '../vfio/capabilities.js'
import { ioasMap, ioasUnmap, ownCdev } from '../vfio/iommufd.js'
import { getDeviceFd, holdGroup, mapDma, must, openGroup, setContainer, unmapDma } from '../vfio/legacy.js'
import { EduDevice } from './edu.js'

/** One page: what pageBuffer allocates and mapPage maps. */
export const PAGE = 4096

/** One process's DMA address space (a type1 container or an iommufd IOAS). */
export interface DmaSpace {
  map(va: bigint, iova: bigint, len: number, opts?: { readOnly?: boolean }): Promise<SysResult>
  unmap(iova: bigint, len: number): Promise<SysResult & { unmapped?: bigint }>
}

export interface Opened {
  space: DmaSpace
  devices: Map<string, EduDevice>
}

export interface DmaPath {
  name: 'type1' | 'iommufd'
  /** SKIP unless the kernel has the path. */
  require: (kconfig: KernelConfig | undefined, requireConfig: (...o: string[]) => void, skip: (note: string) => never) => void
  /** Take the devices (each in its own group, already on vfio-pci) into ONE space of agent `a`. */
  open: (guest: GuestSession, a: GuestAgent, nodeIds: string[]) => Promise<Opened>
}

export const DMA_PATHS: DmaPath[] = [
  {
    name: 'type1',
    require: (kconfig, _requireConfig, skip) => {
      const missing = legacyMissing(kconfig)
      if (missing) skip(missing)
    },
    open: async (guest, a, nodeIds) => {
      let container: number | undefined
      const devices = new Map<string, EduDevice>()
      for (const id of nodeIds) {
        const g = await guest.groupOf(id)
        let groupFd: number
        if (container === undefined) {
          // holdGroup: SET_CONTAINER + SET_IOMMU(TYPE1v2) (vfio_iommu_type1_attach_group).
          const held = await holdGroup(a, g.group)
          container = held.container
          groupFd = held.group
        } else {
          // A second group joins the same container: vfio_iommu_type1_attach_group reuses
          // the container's domain (or adds one) and replays every existing mapping into it.
          groupFd = must(await openGroup(a, g.group), `open /dev/vfio/${g.group}`)
          must(await setContainer(a, groupFd, container), `VFIO_GROUP_SET_CONTAINER (${id})`)
        }
        const fd = must(await getDeviceFd(a, groupFd, g.bdf(id)), `VFIO_GROUP_GET_DEVICE_FD (${id})`)
        devices.set(id, await EduDevice.open(a, fd, id))
      }
      const c = container!
      return {
        devices,
        space: {
          map: (va, iova, len, opts) => mapDma(a, c, { vaddr: va, iova, size: len, write: !opts?.readOnly }),
          unmap: (iova, len) => unmapDma(a, c, iova, len),
        },
      }
    },
  },
  {
    name: 'iommufd',
    require: (_kconfig, requireConfig) => requireConfig('IOMMUFD', 'VFIO_DEVICE_CDEV'),
    open: async (guest, a, nodeIds) => {
      let first: { iommufd: number; ioasId: number } | undefined
      const devices = new Map<string, EduDevice>()
      for (const id of nodeIds) {
        // BIND_IOMMUFD + ATTACH_IOMMUFD_PT; later devices attach to the first one's IOAS.
        const own = await ownCdev(a, guest, id, first ?? {})
        first ??= { iommufd: own.iommufd, ioasId: own.ioasId }
        devices.set(id, await EduDevice.open(a, own.devfd, id))
      }
      const { iommufd, ioasId } = first!
      return {
        devices,
        space: {
          map: (va, iova, len, opts) =>
            ioasMap(a, iommufd, {
              ioasId,
              userVa: va,
              length: len,
              iova,
              flags: IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | (opts?.readOnly ? 0 : IOMMU_IOAS_MAP_WRITEABLE),
            }),
          unmap: (iova, len) => ioasUnmap(a, iommufd, ioasId, iova, len),
        },
      }
    },
  },
]

/** Where two buffers first differ, for a failure message. */
export const hexdiff = (got: Buffer, want: Buffer): string => {
  const i = got.findIndex((b, k) => b !== want[k])
  return i < 0 ? 'equal' : `first difference at byte ${i}: got 0x${got[i]!.toString(16)}, want 0x${want[i]!.toString(16)}`
}


/** Agent memory of one page, filled with `fill` (a byte, or a buffer padded with zeros); read() gives its first `readLen` bytes. */
export async function pageBuffer(a: GuestAgent, fill: number | Buffer, readLen: number): Promise<{ addr: bigint; read: () => Promise<Buffer> }> {
  const mem = await a.memAlloc(PAGE)
  await a.memWrite(mem.addr, typeof fill === 'number' ? Buffer.alloc(PAGE, fill) : Buffer.concat([fill, Buffer.alloc(PAGE - fill.length)]))
  return { addr: mem.addr, read: () => a.memRead(mem.addr, readLen) }
}

/** Map the page at `buf` at `iova` in `space` (read-only when asked), or fail naming `what`. */
export async function mapPage(space: DmaSpace, buf: { addr: bigint }, iova: bigint, what: string, opts?: { readOnly?: boolean }): Promise<void> {
  must(await space.map(buf.addr, iova, PAGE, opts), `map ${what} at IOVA 0x${iova.toString(16)}${opts?.readOnly ? ' read-only' : ''}`)
}
