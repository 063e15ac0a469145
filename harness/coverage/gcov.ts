// Raw gcov snapshots of a run (harness/coverage/collect.ts) -> coverage.json
// (harness/coverage/data.ts), with the host's gcov of the compiler that built the kernel.
//
// A snapshot's tar holds the .gcda files as the guest's debugfs names them: under the
// build's obj dir path. Each is put next to a link to its notes file (.gcno, kept in the
// kernel's cache entry) in a scratch directory, and one gcov run reads them all.
import { execa } from 'execa'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { exists } from '../util/cache.js'
import { HarnessError, UsageError } from '../util/errors.js'
import { progress } from '../util/log.js'
import type { RawSnapshot } from './collect.js'
import { CoverageBuilder, parseGcovJson, type CoverageData, type GcovFile } from './data.js'
import type { GcovBuildInfo } from './profile.js'

export const COVERAGE_JSON = 'coverage.json'

/** The raw snapshots of a run directory, per guest, in the order they were taken. */
export async function rawSnapshots(runDir: string): Promise<Array<RawSnapshot & { path: string }>> {
  const raw = path.join(runDir, 'coverage', 'raw')
  if (!(await exists(raw))) return []
  const out: Array<RawSnapshot & { path: string }> = []
  for (const g of (await readdir(raw)).sort()) {
    const index = path.join(raw, g, 'index.jsonl')
    if (!(await exists(index))) continue
    for (const line of (await readFile(index, 'utf8')).split('\n').filter(Boolean)) {
      const s = JSON.parse(line) as RawSnapshot
      out.push({ ...s, path: path.join(raw, g, s.tar) })
    }
  }
  return out.sort((a, b) => a.guest.localeCompare(b.guest) || a.at - b.at)
}

/** The gcov tool to use: the compiler's own (gcov-12 for gcc 12), else plain gcov if it is that version. */
export async function gcovTool(info: GcovBuildInfo): Promise<string> {
  const r = await execa(info.gcov, ['--version'], { reject: false })
  if (r.exitCode === 0) return info.gcov
  throw new UsageError(`${info.gcov} is not installed: the kernel was built with gcc ${info.gcov.replace('gcov-', '')}, and only its own gcov reads its notes (apt-get install gcc-${info.gcov.replace('gcov-', '')})`)
}

/** One snapshot's counters, per profiled source file. */
export async function readSnapshot(tarPath: string, info: GcovBuildInfo, gcov: string): Promise<Map<string, GcovFile>> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-gcov-'))
  try {
    await execa('tar', ['-xf', tarPath, '-C', work])
    // debugfs path: <objDir>/<rel>.gcda (objDir absolute, so below work/ without its leading /)
    const base = path.join(work, info.objDir)
    const gcdas: string[] = []
    for (const rel of info.objects) {
      const gcda = path.join(base, rel + '.gcda')
      if (!(await exists(gcda))) continue
      await symlink(path.join(info.dir, rel + '.gcno'), path.join(base, rel + '.gcno'))
      gcdas.push(gcda)
    }
    if (!gcdas.length) return new Map()
    // --branch-probabilities: without it gcov's JSON has an empty "branches" on every line.
    const r = await execa(gcov, ['--json-format', '--stdout', '--branch-probabilities', ...gcdas], { cwd: work, reject: false, maxBuffer: 512 * 1024 * 1024 })
    if (r.exitCode !== 0) throw new HarnessError(`${gcov} failed on ${tarPath}: ${r.stderr.split('\n').slice(-5).join(' | ')}`)
    return parseGcovJson(r.stdout, info.tree)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * Merge a run's snapshots into <runDir>/coverage/coverage.json and return it. `kernel`: the
 * coverage build the run used (its gcov notes and obj dir).
 */
export async function buildCoverage(runDir: string, kernel: { id: string; release: string; gcov: GcovBuildInfo }, command?: string): Promise<CoverageData> {
  const snaps = await rawSnapshots(runDir)
  if (!snaps.length) throw new HarnessError(`${runDir}: no gcov snapshots (coverage/raw/*/index.jsonl): did the run use a ,gcov kernel?`)
  const gcov = await gcovTool(kernel.gcov)
  const builder = new CoverageBuilder({ id: kernel.id, release: kernel.release, tree: kernel.gcov.tree, objDir: kernel.gcov.objDir, gcov })
  const t0 = Date.now()
  let done = 0
  // Two at a time: gcov is quick, tar and process start-up dominate.
  const queue = [...snaps]
  const results = new Map<number, Map<string, GcovFile>>()
  await Promise.all(
    [0, 1].map(async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        const i = snaps.indexOf(s)
        results.set(i, await readSnapshot(s.path, kernel.gcov, gcov))
        if (++done % 50 === 0) progress(`coverage: ${done}/${snaps.length} snapshots read (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
      }
    }),
  )
  // Added in snapshot order, so that test indexes follow the run.
  snaps.forEach((s, i) => builder.add(builder.test({ name: s.test, file: s.file, guest: s.guest }), results.get(i)!))
  const data = builder.result()
  if (command) data.command = command
  await mkdir(path.join(runDir, 'coverage'), { recursive: true })
  await writeFile(path.join(runDir, 'coverage', COVERAGE_JSON), JSON.stringify(data))
  progress(`coverage: ${snaps.length} snapshots of ${new Set(snaps.map((s) => s.guest)).size} guests merged in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${path.join(runDir, 'coverage', COVERAGE_JSON)}`)
  return data
}

export async function readCoverage(file: string): Promise<CoverageData> {
  const p = file.endsWith('.json') ? file : path.join(file, 'coverage', COVERAGE_JSON)
  const data = JSON.parse(await readFile(p, 'utf8').catch(() => {
    throw new UsageError(`no coverage data at ${p} (make it with vfio-conform coverage)`)
  })) as CoverageData
  if (data.format !== 'vfio-conform-coverage/1') throw new UsageError(`${p}: format ${data.format}, not vfio-conform-coverage/1`)
  return data
}

/** The coverage kernel of a run, from its targets.json (the guests' kernels). */
export async function gcovKernelOf(runDir: string): Promise<{ id: string; release: string; gcov: GcovBuildInfo }> {
  const targets = JSON.parse(await readFile(path.join(runDir, 'targets.json'), 'utf8').catch(() => {
    throw new UsageError(`${runDir}: no targets.json (not a vfio-conform results directory)`)
  })) as Array<{ kernel: { id: string; release: string; gcov?: GcovBuildInfo } }>
  const k = targets.find((t) => t.kernel.gcov)?.kernel
  if (!k?.gcov) throw new UsageError(`${runDir}: its kernel is no coverage build (use a ,gcov kernel, e.g. vfio-conform coverage --kernel debian-source:stable)`)
  return { id: k.id, release: k.release, gcov: k.gcov }
}
