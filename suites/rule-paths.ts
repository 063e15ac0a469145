// Rules the kernel enforces on more than one user-space path, and the check (error-return
// site, harness/coverage/sites.ts ids) that enforces each rule on each path in Linux 6.12.
// `vfio-conform coverage --rule-table docs/rule-paths.md` fills the table from a coverage
// run: each cell is the tests that run into that path's check, or the reason here why the
// path has no such check. A cell whose check no test reaches is a gap: a rule tested on one
// path only.
//
// Paths:
//   group-type1    /dev/vfio/N in a VFIO container (/dev/vfio/vfio) with the type1 backend
//   group-iommufd  /dev/vfio/N given an iommufd by VFIO_GROUP_SET_CONTAINER (iommufd's
//                  compat IOAS; the container ioctls are iommufd's vfio_compat.c)
//   cdev-ioas      /dev/vfio/devices/vfioN bound to an iommufd and attached to an IOAS
import type { TableCell, TableRule } from '../harness/coverage/rule-table.js'

export type RulePath = 'group-type1' | 'group-iommufd' | 'cdev-ioas'

export const RULE_PATHS: Record<RulePath, string> = {
  'group-type1': 'group + VFIO container (type1)',
  'group-iommufd': 'group + iommufd (compat IOAS)',
  'cdev-ioas': 'device cdev + iommufd IOAS',
}

/**
 * A path's check (TableCell): error-return site ids (any of them reached counts); or, for a
 * check that jumps with an errno set earlier (no site of its own), `check`: "file:function:
 * text of its if condition"; or why the path has no such check.
 */
export interface PathRule extends TableRule {
  paths: Record<RulePath, TableCell>
}

const G = 'drivers/vfio/group.c'
const C = 'drivers/vfio/container.c'
const T1 = 'drivers/vfio/vfio_iommu_type1.c'
const M = 'drivers/vfio/vfio_main.c'
const CD = 'drivers/vfio/device_cdev.c'
const IOPT = 'drivers/iommu/iommufd/io_pagetable.c'
const IOAS = 'drivers/iommu/iommufd/ioas.c'
const COMPAT = 'drivers/iommu/iommufd/vfio_compat.c'
const DEV = 'drivers/iommu/iommufd/device.c'
const PAGES = 'drivers/iommu/iommufd/pages.c'
const CORE = 'drivers/iommu/iommu.c'
const MAIN = 'drivers/iommu/iommufd/main.c'

// What makes a path, for checks in code the paths share (a test counts for the cell only if
// it also ran one of these): the type1 container's attach, the group's SET_CONTAINER with an
// iommufd (it creates the compat IOAS), the cdev's bind; the VFIO map/unmap ioctls on an
// iommufd (vfio_compat.c) and iommufd's own.
const VIA_CONTAINER = [`${C}:vfio_container_attach_group`]
const VIA_GROUP_IOMMUFD = [`${COMPAT}:iommufd_vfio_compat_ioas_create`]
const VIA_CDEV = [`${CD}:vfio_df_ioctl_bind_iommufd`]
const VIA_COMPAT_MAP = [`${COMPAT}:iommufd_vfio_map_dma`]
const VIA_IOAS_MAP = [`${IOAS}:iommufd_ioas_map`]
const VIA_COMPAT_UNMAP = [`${COMPAT}:iommufd_vfio_unmap_dma`]
const VIA_IOAS_UNMAP = [`${IOAS}:iommufd_ioas_unmap`]

export const PATH_RULES: PathRule[] = [
  {
    id: 'one-path-at-a-time',
    title: 'a device is used through its group or its cdev, not both (EBUSY)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_group_fops_open:EBUSY#1`] },
      'group-iommufd': { sites: [`${G}:vfio_group_fops_open:EBUSY#1`] },
      'cdev-ioas': { sites: [`${G}:vfio_device_block_group:EBUSY#1`] },
    },
  },
  {
    id: 'exclusive-open',
    title: 'one opener: a second open of the group (EBUSY), a second cdev bind of an opened device (EINVAL)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_group_fops_open:EBUSY#2`] },
      'group-iommufd': { sites: [`${G}:vfio_group_fops_open:EBUSY#2`] },
      'cdev-ioas': { sites: [`${M}:vfio_df_open:EINVAL#1`] },
    },
  },
  {
    id: 'dma-ownership',
    title: 'user DMA ownership excludes kernel drivers: a group with a device on a host driver cannot be claimed',
    paths: {
      // The container claims the group at SET_CONTAINER; iommufd claims per device at bind
      // (for a group given an iommufd: at GET_DEVICE_FD, vfio_df_group_open -> vfio_df_open).
      'group-type1': { sites: [`${CORE}:__iommu_take_dma_ownership:EBUSY#1`, `${CORE}:iommu_group_claim_dma_owner:EPERM#1`], via: VIA_CONTAINER },
      'group-iommufd': { sites: [`${CORE}:__iommu_take_dma_ownership:EBUSY#1`, `${CORE}:iommu_device_claim_dma_owner:EPERM#1`], via: VIA_GROUP_IOMMUFD },
      'cdev-ioas': { sites: [`${CORE}:__iommu_take_dma_ownership:EBUSY#1`, `${CORE}:iommu_device_claim_dma_owner:EPERM#1`], via: VIA_CDEV },
    },
  },
  {
    id: 'iommu-before-device',
    title: 'no device access before the IOMMU context is set (EINVAL)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_df_group_open:EINVAL#1`] },
      'group-iommufd': { sites: [`${G}:vfio_df_group_open:EINVAL#1`] },
      'cdev-ioas': { sites: [`${M}:vfio_device_fops_unl_ioctl:EINVAL#1`] },
    },
  },
  {
    id: 'set-once',
    title: 'the IOMMU context is set once: SET_CONTAINER twice, BIND_IOMMUFD twice (EINVAL)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_group_ioctl_set_container:EINVAL#1`] },
      'group-iommufd': { sites: [`${G}:vfio_group_ioctl_set_container:EINVAL#1`] },
      'cdev-ioas': { sites: [`${CD}:vfio_df_ioctl_bind_iommufd:EINVAL#3`] },
    },
  },
  {
    id: 'unset-in-use',
    title: 'the IOMMU context is not taken away while in use (EBUSY)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_group_ioctl_unset_container:EBUSY#1`] },
      'group-iommufd': { sites: [`${G}:vfio_group_ioctl_unset_container:EBUSY#1`] },
      // IOMMU_DESTROY of an IOAS or HWPT a device is attached to: its users count is not one.
      'cdev-ioas': { sites: [`${MAIN}:iommufd_object_remove:EBUSY#1`] },
    },
  },
  {
    id: 'msi-isolation',
    title: 'no user DMA without MSI isolation unless allow_unsafe_interrupts (EPERM)',
    paths: {
      'group-type1': { sites: [`${T1}:vfio_iommu_type1_attach_group:EPERM#1`] },
      'group-iommufd': { sites: [`${DEV}:iommufd_device_bind:EPERM#1`], via: VIA_GROUP_IOMMUFD },
      'cdev-ioas': { sites: [`${DEV}:iommufd_device_bind:EPERM#1`], via: VIA_CDEV },
    },
  },
  {
    id: 'noiommu-rawio',
    title: 'no-IOMMU mode needs CAP_SYS_RAWIO (EPERM)',
    paths: {
      'group-type1': { sites: [`${G}:vfio_group_fops_open:EPERM#1`, `${C}:vfio_noiommu_open:EPERM#1`, `${C}:vfio_container_attach_group:EPERM#1`] },
      'group-iommufd': { sites: [`${G}:vfio_group_fops_open:EPERM#1`, `${G}:vfio_df_group_open:EPERM#1`, `${COMPAT}:iommufd_vfio_set_iommu:EPERM#1`] },
      'cdev-ioas': { reason: '6.12 has no no-IOMMU cdev: a no-IOMMU device gets no /dev/vfio/devices node to open (no IOMMU group for iommufd to bind)' },
    },
  },
  {
    id: 'map-overlap',
    title: 'a mapping over a mapped IOVA range fails (EEXIST)',
    paths: {
      'group-type1': { sites: [`${T1}:vfio_dma_do_map:EEXIST#1`] },
      'group-iommufd': { sites: [`${IOPT}:iopt_check_iova:EEXIST#1`], via: VIA_COMPAT_MAP },
      'cdev-ioas': { sites: [`${IOPT}:iopt_check_iova:EEXIST#1`], via: VIA_IOAS_MAP },
    },
  },
  {
    id: 'map-no-access',
    title: 'a mapping with neither read nor write access fails (EINVAL)',
    paths: {
      'group-type1': { sites: [`${T1}:vfio_dma_do_map:EINVAL#2`] },
      'group-iommufd': {
        reason:
          "iommufd's VFIO compat has no such check: iommufd_vfio_map_dma (vfio_compat.c) takes a map without READ or WRITE (IOMMU_CACHE only) where type1's vfio_dma_do_map is EINVAL",
      },
      'cdev-ioas': { sites: [`${IOAS}:iommufd_ioas_map:EINVAL#1`] },
    },
  },
  {
    id: 'map-alignment',
    title: 'a mapping of a misaligned IOVA, address or size fails (EINVAL)',
    paths: {
      'group-type1': { sites: [`${T1}:vfio_dma_do_map:EINVAL#3`] },
      'group-iommufd': { sites: [`${IOPT}:iopt_check_iova:EINVAL#1`, `${IOPT}:iopt_alloc_area_pages:EINVAL#1`], via: VIA_COMPAT_MAP },
      'cdev-ioas': { sites: [`${IOPT}:iopt_check_iova:EINVAL#1`, `${IOPT}:iopt_alloc_area_pages:EINVAL#1`], via: VIA_IOAS_MAP },
    },
  },
  {
    id: 'unmap-partial',
    title: 'an unmap that splits a mapping fails (type1: EINVAL for a v2 container; iommufd: ENOENT)',
    paths: {
      // ret is -EINVAL from its declaration; this check jumps to the return (v2 containers).
      'group-type1': { check: `${T1}:vfio_dma_do_unmap:dma && dma->iova != iova` },
      'group-iommufd': { sites: [`${IOPT}:iopt_unmap_iova_range:ENOENT#1`], via: VIA_COMPAT_UNMAP },
      'cdev-ioas': { sites: [`${IOPT}:iopt_unmap_iova_range:ENOENT#1`], via: VIA_IOAS_UNMAP },
    },
  },
  {
    id: 'memlock',
    title: 'pinned pages count against RLIMIT_MEMLOCK (ENOMEM)',
    paths: {
      'group-type1': { sites: [`${T1}:vfio_pin_pages_remote:ENOMEM#1`] },
      // An iommufd opened as /dev/iommu accounts per user on the compat path too (only iommufd's
      // own /dev/vfio/vfio, IOMMUFD_VFIO_CONTAINER, defaults to VFIO's mm accounting:
      // iommufd_fops_open).
      'group-iommufd': { sites: [`${PAGES}:incr_user_locked_vm:ENOMEM#1`], via: VIA_COMPAT_MAP },
      'cdev-ioas': { sites: [`${PAGES}:incr_user_locked_vm:ENOMEM#1`], via: VIA_IOAS_MAP },
    },
  },
]

