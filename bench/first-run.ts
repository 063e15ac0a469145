// Benchmark: what a newcomer's first run costs. A fresh clone of this checkout's HEAD, with
// empty npm, kernel and ccache caches (new directories; every VFIO_CONFORM_* variable of the
// caller dropped), runs the README's first command, `npm ci && npx vfio-conform run`, and then
// the run once more (warm: the build reused); the figures are the wall times (npm ci, the first
// run, the kernel build inside it, the second run) and the first run's verdicts.
// The host packages (QEMU, compilers) are the machine's: they are not a cache. Writes the
// figures into docs/measurements.md unless --no-record. Takes as long as a first build (minutes
// to tens of minutes) and the disk of a kernel tree and its objects under DIR (deleted after,
// unless --keep).
//   vfio-conform bench --first-run [--no-record] [--keep] [--dir DIR]
import { execa } from 'execa'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandSpec, opt, parseOptions } from '../harness/cli/options.js'
import { machineAndCommit, printAndRecord } from '../harness/report/measurements-file.js'
import { countVerdicts, type TestVerdict } from '../harness/report/verdict.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface FirstRunPlan {
  clone: string
  env: NodeJS.ProcessEnv
  steps: Array<{ name: string; file: string; args: string[] }>
  results: string
  warmResults: string
}

/** The clone, the environment with empty caches, and the README's first command as steps. */
export function firstRunPlan(base: string, env: NodeJS.ProcessEnv = process.env): FirstRunPlan {
  const clone = path.join(base, 'vfio-conform')
  const results = path.join(base, 'results')
  const warmResults = path.join(base, 'results-warm')
  const clean: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('VFIO_CONFORM_') && !/^(npm_config_cache|CCACHE_DIR|XDG_CACHE_HOME)$/i.test(k)) clean[k] = v
  Object.assign(clean, {
    npm_config_cache: path.join(base, 'npm-cache'),
    XDG_CACHE_HOME: path.join(base, 'xdg-cache'),
    // Kernels, packages, the project apt's lists and ccache (its default place is inside it).
    VFIO_CONFORM_CACHE: path.join(base, 'vfio-conform-cache'),
  })
  return {
    clone,
    env: clean,
    results,
    warmResults,
    steps: [
      { name: 'npm ci', file: 'npm', args: ['ci'] },
      { name: 'npx vfio-conform run', file: 'npx', args: ['vfio-conform', 'run', '--results', results] },
      { name: 'the same run, warm', file: 'npx', args: ['vfio-conform', 'run', '--results', warmResults] },
    ],
  }
}

/** "kernel X: built R in N s" from the run's progress lines (harness/kernel/source-build.ts). */
export function kernelBuildSeconds(log: string): number[] {
  return [...log.matchAll(/kernel \S+: built \S+ in (\d+) s/g)].map((m) => Number(m[1]))
}

export const BENCH_FIRST_RUN_SPEC = commandSpec('bench --first-run', { 'no-record': opt.flag(), keep: opt.flag(), dir: opt.path() })

export async function benchFirstRun(argv: string[], command = `vfio-conform bench --first-run ${argv.join(' ')}`.trim()): Promise<number> {
  const { values } = parseOptions(BENCH_FIRST_RUN_SPEC, argv)
  const base = await mkdtemp(path.join(values.dir ?? os.tmpdir(), 'vfio-conform-first-run-'))
  const plan = firstRunPlan(base)
  const head = (await execa('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).stdout.trim()
  console.error(`bench --first-run: cloning ${ROOT} (HEAD ${head}; local changes are not in the clone) into ${plan.clone}; caches under ${base}`)
  await execa('git', ['clone', '--quiet', '--no-hardlinks', ROOT, plan.clone])
  const lines = [`fresh clone of ${head}; empty npm, kernel and ccache caches; ${os.availableParallelism()} cores`]
  let log = ''
  let exitCode = 0
  const t0 = Date.now()
  for (const step of plan.steps) {
    const t = Date.now()
    let stepLog = ''
    const p = execa(step.file, step.args, { cwd: plan.clone, env: plan.env, extendEnv: false, reject: false, all: true, stdin: 'ignore' })
    p.all!.on('data', (d: Buffer) => {
      stepLog += d.toString()
      process.stderr.write(d)
    })
    const r = await p
    log += stepLog
    lines.push(`${step.name.padEnd(22)} ${((Date.now() - t) / 1000).toFixed(0).padStart(5)} s  (exit ${r.exitCode})`)
    for (const k of kernelBuildSeconds(stepLog)) lines.push(`  of which a kernel build ${k} s`)
    if (step === plan.steps[1]) lines.push(`${'npm ci && run'.padEnd(22)} ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s`)
    if (r.exitCode !== 0) {
      exitCode = r.exitCode ?? 1
      break
    }
  }
  const out = JSON.parse(await readFile(path.join(plan.results, 'verdicts.json'), 'utf8').catch(() => 'null')) as { verdicts: TestVerdict[] } | null
  if (out) {
    const c = countVerdicts(out.verdicts)
    lines.push(`verdicts: ${Object.entries(c).filter(([, n]) => n).map(([v, n]) => `${n} ${v}`).join(', ')}`)
  }
  await writeFile(path.join(base, 'first-run.log'), log)
  if (values.keep || exitCode) console.error(`bench --first-run: kept ${base} (its output in first-run.log)`)
  else await rm(base, { recursive: true, force: true })
  return printAndRecord({ id: 'bench-first-run', title: 'First run on a machine without caches', command, lines, where: machineAndCommit(head) }, { record: !values['no-record'], exitCode })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await benchFirstRun(process.argv.slice(2), `npx tsx bench/first-run.ts ${process.argv.slice(2).join(' ')}`.trim())
}
