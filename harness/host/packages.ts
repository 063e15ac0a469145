// Host tools the harness needs, and the Debian packages that provide them. `vfio-conform
// setup` installs what is missing when run as root, and otherwise prints the one apt-get
// line to run.
import { execa } from 'execa'
import { access } from 'node:fs/promises'
import { UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'

interface HostNeed {
  /** A command on PATH or an absolute file that proves the package is there. */
  probe: string
  pkg: string
  why: string
}

export const HOST_NEEDS: HostNeed[] = [
  { probe: 'qemu-system-x86_64', pkg: 'qemu-system-x86', why: 'runs the guests' },
  { probe: 'apt-get', pkg: 'apt', why: 'fetches kernels and guest packages (project-local configuration)' },
  { probe: '/usr/share/keyrings/debian-archive-keyring.gpg', pkg: 'debian-archive-keyring', why: 'verifies Debian packages' },
  { probe: 'dpkg-deb', pkg: 'dpkg', why: 'extracts packages' },
  { probe: 'depmod', pkg: 'kmod', why: 'builds modules.dep for Debian kernels' },
  { probe: 'xz', pkg: 'xz-utils', why: 'decompresses .ko.xz modules' },
  { probe: 'zstd', pkg: 'zstd', why: 'decompresses .ko.zst modules' },
  { probe: 'gcc', pkg: 'gcc', why: 'builds the static guest agent and the uapi layout check' },
  { probe: '/usr/lib/x86_64-linux-gnu/libc.a', pkg: 'libc6-dev', why: 'static libc for the guest agent' },
  { probe: 'readelf', pkg: 'binutils', why: 'resolves the shared libraries of guest binaries' },
  { probe: 'setpriv', pkg: 'util-linux', why: 'ties QEMU\'s life to the harness (parent-death signal)' },
  // Independent readers of what we encode, for the unit tests.
  { probe: 'cpio', pkg: 'cpio', why: 'unit tests read our initramfs archives back' },
  { probe: 'dropbearkey', pkg: 'dropbear-bin', why: 'unit tests check the guest host-key encoding' },
]

/**
 * What building kernels from source (source:, debian-source:) needs in addition. Kept apart
 * from HOST_NEEDS so that runs of stock Debian kernels do not require a kernel toolchain;
 * the source providers call ensureBuildPackages() before a build (a cache hit needs none).
 * ccache (BUILD_DEFAULTS) is installed with them by root and otherwise only named; pahole
 * would only be needed for CONFIG_DEBUG_INFO_BTF, which the conform fragment does not set.
 */
export const BUILD_NEEDS: HostNeed[] = [
  { probe: 'make', pkg: 'make', why: 'runs the kernel build' },
  { probe: 'gcc', pkg: 'gcc', why: 'compiles the kernel' },
  { probe: 'ld', pkg: 'binutils', why: 'links the kernel' },
  { probe: 'flex', pkg: 'flex', why: 'kconfig lexer' },
  { probe: 'bison', pkg: 'bison', why: 'kconfig parser' },
  { probe: 'bc', pkg: 'bc', why: 'kernel build (timeconst)' },
  { probe: 'perl', pkg: 'perl', why: 'kernel build scripts' },
  { probe: '/usr/include/gelf.h', pkg: 'libelf-dev', why: 'objtool and resolve_btfids (x86_64 kernels)' },
  { probe: '/usr/include/openssl/ssl.h', pkg: 'libssl-dev', why: 'kernel host tools for signing and certificates (configs that enable them)' },
  { probe: 'depmod', pkg: 'kmod', why: 'modules_install writes modules.dep' },
  { probe: 'xz', pkg: 'xz-utils', why: 'unpacks Debian\'s linux-source tarballs' },
  { probe: 'cpio', pkg: 'cpio', why: 'kernel build (in-kernel headers archive, initramfs lists)' },
  { probe: '/usr/lib/x86_64-linux-gnu/libcap.a', pkg: 'libcap-dev', why: "the kernel's iommufd selftests (sys/capability.h), linked statically" },
]

/**
 * Build helpers installed by default (setup, or any build as root) but not required: a user
 * who cannot install them is told what they miss and the build goes on without.
 */
export const BUILD_DEFAULTS: HostNeed[] = [{ probe: 'ccache', pkg: 'ccache', why: 'caches compiler output: a rebuild, or a build of another tree of the same version, reuses it' }]

async function present(probe: string): Promise<boolean> {
  if (probe.startsWith('/')) return access(probe).then(() => true, () => false)
  const r = await execa('sh', ['-c', `command -v ${probe}`], { reject: false })
  return r.exitCode === 0
}

export async function missingHostPackages(needs: HostNeed[] = HOST_NEEDS): Promise<HostNeed[]> {
  const out: HostNeed[] = []
  for (const n of needs) if (!(await present(n.probe))) out.push(n)
  return out
}

/** Install the packages that kernel builds from source need (root), or explain the command. */
export async function ensureBuildPackages(): Promise<void> {
  await ensureHostPackages(BUILD_NEEDS)
  const missing = await missingHostPackages(BUILD_DEFAULTS)
  if (!missing.length) return
  if (process.getuid?.() === 0) return ensureHostPackages(BUILD_DEFAULTS)
  progress(`host: ${missing.map((m) => `${m.probe} is not installed (${m.why})`).join('; ')}: builds go on without; as root: apt-get install -y ${missing.map((m) => m.pkg).join(' ')}`)
}

/** Install missing host packages (root) or explain the one command to run (not root). */
export async function ensureHostPackages(needs: HostNeed[] = HOST_NEEDS): Promise<void> {
  const missing = await missingHostPackages(needs)
  if (!missing.length) return
  const pkgs = [...new Set(missing.map((m) => m.pkg))]
  const line = `apt-get install -y ${pkgs.join(' ')}`
  if (process.getuid?.() !== 0) {
    throw new UsageError(`missing host packages (${missing.map((m) => `${m.probe}: ${m.why}`).join('; ')}). Run as root: ${line}`)
  }
  progress(`host: installing ${pkgs.join(' ')} from Debian's archive`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const up = await execa('apt-get', ['-q', 'update'], { reject: false, env, all: true })
  if (up.exitCode !== 0) progress(`host: apt-get update reported: ${(up.all ?? '').split('\n').slice(-3).join(' | ')}`)
  const r = await execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { reject: false, env, all: true })
  if (r.exitCode !== 0) throw new UsageError(`${line} failed: ${(r.all ?? '').split('\n').slice(-5).join(' | ')}`)
  const still = await missingHostPackages(needs)
  if (still.length) throw new UsageError(`still missing after install: ${still.map((m) => m.probe).join(', ')}`)
}
