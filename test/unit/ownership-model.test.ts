// The ownership model's own rules, on sequences whose answers the hand-written suites already
// check on real kernels (the same kernel functions), and the generator's promise that every
// generated step can be issued.
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { applicable, initialState, next, predict, type ModelKernel, type Op } from '../../harness/model/ownership.js'
import { opMenu, opsOf, renderSteps } from '../../harness/model/run.js'

const K: ModelKernel = { legacy: true, cdev: true }
/** Run ops through the model; the predicted errnos. */
function play(ops: Op[], k = K): string[] {
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
    expect(play([{ op: 'openGroup', p: 'A' }, { op: 'openGroup', p: 'A' }, { op: 'openGroup', p: 'B' }, { op: 'exit', p: 'A' }, { op: 'openGroup', p: 'B' }])).toEqual(['OK', 'EBUSY', 'EBUSY', 'OK', 'OK'])
  })

  test('GET_DEVICE_FD needs a container; device fds keep the group after its fd is closed', () => {
    expect(
      play([
        { op: 'openGroup', p: 'A' },
        { op: 'getDeviceFd', p: 'A', d: 0 },
        { op: 'setContainer', p: 'A' },
        { op: 'setContainer', p: 'A' },
        { op: 'getDeviceFd', p: 'A', d: 1 },
        { op: 'closeGroup', p: 'A' },
        { op: 'openGroup', p: 'B' },
        { op: 'closeDeviceFd', p: 'A', d: 1 },
        { op: 'openGroup', p: 'B' },
      ]),
    ).toEqual(['OK', 'EINVAL', 'OK', 'EINVAL', 'OK', 'OK', 'EBUSY', 'OK', 'OK'])
  })

  test('cdev: the group node and a bound cdev exclude each other; one iommufd owner per group; a device binds once', () => {
    expect(
      play([
        { op: 'openCdev', p: 'A', d: 0 },
        { op: 'openCdev', p: 'B', d: 1 },
        { op: 'openCdev', p: 'B', d: 0 },
        { op: 'bindCdev', p: 'A', d: 0 },
        { op: 'bindCdev', p: 'B', d: 0 },
        { op: 'bindCdev', p: 'B', d: 1 },
        { op: 'openGroup', p: 'B' },
        { op: 'closeCdev', p: 'A', d: 0 },
        { op: 'bindCdev', p: 'B', d: 1 },
        { op: 'openGroup', p: 'A' },
      ]),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'EINVAL', 'EPERM', 'EBUSY', 'OK', 'OK', 'EBUSY'])
  })

  test('a held group blocks a cdev bind (EBUSY) until it is released', () => {
    expect(play([{ op: 'openGroup', p: 'A' }, { op: 'openCdev', p: 'B', d: 1 }, { op: 'bindCdev', p: 'B', d: 1 }, { op: 'closeGroup', p: 'A' }, { op: 'bindCdev', p: 'B', d: 1 }])).toEqual(['OK', 'OK', 'EBUSY', 'OK', 'OK'])
  })

  test('host drivers: a held group refuses one (EBUSY, the device left driverless); one in the group spoils viability, SET_CONTAINER and BIND (EPERM)', () => {
    const k: ModelKernel = { legacy: true, cdev: true, hostDriver: true }
    expect(
      play(
        [
          { op: 'openGroup', p: 'A' },
          { op: 'groupStatus', p: 'A' },
          { op: 'hostBind', d: 1 },
          { op: 'groupStatus', p: 'A' },
          { op: 'setContainer', p: 'A' },
          { op: 'getDeviceFd', p: 'A', d: 1 },
          { op: 'exit', p: 'A' },
          { op: 'openCdev', p: 'B', d: 0 },
          { op: 'bindCdev', p: 'B', d: 0 },
          { op: 'toVfio', d: 1 },
          { op: 'bindCdev', p: 'B', d: 0 },
          { op: 'hostBind', d: 1 },
        ],
        k,
      ),
    ).toEqual(['OK', 'flags=1', 'OK', 'flags=0', 'EPERM', 'ENODEV', 'OK', 'OK', 'EPERM', 'OK', 'OK', 'EBUSY'])
  })

  test('IOAS: an attached device keeps it (destroy EBUSY); detach or closing the cdev frees it', () => {
    expect(
      play([
        { op: 'openCdev', p: 'A', d: 0 },
        { op: 'openCdev', p: 'A', d: 1 },
        { op: 'bindCdev', p: 'A', d: 0 },
        { op: 'bindCdev', p: 'A', d: 1 },
        { op: 'ioasAlloc', p: 'A' },
        { op: 'attach', p: 'A', d: 0 },
        { op: 'attach', p: 'A', d: 1 },
        { op: 'destroyIoas', p: 'A' },
        { op: 'detach', p: 'A', d: 0 },
        { op: 'destroyIoas', p: 'A' },
        { op: 'closeCdev', p: 'A', d: 1 },
        { op: 'destroyIoas', p: 'A' },
      ]),
    ).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'EBUSY', 'OK', 'EBUSY', 'OK', 'OK'])
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
})
