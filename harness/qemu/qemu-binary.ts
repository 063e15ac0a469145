// Which QEMU we run, what it can do, and whether KVM is usable here.
import { execa } from 'execa'
import { access, constants } from 'node:fs/promises'
import { UsageError } from '../util/errors.js'

export interface QemuInfo {
  binary: string
  version: string
  /** major*100+minor, for feature checks */
  versionNum: number
  devices: Set<string>
  kvm: boolean
  /** Why KVM is not used, when it is not. */
  kvmReason?: string
}

let cached: Promise<QemuInfo> | undefined

export function qemuInfo(): Promise<QemuInfo> {
  return (cached ??= probe())
}

async function probe(): Promise<QemuInfo> {
  const binary = process.env.VFIO_CONFORM_QEMU ?? 'qemu-system-x86_64'
  const v = await execa(binary, ['--version'], { reject: false }).catch(() => undefined)
  if (!v || v.exitCode !== 0) {
    throw new UsageError(`${binary} not found: install QEMU (apt-get install qemu-system-x86) or set VFIO_CONFORM_QEMU`)
  }
  const m = /version (\d+)\.(\d+)\.?(\d*)/.exec(v.stdout)
  if (!m) throw new UsageError(`cannot read the version of ${binary}: ${v.stdout.split('\n')[0]}`)
  const dev = await execa(binary, ['-device', 'help'], { reject: false })
  const devices = new Set([...`${dev.stdout}\n${dev.stderr}`.matchAll(/name "([^"]+)"/g)].map((x) => x[1]!))
  const { kvm, reason } = await probeKvm(binary)
  return {
    binary,
    version: `${m[1]}.${m[2]}${m[3] ? '.' + m[3] : ''}`,
    versionNum: Number(m[1]) * 100 + Number(m[2]),
    devices,
    kvm,
    kvmReason: reason,
  }
}

let tcgOnly = false

/** `run --tcg`: this process never uses KVM (as VFIO_CONFORM_ACCEL=tcg in the environment does). */
export function useTcgOnly(): void {
  tcgOnly = true
}

/**
 * KVM is used when /dev/kvm exists, is accessible, and a vCPU really runs under it: on some
 * hosts (nested or sandboxed virtualisation) /dev/kvm opens and a VM is created, but the
 * first vCPU entry fails ("KVM internal error", MSR assertion). So the probe starts q35 with
 * its firmware, lets it run for a moment and asks QMP whether the VM is still running.
 */
async function probeKvm(binary: string): Promise<{ kvm: boolean; reason?: string }> {
  if (tcgOnly) return { kvm: false, reason: '--tcg' }
  if (process.env.VFIO_CONFORM_ACCEL === 'tcg') return { kvm: false, reason: 'VFIO_CONFORM_ACCEL=tcg' }
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { kvm: false, reason: '/dev/kvm absent or not accessible' }
  }
  const child = execa(binary, ['-machine', 'q35', '-accel', 'kvm', '-cpu', 'max', '-nodefaults', '-display', 'none', '-m', '64', '-no-reboot', '-qmp', 'stdio'], {
    reject: false,
    timeout: 20_000,
    stdin: 'pipe',
  })
  child.stdin!.write('{"execute":"qmp_capabilities"}\n')
  await new Promise((r) => setTimeout(r, 2000))
  child.stdin!.write('{"execute":"query-status"}\n{"execute":"quit"}\n')
  child.stdin!.end()
  const r = await child
  const status = /"status": ?"([a-z-]+)"/.exec(String(r.stdout))?.[1]
  if (status === 'running') return { kvm: true }
  const why = String(r.stderr || '').split('\n').find((l) => l.trim()) ?? `VM status ${status ?? 'unknown'} (exit ${r.exitCode})`
  return { kvm: false, reason: `KVM unusable: ${why.trim().slice(0, 160)}` }
}
