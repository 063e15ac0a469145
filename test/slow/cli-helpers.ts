// Helpers of the slow end-to-end tests that drive the real CLI against real guests: a user's
// environment, the processes of one run (found through /proc by its run directory), and
// starting the CLI with its output collected.
import { execa, type ResultPromise } from 'execa'
import { readdir, readFile } from 'node:fs/promises'
import { HARNESS_ERROR_TAG } from '../../harness/util/errors.js'

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The environment of a user's shell: without what the vitest running this file adds. */
export function userEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^VITEST/.test(k) || (k === 'TEST' && v === 'true') || (k === 'NODE_ENV' && v === 'test')) continue
    if (/^VFIO_CONFORM_(RUN_DIR|KERNELS|TOPOLOGIES|IOMMUS)/.test(k)) continue
    env[k] = v
  }
  return env
}

export interface Proc {
  pid: number
  cmdline: string
}

/**
 * The processes of a run: command line holding the run directory (the CLI itself, QEMU), or
 * environment holding VFIO_CONFORM_RUN_DIR=<run directory> (what the CLI started after it
 * set it: vitest workers, QEMU). Run directories are fresh temporary paths: nobody else's.
 */
export async function processesOf(runDir: string): Promise<Proc[]> {
  const out: Proc[] = []
  for (const p of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    const cmdline = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim()
    const environ = await readFile(`/proc/${p}/environ`, 'utf8').catch(() => '')
    if (cmdline.includes(runDir + '/') || cmdline.endsWith(runDir) || environ.split('\0').includes(`VFIO_CONFORM_RUN_DIR=${runDir}`)) {
      out.push({ pid: Number(p), cmdline })
    }
  }
  return out
}

export const show = (p: Proc) => `${p.pid} ${p.cmdline.slice(0, 160)}`
export const qemuOf = async (runDir: string) => (await processesOf(runDir)).filter((p) => /qemu-system/.test(p.cmdline) && p.cmdline.includes(runDir + '/'))

/** Polls `fn` until it returns something truthy or `ms` pass; returns the last value. */
export async function waitFor<T>(fn: () => Promise<T>, ms: number, everyMs = 250): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v || Date.now() > until) return v
    await sleep(everyMs)
  }
}

/** SIGKILL whatever of this run is still there, so a failed assertion never leaves a guest running. */
export async function killRun(runDir: string): Promise<void> {
  for (const p of await processesOf(runDir)) {
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
}

/** Start `node <cli> run ...`, collecting its output. */
export function startCli(cli: string, args: string[], cwd: string): { sub: ResultPromise; output: () => string } {
  let out = ''
  const sub = execa(process.execPath, [cli, ...args], {
    cwd,
    env: userEnv(),
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    reject: false,
    timeout: 30 * 60_000,
  })
  sub.all!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8')
  })
  // The CLI's output lands in failure messages: without the harness-error tag, which would make
  // this project's verdict reporter call a failed assertion here an ERROR, not a FAIL.
  return { sub, output: () => out.replaceAll(HARNESS_ERROR_TAG, '(harness-error)') }
}

