// `vfio-conform list`: the rule catalogue from the suites' collected tests, the registries and
// the mutations' headers (harness/rules/), and the real CLI run as a user runs it, with no
// kernel, no QEMU and an empty cache.
import { execa } from 'execa'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildCatalogue, filterSubject, renderCatalogueText, type Rule } from '../../harness/rules/catalogue.js'
import { parseMutation, patchHeader, readMutations } from '../../harness/rules/mutations.js'
import { BEHAVIOURS } from '../../suites/behaviours.js'
import { CLAIMS } from '../../suites/claims/registry.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = path.join(ROOT, 'bin/vfio-conform.mjs')

describe('mutation headers', () => {
  test('fields, continuation lines, the first line that is no comment ends the header', () => {
    const h = patchHeader(
      ['# Mutation: m1', '# Rule: a group opens once;', '#   a second open is EBUSY.', '# Filter: a group opens once|ownership model', '# Claims: c1 c2', '', '--- a/x', '# Filter: not this'].join('\n'),
    )
    expect(h.get('Rule')).toBe('a group opens once; a second open is EBUSY.')
    expect(h.get('Filter')).toBe('a group opens once|ownership model')
    expect(parseMutation('ci/mutations/m1.patch', [...h].map(([k, v]) => `# ${k}: ${v}`).join('\n'))).toMatchObject({ name: 'm1', claims: ['c1', 'c2'] })
  })
  test('no Mutation line: the file name; no Filter: no filter; empty Claims: none', () => {
    const m = parseMutation('ci/mutations/x/viab.patch', '# Rule: r\n# Claims:\n\n--- a/f\n')
    expect(m).toMatchObject({ name: 'viab', filter: undefined, claims: [] })
  })
  test('a Filter that is no regular expression names the patch', () => {
    expect(() => parseMutation('ci/mutations/bad.patch', '# Filter: a(b\n')).toThrow(/bad.patch.*Filter/)
  })
  test('every patch of ci/mutations has a name and a filter', async () => {
    const ms = await readMutations(ROOT)
    expect(ms.length).toBeGreaterThan(0)
    for (const m of ms) expect(m.filter, m.file).toBeInstanceOf(RegExp)
  })
})

describe('buildCatalogue', () => {
  const tests = [
    { file: 'suites/a.test.ts', name: 'a group opens once: EBUSY', topology: 'default', iommu: 'intel-iommu' },
    { file: 'suites/a.test.ts', name: 'a group opens once: EBUSY', topology: 'default', iommu: 'amd-iommu' },
    { file: 'suites/a.test.ts', name: 'group x + y', topology: 'default', iommu: 'intel-iommu' },
    { file: 'suites/b.test.ts', name: 'outer > a group opens once: inner', topology: 'noiommu', iommu: 'none' },
  ]
  const c = buildCatalogue(tests, {
    behaviours: [
      { id: 1, tests: [{ file: 'suites/a.test.ts', test: /^a group opens once/ }] },
      { id: 2, tests: [{ file: 'suites/c.test.ts', test: /./ }] },
    ],
    claims: [{ id: 'c1', decidedBy: [{ test: /^a group opens once/ }, { test: /^nothing/ }] }],
    mutations: [
      parseMutation('ci/mutations/m1.patch', '# Filter: opens once: (EBUSY|inner)\n'),
      parseMutation('ci/mutations/m2.patch', '# Filter: no such test\n'),
      parseMutation('ci/mutations/m3.patch', '# Rule: r\n'),
    ],
  })
  const rule = (name: string) => c.rules.find((r) => r.name === name)!
  test('one rule per suite file and name, with the guests that declare it', () => {
    expect(c.rules.map((r) => r.name)).toEqual(['a group opens once: EBUSY', 'group x + y', 'outer > a group opens once: inner'])
    expect(rule('a group opens once: EBUSY').guests).toEqual(['default/intel-iommu', 'default/amd-iommu'])
  })
  test('behaviours by file and pattern, claims by pattern, mutations by filter on the space-joined name', () => {
    expect(rule('a group opens once: EBUSY')).toMatchObject({ behaviours: [1], claims: ['c1'], mutations: ['m1'] })
    expect(rule('group x + y')).toMatchObject({ behaviours: [], claims: [], mutations: [] })
    // Another file: no behaviour of a.test.ts; the describe block's name is part of what --filter sees.
    expect(rule('outer > a group opens once: inner')).toMatchObject({ behaviours: [], claims: [], mutations: ['m1'] })
    expect(filterSubject('outer > inner')).toBe('outer inner')
  })
  test('mutations that select no rule are named', () => {
    expect(c.idleMutations).toEqual(['m2', 'm3'])
  })
  test('text: "none" where nothing applies, guests only where fewer than the suite\'s', () => {
    const text = renderCatalogueText(c)
    expect(text).toContain('suites/a.test.ts\n  a group opens once: EBUSY\n      behaviour: 1; claims: c1; mutation: m1\n')
    expect(text).toContain('  group x + y\n      behaviour: none; claims: none; mutation: none; guests: default/intel-iommu\n')
    expect(text).toMatch(/3 rules in 2 suite files; 2 with a mutation that must make them FAIL, 1 with none\n$/)
  })
})

describe('vfio-conform list (the CLI, no kernel, no QEMU, empty cache)', () => {
  let cache: string
  let all: { rules: Rule[]; idleMutations: string[] }
  let filtered: { stdout: string; stderr: string; exitCode?: number }
  const env = () => ({ VFIO_CONFORM_CACHE: cache, VFIO_CONFORM_QEMU: '/nonexistent/qemu-system-x86_64', PATH: '/usr/bin:/bin' })
  beforeAll(async () => {
    cache = await mkdtemp(path.join(os.tmpdir(), 'vfio-conform-list-'))
    const [json, text] = await Promise.all([
      execa(process.execPath, [CLI, 'list', '--json'], { cwd: ROOT, env: env(), extendEnv: false }),
      execa(process.execPath, [CLI, 'list', '--filter', 'a group opens once'], { cwd: ROOT, env: env(), extendEnv: false, reject: false }),
    ])
    all = JSON.parse(json.stdout)
    filtered = text
  }, 300_000) // two collections at once: ~15 s each on an idle 2-core machine, minutes under a kernel build
  afterAll(() => rm(cache, { recursive: true, force: true }))

  test('every suite file is there, and a guest-dependent test for each vIOMMU it is meant for', () => {
    const files = new Set(all.rules.map((r) => r.file))
    for (const f of ['suites/legacy-group.test.ts', 'suites/iommufd-cdev.test.ts', 'suites/noiommu.test.ts', 'suites/hotplug.test.ts', 'suites/groups.test.ts']) expect(files).toContain(f)
    const q35 = all.rules.find((r) => r.file === 'suites/groups.test.ts' && r.name === 'group q35-host')!
    expect(q35.guests).toEqual(expect.arrayContaining(['default/intel-iommu']))
    expect(all.rules.find((r) => r.name.startsWith('upstream selftest iommu/iommufd'))).toBeDefined()
  })
  test('a rule with its behaviour, claim and mutation', () => {
    const r = all.rules.find((x) => x.name === 'a group opens once: an open from another process is EBUSY')!
    expect(r).toMatchObject({ file: 'suites/legacy-group.test.ts', claims: ['group-parked-while-used'], mutations: ['group-open-once'] })
    expect(r.behaviours).toContain(1)
  })
  test('every mutation selects a rule; every behaviour and claim pattern names a collected test', () => {
    expect(all.idleMutations).toEqual([])
    for (const b of BEHAVIOURS) for (const p of b.tests) expect(all.rules.some((r) => r.file === p.file && p.test.test(r.name)), `behaviour ${b.id}: ${p.file} ${p.test}`).toBe(true)
    for (const c of CLAIMS) for (const p of c.decidedBy) expect(all.rules.some((r) => p.test.test(r.name)), `claim ${c.id}: ${p.test}`).toBe(true)
  })
  test('--filter lists only what it matches, "none" where no mutation applies', () => {
    expect(filtered.exitCode).toBe(0)
    const names = filtered.stdout.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim())
    expect(names.length).toBeGreaterThan(0)
    for (const n of names) expect(n).toMatch(/a group opens once/)
    expect(filtered.stdout).toMatch(/mutation: group-open-once/)
  })
  test('a --filter that is no regular expression is exit 2, one line', async () => {
    const r = await execa(process.execPath, [CLI, 'list', '--filter', 'a(b'], { cwd: ROOT, env: env(), extendEnv: false, reject: false })
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })
})
