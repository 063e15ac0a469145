// SR-IOV as VFIO sees it: a PF's VFs enabled through sysfs (sriov_numvfs), on the PF's host
// driver or on vfio-pci with its enable_sriov module parameter, and the VF token a VF's user
// presents when the PF is owned through vfio-pci (drivers/vfio/pci/vfio_pci_core.c:
// vfio_pci_core_match_token_uuid in 7.2, vfio_pci_validate_vf_token in 6.12): in the legacy
// GET_DEVICE_FD name ("BDF vf_token=UUID"), in the cdev bind (VFIO_DEVICE_BIND_FLAG_TOKEN),
// and set by the PF's owner with VFIO_DEVICE_FEATURE_PCI_VF_TOKEN.
import type { GuestAgent, SysResult } from '../agent/client.js'
import type { GuestSession } from '../guest/session.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'
import { encode, decode } from '../uapi/struct.js'
import {
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_PCI_VF_TOKEN,
  VFIO_DEVICE_FEATURE_SET,
  vfio_device_bind_iommufd,
  vfio_device_feature,
} from '../uapi/vfio.js'
import { getDeviceFd } from './legacy.js'

/** vfio-pci's module parameter that lets a PF on vfio-pci enable VFs (drivers/vfio/pci/vfio_pci.c). */
export const ENABLE_SRIOV_PARAM = '/sys/module/vfio_pci/parameters/enable_sriov'

/** A UUID as the kernel's uuid_t holds it (uuid_parse: the bytes in the order the string gives them). */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new HarnessError(`${HARNESS_ERROR_TAG} not a UUID: ${uuid}`)
  return Buffer.from(hex, 'hex')
}

/** GET_DEVICE_FD with the "BDF vf_token=UUID" name (vfio_pci_core_match parses it). */
export const getDeviceFdWithToken = (a: GuestAgent, group: number, bdf: string, token: string) => getDeviceFd(a, group, `${bdf} vf_token=${token}`)

/** VFIO_DEVICE_FEATURE(PCI_VF_TOKEN) with `flags` (default SET) and the UUID as data. */
export function setVfToken(a: GuestAgent, devfd: number, token: string, flags = VFIO_DEVICE_FEATURE_SET): Promise<SysResult> {
  return a.ioctl(devfd, VFIO_DEVICE_FEATURE, encode(vfio_device_feature, { flags: flags | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN }, { tail: uuidBytes(token) }))
}

/** VFIO_DEVICE_BIND_IOMMUFD with VFIO_DEVICE_BIND_FLAG_TOKEN and the UUID in the agent's memory. */
export async function bindIommufdWithToken(a: GuestAgent, devfd: number, iommufd: number, token: string): Promise<SysResult & { devid?: number }> {
  const { addr } = await a.memAlloc(4096)
  await a.memWrite(addr, uuidBytes(token))
  const r = await a.ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, encode(vfio_device_bind_iommufd, { flags: VFIO_DEVICE_BIND_FLAG_TOKEN, iommufd, token_uuid_ptr: addr }))
  return { ...r, devid: r.errno ? undefined : decode(vfio_device_bind_iommufd, r.data!).out_devid }
}

export interface Vf {
  bdf: string
  /** IOMMU group number, when it has one. */
  group?: number
  driver?: string
}

/** The VFs a PF has now (its virtfnN links, in N order), with their groups and drivers. */
export async function listVfs(guest: GuestSession, pfBdf: string): Promise<Vf[]> {
  const out = await guest.run(`cd /sys/bus/pci/devices/${pfBdf} && for l in $(ls -d virtfn* 2>/dev/null | sort -t n -k2 -n); do readlink -f $l; done`)
  const bdfs = out.split('\n').filter(Boolean).map((p) => p.split('/').pop()!)
  const scan = await guest.pciDevices()
  return bdfs.map((bdf) => {
    const d = scan.find((x) => x.bdf === bdf)
    return { bdf, group: d?.group, driver: d?.driver }
  })
}

/**
 * Set vfio-pci's enable_sriov (plumbing: ERROR when the parameter cannot be written, e.g. a
 * kernel whose vfio-pci has none).
 */
export async function setEnableSriov(guest: GuestSession, on: boolean): Promise<void> {
  await guest.run(`echo ${on ? 'Y' : 'N'} > ${ENABLE_SRIOV_PARAM}`)
}

/** Write sriov_numvfs of a PF (the write's own errno is the caller's to judge). */
export const writeNumVfs = (a: GuestAgent, pfBdf: string, n: number) => a.writeFile(`/sys/bus/pci/devices/${pfBdf}/sriov_numvfs`, `${n}\n`)

/** Wait until `check` holds (up to `ms`), polling in the guest's time; whether it held. */
export async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const t0 = performance.now()
  for (;;) {
    if (await check()) return true
    if (performance.now() - t0 > ms) return false
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Fixture of the sriov suite: after each test its processes are gone (so that no VF is in
 * use), SR-IOV is off on the PF and enable_sriov is back to N; the guest fixture then puts
 * the PF back on its driver. `test.extend({ sriov: [sriovFixture, { auto: true }] })`.
 */
export async function sriovFixture(
  { guest, castPart }: { guest: GuestSession; castPart: (part: 'sriov') => { pf: string } },
  use: (v: void) => Promise<void>,
): Promise<void> {
  const pf = await guest.bdf(castPart('sriov').pf)
  await use()
  await guest.closeAgents()
  // After a kernel oops the guest is rebooted (guest fixture); sysfs writes would hang on its locks.
  if ((await guest.fatalSplats()).length) return
  // vfio-pci refuses sriov_configure, even to disable, while enable_sriov is N (vfio_pci_sriov_configure).
  await setEnableSriov(guest, true)
  await guest.run(`f=/sys/bus/pci/devices/${pf}/sriov_numvfs; [ "$(cat $f)" = 0 ] || echo 0 > $f`)
  await setEnableSriov(guest, false)
}
