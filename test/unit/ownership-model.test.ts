// The ownership model's own rules, on sequences whose answers the hand-written suites already
// check on real kernels (the same kernel functions), and the generator's promise that every
// generated step can be issued.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { applicable, initialState, next, predict, type ModelKernel, type Op } from '../../harness/model/ownership.js'
import { readdirSync, readFileSync } from 'node:fs'
import { modelPath, opMenu, opsOf, renderSteps, type StepLog } from '../../harness/model/run.js'
import { MUTANT_STEPS, PAIR_MUTANT_STEPS, VF_MUTANT_STEPS, mutantOdds } from '../../bench/model-odds.js'

const K: ModelKernel = { legacy: true, cdev: true }
/** "A openCdev 0, B bindCdev 1, admin hostBind 1, A map ioas, A exit": ops in the order written. */
function seq(text: string): Op[] {
  return text.split(',').map((part) => {
    const [who, op, arg] = part.trim().split(/\s+/)
    const o: Record<string, unknown> = { op }
    if (who !== 'admin') o.p = who
    if (arg === 'container' || arg === 'ioas') o.space = arg
    else if (arg !== undefined) o.d = Number(arg)
    return o as Op
  })
}

/** Run ops through the model; the predicted errnos. */
function play(ops: Op[] | string, k = K): string[] {
  if (typeof ops === 'string') ops = seq(ops)
  let s = initialState()
  return ops.map((o) => {
    expect(applicable(s, k, o), `${JSON.stringify(o)} applicable`).toBe(true)
    const e = predict(s, o).errno
    s = next(s, o, e)
    return e
  })
}

describe('ownership model', () => {
  test('a group opens once, from any process; after the holder exits it opens again', () => {
    expect(play('A openGroup, A openGroup, B openGroup, A exit, B openGroup')).toEqual(['OK', 'EBUSY', 'EBUSY', 'OK', 'OK'])
  })

  test('GET_DEVICE_FD needs a container and its IOMMU; device fds keep the group after its fd is closed', () => {
    expect(
      play('A openGroup, A getDeviceFd 0, A setContainer, A setContainer, A getDeviceFd 1, A setIommu, A setIommu, A getDeviceFd 1, A closeGroup, B openGroup, A closeDeviceFd 1, B openGroup'),
    ).toEqual(['OK', 'EINVAL', 'OK', 'EINVAL', 'EINVAL', 'OK', 'EINVAL', 'OK', 'OK', 'EBUSY', 'OK', 'OK'])
  })

  test('UNSET_CONTAINER: EINVAL without one, EBUSY while a device is open; after it the group is in no container', () => {
    expect(
      play('A openGroup, A unsetContainer, A setContainer, A setIommu, A getDeviceFd 0, A unsetContainer, A closeDeviceFd 0, A groupStatus, A unsetContainer, A groupStatus, A getDeviceFd 0'),
    ).toEqual(['OK', 'EINVAL', 'OK', 'OK', 'OK', 'EBUSY', 'OK', 'flags=3', 'OK', 'flags=1', 'EINVAL'])
  })

  test('cdev: the group node and a bound cdev exclude each other; one iommufd owner per group; a device binds once', () => {
    expect(
      play('A openCdev 0, B openCdev 1, B openCdev 0, A bindCdev 0, B bindCdev 0, B bindCdev 1, B openGroup, A closeCdev 0, B bindCdev 1, A openGroup'),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'EINVAL', 'EPERM', 'EBUSY', 'OK', 'OK', 'EBUSY'])
  })

  test('a held group blocks a cdev bind (EBUSY) until it is released', () => {
    expect(play('A openGroup, B openCdev 1, B bindCdev 1, A closeGroup, B bindCdev 1')).toEqual(['OK', 'OK', 'EBUSY', 'OK', 'OK'])
  })

  test("DMA, legacy: blocked until the container maps the IOVA; reaches the holder's buffer; blocked again after UNMAP", () => {
    expect(play('A openGroup, A setContainer, A setIommu, A getDeviceFd 0, A dma 0, A map container, A dma 0, A unmap container, A dma 0')).toEqual([
      'OK', 'OK', 'OK', 'OK', 'blocked', 'OK', 'reached A', 'OK', 'blocked',
    ])
  })

  test("DMA, legacy: the container's mappings go with the group's release", () => {
    expect(play('A openGroup, A setContainer, A setIommu, A map container, A closeGroup, A openGroup, A setContainer, A setIommu, A getDeviceFd 1, A dma 1')).toEqual([
      'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'blocked',
    ])
  })

  test("DMA, iommufd: the group's first attached device puts the whole group in the IOAS; its last detach blocks it again", () => {
    expect(
      play('A openCdev 0, A openCdev 1, A bindCdev 0, A bindCdev 1, A ioasAlloc, A map ioas, A dma 1, A attach 0, A dma 1, A detach 0, A dma 1, A attach 1, A unmap ioas, A dma 0'),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'blocked', 'OK', 'reached A', 'OK', 'blocked', 'OK', 'OK', 'blocked'])
  })

  test('unbinding vfio-pci from a device in use asks its users to let go; they do, and the group is released with the last fd', () => {
    expect(
      play('A openCdev 0, admin unbindVfio 0, admin toVfio 0, B openGroup, B setContainer, B setIommu, B getDeviceFd 1, B closeGroup, admin unbindVfio 0, A openGroup, admin toVfio 0, admin unbindVfio 1, A openGroup'),
    ).toEqual(['OK', 'requested', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'EBUSY', 'OK', 'requested', 'OK'])
  })

  test('host drivers: a held group refuses one (EBUSY, the device left driverless); one in the group spoils viability, SET_CONTAINER and BIND (EPERM)', () => {
    const k: ModelKernel = { legacy: true, cdev: true, hostDriver: true }
    expect(
      play('A openGroup, A groupStatus, admin hostBind 1, A groupStatus, A setContainer, A getDeviceFd 1, A exit, B openCdev 0, B bindCdev 0, admin toVfio 1, B bindCdev 0, admin hostBind 1', k),
    ).toEqual(['OK', 'flags=1', 'OK', 'flags=0', 'EPERM', 'ENODEV', 'OK', 'OK', 'EPERM', 'OK', 'OK', 'EBUSY'])
  })

  test('IOAS: an attached device keeps it (destroy EBUSY); detach or closing the cdev frees it', () => {
    expect(
      play('A openCdev 0, A openCdev 1, A bindCdev 0, A bindCdev 1, A ioasAlloc, A attach 0, A attach 1, A destroyIoas, A detach 0, A destroyIoas, A closeCdev 1, A destroyIoas'),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'EBUSY', 'OK', 'EBUSY', 'OK', 'OK'])
  })

  test('hot reset on the reset pair: through a device fd with the group fd or a bound cdev, refused while a device of the bus is off vfio-pci', () => {
    const k: ModelKernel = { legacy: true, cdev: true, hostDriver: true, hotReset: true, noDma: true }
    const ops = (text: string) => seq(text).map((o) => (o.op === 'hotReset' ? { ...o, via: 'cdev' } : o)) as Op[]
    // legacy: with the group fd OK; once the group fd is closed only the zero-length array is left (EINVAL)
    expect(play(seq('A openGroup, A setContainer, A setIommu, A getDeviceFd 0').concat([{ op: 'hotReset', p: 'A', d: 0, via: 'device' }, { op: 'closeGroup', p: 'A' }, { op: 'hotReset', p: 'A', d: 0, via: 'device' }]), k)).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'EINVAL'])
    // cdev: unbound EINVAL; bound OK with the other device unbound (its group is the caller's); off vfio-pci EINVAL
    expect(play(ops('A openCdev 0, B openCdev 1, A hotReset 0, A bindCdev 0, A hotReset 0, admin unbindVfio 1, A hotReset 0'), k)).toEqual(['OK', 'OK', 'EINVAL', 'OK', 'OK', 'requested', 'EINVAL'])
    expect(opMenu(K).some((o) => o.op === 'hotReset')).toBe(false)
    expect(opMenu(k).some((o) => o.op === 'dma' || o.op === 'map')).toBe(false)
  })

  test("VF token (PF dev0, VF dev1, a group each): the VF binds only with the PF's token; with a VF in use the PF binds only with it; a PF bind's token check sets the token even when the open fails", () => {
    const k: ModelKernel = { legacy: false, cdev: true, vfToken: true }
    const bind = (p: 'A' | 'B', d: 0 | 1, token?: 'T1' | 'T2'): Op => ({ op: 'bindCdev', p, d, ...(token ? { token } : {}) })
    const play2 = (ops: Op[]) => {
      let s = initialState(k)
      return ops.map((o) => {
        expect(applicable(s, k, o), JSON.stringify(o)).toBe(true)
        const e = predict(s, o).errno
        s = next(s, o, e)
        return e
      })
    }
    expect(
      play2([
        { op: 'openCdev', p: 'A', d: 0 }, bind('A', 0), { op: 'setToken', p: 'A', d: 0, token: 'T1' },
        { op: 'openCdev', p: 'B', d: 1 }, bind('B', 1), bind('B', 1, 'T2'), bind('B', 1, 'T1'),
        { op: 'setToken', p: 'B', d: 1, token: 'T2' },
        { op: 'closeCdev', p: 'A', d: 0 }, { op: 'openCdev', p: 'A', d: 0 }, bind('A', 0), bind('A', 0, 'T1'),
      ]),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'EACCES', 'EACCES', 'OK', 'ENOTTY', 'OK', 'OK', 'EACCES', 'OK'])
    // No VF in use: B's PF bind fails (A has it open) but its token check already set T2.
    expect(
      play2([
        { op: 'openCdev', p: 'A', d: 0 }, bind('A', 0), { op: 'setToken', p: 'A', d: 0, token: 'T1' },
        { op: 'openCdev', p: 'B', d: 0 }, bind('B', 0, 'T2'), { op: 'openCdev', p: 'B', d: 1 }, bind('B', 1, 'T1'), bind('B', 1, 'T2'),
      ]),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'EINVAL', 'OK', 'EACCES', 'OK'])
    expect(opMenu(k).every((o) => ['openCdev', 'bindCdev', 'closeCdev', 'setToken', 'exit', 'kill'].includes(o.op))).toBe(true)
  })

  test('the generator: every step of every sequence can be issued, and a kernel without cdev gets no cdev op', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), fc.boolean(), fc.boolean(), (choices, cdev, hostDriver) => {
        const k = { legacy: true, cdev, hostDriver }
        const ops = opsOf(choices, k)
        expect(ops).toHaveLength(choices.length)
        let s = initialState()
        for (const o of ops) {
          expect(applicable(s, k, o)).toBe(true)
          if (!cdev) expect(o.op).not.toMatch(/Cdev/)
          s = next(s, o, predict(s, o).errno)
        }
      }),
    )
    expect(opMenu({ legacy: false, cdev: true }).some((o) => o.op === 'openGroup')).toBe(false)
  })

  test('a counterexample prints as numbered steps, the diverging one with its rule', () => {
    const text = renderSteps([
      { op: { op: 'openGroup', p: 'A' }, expected: 'OK', actual: 'OK', rule: 'vfio_group_fops_open' },
      { op: { op: 'openGroup', p: 'B' }, expected: 'EBUSY', actual: 'OK', rule: 'vfio_group_fops_open: the group is open (group->opened_file)' },
    ])
    expect(text).toBe(' 1. A: openGroup           expected OK     got OK    \n 2. B: openGroup           expected EBUSY  got OK      <-- vfio_group_fops_open: the group is open (group->opened_file)')
  })

  test("bench/model-odds.ts names the diverging step of exactly the ci/mutations patches that select the model, and random sequences reach each", () => {
    const dir = new URL('../../ci/mutations/', import.meta.url)
    const selecting = readdirSync(dir)
      .filter((f) => f.endsWith('.patch'))
      .filter((f) => /^# Filter: .*\bownership model\b/m.test(readFileSync(new URL(f, dir), 'utf8')))
      .map((f) => f.replace(/\.patch$/, ''))
    expect([...Object.keys(MUTANT_STEPS), ...Object.keys(PAIR_MUTANT_STEPS), ...Object.keys(VF_MUTANT_STEPS)].sort()).toEqual(selecting.sort())
    for (const r of mutantOdds(300)) expect(r.share, r.patch).toBeGreaterThan(0)
  })

  test("the model's shortest way to a diverging step keeps only what that step's answer needs", async () => {
    const ops = seq('B exit, A openGroup, A getDeviceFd 1, A unsetContainer, admin unbindVfio 1, admin toVfio 1, A setContainer, A groupStatus, A setIommu, B openCdev 0, A getDeviceFd 1, A dma 1, A unsetContainer')
    let s = initialState()
    const failing: StepLog[] = ops.map((o) => {
      const p = predict(s, o)
      s = next(s, o, p.errno)
      return { op: o, expected: p.errno, actual: p.errno, rule: p.rule }
    })
    failing.at(-1)!.actual = 'OK'
    expect(failing.at(-1)!.expected).toBe('EBUSY')
    const path = await modelPath(K, failing)
    expect(path.map((x) => `${x.op.op}:${x.expected}`)).toEqual(['openGroup:OK', 'setContainer:OK', 'setIommu:OK', 'getDeviceFd:OK', 'unsetContainer:EBUSY'])
    expect(path.at(-1)!.actual).toBe('OK')
  })
})
