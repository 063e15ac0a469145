// Which QEMU we run, what it can do, and whether KVM is usable here.
import { execa } from 'execa'
import { access, constants, readFile } from 'node:fs/promises'
import { UsageError } from '../util/errors.js'

export interface QemuInfo {
  /** The spec it was asked for (harness/qemu/qemu-spec.ts): "host", "debian:sid", "path:...". */
  spec: string
  binary: string
  version: string
  /** major*100+minor, for feature checks */
  versionNum: number
  devices: Set<string>
  /** Properties of the devices whose properties the harness asks for (PROBED_DEVICE_PROPS). */
  deviceProps: Record<string, Set<string>>
  kvm: boolean
  /** Why KVM is not used, when it is not. */
  kvmReason?: string
}

/**
 * Devices whose properties decide how the harness builds a topology: pcie-root-port's
 * disable-acs is gone in newer QEMUs (harness/qemu/args.ts: acsOffPorts); intel-iommu's
 * experimental x- properties lose their prefix when they stabilise (stableProps); a vIOMMU
 * record's qemuPropsIfAvailable are set only where the device has them (amd-iommu's dma-remap).
 */
export const PROBED_DEVICE_PROPS = ['pcie-root-port', 'intel-iommu', 'amd-iommu']

/** Version, devices and KVM of a QEMU binary (qemuFor in qemu-spec.ts caches it per spec). */
export async function probeQemu(binary: string): Promise<Omit<QemuInfo, 'spec'>> {
  const v = await execa(binary, ['--version'], { reject: false }).catch(() => undefined)
  if (!v || v.exitCode !== 0) {
    const why = v?.stderr ? `: ${String(v.stderr).trim().split('\n')[0]}` : ' (not found)'
    throw new UsageError(`${binary} does not run${why}; install QEMU (apt-get install qemu-system-x86), set VFIO_CONFORM_QEMU, or pick one with --qemu (vfio-conform qemus lists them)`)
  }
  const m = /version (\d+)\.(\d+)\.?(\d*)/.exec(v.stdout)
  if (!m) throw new UsageError(`cannot read the version of ${binary}: ${v.stdout.split('\n')[0]}`)
  const dev = await execa(binary, ['-device', 'help'], { reject: false })
  const devices = new Set([...`${dev.stdout}\n${dev.stderr}`.matchAll(/name "([^"]+)"/g)].map((x) => x[1]!))
  const deviceProps: Record<string, Set<string>> = {}
  for (const d of PROBED_DEVICE_PROPS) {
    if (!devices.has(d)) continue
    const h = await execa(binary, ['-device', `${d},help`], { reject: false })
    deviceProps[d] = new Set([...String(h.stdout).matchAll(/^\s+([A-Za-z0-9_.-]+)=/gm)].map((x) => x[1]!))
  }
  const { kvm, reason } = await probeKvm(binary)
  return {
    binary,
    version: `${m[1]}.${m[2]}${m[3] ? '.' + m[3] : ''}`,
    versionNum: Number(m[1]) * 100 + Number(m[2]),
    devices,
    deviceProps,
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
  // Without the CPU's virtualisation flag KVM cannot run a guest properly even where the probe
  // below passes: QEMU 11.1 started q35's firmware here, then the guest kernel died in an
  // emulation failure (QEMU 7.2 failed at once: "failed to set MSR 0x10a").
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  if (cpuinfo && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return { kvm: false, reason: 'KVM unusable: the CPU has no vmx/svm flag' }
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
