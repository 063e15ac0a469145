// PCI facts from the guest's sysfs, matched to topology nodes by their path of
// slot.function hops (bus numbers are the firmware's choice; paths are ours).
import { normAddr, pathIndex, type IommuModel, type Topology } from '../../guests/topologies/types.js'

export interface GuestPciDevice {
  bdf: string
  /** "04.0/00.0": slot.function hops from the root bus. */
  pathKey: string
  vendor: string
  device: string
  driver?: string
  /** IOMMU group number, absent when the device has none. */
  group?: number
  /** Topology node id (or q35 builtin id) this device is, when known. */
  nodeId?: string
}

/** A shell script that prints one line per PCI device: sysfs path, vendor, device, driver, group. */
export const PCI_SCAN_SCRIPT = `for d in /sys/bus/pci/devices/*; do
  p=$(readlink -f $d); v=$(cat $d/vendor); i=$(cat $d/device)
  drv=$(readlink $d/driver 2>/dev/null); grp=$(readlink $d/iommu_group 2>/dev/null)
  echo "$p $v $i \${drv##*/}- \${grp##*/}-"
done`

export function parsePciScan(text: string, topology?: Topology, iommu?: IommuModel): GuestPciDevice[] {
  const index = topology ? pathIndex(topology, iommu) : undefined
  const out: GuestPciDevice[] = []
  for (const line of text.split('\n')) {
    const [p, vendor, device, drv, grp] = line.trim().split(/\s+/)
    if (!p || !grp) continue
    const hops = p.split('/').filter((x) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(x))
    if (!hops.length) continue
    const bdf = hops[hops.length - 1]!
    const pathKey = hops.map((h) => normAddr(h.slice(8))).join('/')
    const driver = drv!.slice(0, -1) || undefined
    const g = grp.slice(0, -1)
    out.push({
      bdf, pathKey, vendor: vendor!, device: device!, driver,
      group: g === '' ? undefined : Number(g),
      nodeId: index?.get(pathKey),
    })
  }
  return out
}
