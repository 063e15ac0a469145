// What goes into the guest's initramfs. Userland comes from Debian packages (taken from the
// packages through the project apt, not from the host's /lib); the agent is our own static
// binary; modules come from the kernel under test.

/**
 * Debian suite the guest userland is taken from. Not bookworm: its dropbear (2022.83) ends the
 * whole SSH session with "Failed assertion (common-channel.c:705): `!channel->sent_close'"
 * when a child of one channel exits while another channel is between its open and its exec
 * request (mkj/dropbear#321, fixed by #326 in 2024.86), which is what the suites do all the
 * time (agents and commands in parallel channels); seen in a full run here, on the console,
 * as the cause of a lost guest. trixie has 2025.89.
 */
export const ROOTFS_SUITE = 'trixie'

/**
 * Packages whose files go into the guest, by guest path (found under usr/ in a merged-/usr
 * suite such as trixie); their shared-library closure is resolved from ELF NEEDED entries.
 */
export const ROOTFS_PACKAGES = [
  { name: 'busybox-static', files: ['bin/busybox'] },
  { name: 'dropbear-bin', files: ['usr/sbin/dropbear'] },
] as const

/** Packages searched for the libraries that the files above need. */
export const LIBRARY_PACKAGES = ['libc6', 'libcrypt1', 'libtomcrypt1', 'libtommath1', 'zlib1g', 'libgmp10']

export interface GuestUser {
  name: string
  uid: number
  gid: number
  home: string
}

/** Users in the guest. Suites start agents as conform-a / conform-b for the privilege rules. */
export const GUEST_USERS: GuestUser[] = [
  { name: 'root', uid: 0, gid: 0, home: '/root' },
  { name: 'conform-a', uid: 1000, gid: 1000, home: '/home/conform-a' },
  { name: 'conform-b', uid: 1001, gid: 1001, home: '/home/conform-b' },
]

/** One of GUEST_USERS as an agent's uid and gid (`guest.agent({ ...guestUser('conform-b') })`). */
export function guestUser(name: string): { uid: number; gid: number } {
  const u = GUEST_USERS.find((x) => x.name === name)
  if (!u) throw new Error(`no guest user ${name} (guests/rootfs/recipe.ts GUEST_USERS)`)
  return { uid: u.uid, gid: u.gid }
}

/**
 * Modules loaded at boot when the kernel has them as modules (absent or built-in ones are
 * skipped); dependencies come from modules.dep. mtty is only in conform builds.
 */
export const GUEST_MODULES = [
  'virtio_pci',
  'virtio_net',
  'virtio_iommu',
  'e1000e',
  // A host driver for any device (driver_override): the hotplug suite's probe attempt.
  'uio_pci_generic',
  'vfio',
  'vfio_iommu_type1',
  'vfio_pci',
  'iommufd',
  'mdev',
  'mtty',
]

/** Where the agent lives in the guest. */
export const AGENT_GUEST_PATH = '/usr/local/bin/vfio-conform-agent'
