// Known, understood divergences: each one reports XFAIL while it reproduces and XPASS (a
// failure, loudly) once it stops, so that this list never silently hides a change.
// See harness/vitest/known-issues.ts for the matching rules.
import type { KnownIssue } from '../harness/vitest/known-issues.js'

export const KNOWN_ISSUES: KnownIssue[] = [
  {
    id: 'virtio-iommu-probe-order-groups',
    owner: 'kernel',
    // The NIC on its host driver ends up in a group of its own, apart from the edu and the
    // port it shares a non-ACS path with: every test built on "that group holds a device on a
    // host driver" fails with it.
    test: /^group rp-mix|host driver(?! makes the group viable)/,
    // Seen on the conform build (virtio-iommu, e1000e and pcieport all built in); not on
    // Debian's 6.12, where the harness loads virtio_iommu and then e1000e as modules.
    where: { iommu: ['virtio-iommu'], topology: ['default'], configBuiltin: ['VIRTIO_IOMMU'] },
    reason:
      'under virtio-iommu, groups form at driver probe (ACPI VIOT); pci_device_group() reuses an upstream ' +
      "bridge's group only if the bridge already has one, so an endpoint probed before its non-ACS root port " +
      'gets a group of its own: with the drivers built in, mix-nic (e1000e) is grouped apart from mix-edu and rp-mix, ' +
      'and mix-edu can be given to userspace while its unisolated neighbour stays on a host driver',
    ref: 'drivers/iommu/iommu.c: pci_device_group (upward walk uses iommu_group_get on the bridge); drivers/acpi/viot.c',
  },
  {
    id: 'virtio-iommu-behind-pci-bridge',
    owner: 'kernel',
    test: /^group pcipci|^every vfio-pci device has|^hot-add at pci-bridge/,
    where: { iommu: ['virtio-iommu'], topology: ['default'] },
    reason:
      'vfio-pci probe of an endpoint behind a pcie-pci-bridge fails with -22 under virtio-iommu, so that device never ' +
      'gets a group (measured when the project was planned; works under intel-iommu and amd-iommu)',
    ref: 'drivers/iommu/virtio-iommu.c viommu_probe_device; docs/kernels.md (known kernel and QEMU limits)',
  },
  {
    id: 'intel-iommu-6.1-hot-add-into-held-group',
    owner: 'kernel',
    // Measured on Debian's 6.1.192-3 (2026-12-06), every run: when the holder lets go of a
    // group a device was hot-added into, the kernel WARNs or BUGs; 6.12 and 7.2 do not.
    test: /^legacy: (a device hot-added into a held group joins it|hot-remove of a device whose fd is open)/,
    where: { iommu: ['intel-iommu'], kernel: /^debian:6\.1\./ },
    reason:
      'on 6.1 a device hot-added into a group held through a type1 container is attached to the user domain behind ' +
      "type1's back: when the holder lets go, domain_exit WARNs on a domain that still has devices " +
      '(drivers/iommu/intel/iommu.c:1918, from vfio_iommu_type1_detach_group) and the default domain\'s re-attach ' +
      'corrupts the device list (kernel BUG at lib/list_debug.c:27 in intel_iommu_attach_device, from ' +
      'iommu_group_release_dma_owner); the guest is rebooted after it',
    ref: '6.1 drivers/iommu/intel/iommu.c domain_exit, intel_iommu_attach_device; drivers/iommu/iommu.c iommu_group_add_device (attaches a new device to group->domain); the 6.2+ iommu core rework (__iommu_device_set_domain) no longer reproduces it',
  },
  {
    id: 'intel-iommu-fs-6.12-iommufd-second-stage',
    owner: 'kernel',
    // Measured on the conform 6.12.118 build under QEMU 10.0.13 and 11.1.3 (2026-12-07): every
    // iommufd attach is EINVAL (24 tests, all of them failing there, none passing); the conform
    // 7.2.13 build passes all of them under the same QEMU (docs/findings.md).
    test: /^iommufd: |^a group has one iommufd owner|^the owner is the iommufd context|^devices of one group share one page table|^opening the group while a device of it is bound via cdev|^while a device is bound to iommufd, binding a host driver|^when the cdev holder is killed|^IOAS map at a fixed IOVA|^a fixed map overlapping|^unmapping part of a mapping|^destroying an IOAS a device is attached to|^HWPT_ALLOC on the IOAS|^ATTACH to a missing id|^ownership model: |^after the cdev and \/dev\/iommu are chowned|^iommufd IOAS_MAP beyond RLIMIT_MEMLOCK/,
    where: { iommu: ['intel-iommu-fs'], kernel: /(^|:)6\.12\./ },
    reason:
      "on a VT-d with first-stage translation only, 6.12 builds iommufd's paging domains in the second stage " +
      '("Do not use first stage for user domain translation"), so VFIO_DEVICE_ATTACH_IOMMUFD_PT is EINVAL ("DMAR: No second ' +
      'level translation support"); type1 picks the first stage and works; 7.2 prefers the first stage for iommufd too',
    ref: '6.12 drivers/iommu/intel/iommu.c intel_iommu_domain_alloc_user (paging_domain_alloc(dev, false)), dmar_domain_attach_device; drivers/iommu/intel/pasid.c intel_pasid_setup_second_level (!ecap_slts -> -EINVAL); 7.2 intel_iommu_domain_alloc_paging_flags ("Prefer first stage if possible by default")',
  },
  {
    id: 'virtio-iommu-7.2-hot-added-no-iommu',
    owner: 'kernel',
    // Measured on the conform 7.2.13 build (2026-12-06); the same QEMU and fragment on 6.12 pass.
    test: /^hot-add at (acs|noacs)-port|^legacy: the group node of a hot-added device|^iommufd: hot-remove of a bound cdev/,
    where: { iommu: ['virtio-iommu'], kernel: /(^|:)7\.2\./ },
    reason:
      'on 7.2 a device hot-added under virtio-iommu gets no IOMMU ("deferred probe timeout, ignoring dependency" from ' +
      "iommu_fwspec_init: no registered IOMMU has the VIOT fwnode), so vfio-pci's probe is -EINVAL (no group). 7.2's " +
      'iommu_init_device runs dma_configure (the VIOT lookup) for every device while virtio-iommu registers, and ' +
      'iommu_device_register unregisters the whole IOMMU when probe_iommu_group fails for one device with an error ' +
      'other than -ENODEV (read in the source: most likely the endpoint behind the pcie-pci-bridge, whose first IOMMU ' +
      'ID QEMU does not know); 6.12 probes groups at driver probe instead and is not affected',
    ref: '7.2 drivers/iommu/iommu.c iommu_init_device (dma_configure), iommu_device_register (unregister on error), probe_iommu_group, iommu_fwspec_init; drivers/base/dd.c driver_deferred_probe_check_state; drivers/acpi/viot.c',
  },
  {
    id: 'amd-iommu-qemu72-bus-number',
    owner: 'qemu',
    test: /^(type1|iommufd): (DMA to a mapped|after UNMAP|one space shared)/,
    // Seen on 7.2.22 and 10.0.13; on 11.1.3 (with dma-remap=on: guests/viommus/amd-iommu.ts)
    // mapped DMA from acs-edu and sw-edu round-trips (2026-12-07).
    where: { iommu: ['amd-iommu'], qemu: { from: 702, to: 1100 } },
    reason:
      "QEMU's AMD IOMMU (7.2, 10.0) records a device's bus number when the device is created, before firmware numbers the " +
      'buses behind bridges, so devices behind root ports are translated with the table entry of bus 0: mapped DMA ' +
      'from acs-edu/sw-edu never reaches the user buffer (an edu on the root bus round-trips correctly)',
    ref: 'QEMU 7.2/10.0 hw/i386/amd_iommu.c amdvi_host_dma_iommu (iommu_as[devfn]->bus_num = pci_bus_num(bus) at device creation); seen on 7.2.22 and 10.0.13; not on 11.1.3, which looks the bus number up at translation time (qemu-devel "amd_iommu: Fix handling device on buses != 0", 2025-10)',
  },
  {
    id: 'amd-iommu-qemu72-no-fault-events',
    owner: 'qemu',
    test: /^(type1|iommufd): (DMA to an IOVA never mapped|a device cannot reach|a read-only mapping)/,
    where: { iommu: ['amd-iommu'], qemu: { from: 702, to: 1100 } },
    reason:
      "QEMU's AMD IOMMU (7.2, 10.0) page walk returns silently on an empty entry and logs no IO_PAGE_FAULT event, so the guest " +
      'never prints the fault line these tests require',
    ref: 'QEMU 7.2/10.0 hw/i386/amd_iommu.c amdvi_page_walk ("if (!pte) return;"); seen on 7.2.22 and 10.0.13; 11.1.3 logs an event (qemu-devel "amd_iommu: Fix event log generation", 2025), see amd-iommu-fault-event-wrong-device',
  },
  {
    id: 'amd-iommu-fault-event-wrong-device',
    owner: 'qemu',
    // Measured on 11.1.3 with dma-remap=on (2026-12-07): the DMA is blocked, QEMU's trace
    // (amdvi_page_fault) names the right IOVA, and the guest prints
    // "pci 0000:00:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0000 address=0x0 flags=0x000a]"
    // for a write by 0000:01:00.0 to IOVA 0x5a5000.
    test: /^(type1|iommufd): (DMA to an IOVA never mapped|after UNMAP|a device cannot reach|a read-only mapping)/,
    where: { iommu: ['amd-iommu'], qemu: { from: 1100 } },
    reason:
      "QEMU's AMD IOMMU blocks the DMA and logs an IO_PAGE_FAULT event, but with the device's devfn as DeviceID (bus number " +
      'dropped), address 0 and the IOMMU permission value in the flags instead of the write flag: the guest prints the fault ' +
      'for 0000:00:00.0 at address 0x0, so no fault line names the device and IOVA the test provoked',
    ref: 'QEMU hw/i386/amd_iommu.c amdvi_page_walk: amdvi_page_fault(as->iommu_state, as->devfn, addr, perms) (DeviceID without the bus; perms is IOMMU_WO = 2, not EVENT_FLAG_RW 0x20); amdvi_encode_event -> amdvi_setevent_bits(evt, addr, 64, 64) builds its mask with MAKE_64BIT_MASK(64, 64), a 64-bit shift by 64 (undefined in C), and the address field reads 0; seen on 11.1.3: still open',
  },
  {
    id: 'vf-cdev-bind-without-token',
    owner: 'kernel',
    // Measured on the conform 6.12.118 build with igb on QEMU 10.0.13 (2026-12-07): the PF owned
    // through its cdev with a VF token set, a VF's BIND_IOMMUFD without a token is 0; 7.2 refuses it.
    test: /^cdev: BIND_IOMMUFD of a VF whose PF is on vfio-pci succeeds only with the PF's VF token/,
    where: { kernel: /^6\.12\./, topology: ['igb'] },
    reason:
      "6.12's cdev bind checks no VF token: a VF of a PF owned through vfio-pci binds to any iommufd without the PF's " +
      'token (bind flags must be 0, so no token can even be given), while its legacy open (GET_DEVICE_FD) demands it',
    ref: '6.12 drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd (no token: vfio_pci_validate_vf_token is called only from vfio_pci_core_match); 7.2 vfio_df_check_token -> vfio_pci_core_match_token_uuid, VFIO_DEVICE_BIND_FLAG_TOKEN',
  },
  // iommufd's compat /dev/vfio/vfio (CONFIG_IOMMUFD_VFIO_CONTAINER=y, VFIO_CONTAINER=n) is
  // not the VFIO container; these legacy rules do not carry over (seen on the compat build).
  {
    id: 'iommufd-compat-ownership-at-device-open',
    owner: 'kernel',
    test: /^a device on a host driver makes its group not viable, and SET_CONTAINER is EPERM|^while a group is held, binding a host driver to another of its devices is EBUSY/,
    where: { config: ['IOMMUFD_VFIO_CONTAINER'], configUnset: ['VFIO_CONTAINER'] },
    reason:
      'with the iommufd compat container SET_CONTAINER only records the iommufd and creates the compat IOAS; DMA ownership ' +
      'is claimed when a device is opened (iommufd_device_bind -> iommu_device_claim_dma_owner), so a group with a device ' +
      'on a host driver takes the container, and a held group without an open device does not keep host drivers off',
    ref: 'drivers/vfio/group.c vfio_group_ioctl_set_container (iommufd branch: iommufd_vfio_compat_ioas_create); drivers/vfio/iommufd.c vfio_iommufd_physical_bind',
  },
  {
    id: 'iommufd-compat-ioas-not-iommu-driver',
    owner: 'kernel',
    test: /^GET_DEVICE_FD after SET_CONTAINER but before SET_IOMMU is EINVAL|^UNSET_CONTAINER with none set is EINVAL, and EBUSY|^SET_IOMMU on a container without a group is EINVAL/,
    where: { config: ['IOMMUFD_VFIO_CONTAINER'], configUnset: ['VFIO_CONTAINER'] },
    reason:
      'the compat container has no IOMMU-driver state: the compat IOAS exists from SET_CONTAINER, so GET_DEVICE_FD works ' +
      'without SET_IOMMU; UNSET_CONTAINER drops the iommufd without counting open devices (no EBUSY); SET_IOMMU before any ' +
      'group finds no compat IOAS and is ENODEV, not EINVAL',
    ref: 'drivers/vfio/group.c vfio_group_ioctl_unset_container (iommufd branch), vfio_df_group_open; drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_set_iommu, get_compat_ioas (-ENODEV)',
  },
  {
    id: 'iommufd-compat-pins-on-attach',
    owner: 'kernel',
    test: /^type1 MAP_DMA beyond RLIMIT_MEMLOCK is ENOMEM|^type1 UNMAP_DMA gives the locked memory back/,
    where: { config: ['IOMMUFD_VFIO_CONTAINER'], configUnset: ['VFIO_CONTAINER'] },
    reason:
      'iommufd pins (and accounts against RLIMIT_MEMLOCK) only for the domains attached to the IOAS; a compat MAP_DMA with ' +
      'no device opened pins nothing, so the over-limit map succeeds where type1 (which has a domain from SET_IOMMU) refuses',
    ref: 'drivers/iommu/iommufd/io_pagetable.c iopt_map_pages -> iopt_fill_domains_pages; drivers/iommu/iommufd/pages.c incr_user_locked_vm',
  },
]


