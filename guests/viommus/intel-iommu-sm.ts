import { DMAR_FAULTS } from './intel-iommu.js'
import { defineViommu } from './types.js'

/**
 * QEMU's Intel VT-d in scalable mode: second-stage (the default translation in scalable mode)
 * page tables reached through scalable-mode context and PASID entries, which the guest driver
 * uses when booted with sm_on (drivers/iommu/intel/iommu.c: intel_iommu_setup, sm_supported()).
 * QEMU names the property x-scalable-mode up to 10.0 and scalable-mode from 11.x: the harness
 * sets the stable name where the QEMU lists it (harness/qemu/args.ts: stableProps).
 */
/** What every scalable-mode intel-iommu record shares: the guest driver, its switch, its fault lines. */
export const SCALABLE_MODE = {
  qemuDeviceName: 'intel-iommu',
  kvmMachineProps: 'kernel-irqchip=split',
  kernelArgs: ['intel_iommu=on,sm_on'],
  kernelOption: 'INTEL_IOMMU',
  isolatesMsi: true,
  groupsFormAtProbe: false,
  faults: DMAR_FAULTS,
} as const

export const intelIommuSm = defineViommu({
  name: 'intel-iommu-sm',
  description: 'Intel VT-d in scalable mode (second-stage translation), interrupt remapping on, caching mode',
  qemuDevice: 'intel-iommu,intremap=on,caching-mode=on,x-scalable-mode=on',
  ...SCALABLE_MODE,
  kernelArgs: [...SCALABLE_MODE.kernelArgs],
  minQemu: 702,
  limits: [],
})
