// `vfio-conform run` pointed at bad input: exit 2, exactly one "vfio-conform: ..." line on
// stderr naming what is wrong, nothing on stdout (no stack trace), and nothing started.
//
// The real CLI (bin/vfio-conform.mjs) runs as a child process, as a user would run it. Each case
// is a few seconds at most: the CLI checks the host packages and probes QEMU before it resolves
// the kernels, and boots nothing. No network: the kernels used are the ones already in the cache
// (harness/util/cache.ts), and the cases that need one SKIP, saying so, when it holds none.
//
// "Nothing started" is checked three ways:
//   - QEMU is a recording wrapper (VFIO_CONFORM_QEMU): it logs every invocation and refuses to
//     boot a guest (any `-kernel`), so a CLI that goes on after bad input neither boots nor
//     hangs, and the log shows that it tried;
//   - while the CLI runs, /proc is polled for any other process whose command line holds the
//     case's results directory (QEMU's console log lives there: harness/qemu/args.ts);
//   - the results directory given with --results must not exist afterwards.
import { execa } from 'execa'
import { existsSync, readdirSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { cachePath } from '../../harness/util/cache.js'
import { HARNESS_ERROR_TAG } from '../../harness/util/errors.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin/vfio-conform.mjs')
// Limits only; every case below takes 0.3-3 s here. A CLI that wrongly runs the suites is
// stopped by this timeout (and boots nothing, see the wrapper).
const CLI_TIMEOUT_MS = 90_000

/** Cached Debian kernels: version dir, its bzImage and the one release under lib/modules. */
interface CachedKernel {
  version: string
  bzImage: string
  /** The INSTALL_MOD_PATH-style dir (holds lib/modules/<release>). */
  modulesRoot: string
  release: string
}

function cachedDebianKernels(): CachedKernel[] {
  const base = cachePath('kernels', 'debian')
  const out: CachedKernel[] = []
  let versions: string[] = []
  try {
    versions = readdirSync(base)
  } catch {
    return out
  }
  for (const version of versions.sort()) {
    const dir = path.join(base, version)
    if (!existsSync(path.join(dir, '.complete')) || !existsSync(path.join(dir, 'vmlinuz'))) continue
    let releases: string[] = []
    try {
      releases = readdirSync(path.join(dir, 'lib/modules'))
    } catch {
      continue
    }
    if (releases.length !== 1 || !existsSync(path.join(dir, 'lib/modules', releases[0]!, 'modules.dep'))) continue
    out.push({ version, bzImage: path.join(dir, 'vmlinuz'), modulesRoot: dir, release: releases[0]! })
  }
  return out
}

/** The environment of a user's shell: without what the vitest running this file adds. */
function userEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^VITEST/.test(k) || (k === 'TEST' && v === 'true') || (k === 'NODE_ENV' && v === 'test')) continue
    if (/^VFIO_CONFORM_(RUN_DIR|KERNELS|TOPOLOGIES|IOMMUS|QEMU)/.test(k)) continue
    env[k] = v
  }
  return { ...env, ...extra }
}

/** Other processes whose command line contains `needle` (never this one, never `except`). */
async function processesMentioning(needle: string, except: number[] = []): Promise<string[]> {
  const found: string[] = []
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid || except.includes(Number(pid))) continue
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    // The CLI itself, and its children between fork and exec (they show its command line
    // until they exec): not something the CLI started.
    if (cmdline.startsWith(`${process.execPath}\0${CLI}\0`)) continue
    if (cmdline.includes(needle)) found.push(`${pid}: ${cmdline.replace(/\0/g, ' ').trim().slice(0, 300)}`)
  }
  return found
}

let tmp: string
let wrapper: string
let wrapperLog: string
const kernels = cachedDebianKernels()

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-bad-input-'))
  const real = (await execa('sh', ['-c', 'command -v qemu-system-x86_64'], { reject: false })).stdout.trim() || 'qemu-system-x86_64'
  wrapperLog = path.join(tmp, 'qemu-invocations.log')
  wrapper = path.join(tmp, 'qemu-system-x86_64')
  await writeFile(
    wrapper,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> '${wrapperLog}'`,
      'for a in "$@"; do',
      '  if [ "$a" = -kernel ]; then echo "cli-bad-input.test.ts: refusing to boot a guest after bad input" >&2; exit 1; fi',
      'done',
      `exec '${real}' "$@"`,
      '',
    ].join('\n'),
  )
  await chmod(wrapper, 0o755)
})

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

interface Run {
  exitCode?: number
  signal?: string
  stdout: string
  stderr: string
  /** Processes other than the CLI seen holding the results dir in their command line. */
  others: string[]
  /** QEMU invocations that would have booted a guest. */
  boots: string[]
  resultsDirCreated: boolean
  ms: number
}

/** Run `vfio-conform <args> --results <fresh dir>`, watching /proc until it exits. */
async function runCli(caseName: string, args: string[]): Promise<Run> {
  const caseDir = path.join(tmp, caseName.replace(/[^A-Za-z0-9-]+/g, '-'))
  await mkdir(caseDir, { recursive: true })
  const resultsDir = path.join(caseDir, 'results')
  await writeFile(wrapperLog, '')
  const t0 = Date.now()
  const child = execa(process.execPath, [CLI, ...args, '--results', resultsDir], {
    // cwd: the case's dir, so a CLI that ignored --results would write in it, not in the repo.
    cwd: caseDir,
    env: userEnv({ VFIO_CONFORM_QEMU: wrapper }),
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: CLI_TIMEOUT_MS,
    forceKillAfterDelay: 5_000,
  })
  const others = new Set<string>()
  let done = false
  const watcher = (async () => {
    while (!done) {
      for (const p of await processesMentioning(resultsDir, child.pid ? [child.pid] : [])) others.add(p)
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const r = await child
  done = true
  await watcher
  // Whatever the outcome, leave nothing behind: only processes holding this case's own dir.
  for (const p of await processesMentioning(resultsDir)) {
    others.add(p)
    try {
      process.kill(Number(p.split(':')[0]), 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  const invocations = (await readFile(wrapperLog, 'utf8').catch(() => '')).split('\n').filter(Boolean)
  return {
    exitCode: r.exitCode,
    signal: r.signal,
    // The CLI's output ends up in failure messages: without the harness-error tag, which would
    // make this project's verdict reporter call a failed assertion here an ERROR, not a FAIL.
    stdout: String(r.stdout ?? '').replaceAll(HARNESS_ERROR_TAG, '(harness-error)'),
    stderr: String(r.stderr ?? '').replaceAll(HARNESS_ERROR_TAG, '(harness-error)'),
    others: [...others],
    boots: invocations.filter((l) => /(^| )-kernel /.test(l)),
    resultsDirCreated: existsSync(resultsDir) || existsSync(path.join(caseDir, 'vfio-conform-results')),
    ms: Date.now() - t0,
  }
}

/** Exit 2, one clear line naming `names`, nothing else printed, nothing started. */
function expectUsageError(r: Run, names: string[]): void {
  const shown = `exit ${r.exitCode ?? r.signal} after ${r.ms} ms\n--- stderr:\n${r.stderr}\n--- stdout:\n${r.stdout.slice(-3000)}`
  expect(r.signal, shown).toBeUndefined()
  expect(r.exitCode, shown).toBe(2)
  const lines = r.stderr.replace(/\n+$/, '').split('\n')
  expect(lines, `stderr must be exactly one line\n${shown}`).toHaveLength(1)
  const line = lines[0]!
  expect(line, shown).toMatch(/^vfio-conform: \S/)
  expect(line, 'a usage error, not a harness ERROR').not.toMatch(/^vfio-conform: ERROR/)
  for (const n of names) expect(line, `the line names ${n}`).toContain(n)
  expect(r.stdout, 'nothing on stdout').toBe('')
  for (const out of [r.stdout, r.stderr]) expect(out, 'no stack trace').not.toMatch(/^\s+at .+(\(|:\d+)/m)
  expect(r.boots, 'QEMU invocations with -kernel (a guest boot)').toEqual([])
  expect(r.others, 'processes holding the results directory').toEqual([])
  expect(r.resultsDirCreated, 'a results directory was created').toBe(false)
}

// Every run case restricts the matrix, so a CLI that wrongly went on would try one guest only.
const ONE_GUEST = ['--topology', 'default', '--iommu', 'intel-iommu']

describe('vfio-conform run with bad input: exit 2, one line, nothing started', () => {
  test('--kernel path: to a file that does not exist', async () => {
    const r = await runCli('nonexistent', ['run', '--kernel', 'path:/nonexistent/bzImage', ...ONE_GUEST])
    expectUsageError(r, ['/nonexistent/bzImage'])
  })

  test('--kernel path: to a file that is not a kernel', async () => {
    const text = path.join(tmp, 'not-a-kernel.txt')
    await writeFile(text, 'this is a text file, not a bzImage\n'.repeat(40))
    const r = await runCli('text-file', ['run', '--kernel', `path:${text}`, ...ONE_GUEST])
    expectUsageError(r, [text])
  })

  // A directory opens fine on Linux; reading it is EISDIR. Bad input all the same.
  test('--kernel path: to a directory', async () => {
    const dir = path.join(tmp, 'a-directory')
    await mkdir(dir, { recursive: true })
    const r = await runCli('directory', ['run', '--kernel', `path:${dir}`, ...ONE_GUEST])
    expectUsageError(r, [dir])
  })

  test('--kernel path:<bzImage>,modules=<the modules of another kernel version>', async ({ skip }) => {
    const a = kernels[0]
    const b = kernels.find((k) => k.release !== a?.release)
    if (!a || !b) {
      skip(`needs two cached Debian kernels of different releases under ${cachePath('kernels', 'debian')} (found ${kernels.map((k) => k.version).join(', ') || 'none'}); run \`vfio-conform run\` once to fill the cache`)
    }
    const r = await runCli('modules-mismatch', ['run', '--kernel', `path:${a!.bzImage},modules=${b!.modulesRoot}`, ...ONE_GUEST])
    // Both releases: the one the image is, and the one the modules are for.
    expectUsageError(r, [a!.release, b!.release])
  })

  test('--kernel path:<bzImage>,config=<a file that does not exist>', async ({ skip }) => {
    const a = kernels[0]
    if (!a) skip(`needs a cached Debian kernel under ${cachePath('kernels', 'debian')}; run \`vfio-conform run\` once to fill the cache`)
    const r = await runCli('missing-config', ['run', '--kernel', `path:${a!.bzImage},modules=${a!.modulesRoot},config=/nonexistent/kernel.config`, ...ONE_GUEST])
    expectUsageError(r, ['/nonexistent/kernel.config'])
  })

  test('an unknown topology', async () => {
    const r = await runCli('topology', ['run', '--topology', 'no-such-topology', '--iommu', 'intel-iommu'])
    expectUsageError(r, ['no-such-topology'])
  })

  test('an unknown --iommu', async () => {
    const r = await runCli('iommu', ['run', '--topology', 'default', '--iommu', 'no-such-iommu'])
    expectUsageError(r, ['no-such-iommu'])
  })

  test('an unknown option', async () => {
    const r = await runCli('option', ['run', ...ONE_GUEST, '--no-such-option'])
    expectUsageError(r, ['--no-such-option'])
  })

  test('an unknown command', async () => {
    const r = await runCli('command', ['frobnicate'])
    expectUsageError(r, ['frobnicate'])
  })
})

// The other subcommands' values, as the CLI meets them (every option is walked in-process by
// cli-options.test.ts): refused before a host check, a download, a build or a boot.
describe('other subcommands with bad values: exit 2, one line naming the option, nothing started', () => {
  test('model --runs -3 (it used to boot four guests and report the model as FAIL "null")', async () => {
    const r = await runCli('model-runs', ['model', '--runs', '-3', ...ONE_GUEST])
    expectUsageError(r, ['--runs', '-3'])
  })

  test('model --steps 0 and --seed 1.5', async () => {
    expectUsageError(await runCli('model-steps', ['model', '--steps', '0', ...ONE_GUEST]), ['--steps'])
    expectUsageError(await runCli('model-seed', ['model', '--seed', '1.5', ...ONE_GUEST]), ['--seed'])
  })

  test('run --repeat 0 and --kernel with no version', async () => {
    expectUsageError(await runCli('run-repeat', ['run', '--repeat', '0', ...ONE_GUEST]), ['--repeat'])
    expectUsageError(await runCli('run-kernel', ['run', '--kernel', 'debian:', ...ONE_GUEST]), ['--kernel'])
  })

  test('gate --confirm 21', async () => {
    const r = await runCli('gate-confirm', ['gate', '--tree', tmp, '--base', 'HEAD', '--series', path.join(tmp, 'none.mbox'), '--confirm', '21'])
    expectUsageError(r, ['--confirm', '21'])
  })
})
