// The verdict reporter on tests vitest retried after the harness rebooted a lost guest: it
// judges the last attempt, says that a FAIL came on the retry, and annotates the loss
// (harness/report/verdict-reporter.ts). Runs vitest on test/fixtures/reporter-retry.
import { execa } from 'execa'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import type { TestVerdict } from '../../harness/report/verdict.js'
import { tempDir } from './temp-dirs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

test('a retried test: PASS or FAIL by its last attempt, the loss annotated, a FAIL on the retry says so', async () => {
  const runDir = await tempDir('vfio-conform-reporter-')
  const config = path.join(ROOT, 'test/fixtures/reporter-retry/vitest.config.ts')
  const r = await execa('npx', ['vitest', 'run', '--config', config], { cwd: ROOT, reject: false, all: true, env: { VFIO_CONFORM_RUN_DIR_ACTUAL: runDir } })
  expect(r.exitCode, r.all).toBe(1)
  const { verdicts } = JSON.parse(await readFile(path.join(runDir, 'verdicts.json'), 'utf8')) as { verdicts: TestVerdict[] }
  const by = Object.fromEntries(verdicts.map((v) => [v.name, v]))
  const loss = 'attempt lost its guest, retried on a rebooted guest: k/default/intel-iommu: SSH lost: SSH connection closed'

  expect(by['passes on the retry']).toMatchObject({ verdict: 'PASS' })
  expect(by['passes on the retry']!.annotations![0]).toContain(loss)

  expect(by['fails on the retry']).toMatchObject({ verdict: 'FAIL' })
  expect(by['fails on the retry']!.reason).toMatch(/^on the retry, after the harness rebooted the guest: the kernel answered wrongly/)
  expect(by['fails on the retry']!.annotations![0]).toContain(loss)

  // Lost on the retry too: an ERROR (the harness could not judge the kernel), on the retry.
  expect(by['loses its guest twice']).toMatchObject({ verdict: 'ERROR' })
  expect(by['loses its guest twice']!.reason).toMatch(/^on the retry, after the harness rebooted the guest: k\/default\/intel-iommu: SSH lost/)

  expect(by['fails without a loss']).toMatchObject({ verdict: 'FAIL', annotations: [] })
  // No name filter: a statically skipped test is a SKIP.
  expect(by['skipped by its own condition']).toMatchObject({ verdict: 'SKIP' })
  expect(by['fails without a loss']!.reason).not.toMatch(/retry/)
})

test('tests a name filter leaves out are not verdicts (no SKIP), only counted', async () => {
  const runDir = await tempDir('vfio-conform-reporter-')
  const config = path.join(ROOT, 'test/fixtures/reporter-retry/vitest.config.ts')
  const r = await execa('npx', ['vitest', 'run', '--config', config, '-t', 'fails without a loss'], { cwd: ROOT, reject: false, all: true, env: { VFIO_CONFORM_RUN_DIR_ACTUAL: runDir } })
  const out = JSON.parse(await readFile(path.join(runDir, 'verdicts.json'), 'utf8')) as { verdicts: TestVerdict[]; selection: { selected: number; notSelected: number } }
  expect(out.verdicts.map((v) => `${v.verdict} ${v.name}`), r.all).toEqual(['FAIL fails without a loss'])
  expect(out.selection).toEqual({ selected: 1, notSelected: 4 })
  expect(r.all).toContain('selected by the name filter: 1 of 5 tests (the other 4 were not run and are not counted)')
})
