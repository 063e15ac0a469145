// The ownership and isolation behaviours the suites cover, numbered as the suite plan lists
// them (legacy 1-5, iommufd/cdev 6-11, compat 12, mdev 13, privileges 14-15, noiommu 16,
// accounting 17, hot-plug 18-20, resets 21-24, SR-IOV 25-28), each with the tests that decide it. harness/report/behaviours.ts turns a
// run's verdicts into one cell per behaviour and kernel x vIOMMU; the reporter writes it as
// behaviours.md into the run directory and `vfio-conform behaviours` prints it.
//
// Patterns match a test's own name (after "<kernel>/<topology>/<iommu> > ") in the named
// suite file; they are anchored with ^ so that a renamed test shows up as "no test ran"
// (the unit test of this registry checks every pattern against the suites' sources).

import type { Behaviour } from '../harness/report/behaviours.js'

const LEGACY = 'suites/legacy-group.test.ts'
const CDEV = 'suites/iommufd-cdev.test.ts'
const MDEV = 'suites/mdev.test.ts'
const PRIV = 'suites/privileges.test.ts'
const NOIOMMU = 'suites/noiommu.test.ts'
const DMA = 'suites/dma-isolation.test.ts'
const SMOKE = 'suites/cdev-mdev-smoke.test.ts'
const HOTPLUG = 'suites/hotplug.test.ts'
const RESETS = 'suites/resets.test.ts'
const SRIOV = 'suites/sriov.test.ts'

export const BEHAVIOURS: Behaviour[] = [
  {
    id: 1,
    area: 'legacy',
    title: 'a group opens once (same process, other process); it reopens after the holder exits or is killed',
    tests: [{ file: LEGACY, test: /^(a group opens once|when the holder exits, the group opens again|when the holder is killed \(SIGKILL\) with the group in a container)/ }],
  },
  {
    id: 2,
    area: 'legacy',
    title: 'viability: a device on a host driver makes the group not viable (SET_CONTAINER EPERM); unbinding fixes it; driverless devices do not spoil it',
    tests: [{ file: LEGACY, test: /^(a group whose devices are on vfio-pci or driverless is viable|a device on a host driver makes its group not viable|unbinding the host driver makes the group viable)/ }],
  },
  {
    id: 3,
    area: 'legacy',
    title: 'container rules: GET_DEVICE_FD order, SET_CONTAINER twice / with a non-container, UNSET_CONTAINER, SET_IOMMU without a group, unknown device name',
    tests: [
      {
        file: LEGACY,
        test: /^(GET_DEVICE_FD before SET_CONTAINER|GET_DEVICE_FD after SET_CONTAINER but before SET_IOMMU|SET_CONTAINER twice|SET_CONTAINER with an fd that is not a container|UNSET_CONTAINER with none set|SET_IOMMU on a container without a group|GET_DEVICE_FD with a name that is no device|the full type1 path|without MSI isolation|the holder of a group gets a device fd)/,
      },
    ],
  },
  {
    id: 4,
    area: 'legacy',
    title: 'two groups in one container share one space; two processes with a container each stay apart',
    tests: [
      { file: DMA, test: /^type1: (one space shared by two groups|a device cannot reach another process's buffer)/ },
      { file: MDEV, test: /^two mdevs are owned at once by two processes through the legacy path/ },
    ],
  },
  {
    id: 5,
    area: 'legacy',
    title: 'a host driver cannot bind to a device of a held group; it can after release or the holder\'s SIGKILL',
    tests: [{ file: LEGACY, test: /^(while a group is held, binding a host driver|when the holder is killed \(SIGKILL\), a host driver binds)/ }],
  },
  {
    id: 6,
    area: 'iommufd',
    title: 'every vfio-pci device and every mdev has /dev/vfio/devices/vfioN matching sysfs vfio-dev/vfioN',
    tests: [
      { file: SMOKE, test: /^(\/dev\/iommu is a character device|every vfio-pci device has \/dev\/vfio\/devices\/vfioN)/ },
      { file: MDEV, test: /^an mdev binds to iommufd as an emulated device/ },
    ],
  },
  {
    id: 7,
    area: 'iommufd',
    title: 'before BIND_IOMMUFD a cdev grants nothing; BIND twice, bad iommufd, flags, short argsz fail',
    tests: [{ file: CDEV, test: /^(before BIND_IOMMUFD a cdev fd grants nothing|BIND_IOMMUFD twice|a device binds once|BIND with -1|BIND with an undefined flag|BIND with argsz shorter)/ }],
  },
  {
    id: 8,
    area: 'iommufd',
    title: 'ownership per iommufd context: one group, one iommufd (same context OK, another context EPERM)',
    tests: [{ file: CDEV, test: /^(two devices of one group bind to the same iommufd|a group has one iommufd owner|the owner is the iommufd context|devices of one group share one page table)/ }],
  },
  {
    id: 9,
    area: 'iommufd',
    title: 'group and cdev exclude each other both ways',
    tests: [{ file: CDEV, test: /^(an unbound cdev fd does not block the group|opening the group while a device of it is bound)/ }],
  },
  {
    id: 10,
    area: 'iommufd',
    title: 'host drivers: BIND fails while a group mate is on a host driver; no host driver binds next to a bound device',
    tests: [{ file: CDEV, test: /^(a device of the group on a host driver: BIND is EPERM|while a device is bound to iommufd, binding a host driver|when the cdev holder is killed)/ }],
  },
  {
    id: 11,
    area: 'iommufd',
    title: 'IOAS and HWPT: map/unmap, overlap, partial unmap, busy destroy, reserved MSI window, ALLOW_IOVAS, replace, bad ids',
    tests: [
      {
        file: CDEV,
        test: /^(a new IOAS with nothing attached|IOAS map at a fixed IOVA|a fixed map overlapping|unmapping part of a mapping|once a device is attached|a fixed map into the interrupt window|ALLOW_IOVAS with start|destroying an IOAS a device is attached to|HWPT_ALLOC on the IOAS|ATTACH to a missing id)/,
      },
      { file: DMA, test: /^iommufd: / },
    ],
  },
  {
    id: 12,
    area: 'compat',
    title: 'compat build: the legacy suite passes with iommufd providing /dev/vfio/vfio',
    tests: [{ file: LEGACY, test: /./ }],
    kernels: /-compat$/,
  },
  {
    id: 13,
    area: 'mdev',
    title: 'mdev (mtty): types, create/remove, a group of its own, opens once, two owners at once, iommufd emulated path, removal while in use',
    tests: [
      { file: MDEV, test: /./ },
      { file: SMOKE, test: /^an mtty mdev is created and removed/ },
    ],
  },
  {
    id: 14,
    area: 'privileges',
    title: 'default node modes; an unprivileged user gets EACCES; a user given the node needs no capability',
    tests: [{ file: PRIV, test: /^(default nodes|an unprivileged user opening|after \/dev\/vfio\/N is chowned|after the cdev and \/dev\/iommu are chowned|the device nodes of one group are not tied)/ }],
  },
  {
    id: 15,
    area: 'privileges',
    title: 'two users with a cdev each of one multi-device group: one owner at a time',
    tests: [{ file: PRIV, test: /^two users with one device each of a multi-device group/ }],
  },
  {
    id: 16,
    area: 'noiommu',
    title: 'noiommu: noiommu-N group, CAP_SYS_RAWIO required, taint; no cdev; iommufd as the group container in no-IOMMU mode',
    tests: [{ file: NOIOMMU, test: /./ }],
  },
  {
    id: 17,
    area: 'accounting',
    title: 'memory accounting: type1 and iommufd maps beyond RLIMIT_MEMLOCK fail for an unprivileged user; an unmap gives the pages back',
    tests: [
      { file: PRIV, test: /^(type1 MAP_DMA beyond RLIMIT_MEMLOCK|iommufd IOAS_MAP beyond RLIMIT_MEMLOCK)/ },
      { file: 'suites/memlock-accounting.test.ts', test: /^(type1 UNMAP_DMA|iommufd IOAS_UNMAP) gives the locked memory back/ },
    ],
  },
  {
    id: 18,
    area: 'hotplug',
    title: 'a hot-added device is grouped by the boot-time rules (PCI bridge alias, ACS port, port without ACS); device_del removes it',
    tests: [{ file: HOTPLUG, test: /^hot-add at / }],
  },
  {
    id: 19,
    area: 'hotplug',
    title: 'a device hot-added into a held group: a host driver is refused (EBUSY), only the owner gets it (legacy fd, or its iommufd; another is EPERM)',
    tests: [{ file: HOTPLUG, test: /^(legacy: a device hot-added into a held group|legacy: vfio-pci binds a device hot-added|iommufd: a device hot-added while a group mate is bound)/ }],
  },
  {
    id: 20,
    area: 'hotplug',
    title: 'hot-remove of a device in use waits for its user (request eventfd or console line); mates stay held; group node, cdev and IOAS go after',
    tests: [{ file: HOTPLUG, test: /^(legacy: hot-remove of a device whose fd is open|legacy: the group node of a hot-added device|iommufd: hot-remove of a bound cdev)/ }],
  },
  {
    id: 21,
    area: 'resets',
    title: 'GET_PCI_HOT_RESET_INFO lists exactly the devices a bus reset reaches: group ids (legacy), dev ids with DEV_ID_OWNED only when the caller owns them all (cdev)',
    tests: [{ file: RESETS, test: /^(GET_PCI_HOT_RESET_INFO lists exactly|cdev: GET_PCI_HOT_RESET_INFO gives dev ids)/ }],
  },
  {
    id: 22,
    area: 'resets',
    title: "PCI_HOT_RESET only for the owner of every device it reaches (all group fds, or the caller's iommufd); EINVAL with a group fd missing, another owner, a device off vfio-pci",
    tests: [
      {
        file: RESETS,
        test: /^(PCI_HOT_RESET succeeds when|PCI_HOT_RESET without the group fd|PCI_HOT_RESET is EINVAL while|PCI_HOT_RESET argument checks|cdev: PCI_HOT_RESET with an empty array|cdev: a device the reset reaches that is not on vfio-pci)/,
      },
    ],
  },
  {
    id: 23,
    area: 'resets',
    title: 'VFIO_DEVICE_RESET only where the device has a function reset (EINVAL otherwise); no slot or bus reset on the root bus (ENODEV)',
    tests: [{ file: RESETS, test: /^(VFIO_DEVICE_RESET |a device on the root bus has no slot or bus reset)/ }],
  },
  {
    id: 24,
    area: 'resets',
    title: "a hot reset leaves the other devices' fds open and their BARs answering (config space restored)",
    tests: [{ file: RESETS, test: /^a hot reset leaves the other devices/ }],
  },
  {
    id: 25,
    area: 'sriov',
    title: "a VF whose PF is owned through vfio-pci opens only with the PF's VF token (legacy vf_token=, cdev BIND token): EACCES without or with another; EINVAL where no token applies",
    tests: [
      {
        file: SRIOV,
        test: /^(legacy: a VF whose PF is on vfio-pci opens only|legacy: a malformed vf_token|legacy: a VF whose PF is on its host driver|cdev: BIND_IOMMUFD of a VF whose PF is on)/,
      },
    ],
  },
  {
    id: 26,
    area: 'sriov',
    title: "the VF token is the PF owner's: only the PF's fd sets it; while a VF is in use the PF reopens only with it; the VF outlives the PF owner's exit",
    tests: [{ file: SRIOV, test: /^(legacy: only the PF's owner sets the VF token|legacy: when the PF's owner exits|legacy: with no VF in use, a vf_token given)/ }],
  },
  {
    id: 27,
    area: 'sriov',
    title: "VFs of a vfio-pci PF only with enable_sriov (ENOENT); disabling SR-IOV with a VF in use waits for its user; each VF an IOMMU group as pci_device_group forms it",
    tests: [{ file: SRIOV, test: /^(sriov_numvfs on a PF bound to vfio-pci|legacy: disabling SR-IOV while a VF is in use|each VF of the PF gets an IOMMU group)/ }],
  },
  {
    id: 28,
    area: 'sriov',
    title: "a PF's hot reset reaches its VFs (each a group, each a dev_set of its own) and is EINVAL while they exist; with SR-IOV off it succeeds",
    tests: [{ file: SRIOV, test: /^legacy: (the PF's hot reset reaches its VFs|with SR-IOV off the PF's hot reset)/ }],
  },
]
