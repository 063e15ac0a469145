// vitest global setup of the conformance project: resolve kernels, plan one guest per
// (kernel, topology, vIOMMU), hand the plan to the suites, boot each guest when its first
// test asks for it (the supervisor's 'boot' op: a filtered run boots only the guests of the
// tests it selected), with bounded parallelism, and stop every QEMU at the end. A guest that
// fails to come up becomes a target with status 'error': the tests that needed it report
// ERROR (not FAIL), and the other guests still run.
import { removeStaleTempDirs } from '../util/owned-temp-dir.js'
import { mkdir, symlink, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { buildAgent } from '../agent/build.js'
import { Guest } from '../guest/guest.js'
import { GuestSupervisor } from '../guest/supervisor.js'
import { VIOMMUS } from '../../guests/viommus/index.js'
import type { KernelBuild } from '../kernel/kernel-build.js'
import { buildSelftests } from '../selftests/build.js'
import { resolveKernel, splitKernelEntry } from '../kernel/resolve.js'
import { acsFallbackUnsupported, granuleUnusable, topologyUnsupported, viommuUnsupported } from '../qemu/args.js'
import { qemuFor, qemuKeySuffix } from '../qemu/qemu-spec.js'
import type { QemuInfo } from '../qemu/qemu-binary.js'
import { HarnessError } from '../util/errors.js'
import { progress } from '../util/log.js'
import { runOptionsFromEnv, type RunOptions } from './run-options.js'
import { entryCombos, runPlan } from './run-plan.js'
import type { GuestTarget } from './targets.js'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The CLI provides the run's options; a plain `vitest run` takes them from the environment,
  // and they are provided to the suites from here (harness/vitest/run-options.ts).
  const given = project.getProvidedContext().vfioConformOptions as RunOptions | undefined
  const options = given ?? runOptionsFromEnv()
  if (!given) project.provide('vfioConformOptions', options)
  const plan = runPlan(options)
  await mkdir(plan.runDir, { recursive: true })
  // The verdict reporter runs in this process and writes verdicts.json next to the logs.
  process.env.VFIO_CONFORM_RUN_DIR_ACTUAL = plan.runDir
  const latest = path.join(path.dirname(plan.runDir), 'latest')
  await rm(latest, { force: true }).catch(() => {})
  await symlink(path.basename(plan.runDir), latest).catch(() => {})
  progress(`run directory ${plan.runDir}`)
  // Socket directories a hard-killed run left in /tmp (harness/util/owned-temp-dir.ts).
  const stale = removeStaleTempDirs()
  if (stale.length) progress(`removed ${stale.length} socket director${stale.length === 1 ? 'y' : 'ies'} of runs that are gone: ${stale.join(' ')}`)

  const guests: Guest[] = []
  const targets: GuestTarget[] = []
  // Test workers ask it to recover a guest they lost (harness/guest/supervisor.ts).
  const supervisor = new GuestSupervisor(path.join(plan.runDir, 'incidents.jsonl'))
  let agentBinary: string | undefined
  let setupError: string | undefined
  try {
    agentBinary = await buildAgent()
  } catch (e) {
    setupError = (e as Error).message
  }

  // Kernels resolve (download) one after another; a guest boots when a test first needs it,
  // as many at once as the host has cores.
  const boots = new Map<string, () => Promise<void>>()
  const slots = semaphore(Math.max(1, Number(process.env.VFIO_CONFORM_PARALLEL ?? os.availableParallelism())))
  for (const spec of plan.kernels) {
    let kernel: KernelBuild | undefined
    let kernelError: string | undefined = setupError
    if (!kernelError) {
      try {
        kernel = await resolveKernel(spec)
      } catch (e) {
        kernelError = `kernel ${spec}: ${(e as Error).message}`
      }
    }
    // The QEMU of this entry ("@qemu=SPEC"; the host's by default): part of each guest's identity.
    const qemuSpec = splitKernelEntry(spec).qemu ?? 'host'
    let qemu: QemuInfo | undefined
    if (!kernelError) {
      try {
        qemu = await qemuFor(qemuSpec)
      } catch (e) {
        kernelError = `QEMU ${qemuSpec}: ${(e as Error).message}`
      }
    }
    const selftests = kernel && !kernelError ? await buildSelftests(kernel) : undefined
    for (const { topology, iommu } of entryCombos(plan, options, spec)) {
      const label = kernel?.label ?? spec.replace(/[^A-Za-z0-9.+-]/g, '_')
      const suffix = qemu ? qemuKeySuffix(qemu) : qemuSpec === 'host' ? '' : `@qemu-${qemuSpec.replace(/[^A-Za-z0-9.+-]/g, '_')}`
      const key = `${label}/${topology.name}/${iommu}${suffix}`
      const runDir = path.join(plan.runDir, label, topology.name, iommu + suffix)
      const target: GuestTarget = {
        key,
        kernel: kernel ? { id: kernel.id, label: kernel.label, release: kernel.release, origin: kernel.origin, ...(kernel.gcov ? { gcov: kernel.gcov } : {}) } : { id: spec, label, release: '?', origin: null },
        topology: topology.name,
        iommu,
        qemu: qemu?.version,
        qemuSpec,
        status: 'error',
        error: kernelError,
        runDir,
        consoleLog: path.join(runDir, 'console.log'),
        bootSplats: [],
        modules: { loaded: [], absent: [] },
        selftests,
        mtty: kernel?.mtty && {
          kind: kernel.mtty.kind,
          reason: kernel.mtty.kind === 'absent' ? kernel.mtty.reason : undefined,
          compiler: kernel.mtty.kind === 'out-of-tree' ? kernel.mtty.compiler : undefined,
        },
      }
      targets.push(target)
      if (!kernel || !qemu || kernelError) continue
      // A vIOMMU the kernel has no driver for: nothing to boot, every test SKIPs saying why.
      const needs = VIOMMUS[iommu].kernelOption
      const cfg = kernel.config
      if (needs && cfg && !cfg.enabled(needs)) {
        Object.assign(target, { status: 'skip', error: undefined, skipReason: `${cfg.missing(needs)}: this kernel cannot drive ${iommu}` })
        continue
      }
      // A vIOMMU or a device model this QEMU cannot emulate (too old, or built without it): SKIP, naming QEMU.
      const qemuLacks = viommuUnsupported(iommu, qemu) ?? topologyUnsupported(topology, qemu) ?? acsFallbackUnsupported(topology, qemu, kernel.release)
      if (qemuLacks) {
        Object.assign(target, { status: 'skip', error: undefined, skipReason: qemuLacks })
        continue
      }
      // ... and a topology that needs what the kernel lacks (e.g. VFIO_NOIOMMU).
      const lacking = topology.requires && cfg ? cfg.missing(...topology.requires) : undefined
      if (lacking) {
        Object.assign(target, { status: 'skip', error: undefined, skipReason: `${lacking}: topology ${topology.name} needs it` })
        continue
      }
      Object.assign(target, { status: 'not-booted', error: undefined, unusable: granuleUnusable(iommu) })
      boots.set(key, async () => {
        try {
          const g = await Guest.boot({ kernel, topology, iommu, runDir, agentBinary: agentBinary!, extraCmdline: options.kernelArgs, qemu })
          guests.push(g)
          supervisor.add(g, target)
          const ssh = await g.connect()
          const config = await g.loadConfig(ssh)
          ssh.close()
          Object.assign(target, {
            status: 'ready',
            error: undefined,
            accel: g.accel,
            ssh: { port: g.sshPort, clientPrivate: g.keys.clientPrivate, hostKeyBlob: g.keys.hostKeyBlob.toString('base64') },
            times: g.times,
            bootSplats: g.bootSplats,
            config: config ? [...config.values.entries()] : undefined,
            modules: { loaded: g.modules.loaded, absent: g.modules.absent },
          } satisfies Partial<GuestTarget>)
          progress(`${key}: kernel ${target.kernel.release}, QEMU ${target.qemu}, ${target.accel}, QEMU up ${ms(target.times!.qemuStart)}, init ${ms(target.times!.init)}, SSH ${ms(target.times!.ssh)}`)
        } catch (e) {
          Object.assign(target, { status: 'error', error: (e as Error).message, errorDetail: e instanceof HarnessError ? e.detail : undefined })
          progress(`${key}: ERROR ${target.error}`)
        }
      })
    }
  }

  // targets.json: the plan now, each guest's boot as it happens (the reports read it).
  let written = Promise.resolve()
  const writeTargets = () => {
    const text = JSON.stringify(targets.map(({ ssh, config, ...t }) => t), null, 2)
    written = written.then(() => writeFile(path.join(plan.runDir, 'targets.json'), text)).catch(() => {})
    return written
  }
  await writeTargets()
  const notBooted = targets.filter((t) => t.status === 'not-booted').length
  if (notBooted) progress(`${notBooted} guest${notBooted === 1 ? '' : 's'} planned; each boots when a test first needs it`)
  // A worker's first test on a guest asks for it (fixtures.ts, ensureBooted); the supervisor
  // boots each guest once, and answers with the target as the boot left it (ready, or error).
  supervisor.bootOnDemand(async (key) => {
    const target = targets.find((t) => t.key === key)
    if (!target) throw new Error(`no guest ${key} in this run`)
    const boot = boots.get(key)
    if (boot) await slots(boot)
    await writeTargets()
    return target
  })
  const supervisorSocket = await supervisor.listen()
  project.provide('vfioConformRun', { runDir: plan.runDir, targets, supervisorSocket })

  return async () => {
    // A boot still under way when the run ends (Ctrl-C, a worker gone) is stopped with the rest.
    await Promise.allSettled(supervisor.bootsAsked())
    await supervisor.close()
    await Promise.all(guests.map((g) => g.stop()))
  }
}

function ms(n: number): string {
  return `${(n / 1000).toFixed(1)} s`
}

/** At most `n` of the functions given to it run at once; the others wait their turn, in order. */
function semaphore(n: number): (fn: () => Promise<void>) => Promise<void> {
  let running = 0
  const waiting: Array<() => void> = []
  return async (fn) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r))
    running++
    try {
      await fn()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}
