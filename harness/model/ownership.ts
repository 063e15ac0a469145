// The ownership rules of one multi-device IOMMU group, as an executable model: who holds the
// group node, its container, which device fds are out, which cdevs are bound to which iommufd
// context, and for each operation the errno the kernel must return. Each rule names the kernel
// function that decides it (6.12 / 7.2 drivers/vfio/group.c, device_cdev.c, vfio_main.c;
// drivers/iommu/iommu.c), the same citations the hand-written suites use. Pure: the runner
// (harness/model/run.ts) applies the same operations to a real guest and compares.
//
// Scope of this first model: two processes (each with its own iommufd context), the two devices
// of the topology's multi-device group (both on vfio-pci), the legacy path (group open/close,
// SET_CONTAINER + SET_IOMMU, GET_DEVICE_FD, device fd close) and the cdev path (open, BIND,
// close), process exit and SIGKILL. Host drivers, IOAS attachment and mdevs are not modelled yet.

export type Proc = 'A' | 'B'
export type Dev = 0 | 1
export const PROCS: Proc[] = ['A', 'B']
export const DEVS: Dev[] = [0, 1]

/** What the kernel offers: the model is parametrised by it, not forked. */
export interface ModelKernel {
  /** VFIO's group + container path (legacyMissing() is undefined). */
  legacy: boolean
  /** iommufd and the device cdev. */
  cdev: boolean
}

export interface ModelState {
  /** The process whose group fd is the group's opened_file (vfio_group_fops_open allows one). */
  groupHolder?: Proc
  /** The holder closed its group fd but device fds keep the file (and the group) alive. */
  groupFdClosed: boolean
  /** SET_CONTAINER (+ SET_IOMMU) done on the held group. */
  container: boolean
  /** Legacy device fds per process and device (counts). */
  deviceFds: Record<Proc, [number, number]>
  /** Open cdev fds per process and device, and whether that fd is bound to the process's iommufd. */
  cdevs: Record<Proc, [CdevFd | undefined, CdevFd | undefined]>
}

export interface CdevFd {
  bound: boolean
}

export function initialState(): ModelState {
  return { groupFdClosed: false, container: false, deviceFds: { A: [0, 0], B: [0, 0] }, cdevs: { A: [undefined, undefined], B: [undefined, undefined] } }
}

export type Op =
  | { op: 'openGroup'; p: Proc }
  | { op: 'closeGroup'; p: Proc }
  | { op: 'setContainer'; p: Proc }
  | { op: 'getDeviceFd'; p: Proc; d: Dev }
  | { op: 'closeDeviceFd'; p: Proc; d: Dev }
  | { op: 'openCdev'; p: Proc; d: Dev }
  | { op: 'bindCdev'; p: Proc; d: Dev }
  | { op: 'closeCdev'; p: Proc; d: Dev }
  | { op: 'exit'; p: Proc }
  | { op: 'kill'; p: Proc }

/** The errno an operation must return ("OK" for success), and the rule that decides it. */
export interface Prediction {
  errno: string
  rule: string
}

const cdevBound = (s: ModelState, d: Dev) => PROCS.some((p) => s.cdevs[p][d]?.bound)
const anyCdevBound = (s: ModelState) => DEVS.some((d) => cdevBound(s, d))
const deviceOpenLegacy = (s: ModelState, d: Dev) => PROCS.some((p) => s.deviceFds[p][d] > 0)
const heldBy = (s: ModelState, p: Proc) => s.groupHolder === p && !s.groupFdClosed

/**
 * Whether the op can be issued at all (the process has the fd it needs). An op the runner
 * cannot express (no fd to pass) is not generated; everything else is, errors included.
 */
export function applicable(s: ModelState, k: ModelKernel, o: Op): boolean {
  switch (o.op) {
    case 'openGroup':
      // Also by the holder itself: a second open in the same process is EBUSY too.
      return k.legacy
    case 'closeGroup':
    case 'setContainer':
      return heldBy(s, o.p)
    case 'getDeviceFd':
      return heldBy(s, o.p)
    case 'closeDeviceFd':
      return s.deviceFds[o.p][o.d] > 0
    case 'openCdev':
      return k.cdev && !s.cdevs[o.p][o.d]
    case 'bindCdev':
      return !!s.cdevs[o.p][o.d] && !s.cdevs[o.p][o.d]!.bound
    case 'closeCdev':
      return !!s.cdevs[o.p][o.d]
    case 'exit':
    case 'kill':
      return true
  }
}

/** The kernel's answer to `o` in state `s`. */
export function predict(s: ModelState, o: Op): Prediction {
  switch (o.op) {
    case 'openGroup':
      // vfio_group_fops_open: "if (group->cdev_device_open_cnt) -EBUSY", then
      // "if (group->opened_file) -EBUSY" (one open at a time, whoever holds it).
      if (anyCdevBound(s)) return { errno: 'EBUSY', rule: 'vfio_group_fops_open: a device of the group is bound via cdev (cdev_device_open_cnt)' }
      if (s.groupHolder) return { errno: 'EBUSY', rule: 'vfio_group_fops_open: the group is open (group->opened_file)' }
      return { errno: 'OK', rule: 'vfio_group_fops_open' }
    case 'closeGroup':
      return { errno: 'OK', rule: 'close(2)' }
    case 'setContainer':
      // vfio_group_ioctl_set_container: "if (vfio_group_has_iommu(group)) -EINVAL" (one container).
      if (s.container) return { errno: 'EINVAL', rule: 'vfio_group_ioctl_set_container: a container is already set' }
      return { errno: 'OK', rule: 'vfio_group_ioctl_set_container -> vfio_container_attach_group (iommu_group_claim_dma_owner)' }
    case 'getDeviceFd':
      // vfio_df_group_open: "if (!vfio_group_has_iommu(group)) -EINVAL".
      if (!s.container) return { errno: 'EINVAL', rule: 'vfio_df_group_open: no container set' }
      return { errno: 'OK', rule: 'vfio_group_ioctl_get_device_fd' }
    case 'closeDeviceFd':
      return { errno: 'OK', rule: 'close(2)' }
    case 'openCdev':
      // vfio_device_fops_cdev_open: no ownership check at open.
      return { errno: 'OK', rule: 'vfio_device_fops_cdev_open' }
    case 'bindCdev':
      // vfio_df_ioctl_bind_iommufd: vfio_device_block_group ("if (group->opened_file) -EBUSY"),
      // then vfio_df_open ("if (device->open_count != 0 && !df->group) -EINVAL"), then
      // iommufd_device_bind -> iommu_device_claim_dma_owner ("group->owner != owner: -EPERM").
      if (s.groupHolder) return { errno: 'EBUSY', rule: 'vfio_device_block_group: the group node is open' }
      if (cdevBound(s, o.d) || deviceOpenLegacy(s, o.d)) return { errno: 'EINVAL', rule: 'vfio_df_open: the device is open already (open_count)' }
      if (PROCS.some((q) => q !== o.p && DEVS.some((d) => s.cdevs[q][d]?.bound))) {
        return { errno: 'EPERM', rule: 'iommu_device_claim_dma_owner: the group is owned by another iommufd context' }
      }
      return { errno: 'OK', rule: 'vfio_df_ioctl_bind_iommufd' }
    case 'closeCdev':
      return { errno: 'OK', rule: 'close(2) (vfio_df_unbind_iommufd)' }
    case 'exit':
      return { errno: 'OK', rule: 'exit(2): every fd of the process closes' }
    case 'kill':
      return { errno: 'OK', rule: 'SIGKILL: do_exit closes every fd of the process' }
  }
}

/** The state after `o` returned `errno` (the model's own prediction when they agree). */
export function next(s0: ModelState, o: Op, errno: string): ModelState {
  const s: ModelState = structuredClone(s0)
  if (errno !== 'OK') return s
  const releaseGroupIfDone = () => {
    // vfio_group_fops_release runs when the group file's last reference goes: the holder's
    // group fd and (legacy) the device fds, which hold the group file.
    const h = s.groupHolder
    if (h && s.groupFdClosed && s.deviceFds[h][0] + s.deviceFds[h][1] === 0) {
      s.groupHolder = undefined
      s.groupFdClosed = false
      s.container = false
    }
  }
  switch (o.op) {
    case 'openGroup':
      s.groupHolder = o.p
      s.groupFdClosed = false
      break
    case 'closeGroup':
      s.groupFdClosed = true
      releaseGroupIfDone()
      break
    case 'setContainer':
      s.container = true
      break
    case 'getDeviceFd':
      s.deviceFds[o.p][o.d]++
      break
    case 'closeDeviceFd':
      s.deviceFds[o.p][o.d]--
      releaseGroupIfDone()
      break
    case 'openCdev':
      s.cdevs[o.p][o.d] = { bound: false }
      break
    case 'bindCdev':
      s.cdevs[o.p][o.d]!.bound = true
      break
    case 'closeCdev':
      s.cdevs[o.p][o.d] = undefined
      break
    case 'exit':
    case 'kill':
      s.deviceFds[o.p] = [0, 0]
      s.cdevs[o.p] = [undefined, undefined]
      if (s.groupHolder === o.p) s.groupFdClosed = true
      releaseGroupIfDone()
      break
  }
  return s
}

export function describeOp(o: Op): string {
  const dev = 'd' in o ? ` dev${o.d}` : ''
  return `${o.p}: ${o.op}${dev}`
}
