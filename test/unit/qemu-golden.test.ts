// Golden files of the QEMU command line, one per topology x vIOMMU model (test/golden/qemu/):
// a change to a model's record or a topology shows as a reviewable diff of the files. After
// an intended change: `npx vitest run --project unit -u test/unit/qemu-golden.test.ts`, and
// commit the files with the change.
import { describe, expect, test } from 'vitest'
import { TOPOLOGIES } from '../../guests/topologies/index.js'
import { acsOffPorts, qemuArgs } from '../../harness/qemu/args.js'
import { topologyModels } from '../../harness/vitest/run-plan.js'

/**
 * Device properties as QEMU 11.1 lists them: pcie-root-port without disable-acs, amd-iommu
 * with dma-remap (which the amd-iommu record sets where it exists).
 */
const NO_DISABLE_ACS = {
  'pcie-root-port': new Set(['chassis', 'slot', 'addr', 'hotplug']),
  'amd-iommu': new Set(['device-iotlb', 'dma-remap', 'dma-translation', 'intremap', 'pci-id', 'xtsup']),
}

/** One argument per line, an option and its value on one line, so that a diff names what changed. */
function render(args: string[]): string {
  const lines: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a.startsWith('-') && i + 1 < args.length && !args[i + 1]!.startsWith('-')) lines.push(`${a} ${args[++i]}`)
    else lines.push(a)
  }
  return lines.join('\n') + '\n'
}

describe('golden QEMU command lines', () => {
  for (const t of Object.values(TOPOLOGIES)) {
    for (const iommu of topologyModels(t)) {
      test(`${t.name} under ${iommu} (TCG)`, async () => {
        const args = qemuArgs({
          topology: t,
          iommu,
          kernel: '/KERNEL',
          initrd: '/INITRD',
          sshPort: 40022,
          consoleLog: '/RUN/console.log',
          qmpSocket: '/RUN/qmp.sock',
          kvm: false,
          extraCmdline: t.kernelArgs,
        })
        await expect(render(args)).toMatchFileSnapshot(`../golden/qemu/${t.name}-${iommu}.args`)
      })
      if (acsOffPorts(t, NO_DISABLE_ACS)) {
        test(`${t.name} under ${iommu}, on a QEMU whose pcie-root-port has no disable-acs (11.x)`, async () => {
          const args = qemuArgs({
            topology: t, iommu, kernel: '/KERNEL', initrd: '/INITRD', sshPort: 40022, consoleLog: '/RUN/console.log',
            qmpSocket: '/RUN/qmp.sock', kvm: false, extraCmdline: t.kernelArgs, deviceProps: NO_DISABLE_ACS,
          })
          await expect(render(args)).toMatchFileSnapshot(`../golden/qemu/${t.name}-${iommu}.no-disable-acs.args`)
        })
      }
    }
  }
})
