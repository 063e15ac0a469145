// The ownership rules of one multi-device IOMMU group, as an executable model: who holds the
// group node, its container, which device fds are out, which cdevs are bound to which iommufd
// context, and for each operation the errno the kernel must return. Each rule names the kernel
// function that decides it (6.12 / 7.2 drivers/vfio/group.c, device_cdev.c, vfio_main.c;
// drivers/iommu/iommu.c), the same citations the hand-written suites use. Pure: the runner
// (harness/model/run.ts) applies the same operations to a real guest and compares.
//
// Scope of this first model: two processes (each with its own iommufd context), the two devices
// of the topology's multi-device group (both on vfio-pci), the legacy path (group open/close,
// SET_CONTAINER, SET_IOMMU, UNSET_CONTAINER, GET_DEVICE_FD, device fd close) and the cdev path (open, BIND,
// close), process exit and SIGKILL, group status, and an administrator moving a device from
// vfio-pci to an ordinary host driver (uio_pci_generic) and back, and each process's IOAS
// (alloc, attach, detach, destroy), and what a device's DMA reaches: each process maps one
// buffer at one IOVA in its container or IOAS, unmaps it, and makes a device it holds write to
// that IOVA (QEMU's edu device); the model says whose buffer the write lands in, or that the
// IOMMU blocks it. The administrator can also unbind vfio-pci from a device in use, as a
// hot-unplug does: the kernel must ask the device's users to let go. mdevs are not modelled yet.
//
// Where the two devices are all a bus reset reaches (ModelKernel.hotReset: the default
// topology's rp-mix pair), a process may also issue VFIO_DEVICE_PCI_HOT_RESET through a device
// fd (with its group fd, or the zero-length array) or a cdev (the zero-length array): who may
// reset is decided by vfio_pci_ioctl_pci_hot_reset, vfio_pci_dev_set_resettable and
// vfio_pci_dev_set_hot_reset (6.12 and 7.2 alike).

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
  /** An ordinary host driver to move a device to (uio_pci_generic, by driver_override). */
  hostDriver?: boolean
  /**
   * The two devices share one bus reset that reaches nothing else, and both can be reset
   * (the target's reset set): the hotReset ops are offered.
   */
  hotReset?: boolean
  /** A device is no edu (the rp-mix pair's e1000e): no DMA ops (map, unmap, dma) are offered. */
  noDma?: boolean
  /**
   * The two devices are an SR-IOV PF on vfio-pci (dev0) and one of its VFs (dev1), each a group
   * of its own (the igb topology), on a kernel whose cdev bind carries a VF token
   * (VFIO_DEVICE_BIND_FLAG_TOKEN, 7.2): only the cdev path, binds with or without a token, and
   * the PF owner's VFIO_DEVICE_FEATURE SET PCI_VF_TOKEN.
   */
  vfToken?: boolean
}

/** The model's two tokens (each sequence uses fresh UUIDs for them); 'initial' is the kernel's own, unknown to the processes. */
export type Token = 'T1' | 'T2'

export interface ModelState {
  /** The process whose group fd is the group's opened_file (vfio_group_fops_open allows one). */
  groupHolder?: Proc
  /** The holder closed its group fd but device fds keep the file (and the group) alive. */
  groupFdClosed: boolean
  /** SET_CONTAINER (+ SET_IOMMU) done on the held group. */
  container: boolean
  /** VFIO_SET_IOMMU (type1v2) done on that container: the group's devices can be opened. */
  iommuSet: boolean
  /** Legacy device fds per process and device (counts). */
  deviceFds: Record<Proc, [number, number]>
  /** Open cdev fds per process and device, and whether that fd is bound to the process's iommufd. */
  cdevs: Record<Proc, [CdevFd | undefined, CdevFd | undefined]>
  /** Each device's driver: vfio-pci (as the test starts), the host driver, or none (a refused bind). */
  driver: [DevDriver, DevDriver]
  /** Each process's IOAS in its iommufd context (one at most), and the devices attached to it. */
  ioas: Record<Proc, { attached: [boolean, boolean]; mapped: boolean } | undefined>
  /** The process's buffer is mapped at the model's IOVA in the group's container. */
  containerMapped: boolean
  /** ModelKernel.vfToken: the PF's VF token and how many VF opens count as its users (vf_token->users). */
  sriov?: { token: Token | 'initial'; users: number }
}

export type DevDriver = 'vfio-pci' | 'host' | 'none'

export interface CdevFd {
  bound: boolean
}

export function initialState(k?: ModelKernel): ModelState {
  return {
    groupFdClosed: false, container: false, iommuSet: false, deviceFds: { A: [0, 0], B: [0, 0] }, cdevs: { A: [undefined, undefined], B: [undefined, undefined] }, driver: ['vfio-pci', 'vfio-pci'], ioas: { A: undefined, B: undefined }, containerMapped: false,
    ...(k?.vfToken ? { sriov: { token: 'initial' as const, users: 0 } } : {}),
  }
}

/** Where a process maps its buffer: the group's container (type1) or its own IOAS. */
export type Space = 'container' | 'ioas'

export type Op =
  | { op: 'openGroup'; p: Proc }
  | { op: 'closeGroup'; p: Proc }
  /** VFIO_GROUP_SET_CONTAINER with the process's container fd (opened on first use). */
  | { op: 'setContainer'; p: Proc }
  /** VFIO_SET_IOMMU (VFIO_TYPE1v2_IOMMU) on that container. */
  | { op: 'setIommu'; p: Proc }
  | { op: 'unsetContainer'; p: Proc }
  | { op: 'getDeviceFd'; p: Proc; d: Dev }
  | { op: 'closeDeviceFd'; p: Proc; d: Dev }
  | { op: 'openCdev'; p: Proc; d: Dev }
  /** BIND_IOMMUFD, with VFIO_DEVICE_BIND_FLAG_TOKEN and the token when `token` is given (ModelKernel.vfToken). */
  | { op: 'bindCdev'; p: Proc; d: Dev; token?: Token }
  /** VFIO_DEVICE_FEATURE SET PCI_VF_TOKEN through p's bound cdev of d (ModelKernel.vfToken). */
  | { op: 'setToken'; p: Proc; d: Dev; token: Token }
  | { op: 'closeCdev'; p: Proc; d: Dev }
  | { op: 'exit'; p: Proc }
  | { op: 'kill'; p: Proc }
  | { op: 'groupStatus'; p: Proc }
  | { op: 'ioasAlloc'; p: Proc }
  | { op: 'attach'; p: Proc; d: Dev }
  | { op: 'detach'; p: Proc; d: Dev }
  | { op: 'destroyIoas'; p: Proc }
  /** The administrator (not A or B) unbinds vfio-pci from the device and binds the host driver. */
  | { op: 'hostBind'; d: Dev }
  /** ... and puts it back on vfio-pci. */
  | { op: 'toVfio'; d: Dev }
  /** Map the process's buffer at the model's IOVA in the space, read-write. */
  | { op: 'map'; p: Proc; space: Space }
  | { op: 'unmap'; p: Proc; space: Space }
  /** The process makes device d write to the model's IOVA (through a device fd or bound cdev it holds). */
  | { op: 'dma'; p: Proc; d: Dev }
  /**
   * The administrator unbinds vfio-pci from device d (what a hot-unplug does to it: both end in
   * vfio_unregister_group_dev); when someone holds the device, its users let go once asked.
   */
  | { op: 'unbindVfio'; d: Dev }
  /**
   * VFIO_DEVICE_PCI_HOT_RESET on p's fd of device d: a legacy device fd ('device': with p's
   * group fd when p holds it open, else the zero-length array) or a cdev ('cdev': the
   * zero-length array, bound or not).
   */
  | { op: 'hotReset'; p: Proc; d: Dev; via: 'device' | 'cdev' }

/** The errno an operation must return ("OK" for success), and the rule that decides it. */
export interface Prediction {
  errno: string
  rule: string
}

const cdevBound = (s: ModelState, d: Dev) => PROCS.some((p) => s.cdevs[p][d]?.bound)
const anyCdevBound = (s: ModelState) => DEVS.some((d) => cdevBound(s, d))
const deviceOpenLegacy = (s: ModelState, d: Dev) => PROCS.some((p) => s.deviceFds[p][d] > 0)
const heldBy = (s: ModelState, p: Proc) => s.groupHolder === p && !s.groupFdClosed
/** Any fd that names the device: vfio-pci's unbind would wait for it (not an op the model issues). */
const deviceInUse = (s: ModelState, d: Dev) => PROCS.some((p) => s.deviceFds[p][d] > 0 || !!s.cdevs[p][d])

/** A vfio fd of `p` through which device d can be driven (MMIO, config): a device fd or a bound cdev. */
const drives = (s: ModelState, p: Proc, d: Dev) => s.deviceFds[p][d] > 0 || !!s.cdevs[p][d]?.bound

/**
 * The address space the group's devices translate through, and whose it is: the container's
 * type1 domain while the group is in a container (vfio_iommu_type1_attach_group attaches the
 * whole group), or the owner's IOAS once one device of the group is attached to it
 * (iommufd_hw_pagetable_attach: the group's first attached device puts the whole group in the
 * domain, iommu_attach_group; the group's other devices translate through it too, attached or
 * not). Otherwise the owned group is in its blocking domain (__iommu_take_dma_ownership).
 */
export function dmaSpace(s: ModelState): { owner: Proc; space: Space; mapped: boolean } | undefined {
  if (s.container && s.iommuSet && s.groupHolder) return { owner: s.groupHolder, space: 'container', mapped: s.containerMapped }
  const owner = PROCS.find((q) => DEVS.some((d) => s.cdevs[q][d]?.bound))
  const io = owner && s.ioas[owner]
  if (owner && io && io.attached.some(Boolean)) return { owner, space: 'ioas', mapped: io.mapped }
  return undefined
}

const mappedIn = (s: ModelState, p: Proc, space: Space): boolean | undefined =>
  space === 'ioas' ? s.ioas[p]?.mapped : s.container && s.iommuSet && s.groupHolder === p ? s.containerMapped : undefined

/**
 * Whether the op can be issued at all (the process has the fd it needs). An op the runner
 * cannot express (no fd to pass) is not generated; everything else is, errors included.
 */
export function applicable(s: ModelState, k: ModelKernel, o: Op): boolean {
  switch (o.op) {
    case 'openGroup':
      // Also by the holder itself: a second open in the same process is EBUSY too. The group
      // node exists while a device of the group is on vfio-pci.
      return k.legacy && s.driver.includes('vfio-pci')
    case 'groupStatus':
      return heldBy(s, o.p)
    case 'ioasAlloc':
      return k.cdev && !s.ioas[o.p]
    case 'attach':
      return !!s.cdevs[o.p][o.d]?.bound && !!s.ioas[o.p] && !s.ioas[o.p]!.attached[o.d]
    case 'detach':
      return !!s.cdevs[o.p][o.d]?.bound && !!s.ioas[o.p]?.attached[o.d]
    case 'destroyIoas':
      return !!s.ioas[o.p]
    case 'hostBind':
      // Only a device nobody has open, and never the group's last vfio device (its node goes).
      return !!k.hostDriver && s.driver[o.d] === 'vfio-pci' && !deviceInUse(s, o.d) && s.driver[1 - o.d] === 'vfio-pci'
    case 'toVfio':
      return s.driver[o.d] !== 'vfio-pci'
    case 'closeGroup':
    case 'setContainer':
    case 'unsetContainer':
      return heldBy(s, o.p)
    case 'setIommu':
      // A container ioctl: the holder's container, once the group is in it (SET_IOMMU on a
      // container without a group is EINVAL too, but the model never has one).
      return heldBy(s, o.p) && s.container
    case 'getDeviceFd':
      return heldBy(s, o.p)
    case 'closeDeviceFd':
      return s.deviceFds[o.p][o.d] > 0
    case 'openCdev':
      return k.cdev && !s.cdevs[o.p][o.d] && s.driver[o.d] === 'vfio-pci'
    case 'bindCdev':
      return !!s.cdevs[o.p][o.d] && !s.cdevs[o.p][o.d]!.bound
    case 'closeCdev':
      return !!s.cdevs[o.p][o.d]
    case 'exit':
    case 'kill':
      return true
    case 'map':
      // Only into a space that exists and does not map the IOVA yet (a second map would be
      // EEXIST: not a rule of ownership, so not generated).
      return mappedIn(s, o.p, o.space) === false
    case 'unmap':
      return mappedIn(s, o.p, o.space) === true
    case 'dma':
      return drives(s, o.p, o.d)
    case 'unbindVfio':
      // As hostBind: never the group's last vfio device.
      return s.driver[o.d] === 'vfio-pci' && s.driver[1 - o.d] === 'vfio-pci'
    case 'hotReset':
      return !!k.hotReset && (o.via === 'device' ? s.deviceFds[o.p][o.d] > 0 : !!s.cdevs[o.p][o.d])
    case 'setToken':
      return !!k.vfToken && !!s.cdevs[o.p][o.d]?.bound
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
      // vfio_group_ioctl_set_container: "if (vfio_group_has_iommu(group)) -EINVAL" (one container);
      // vfio_container_attach_group -> iommu_group_claim_dma_owner: "if (group->owner_cnt) -EPERM"
      // (a host driver's probe took an owner count).
      if (s.container) return { errno: 'EINVAL', rule: 'vfio_group_ioctl_set_container: a container is already set' }
      if (s.driver.includes('host')) return { errno: 'EPERM', rule: 'iommu_group_claim_dma_owner: a device of the group is on a host driver (owner_cnt)' }
      return { errno: 'OK', rule: 'vfio_group_ioctl_set_container -> vfio_container_attach_group (iommu_group_claim_dma_owner)' }
    case 'getDeviceFd':
      // vfio_group_ioctl_get_device_fd: no vfio device of that name in the group -> -ENODEV;
      // vfio_df_group_open: "if (!vfio_group_has_iommu(group)) -EINVAL".
      if (s.driver[o.d] !== 'vfio-pci') return { errno: 'ENODEV', rule: 'vfio_group_ioctl_get_device_fd: the device is not a vfio device (not on vfio-pci)' }
      if (!s.container) return { errno: 'EINVAL', rule: 'vfio_df_group_open: no container set (vfio_group_has_iommu)' }
      if (!s.iommuSet) return { errno: 'EINVAL', rule: 'vfio_group_use_container: SET_CONTAINER done, VFIO_SET_IOMMU not yet (no iommu_driver)' }
      return { errno: 'OK', rule: 'vfio_group_ioctl_get_device_fd' }
    case 'closeDeviceFd':
      return { errno: 'OK', rule: 'close(2)' }
    case 'setIommu':
      // vfio_ioctl_set_iommu: "if (list_empty(&container->group_list) || container->iommu_driver) -EINVAL".
      if (s.iommuSet) return { errno: 'EINVAL', rule: 'vfio_ioctl_set_iommu: the container has its IOMMU driver already' }
      return { errno: 'OK', rule: 'vfio_ioctl_set_iommu -> vfio_iommu_type1_open, attach_group' }
    case 'unsetContainer':
      // vfio_group_ioctl_unset_container: "if (!vfio_group_has_iommu(group)) -EINVAL", then
      // "if (group->container_users != 1) -EBUSY": every opened device of the group holds a
      // container user (vfio_df_device_first_open -> vfio_group_use_container).
      if (!s.container) return { errno: 'EINVAL', rule: 'vfio_group_ioctl_unset_container: no container set' }
      if (DEVS.some((d) => deviceOpenLegacy(s, d))) return { errno: 'EBUSY', rule: 'vfio_group_ioctl_unset_container: a device of the group is open (container_users != 1)' }
      return { errno: 'OK', rule: 'vfio_group_ioctl_unset_container -> vfio_group_detach_container' }
    case 'openCdev':
      // vfio_device_fops_cdev_open: no ownership check at open.
      return { errno: 'OK', rule: 'vfio_device_fops_cdev_open' }
    case 'bindCdev':
      if (s.sriov) return predictSriovBind(s, o)
      // vfio_df_ioctl_bind_iommufd: vfio_device_block_group ("if (group->opened_file) -EBUSY"),
      // then vfio_df_open ("if (device->open_count != 0 && !df->group) -EINVAL"), then
      // iommufd_device_bind -> iommu_device_claim_dma_owner ("group->owner != owner: -EPERM").
      if (s.groupHolder) return { errno: 'EBUSY', rule: 'vfio_device_block_group: the group node is open' }
      if (cdevBound(s, o.d) || deviceOpenLegacy(s, o.d)) return { errno: 'EINVAL', rule: 'vfio_df_open: the device is open already (open_count)' }
      if (PROCS.some((q) => q !== o.p && DEVS.some((d) => s.cdevs[q][d]?.bound))) {
        return { errno: 'EPERM', rule: 'iommu_device_claim_dma_owner: the group is owned by another iommufd context' }
      }
      if (s.driver.includes('host')) return { errno: 'EPERM', rule: 'iommu_device_claim_dma_owner: a device of the group is on a host driver (owner_cnt, no owner)' }
      return { errno: 'OK', rule: 'vfio_df_ioctl_bind_iommufd' }
    case 'closeCdev':
      return { errno: 'OK', rule: 'close(2) (vfio_df_unbind_iommufd)' }
    case 'exit':
      return { errno: 'OK', rule: 'exit(2): every fd of the process closes' }
    case 'kill':
      return { errno: 'OK', rule: 'SIGKILL: do_exit closes every fd of the process' }
    case 'groupStatus': {
      // vfio_group_ioctl_get_status: with a container VIABLE | CONTAINER_SET; else VIABLE
      // unless iommu_group_dma_owner_claimed (a host driver's probe).
      const flags = s.container ? 3 : s.driver.includes('host') ? 0 : 1
      return { errno: `flags=${flags}`, rule: 'vfio_group_ioctl_get_status: VIABLE unless a host driver holds the group (iommu_group_dma_owner_claimed)' }
    }
    case 'hostBind':
      // really_probe -> pci_dma_configure -> iommu_device_use_default_domain: -EBUSY while the
      // group has an owner (a container, or an iommufd context through a bound cdev).
      if (s.container || anyCdevBound(s)) return { errno: 'EBUSY', rule: 'iommu_device_use_default_domain: the group is owned by userspace' }
      return { errno: 'OK', rule: 'bind_store -> really_probe' }
    case 'toVfio':
      // vfio-pci is driver_managed_dma: its probe takes no owner count.
      return { errno: 'OK', rule: 'vfio_pci_probe (driver_managed_dma)' }
    case 'ioasAlloc':
      return { errno: 'OK', rule: 'iommufd_ioas_alloc_ioctl' }
    case 'attach':
      // vfio_df_ioctl_attach_pt -> iommufd_device_attach: the group's devices of one owner share
      // the IOAS's automatic domain (iommufd_device_auto_get_domain).
      return { errno: 'OK', rule: 'iommufd_device_attach (auto domain of the IOAS)' }
    case 'detach':
      return { errno: 'OK', rule: 'vfio_df_ioctl_detach_pt -> iommufd_device_detach' }
    case 'destroyIoas':
      // iommufd_object_remove: "if (!refcount_dec_if_one(&obj->users)) -EBUSY" (an attached
      // device's automatic domain holds the IOAS).
      if (s.ioas[o.p]!.attached.some(Boolean)) return { errno: 'EBUSY', rule: 'iommufd_object_remove: the IOAS has users (an attached device)' }
      return { errno: 'OK', rule: 'iommufd_destroy' }
    case 'map':
      return { errno: 'OK', rule: o.space === 'ioas' ? 'iommufd_ioas_map (IOMMU_IOAS_MAP_FIXED_IOVA)' : 'vfio_dma_do_map' }
    case 'unmap':
      return { errno: 'OK', rule: o.space === 'ioas' ? 'iommufd_ioas_unmap' : 'vfio_dma_do_unmap' }
    case 'dma': {
      // The write lands in the buffer mapped at the IOVA in the group's space; unmapped means
      // gone from the IOMMU at once: the guests boot with iommu.strict=1, so iommu_unmap ends
      // in the driver's iotlb_sync (intel_iommu_tlb_sync) before UNMAP returns.
      const sp = dmaSpace(s)
      if (!sp) return { errno: 'blocked', rule: "the owned group is in its blocking domain (__iommu_take_dma_ownership): no space of the owner is attached" }
      if (!sp.mapped) return { errno: 'blocked', rule: `the group translates through ${sp.owner}'s ${sp.space}, which does not map the IOVA (never mapped, or unmapped: strict IOTLB invalidation)` }
      return { errno: `reached ${sp.owner}`, rule: `the group translates through ${sp.owner}'s ${sp.space} (${sp.space === 'ioas' ? 'iommufd_hw_pagetable_attach -> iommu_attach_group' : 'vfio_iommu_type1_attach_group'}), which maps the IOVA to ${sp.owner}'s buffer` }
    }
    case 'unbindVfio':
      // vfio_unregister_group_dev waits for every registration reference (each open device fd
      // and cdev: vfio_device_fops_release / vfio_device_fops_cdev_open), calling
      // device->ops->request each round; vfio_pci_core_request signals the request eventfd,
      // or (none registered, the model's users register none) warns "No device request
      // channel registered, blocked until released by user" once.
      if (deviceInUse(s, o.d)) return { errno: 'requested', rule: 'vfio_unregister_group_dev -> vfio_pci_core_request: the users of a device in use are asked to let go' }
      return { errno: 'OK', rule: 'vfio_unregister_group_dev: nobody holds the device' }
    case 'hotReset': {
      // A cdev fd answers device ioctls only once bound (vfio_device_fops_unl_ioctl:
      // "!df->access_granted: -EINVAL"). vfio_pci_ioctl_pci_hot_reset: "!!hdr.count ==
      // vfio_device_cdev_opened(): -EINVAL" (group fds only from a group-opened device, the
      // zero-length array only from a cdev-opened one). vfio_pci_dev_set_hot_reset ->
      // vfio_pci_dev_set_resettable: every device the bus reset reaches must be in the dev_set,
      // i.e. on vfio-pci, else -EINVAL. Then each device of the dev_set must be owned: in a
      // group whose fd was passed (legacy: the one group holds both devices), or bound to the
      // caller's iommufd, or unbound in a group the caller's iommufd owns
      // (vfio_iommufd_get_dev_id: -ENOENT counts as owned); in one group that always holds once
      // the caller reached the ioctl (another context cannot bind the group's other device:
      // iommu_device_claim_dma_owner).
      if (o.via === 'cdev' && !s.cdevs[o.p][o.d]!.bound) return { errno: 'EINVAL', rule: 'vfio_device_fops_unl_ioctl: the cdev is not bound (access_granted)' }
      if (o.via === 'device' && !heldBy(s, o.p)) {
        return { errno: 'EINVAL', rule: 'vfio_pci_ioctl_pci_hot_reset: the zero-length array (no group fd held) is only for cdev-opened devices' }
      }
      if (s.driver.some((d) => d !== 'vfio-pci')) {
        return { errno: 'EINVAL', rule: 'vfio_pci_dev_set_resettable: a device the bus reset reaches is not in the dev_set (not on vfio-pci)' }
      }
      return { errno: 'OK', rule: 'vfio_pci_dev_set_hot_reset: the caller owns every device of the dev_set' }
    }
    case 'setToken':
      // vfio_pci_core_feature_token: "if (!vdev->vf_token) -ENOTTY" (only a PF has one); the
      // PF's bound fd sets it (uuid_copy), VFs in use or not.
      if (o.d === 1) return { errno: 'ENOTTY', rule: 'vfio_pci_core_feature_token: a VF has no vf_token' }
      return { errno: 'OK', rule: 'vfio_pci_core_feature_token: the PF owner sets the VF token' }
  }
}

/**
 * BIND_IOMMUFD of the PF (dev0) or its VF (dev1), each a group of its own (ModelKernel.vfToken).
 * vfio_df_ioctl_bind_iommufd checks the token (vfio_df_check_token ->
 * vfio_pci_core_match_token_uuid) before it opens the device (vfio_df_open), so a PF bind whose
 * token check passes sets the token even when the open then fails.
 */
function predictSriovBind(s: ModelState, o: Extract<Op, { op: 'bindCdev' }>): Prediction {
  const sr = s.sriov!
  if (o.d === 1) {
    // The VF branch: the PF is on vfio-pci (sriov_pf_core_dev), so a token is required and must be the PF's.
    if (!o.token) return { errno: 'EACCES', rule: 'vfio_pci_core_match_token_uuid: a VF of a vfio-pci PF needs the VF token' }
    if (o.token !== sr.token) return { errno: 'EACCES', rule: "vfio_pci_core_match_token_uuid: not the PF's VF token" }
  } else if (sr.users > 0) {
    // The PF branch while a VF is in use (vf_token->users): the current token is required.
    if (!o.token) return { errno: 'EACCES', rule: 'vfio_pci_core_match_token_uuid: the PF has VFs in use, a token is required' }
    if (o.token !== sr.token) return { errno: 'EACCES', rule: 'vfio_pci_core_match_token_uuid: the PF has VFs in use, not their token' }
  }
  // vfio_df_open: "device->open_count != 0 && !df->group: -EINVAL" (bound through another cdev fd).
  if (cdevBound(s, o.d)) return { errno: 'EINVAL', rule: 'vfio_df_open: the device is open already (open_count)' }
  return { errno: 'OK', rule: 'vfio_df_ioctl_bind_iommufd (each its own group: no other owner to refuse)' }
}

/** What a PF bind's token check leaves behind (the token it sets with no VF in use), whatever the bind returned. */
function sriovTokenSideEffect(s: ModelState, o: Op): void {
  if (!s.sriov || o.op !== 'bindCdev' || o.d !== 0 || !o.token || s.sriov.users > 0) return
  s.sriov.token = o.token
}

/** The state after `o` returned `errno` (the model's own prediction when they agree). */
export function next(s0: ModelState, o: Op, errno: string): ModelState {
  const s: ModelState = structuredClone(s0)
  sriovTokenSideEffect(s, o)
  // A VF's first open makes it a user of the PF's token (vfio_pci_core_enable: users++), its
  // close gives that back (vfio_pci_core_disable: users--).
  const vfCloses = (p: Proc) => (s.sriov && s.cdevs[p][1]?.bound ? 1 : 0)
  // A refused host-driver bind leaves the device without a driver (vfio-pci was unbound first).
  if (o.op === 'hostBind' && errno !== 'OK') s.driver[o.d] = 'none'
  // An unbind that had to ask the users still completes (they let go).
  if (errno !== 'OK' && !(o.op === 'unbindVfio' && errno === 'requested')) return s
  // The container's last (only) group leaves: vfio_group_detach_container releases the
  // type1 IOMMU (driver->ops->release), every mapping with it; the container is unset.
  const dropContainer = () => {
    s.container = false
    s.iommuSet = false
    s.containerMapped = false
  }
  const releaseGroupIfDone = () => {
    // vfio_group_fops_release runs when the group file's last reference goes: the holder's
    // group fd and (legacy) the device fds, which hold the group file.
    const h = s.groupHolder
    if (h && s.groupFdClosed && s.deviceFds[h][0] + s.deviceFds[h][1] === 0) {
      s.groupHolder = undefined
      s.groupFdClosed = false
      dropContainer()
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
    case 'setIommu':
      s.iommuSet = true
      break
    case 'unsetContainer':
      dropContainer()
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
      if (s.sriov && o.d === 1) s.sriov.users++
      break
    case 'setToken':
      s.sriov!.token = o.token
      break
    case 'closeCdev':
      if (o.d === 1 && s.sriov) s.sriov.users -= vfCloses(o.p)
      s.cdevs[o.p][o.d] = undefined
      // Unbinding detaches (vfio_df_unbind_iommufd -> iommufd_device_unbind).
      if (s.ioas[o.p]) s.ioas[o.p]!.attached[o.d] = false
      break
    case 'hostBind':
      s.driver[o.d] = 'host'
      break
    case 'toVfio':
      s.driver[o.d] = 'vfio-pci'
      break
    case 'groupStatus':
      break
    case 'ioasAlloc':
      s.ioas[o.p] = { attached: [false, false], mapped: false }
      break
    case 'attach':
      s.ioas[o.p]!.attached[o.d] = true
      break
    case 'detach':
      s.ioas[o.p]!.attached[o.d] = false
      break
    case 'destroyIoas':
      s.ioas[o.p] = undefined
      break
    case 'exit':
    case 'kill':
      if (s.sriov) s.sriov.users -= vfCloses(o.p)
      s.ioas[o.p] = undefined
      s.deviceFds[o.p] = [0, 0]
      s.cdevs[o.p] = [undefined, undefined]
      if (s.groupHolder === o.p) s.groupFdClosed = true
      releaseGroupIfDone()
      break
    case 'map':
    case 'unmap':
      if (o.space === 'ioas') s.ioas[o.p]!.mapped = o.op === 'map'
      else s.containerMapped = o.op === 'map'
      break
    case 'dma':
    case 'hotReset':
      break
    case 'unbindVfio':
      // The users let go of the device when asked (every fd naming it closes); the unbind
      // then completes and leaves the device without a driver.
      for (const p of PROCS) {
        s.deviceFds[p][o.d] = 0
        s.cdevs[p][o.d] = undefined
        if (s.ioas[p]) s.ioas[p]!.attached[o.d] = false
      }
      s.driver[o.d] = 'none'
      releaseGroupIfDone()
      break
  }
  return s
}

export function describeOp(o: Op): string {
  const dev = 'd' in o ? ` dev${o.d}` : ''
  const space = 'space' in o ? ` ${o.space}` : 'via' in o ? ` ${o.via}` : 'token' in o && o.token ? ` token ${o.token}` : ''
  return `${'p' in o ? o.p : 'admin'}: ${o.op}${dev}${space}`
}
