import { defineViommu } from './types.js'

/** No vIOMMU at all: devices have no IOMMU group (VFIO's no-IOMMU mode aside). */
export const noViommu = defineViommu({
  name: 'none',
  description: 'no vIOMMU',
  kernelArgs: [],
  isolatesMsi: false,
  groupsFormAtProbe: false,
  limits: [],
})
