import { SCALABLE_MODE } from './intel-iommu-sm.js'
import { defineViommu } from './types.js'

/**
 * QEMU's Intel VT-d in scalable mode with first-stage translation (x-flts=on): QEMU then offers
 * first-stage page tables only (ecap FLTS, no SLTS), so the guest driver builds every domain,
 * VFIO's too, in the first-stage (x86 page-table) format (drivers/iommu/intel/iommu.c:
 * first_level_by_default returns FLTS when only one stage is offered). x-flts is in QEMU 10.0
 * (absent from 7.2); 11.1 names it fsts and refuses the x- name, so the harness sets the stable
 * name where the QEMU lists it (harness/qemu/args.ts: stableProps).
 */
export const intelIommuFs = defineViommu({
  name: 'intel-iommu-fs',
  description: 'Intel VT-d in scalable mode with first-stage translation, interrupt remapping on, caching mode',
  qemuDevice: 'intel-iommu,intremap=on,caching-mode=on,x-scalable-mode=on,x-flts=on',
  ...SCALABLE_MODE,
  kernelArgs: [...SCALABLE_MODE.kernelArgs],
  minQemu: 1000,
  limits: [],
})
