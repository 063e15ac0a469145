// guestSuite: the blocks of different guests overlap in time (as many at once as
// VFIO_CONFORM_CONCURRENCY), the tests of one guest never do and keep their order. Runs vitest
// on test/fixtures/guest-concurrency.
import { execa } from 'execa'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { guestConcurrency } from '../../harness/vitest/concurrency.js'
import { tempDir } from './temp-dirs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface Edge { guest: string; t: number; edge: 'start' | 'end'; at: number }

async function runFixture(concurrency: string): Promise<Edge[]> {
  const dir = await tempDir('vfio-conform-concurrency-')
  const log = path.join(dir, 'log.jsonl')
  const config = path.join(ROOT, 'test/fixtures/guest-concurrency/vitest.config.ts')
  const r = await execa('npx', ['vitest', 'run', '--config', config], {
    cwd: ROOT, reject: false, all: true, env: { CONCURRENCY_LOG: log, VFIO_CONFORM_CONCURRENCY: concurrency },
  })
  expect(r.exitCode, r.all).toBe(0)
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Edge)
}

/** The most tests running at one time, over all guests and within each guest. */
function overlap(edges: Edge[]): { all: number; perGuest: number } {
  let all = 0, maxAll = 0, maxGuest = 0
  const running = new Map<string, number>()
  for (const e of [...edges].sort((a, b) => a.at - b.at)) {
    const d = e.edge === 'start' ? 1 : -1
    all += d
    running.set(e.guest, (running.get(e.guest) ?? 0) + d)
    maxAll = Math.max(maxAll, all)
    maxGuest = Math.max(maxGuest, running.get(e.guest)!)
  }
  return { all: maxAll, perGuest: maxGuest }
}

test('guests overlap, up to the limit; one guest runs one test at a time, in order', async () => {
  const edges = await runFixture('3')
  expect(overlap(edges)).toEqual({ all: 3, perGuest: 1 })
  for (const g of ['g1', 'g2', 'g3']) {
    expect(edges.filter((e) => e.guest === g && e.edge === 'start').map((e) => e.t)).toEqual([0, 1, 2, 3])
  }
})

test('VFIO_CONFORM_CONCURRENCY=1 is the old order: one guest after another', async () => {
  const edges = await runFixture('1')
  expect(overlap(edges)).toEqual({ all: 1, perGuest: 1 })
  expect(edges.filter((e) => e.edge === 'start').map((e) => `${e.guest}.${e.t}`)).toEqual(
    ['g1', 'g2', 'g3'].flatMap((g) => [0, 1, 2, 3].map((t) => `${g}.${t}`)),
  )
})

test('the default and bad values of VFIO_CONFORM_CONCURRENCY', () => {
  expect(guestConcurrency({})).toBeGreaterThanOrEqual(2)
  expect(guestConcurrency({ VFIO_CONFORM_CONCURRENCY: '4' })).toBe(4)
  expect(() => guestConcurrency({ VFIO_CONFORM_CONCURRENCY: '0' })).toThrow(/whole number/)
  expect(() => guestConcurrency({ VFIO_CONFORM_CONCURRENCY: 'lots' })).toThrow(/whole number/)
})
