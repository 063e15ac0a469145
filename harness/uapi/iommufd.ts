// iommufd uapi (/dev/iommu). Everything here comes from include/uapi/linux/iommufd.h and is
// checked against Debian sid's linux-libc-dev by test/unit/uapi.test.ts.
//
// Every iommufd ioctl takes a struct whose first u32, `size`, is sizeof the struct; encode()
// fills it in. The kernel accepts a larger struct than it knows as long as the extra bytes
// are 0 (E2BIG otherwise), so the newest layouts here work on older kernels too.
//
//   const r = await agent.ioctl(iommufd, IOMMU_IOAS_ALLOC, encode(iommu_ioas_alloc))
//   const ioasId = decode(iommu_ioas_alloc, r.data!).out_ioas_id
import { _IO, defineIoctl, type Ioctl } from './ioctl.js'
import { bytes, defineStruct, f, s32, u16, u32, u64, u8 } from './struct.js'

const H = 'include/uapi/linux/iommufd.h'
const SIZE = { sizeField: 'size' } as const

/** include/uapi/linux/iommufd.h: the ioctl type byte ';' */
export const IOMMUFD_TYPE = 0x3b

// ---- Command numbering (enum in the header) ----

/** include/uapi/linux/iommufd.h: first command number */
export const IOMMUFD_CMD_BASE = 0x80
/** include/uapi/linux/iommufd.h: command number of IOMMU_DESTROY */
export const IOMMUFD_CMD_DESTROY = 0x80
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_ALLOC */
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_ALLOW_IOVAS */
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_COPY */
export const IOMMUFD_CMD_IOAS_COPY = 0x83
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_IOVA_RANGES */
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_MAP */
export const IOMMUFD_CMD_IOAS_MAP = 0x85
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_UNMAP */
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86
/** include/uapi/linux/iommufd.h: command number of IOMMU_OPTION */
export const IOMMUFD_CMD_OPTION = 0x87
/** include/uapi/linux/iommufd.h: command number of IOMMU_VFIO_IOAS */
export const IOMMUFD_CMD_VFIO_IOAS = 0x88
/** include/uapi/linux/iommufd.h: command number of IOMMU_HWPT_ALLOC */
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89
/** include/uapi/linux/iommufd.h: command number of IOMMU_GET_HW_INFO */
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a
/** include/uapi/linux/iommufd.h: command number of IOMMU_HWPT_SET_DIRTY_TRACKING */
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b
/** include/uapi/linux/iommufd.h: command number of IOMMU_HWPT_GET_DIRTY_BITMAP */
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c
/** include/uapi/linux/iommufd.h: command number of IOMMU_HWPT_INVALIDATE */
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d
/** include/uapi/linux/iommufd.h: command number of IOMMU_FAULT_QUEUE_ALLOC */
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_MAP_FILE */
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f
/** include/uapi/linux/iommufd.h: command number of IOMMU_VIOMMU_ALLOC */
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90
/** include/uapi/linux/iommufd.h: command number of IOMMU_VDEVICE_ALLOC */
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91
/** include/uapi/linux/iommufd.h: command number of IOMMU_IOAS_CHANGE_PROCESS */
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92
/** include/uapi/linux/iommufd.h: command number of IOMMU_VEVENTQ_ALLOC */
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93
/** include/uapi/linux/iommufd.h: command number of IOMMU_HW_QUEUE_ALLOC */
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94

// ---- Structs ----

/** include/uapi/linux/iommufd.h: struct iommu_destroy (IOMMU_DESTROY) */
export const iommu_destroy = defineStruct('iommu_destroy', H, 8, {
  size: f(0, u32),
  id: f(4, u32),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_alloc (IOMMU_IOAS_ALLOC) */
export const iommu_ioas_alloc = defineStruct('iommu_ioas_alloc', H, 12, {
  size: f(0, u32),
  flags: f(4, u32),
  out_ioas_id: f(8, u32),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_iova_range (array entries of iova_ranges / allow_iovas) */
export const iommu_iova_range = defineStruct('iommu_iova_range', H, 16, {
  start: f(0, u64),
  last: f(8, u64),
})

/** include/uapi/linux/iommufd.h: struct iommu_ioas_iova_ranges (IOMMU_IOAS_IOVA_RANGES) */
export const iommu_ioas_iova_ranges = defineStruct('iommu_ioas_iova_ranges', H, 32, {
  size: f(0, u32),
  ioas_id: f(4, u32),
  num_iovas: f(8, u32),
  __reserved: f(12, u32),
  allowed_iovas: f(16, u64),
  out_iova_alignment: f(24, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_allow_iovas (IOMMU_IOAS_ALLOW_IOVAS) */
export const iommu_ioas_allow_iovas = defineStruct('iommu_ioas_allow_iovas', H, 24, {
  size: f(0, u32),
  ioas_id: f(4, u32),
  num_iovas: f(8, u32),
  __reserved: f(12, u32),
  allowed_iovas: f(16, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_map (IOMMU_IOAS_MAP) */
export const iommu_ioas_map = defineStruct('iommu_ioas_map', H, 40, {
  size: f(0, u32),
  flags: f(4, u32),
  ioas_id: f(8, u32),
  __reserved: f(12, u32),
  user_va: f(16, u64),
  length: f(24, u64),
  iova: f(32, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_map_file (IOMMU_IOAS_MAP_FILE) */
export const iommu_ioas_map_file = defineStruct('iommu_ioas_map_file', H, 40, {
  size: f(0, u32),
  flags: f(4, u32),
  ioas_id: f(8, u32),
  fd: f(12, s32),
  start: f(16, u64),
  length: f(24, u64),
  iova: f(32, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_copy (IOMMU_IOAS_COPY) */
export const iommu_ioas_copy = defineStruct('iommu_ioas_copy', H, 40, {
  size: f(0, u32),
  flags: f(4, u32),
  dst_ioas_id: f(8, u32),
  src_ioas_id: f(12, u32),
  length: f(16, u64),
  dst_iova: f(24, u64),
  src_iova: f(32, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_ioas_unmap (IOMMU_IOAS_UNMAP) */
export const iommu_ioas_unmap = defineStruct('iommu_ioas_unmap', H, 24, {
  size: f(0, u32),
  ioas_id: f(4, u32),
  iova: f(8, u64),
  length: f(16, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_option (IOMMU_OPTION) */
export const iommu_option = defineStruct('iommu_option', H, 24, {
  size: f(0, u32),
  option_id: f(4, u32),
  op: f(8, u16),
  __reserved: f(10, u16),
  object_id: f(12, u32),
  val64: f(16, u64),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_vfio_ioas (IOMMU_VFIO_IOAS) */
export const iommu_vfio_ioas = defineStruct('iommu_vfio_ioas', H, 12, {
  size: f(0, u32),
  ioas_id: f(4, u32),
  op: f(8, u16),
  __reserved: f(10, u16),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_hwpt_alloc (IOMMU_HWPT_ALLOC) */
export const iommu_hwpt_alloc = defineStruct('iommu_hwpt_alloc', H, 48, {
  size: f(0, u32),
  flags: f(4, u32),
  dev_id: f(8, u32),
  pt_id: f(12, u32),
  out_hwpt_id: f(16, u32),
  __reserved: f(20, u32),
  data_type: f(24, u32),
  data_len: f(28, u32),
  data_uptr: f(32, u64),
  fault_id: f(40, u32),
  __reserved2: f(44, u32),
}, SIZE)

/** include/uapi/linux/iommufd.h: struct iommu_hw_info (IOMMU_GET_HW_INFO); in_data_type and out_data_type share a union */
export const iommu_hw_info = defineStruct('iommu_hw_info', H, 40, {
  size: f(0, u32),
  flags: f(4, u32),
  dev_id: f(8, u32),
  data_len: f(12, u32),
  data_uptr: f(16, u64),
  in_data_type: f(24, u32),
  out_data_type: f(24, u32),
  out_max_pasid_log2: f(28, u8),
  __reserved: f(29, bytes(3)),
  out_capabilities: f(32, u64),
}, SIZE)

// ---- Flags and enums ----

/** include/uapi/linux/iommufd.h: enum iommufd_ioas_map_flags */
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0
/** include/uapi/linux/iommufd.h: enum iommufd_ioas_map_flags */
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1
/** include/uapi/linux/iommufd.h: enum iommufd_ioas_map_flags */
export const IOMMU_IOAS_MAP_READABLE = 1 << 2

/** include/uapi/linux/iommufd.h: enum iommufd_option */
export const IOMMU_OPTION_RLIMIT_MODE = 0
/** include/uapi/linux/iommufd.h: enum iommufd_option */
export const IOMMU_OPTION_HUGE_PAGES = 1
/** include/uapi/linux/iommufd.h: enum iommufd_option_ops */
export const IOMMU_OPTION_OP_SET = 0
/** include/uapi/linux/iommufd.h: enum iommufd_option_ops */
export const IOMMU_OPTION_OP_GET = 1

/** include/uapi/linux/iommufd.h: enum iommufd_vfio_ioas_op */
export const IOMMU_VFIO_IOAS_GET = 0
/** include/uapi/linux/iommufd.h: enum iommufd_vfio_ioas_op */
export const IOMMU_VFIO_IOAS_SET = 1
/** include/uapi/linux/iommufd.h: enum iommufd_vfio_ioas_op */
export const IOMMU_VFIO_IOAS_CLEAR = 2

/** include/uapi/linux/iommufd.h: enum iommufd_hwpt_alloc_flags */
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0
/** include/uapi/linux/iommufd.h: enum iommufd_hwpt_alloc_flags */
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1
/** include/uapi/linux/iommufd.h: enum iommufd_hwpt_alloc_flags */
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2
/** include/uapi/linux/iommufd.h: enum iommufd_hwpt_alloc_flags */
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3

/** include/uapi/linux/iommufd.h: enum iommu_hwpt_data_type */
export const IOMMU_HWPT_DATA_NONE = 0
/** include/uapi/linux/iommufd.h: enum iommu_hwpt_data_type */
export const IOMMU_HWPT_DATA_VTD_S1 = 1
/** include/uapi/linux/iommufd.h: enum iommu_hwpt_data_type */
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2

/** include/uapi/linux/iommufd.h: enum iommu_hw_info_type */
export const IOMMU_HW_INFO_TYPE_NONE = 0
/** include/uapi/linux/iommufd.h: enum iommu_hw_info_type */
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1
/** include/uapi/linux/iommufd.h: enum iommu_hw_info_type */
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2
/** include/uapi/linux/iommufd.h: enum iommufd_hw_capabilities */
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0

// ---- ioctl request numbers ----

/** include/uapi/linux/iommufd.h: struct iommu_destroy */
export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_alloc */
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_allow_iovas */
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_copy */
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_iova_ranges */
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_map */
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_unmap */
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)
/** include/uapi/linux/iommufd.h: struct iommu_option */
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)
/** include/uapi/linux/iommufd.h: struct iommu_vfio_ioas */
export const IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS)
/** include/uapi/linux/iommufd.h: struct iommu_hwpt_alloc */
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_hw_info */
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)
/** include/uapi/linux/iommufd.h: struct iommu_hwpt_set_dirty_tracking (layout not modelled here) */
export const IOMMU_HWPT_SET_DIRTY_TRACKING = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)
/** include/uapi/linux/iommufd.h: struct iommu_hwpt_get_dirty_bitmap (layout not modelled here) */
export const IOMMU_HWPT_GET_DIRTY_BITMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)
/** include/uapi/linux/iommufd.h: struct iommu_hwpt_invalidate (layout not modelled here) */
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)
/** include/uapi/linux/iommufd.h: struct iommu_fault_alloc (layout not modelled here) */
export const IOMMU_FAULT_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_map_file */
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE)
/** include/uapi/linux/iommufd.h: struct iommu_viommu_alloc (layout not modelled here) */
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_vdevice_alloc (layout not modelled here) */
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_ioas_change_process (layout not modelled here) */
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS)
/** include/uapi/linux/iommufd.h: struct iommu_veventq_alloc (layout not modelled here) */
export const IOMMU_VEVENTQ_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC)
/** include/uapi/linux/iommufd.h: struct iommu_hw_queue_alloc (layout not modelled here) */
export const IOMMU_HW_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC)

/** include/uapi/linux/iommufd.h: the ioctls whose argument struct is modelled above. */
export const IOMMUFD_IOCTLS: readonly Ioctl[] = [
  defineIoctl('IOMMU_DESTROY', H, IOMMU_DESTROY, iommu_destroy),
  defineIoctl('IOMMU_IOAS_ALLOC', H, IOMMU_IOAS_ALLOC, iommu_ioas_alloc),
  defineIoctl('IOMMU_IOAS_ALLOW_IOVAS', H, IOMMU_IOAS_ALLOW_IOVAS, iommu_ioas_allow_iovas),
  defineIoctl('IOMMU_IOAS_COPY', H, IOMMU_IOAS_COPY, iommu_ioas_copy),
  defineIoctl('IOMMU_IOAS_IOVA_RANGES', H, IOMMU_IOAS_IOVA_RANGES, iommu_ioas_iova_ranges),
  defineIoctl('IOMMU_IOAS_MAP', H, IOMMU_IOAS_MAP, iommu_ioas_map),
  defineIoctl('IOMMU_IOAS_UNMAP', H, IOMMU_IOAS_UNMAP, iommu_ioas_unmap),
  defineIoctl('IOMMU_OPTION', H, IOMMU_OPTION, iommu_option),
  defineIoctl('IOMMU_VFIO_IOAS', H, IOMMU_VFIO_IOAS, iommu_vfio_ioas),
  defineIoctl('IOMMU_HWPT_ALLOC', H, IOMMU_HWPT_ALLOC, iommu_hwpt_alloc),
  defineIoctl('IOMMU_GET_HW_INFO', H, IOMMU_GET_HW_INFO, iommu_hw_info),
  defineIoctl('IOMMU_IOAS_MAP_FILE', H, IOMMU_IOAS_MAP_FILE, iommu_ioas_map_file),
]
