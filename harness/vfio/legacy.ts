// The legacy VFIO path (container + group, Documentation/driver-api/vfio.rst) expressed as
// agent calls. Each function is one ioctl and returns the raw SysResult, so that a suite
// asserts the exact errno; `must()` is for the steps a test needs to succeed before it
// can check what it is about (a failure there is still a kernel FAIL, with the step named).
import type { GuestAgent, SysResult } from '../agent/client.js'
import { s32Arg, cString } from '../uapi/ioctl.js'
import { decode, encode } from '../uapi/struct.js'
import {
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_GET_INFO,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_TYPE1v2_IOMMU,
  vfio_device_info,
  vfio_group_status,
  vfio_iommu_type1_dma_map,
  vfio_iommu_type1_dma_unmap,
} from '../uapi/vfio.js'

export const VFIO_CONTAINER_PATH = '/dev/vfio/vfio'
export const groupPath = (group: number) => `/dev/vfio/${group}`

export { errnoOf } from '../agent/client.js'

/** A step the test depends on: a failure is a FAIL naming the step and the errno. */
export function must(r: SysResult, step: string): number {
  if (r.errno) throw new Error(`${step} failed: ${r.errno} (ret ${r.ret})`)
  return r.ret
}

export const openContainer = (a: GuestAgent) => a.open(VFIO_CONTAINER_PATH, ['O_RDWR', 'O_CLOEXEC'])
export const openGroup = (a: GuestAgent, group: number) => a.open(groupPath(group), ['O_RDWR', 'O_CLOEXEC'])

export const apiVersion = (a: GuestAgent, container: number) => a.ioctl(container, VFIO_GET_API_VERSION)
export const checkExtension = (a: GuestAgent, container: number, ext: number) => a.ioctl(container, VFIO_CHECK_EXTENSION, ext)
export const setIommu = (a: GuestAgent, container: number, type = VFIO_TYPE1v2_IOMMU) => a.ioctl(container, VFIO_SET_IOMMU, type)

/** VFIO_GROUP_GET_STATUS; `flags` is undefined when the ioctl failed. */
export async function groupStatus(a: GuestAgent, group: number): Promise<SysResult & { flags?: number }> {
  const r = await a.ioctl(group, VFIO_GROUP_GET_STATUS, encode(vfio_group_status))
  return { ...r, flags: r.errno ? undefined : decode(vfio_group_status, r.data!).flags }
}

/** VFIO_GROUP_SET_CONTAINER takes a pointer to the container's fd (an s32). */
export const setContainer = (a: GuestAgent, group: number, container: number) =>
  a.ioctl(group, VFIO_GROUP_SET_CONTAINER, s32Arg(container))
export const unsetContainer = (a: GuestAgent, group: number) => a.ioctl(group, VFIO_GROUP_UNSET_CONTAINER)

/** VFIO_GROUP_GET_DEVICE_FD takes the device name (the PCI BDF) as a C string; ret is the new fd. */
export const getDeviceFd = (a: GuestAgent, group: number, name: string) => a.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, cString(name))

export async function deviceInfo(a: GuestAgent, device: number): Promise<SysResult & { info?: ReturnType<typeof decode<typeof vfio_device_info>> }> {
  const r = await a.ioctl(device, VFIO_DEVICE_GET_INFO, encode(vfio_device_info))
  return { ...r, info: r.errno ? undefined : decode(vfio_device_info, r.data!) }
}

export function mapDma(a: GuestAgent, container: number, m: { vaddr: bigint; iova: bigint | number; size: bigint | number; write?: boolean }) {
  const flags = VFIO_DMA_MAP_FLAG_READ | (m.write === false ? 0 : VFIO_DMA_MAP_FLAG_WRITE)
  return a.ioctl(container, VFIO_IOMMU_MAP_DMA, encode(vfio_iommu_type1_dma_map, { flags, vaddr: m.vaddr, iova: m.iova, size: m.size }))
}

/** VFIO_IOMMU_UNMAP_DMA; `unmapped` is the size the kernel reports it unmapped. */
export async function unmapDma(a: GuestAgent, container: number, iova: bigint | number, size: bigint | number): Promise<SysResult & { unmapped?: bigint }> {
  const r = await a.ioctl(container, VFIO_IOMMU_UNMAP_DMA, encode(vfio_iommu_type1_dma_unmap, { iova, size }))
  return { ...r, unmapped: r.errno ? undefined : decode(vfio_iommu_type1_dma_unmap, r.data!).size }
}

/**
 * The whole legacy path up to a usable container, for tests that need a group "held":
 * open the container and the group, SET_CONTAINER (this is where the kernel claims DMA
 * ownership of the group: drivers/vfio/container.c vfio_container_attach_group ->
 * iommu_group_claim_dma_owner) and SET_IOMMU(TYPE1v2).
 */
export async function holdGroup(a: GuestAgent, group: number): Promise<{ container: number; group: number }> {
  const container = must(await openContainer(a), `open ${VFIO_CONTAINER_PATH}`)
  const g = must(await openGroup(a, group), `open ${groupPath(group)}`)
  must(await setContainer(a, g, container), 'VFIO_GROUP_SET_CONTAINER')
  must(await setIommu(a, container), 'VFIO_SET_IOMMU(TYPE1v2)')
  return { container, group: g }
}
