// VFIO uapi: the legacy container/group interface and the device cdev's iommufd binding.
// Everything here comes from include/uapi/linux/vfio.h and is checked against Debian sid's
// linux-libc-dev by test/unit/uapi.test.ts (sizes, offsets, field types, every number).
//
// Structs are exported under their C names (vfio_group_status); constants and ioctl
// request numbers under their macro names (VFIO_GROUP_GET_STATUS).
//
//   const r = await agent.ioctl(groupFd, VFIO_GROUP_GET_STATUS, encode(vfio_group_status))
//   const st = decode(vfio_group_status, r.data!)
//   if (st.flags & VFIO_GROUP_FLAGS_VIABLE) ...
//
// Structs carry the fields of the newest header; the kernel's argsz/minsz rules accept the
// larger struct on older kernels as long as the newer fields are left 0.
import { _IO, defineIoctl, type Ioctl } from './ioctl.js'
import { bytes, defineStruct, f, s32, u16, u32, u64, u8 } from './struct.js'

const H = 'include/uapi/linux/vfio.h'

// ---- API version and extensions (VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU arguments) ----

/** include/uapi/linux/vfio.h */
export const VFIO_API_VERSION = 0
/** include/uapi/linux/vfio.h */
export const VFIO_TYPE1_IOMMU = 1
/** include/uapi/linux/vfio.h */
export const VFIO_SPAPR_TCE_IOMMU = 2
/** include/uapi/linux/vfio.h */
export const VFIO_TYPE1v2_IOMMU = 3
/** include/uapi/linux/vfio.h */
export const VFIO_DMA_CC_IOMMU = 4
/** include/uapi/linux/vfio.h */
export const VFIO_EEH = 5
/** include/uapi/linux/vfio.h */
export const VFIO_SPAPR_TCE_v2_IOMMU = 7
/** include/uapi/linux/vfio.h */
export const VFIO_NOIOMMU_IOMMU = 8
/** include/uapi/linux/vfio.h */
export const VFIO_UNMAP_ALL = 9
/** include/uapi/linux/vfio.h */
export const VFIO_UPDATE_VADDR = 10

/** include/uapi/linux/vfio.h: the ioctl type byte ';' */
export const VFIO_TYPE = 0x3b
/** include/uapi/linux/vfio.h */
export const VFIO_BASE = 100

// ---- Structs ----

/** include/uapi/linux/vfio.h: struct vfio_info_cap_header (capability chain entry) */
export const vfio_info_cap_header = defineStruct('vfio_info_cap_header', H, 8, {
  id: f(0, u16),
  version: f(2, u16),
  next: f(4, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_group_status (VFIO_GROUP_GET_STATUS) */
export const vfio_group_status = defineStruct('vfio_group_status', H, 8, {
  argsz: f(0, u32),
  flags: f(4, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_device_info (VFIO_DEVICE_GET_INFO) */
export const vfio_device_info = defineStruct('vfio_device_info', H, 24, {
  argsz: f(0, u32),
  flags: f(4, u32),
  num_regions: f(8, u32),
  num_irqs: f(12, u32),
  cap_offset: f(16, u32),
  pad: f(20, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_region_info (VFIO_DEVICE_GET_REGION_INFO) */
export const vfio_region_info = defineStruct('vfio_region_info', H, 32, {
  argsz: f(0, u32),
  flags: f(4, u32),
  index: f(8, u32),
  cap_offset: f(12, u32),
  size: f(16, u64),
  offset: f(24, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_irq_info (VFIO_DEVICE_GET_IRQ_INFO) */
export const vfio_irq_info = defineStruct('vfio_irq_info', H, 16, {
  argsz: f(0, u32),
  flags: f(4, u32),
  index: f(8, u32),
  count: f(12, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_irq_set (VFIO_DEVICE_SET_IRQS); data[] goes in encode's tail */
export const vfio_irq_set = defineStruct('vfio_irq_set', H, 20, {
  argsz: f(0, u32),
  flags: f(4, u32),
  index: f(8, u32),
  start: f(12, u32),
  count: f(16, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_pci_dependent_device (entries of vfio_pci_hot_reset_info.devices[]) */
export const vfio_pci_dependent_device = defineStruct('vfio_pci_dependent_device', H, 8, {
  group_id: f(0, u32),
  devid: f(0, u32),
  segment: f(4, u16),
  bus: f(6, u8),
  devfn: f(7, u8),
})

/** include/uapi/linux/vfio.h: struct vfio_pci_hot_reset_info (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO); devices[] follow */
export const vfio_pci_hot_reset_info = defineStruct('vfio_pci_hot_reset_info', H, 12, {
  argsz: f(0, u32),
  flags: f(4, u32),
  count: f(8, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_pci_hot_reset (VFIO_DEVICE_PCI_HOT_RESET); group_fds[] go in encode's tail */
export const vfio_pci_hot_reset = defineStruct('vfio_pci_hot_reset', H, 12, {
  argsz: f(0, u32),
  flags: f(4, u32),
  count: f(8, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_device_feature (VFIO_DEVICE_FEATURE); data[] goes in encode's tail */
export const vfio_device_feature = defineStruct('vfio_device_feature', H, 8, {
  argsz: f(0, u32),
  flags: f(4, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_device_bind_iommufd (VFIO_DEVICE_BIND_IOMMUFD) */
export const vfio_device_bind_iommufd = defineStruct('vfio_device_bind_iommufd', H, 24, {
  argsz: f(0, u32),
  flags: f(4, u32),
  iommufd: f(8, s32),
  out_devid: f(12, u32),
  token_uuid_ptr: f(16, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_device_attach_iommufd_pt (VFIO_DEVICE_ATTACH_IOMMUFD_PT) */
export const vfio_device_attach_iommufd_pt = defineStruct('vfio_device_attach_iommufd_pt', H, 16, {
  argsz: f(0, u32),
  flags: f(4, u32),
  pt_id: f(8, u32),
  pasid: f(12, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_device_detach_iommufd_pt (VFIO_DEVICE_DETACH_IOMMUFD_PT) */
export const vfio_device_detach_iommufd_pt = defineStruct('vfio_device_detach_iommufd_pt', H, 12, {
  argsz: f(0, u32),
  flags: f(4, u32),
  pasid: f(8, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_info (VFIO_IOMMU_GET_INFO) */
export const vfio_iommu_type1_info = defineStruct('vfio_iommu_type1_info', H, 24, {
  argsz: f(0, u32),
  flags: f(4, u32),
  iova_pgsizes: f(8, u64),
  cap_offset: f(16, u32),
  pad: f(20, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_iova_range (entries of the IOVA_RANGE capability) */
export const vfio_iova_range = defineStruct('vfio_iova_range', H, 16, {
  start: f(0, u64),
  end: f(8, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_info_cap_iova_range; iova_ranges[] follow */
export const vfio_iommu_type1_info_cap_iova_range = defineStruct('vfio_iommu_type1_info_cap_iova_range', H, 16, {
  header: f(0, bytes(8)),
  nr_iovas: f(8, u32),
  reserved: f(12, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_dma_map (VFIO_IOMMU_MAP_DMA) */
export const vfio_iommu_type1_dma_map = defineStruct('vfio_iommu_type1_dma_map', H, 32, {
  argsz: f(0, u32),
  flags: f(4, u32),
  vaddr: f(8, u64),
  iova: f(16, u64),
  size: f(24, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_dma_unmap (VFIO_IOMMU_UNMAP_DMA); data[] goes in encode's tail */
export const vfio_iommu_type1_dma_unmap = defineStruct('vfio_iommu_type1_dma_unmap', H, 24, {
  argsz: f(0, u32),
  flags: f(4, u32),
  iova: f(8, u64),
  size: f(16, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_bitmap (a dirty bitmap: one bit per pgsize page) */
export const vfio_bitmap = defineStruct('vfio_bitmap', H, 24, {
  pgsize: f(0, u64),
  size: f(8, u64),
  data: f(16, u64),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_dirty_bitmap (VFIO_IOMMU_DIRTY_PAGES); data[] goes in encode's tail */
export const vfio_iommu_type1_dirty_bitmap = defineStruct('vfio_iommu_type1_dirty_bitmap', H, 8, {
  argsz: f(0, u32),
  flags: f(4, u32),
})

/** include/uapi/linux/vfio.h: struct vfio_iommu_type1_dirty_bitmap_get (the data of DIRTY_PAGES_FLAG_GET_BITMAP); bitmap is a struct vfio_bitmap */
export const vfio_iommu_type1_dirty_bitmap_get = defineStruct('vfio_iommu_type1_dirty_bitmap_get', H, 40, {
  iova: f(0, u64),
  size: f(8, u64),
  bitmap: f(16, bytes(24)),
})

/** include/uapi/linux/vfio.h: struct vfio_device_ioeventfd (VFIO_DEVICE_IOEVENTFD) */
export const vfio_device_ioeventfd = defineStruct('vfio_device_ioeventfd', H, 32, {
  argsz: f(0, u32),
  flags: f(4, u32),
  offset: f(8, u64),
  data: f(16, u64),
  fd: f(24, s32),
  reserved: f(28, u32),
})

// ---- Flags and indexes ----

/** include/uapi/linux/vfio.h: vfio_group_status.flags */
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0
/** include/uapi/linux/vfio.h: vfio_group_status.flags */
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1

/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_AP = 1 << 5
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7
/** include/uapi/linux/vfio.h: vfio_device_info.flags */
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8
/** include/uapi/linux/vfio.h: the device_api string of a vfio-pci device */
export const VFIO_DEVICE_API_PCI_STRING = 'vfio-pci'

/** include/uapi/linux/vfio.h: vfio_region_info.flags */
export const VFIO_REGION_INFO_FLAG_READ = 1 << 0
/** include/uapi/linux/vfio.h: vfio_region_info.flags */
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1
/** include/uapi/linux/vfio.h: vfio_region_info.flags */
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2
/** include/uapi/linux/vfio.h: vfio_region_info.flags */
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3
/** include/uapi/linux/vfio.h: region capability id */
export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1
/** include/uapi/linux/vfio.h: region capability id */
export const VFIO_REGION_INFO_CAP_TYPE = 2
/** include/uapi/linux/vfio.h: region capability id */
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3

/** include/uapi/linux/vfio.h: vfio_irq_info.flags */
export const VFIO_IRQ_INFO_EVENTFD = 1 << 0
/** include/uapi/linux/vfio.h: vfio_irq_info.flags */
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1
/** include/uapi/linux/vfio.h: vfio_irq_info.flags */
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2
/** include/uapi/linux/vfio.h: vfio_irq_info.flags */
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3

/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_DATA_NONE = 1 << 0
/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1
/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2
/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3
/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4
/** include/uapi/linux/vfio.h: vfio_irq_set.flags */
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5

/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR0_REGION_INDEX = 0
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR1_REGION_INDEX = 1
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR2_REGION_INDEX = 2
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR3_REGION_INDEX = 3
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR4_REGION_INDEX = 4
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_BAR5_REGION_INDEX = 5
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_ROM_REGION_INDEX = 6
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_CONFIG_REGION_INDEX = 7
/** Where vfio-pci puts region `index` in the device fd: index << VFIO_PCI_OFFSET_SHIFT (40, include/linux/vfio_pci_core.h; not uapi, but every vfio-pci user relies on it). */
export const vfioPciRegionOffset = (index: number): bigint => BigInt(index) << 40n
/** include/uapi/linux/vfio.h: PCI region index */
export const VFIO_PCI_VGA_REGION_INDEX = 8
/** include/uapi/linux/vfio.h: number of fixed PCI region indexes */
export const VFIO_PCI_NUM_REGIONS = 9

/** include/uapi/linux/vfio.h: PCI IRQ index */
export const VFIO_PCI_INTX_IRQ_INDEX = 0
/** include/uapi/linux/vfio.h: PCI IRQ index */
export const VFIO_PCI_MSI_IRQ_INDEX = 1
/** include/uapi/linux/vfio.h: PCI IRQ index */
export const VFIO_PCI_MSIX_IRQ_INDEX = 2
/** include/uapi/linux/vfio.h: PCI IRQ index */
export const VFIO_PCI_ERR_IRQ_INDEX = 3
/** include/uapi/linux/vfio.h: PCI IRQ index */
export const VFIO_PCI_REQ_IRQ_INDEX = 4
/** include/uapi/linux/vfio.h: number of PCI IRQ indexes */
export const VFIO_PCI_NUM_IRQS = 5

/** include/uapi/linux/vfio.h: vfio_pci_hot_reset_info.flags */
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1 << 0
/** include/uapi/linux/vfio.h: vfio_pci_hot_reset_info.flags */
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1 << 1
/** include/uapi/linux/vfio.h: vfio_pci_dependent_device.devid of an owned device */
export const VFIO_PCI_DEVID_OWNED = 0
/** include/uapi/linux/vfio.h: vfio_pci_dependent_device.devid of a device not owned (as s32) */
export const VFIO_PCI_DEVID_NOT_OWNED = -1

/** include/uapi/linux/vfio.h: vfio_device_feature.flags: feature index mask */
export const VFIO_DEVICE_FEATURE_MASK = 0xffff
/** include/uapi/linux/vfio.h: vfio_device_feature.flags */
export const VFIO_DEVICE_FEATURE_GET = 1 << 16
/** include/uapi/linux/vfio.h: vfio_device_feature.flags */
export const VFIO_DEVICE_FEATURE_SET = 1 << 17
/** include/uapi/linux/vfio.h: vfio_device_feature.flags */
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_MIGRATION = 1
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY = 3
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP = 4
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_LOW_POWER_EXIT = 5
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP = 7
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9
/** include/uapi/linux/vfio.h: feature index */
export const VFIO_DEVICE_FEATURE_BUS_MASTER = 10

/** include/uapi/linux/vfio.h: vfio_device_bind_iommufd.flags */
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0
/** include/uapi/linux/vfio.h: vfio_device_attach_iommufd_pt.flags */
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0
/** include/uapi/linux/vfio.h: vfio_device_detach_iommufd_pt.flags */
export const VFIO_DEVICE_DETACH_PASID = 1 << 0

/** include/uapi/linux/vfio.h: vfio_iommu_type1_info.flags */
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0
/** include/uapi/linux/vfio.h: vfio_iommu_type1_info.flags */
export const VFIO_IOMMU_INFO_CAPS = 1 << 1
/** include/uapi/linux/vfio.h: type1 info capability id */
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1
/** include/uapi/linux/vfio.h: type1 info capability id */
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2
/** include/uapi/linux/vfio.h: type1 info capability id */
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3

/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_map.flags */
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_map.flags */
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_map.flags */
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_unmap.flags */
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_unmap.flags */
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dma_unmap.flags */
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dirty_bitmap.flags */
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_START = 1 << 0
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dirty_bitmap.flags */
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP = 1 << 1
/** include/uapi/linux/vfio.h: vfio_iommu_type1_dirty_bitmap.flags */
export const VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP = 1 << 2
/** include/uapi/linux/vfio.h: vfio_device_ioeventfd.flags (a 4-byte write) */
export const VFIO_DEVICE_IOEVENTFD_32 = 1 << 2
/** include/uapi/linux/vfio.h: vfio_device_ioeventfd.flags */
export const VFIO_DEVICE_IOEVENTFD_SIZE_MASK = 0xf

// ---- ioctl request numbers ----

/** include/uapi/linux/vfio.h: container; no argument; returns VFIO_API_VERSION */
export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0)
/** include/uapi/linux/vfio.h: container; int extension by value */
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1)
/** include/uapi/linux/vfio.h: container; int IOMMU type by value */
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2)
/** include/uapi/linux/vfio.h: group; struct vfio_group_status */
export const VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3)
/** include/uapi/linux/vfio.h: group; pointer to the container fd (s32Arg) */
export const VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4)
/** include/uapi/linux/vfio.h: group; no argument */
export const VFIO_GROUP_UNSET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 5)
/** include/uapi/linux/vfio.h: group; pointer to the device name (cString); returns a device fd */
export const VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6)
/** include/uapi/linux/vfio.h: device; struct vfio_device_info */
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7)
/** include/uapi/linux/vfio.h: device; struct vfio_region_info */
export const VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8)
/** include/uapi/linux/vfio.h: device; struct vfio_irq_info */
export const VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9)
/** include/uapi/linux/vfio.h: device; struct vfio_irq_set + data */
export const VFIO_DEVICE_SET_IRQS = _IO(VFIO_TYPE, VFIO_BASE + 10)
/** include/uapi/linux/vfio.h: device; no argument */
export const VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11)
/** include/uapi/linux/vfio.h: device; struct vfio_pci_hot_reset_info + devices */
export const VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12)
/** include/uapi/linux/vfio.h: device; struct vfio_pci_hot_reset + group fds */
export const VFIO_DEVICE_PCI_HOT_RESET = _IO(VFIO_TYPE, VFIO_BASE + 13)
/** include/uapi/linux/vfio.h: device; struct vfio_device_feature + data */
export const VFIO_DEVICE_FEATURE = _IO(VFIO_TYPE, VFIO_BASE + 17)
/** include/uapi/linux/vfio.h: device cdev; struct vfio_device_bind_iommufd */
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18)
/** include/uapi/linux/vfio.h: device cdev; struct vfio_device_attach_iommufd_pt */
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19)
/** include/uapi/linux/vfio.h: device cdev; struct vfio_device_detach_iommufd_pt */
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20)
/** include/uapi/linux/vfio.h: device; struct vfio_device_ioeventfd */
export const VFIO_DEVICE_IOEVENTFD = _IO(VFIO_TYPE, VFIO_BASE + 16)
/** include/uapi/linux/vfio.h: container (type1); struct vfio_iommu_type1_dirty_bitmap + data */
export const VFIO_IOMMU_DIRTY_PAGES = _IO(VFIO_TYPE, VFIO_BASE + 17)
/** include/uapi/linux/vfio.h: container (type1); struct vfio_iommu_type1_info */
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12)
/** include/uapi/linux/vfio.h: container (type1); struct vfio_iommu_type1_dma_map */
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13)
/** include/uapi/linux/vfio.h: container (type1); struct vfio_iommu_type1_dma_unmap */
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14)

/** include/uapi/linux/vfio.h: every ioctl above with the argument it takes. */
export const VFIO_IOCTLS: readonly Ioctl[] = [
  defineIoctl('VFIO_GET_API_VERSION', H, VFIO_GET_API_VERSION, 'none'),
  defineIoctl('VFIO_CHECK_EXTENSION', H, VFIO_CHECK_EXTENSION, 'int'),
  defineIoctl('VFIO_SET_IOMMU', H, VFIO_SET_IOMMU, 'int'),
  defineIoctl('VFIO_GROUP_GET_STATUS', H, VFIO_GROUP_GET_STATUS, vfio_group_status),
  defineIoctl('VFIO_GROUP_SET_CONTAINER', H, VFIO_GROUP_SET_CONTAINER, 's32-ptr'),
  defineIoctl('VFIO_GROUP_UNSET_CONTAINER', H, VFIO_GROUP_UNSET_CONTAINER, 'none'),
  defineIoctl('VFIO_GROUP_GET_DEVICE_FD', H, VFIO_GROUP_GET_DEVICE_FD, 'string'),
  defineIoctl('VFIO_DEVICE_GET_INFO', H, VFIO_DEVICE_GET_INFO, vfio_device_info),
  defineIoctl('VFIO_DEVICE_GET_REGION_INFO', H, VFIO_DEVICE_GET_REGION_INFO, vfio_region_info),
  defineIoctl('VFIO_DEVICE_GET_IRQ_INFO', H, VFIO_DEVICE_GET_IRQ_INFO, vfio_irq_info),
  defineIoctl('VFIO_DEVICE_SET_IRQS', H, VFIO_DEVICE_SET_IRQS, vfio_irq_set),
  defineIoctl('VFIO_DEVICE_RESET', H, VFIO_DEVICE_RESET, 'none'),
  defineIoctl('VFIO_DEVICE_GET_PCI_HOT_RESET_INFO', H, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, vfio_pci_hot_reset_info),
  defineIoctl('VFIO_DEVICE_PCI_HOT_RESET', H, VFIO_DEVICE_PCI_HOT_RESET, vfio_pci_hot_reset),
  defineIoctl('VFIO_DEVICE_FEATURE', H, VFIO_DEVICE_FEATURE, vfio_device_feature),
  defineIoctl('VFIO_DEVICE_BIND_IOMMUFD', H, VFIO_DEVICE_BIND_IOMMUFD, vfio_device_bind_iommufd),
  defineIoctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', H, VFIO_DEVICE_ATTACH_IOMMUFD_PT, vfio_device_attach_iommufd_pt),
  defineIoctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', H, VFIO_DEVICE_DETACH_IOMMUFD_PT, vfio_device_detach_iommufd_pt),
  defineIoctl('VFIO_IOMMU_GET_INFO', H, VFIO_IOMMU_GET_INFO, vfio_iommu_type1_info),
  defineIoctl('VFIO_IOMMU_MAP_DMA', H, VFIO_IOMMU_MAP_DMA, vfio_iommu_type1_dma_map),
  defineIoctl('VFIO_IOMMU_UNMAP_DMA', H, VFIO_IOMMU_UNMAP_DMA, vfio_iommu_type1_dma_unmap),
  defineIoctl('VFIO_DEVICE_IOEVENTFD', H, VFIO_DEVICE_IOEVENTFD, vfio_device_ioeventfd),
  defineIoctl('VFIO_IOMMU_DIRTY_PAGES', H, VFIO_IOMMU_DIRTY_PAGES, vfio_iommu_type1_dirty_bitmap),
]
