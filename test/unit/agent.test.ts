// The guest agent and its client, run locally: the host is x86_64 Linux like the guests, so
// the real static binary makes real syscalls here, driven through the real GuestAgent over
// pipes (in the guest the pipes are an SSH exec channel).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildAgent } from '../../harness/agent/build.js'
import { errnoOf, GuestAgent, type AgentIo } from '../../harness/agent/client.js'
import { parsePciScan, PCI_SCAN_SCRIPT } from '../../harness/guest/pci.js'
import { HARNESS_ERROR_TAG, HarnessError } from '../../harness/util/errors.js'

const FIONREAD = 0x541b
const TCGETS = 0x5401
const TCFLSH = 0x540b
const FIOCLEX = 0x5451
// _IOR('T', 0x30, unsigned int): as JavaScript's `|` makes it, a negative int32.
const TIOCGPTN = 0x80045430 | 0
const OFF_64 = 0x70000000000n // a VFIO region offset: needs a 64-bit off_t

let bin = ''
let dir = ''
const started: Array<{ agent: GuestAgent; child: ChildProcessWithoutNullStreams }> = []

beforeAll(async () => {
  bin = await buildAgent()
  dir = await mkdtemp(path.join(os.tmpdir(), 'agent-test-'))
  await chmod(dir, 0o755) // so that an unprivileged agent's EACCES comes from the file, not the directory
})

afterAll(async () => {
  await Promise.all(started.map(({ agent }) => agent.close()))
  for (const { child } of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  if (dir) await rm(dir, { recursive: true, force: true })
})

interface Started {
  agent: GuestAgent
  child: ChildProcessWithoutNullStreams
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kills: () => number
}

function start(args: string[] = [], io: Partial<AgentIo> = {}): Started {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  let kills = 0
  const agent = new GuestAgent({
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    label: `local agent ${args.join(' ')}`.trim(),
    kill: () => {
      kills++
      child.kill('SIGKILL')
    },
    ...io,
  })
  started.push({ agent, child })
  return { agent, child, exited, kills: () => kills }
}

async function ready(args: string[] = [], io: Partial<AgentIo> = {}): Promise<Started> {
  const s = start(args, io)
  await s.agent.ready()
  return s
}

async function harnessRejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e, 'expected a rejection').toBeInstanceOf(HarnessError)
  expect((e as Error).message).toContain(HARNESS_ERROR_TAG)
  return e as Error
}

describe('guest agent: syscalls', () => {
  test('hello reports the process identity; getpid agrees', async () => {
    const { agent, child } = await ready()
    expect(agent.pid).toBe(child.pid)
    expect([agent.uid, agent.gid]).toEqual([0, 0])
    expect(agent.hello!.caps).toContain('cap_sys_admin')
    expect(agent.hello!.noNewPrivs).toBe(false)
    expect(agent.hello!.maxBuf).toBe(16 << 20)
    expect(await agent.getpid()).toBe(child.pid)
  })

  test('eventfd: unsignalled reads EAGAIN (0), a write is read back once as the counter', async () => {
    const { agent } = await ready()
    const e = await agent.eventfd()
    expect(errnoOf(e)).toBe('OK')
    expect(await agent.eventfdCount(e.ret)).toBe(0)
    const one = Buffer.alloc(8)
    one.writeBigUInt64LE(3n)
    expect(await agent.write(e.ret, one)).toEqual({ ret: 8 })
    expect(await agent.eventfdCount(e.ret)).toBe(3)
    expect(await agent.eventfdCount(e.ret)).toBe(0)
  })

  test('open/write/read/close on /dev/null; fds stay open across requests; EBADF by name', async () => {
    const { agent } = await ready()
    const o = await agent.open('/dev/null', ['O_RDWR', 'O_CLOEXEC'])
    expect(errnoOf(o)).toBe('OK')
    expect(o.ret).toBeGreaterThanOrEqual(3)
    expect(await agent.write(o.ret, Buffer.from('abc'))).toEqual({ ret: 3 })
    expect(await agent.read(o.ret, 16)).toEqual({ ret: 0, data: Buffer.alloc(0) })
    expect(await agent.closeFd(o.ret)).toEqual({ ret: 0 })
    const again = await agent.closeFd(o.ret)
    expect(again).toEqual({ ret: -1, errno: 'EBADF' })
    expect(errnoOf(again)).toBe('EBADF')
    expect(errnoOf(await agent.closeFd(9999))).toBe('EBADF')
  })

  test('ENOENT for a missing path, with the exact name', async () => {
    const { agent } = await ready()
    expect(await agent.open(path.join(dir, 'missing'), ['O_RDONLY'])).toEqual({ ret: -1, errno: 'ENOENT' })
    expect(errnoOf(await agent.open(path.join(dir, 'missing', 'x'), 0))).toBe('ENOENT')
  })

  test('O_CREAT with a mode; pwrite/pread at a 64-bit offset of a sparse file', async () => {
    const { agent } = await ready()
    const file = path.join(dir, 'sparse')
    const o = await agent.open(file, ['O_RDWR', 'O_CREAT', 'O_EXCL'], 0o640)
    expect(o.ret).toBeGreaterThanOrEqual(3)
    expect((await stat(file)).mode & 0o777).toBe(0o640)
    expect(errnoOf(await agent.open(file, ['O_RDWR', 'O_CREAT', 'O_EXCL']))).toBe('EEXIST')

    expect(await agent.pwrite(o.ret, Buffer.from('hello'), OFF_64)).toEqual({ ret: 5 })
    expect((await stat(file)).size).toBe(Number(OFF_64) + 5)
    expect(await agent.pread(o.ret, 8, OFF_64)).toEqual({ ret: 5, data: Buffer.from('hello') })
    expect(await agent.pread(o.ret, 4, OFF_64 - 2n)).toEqual({ ret: 4, data: Buffer.from([0, 0, 0x68, 0x65]) })
    expect(await agent.pread(o.ret, 4, 0)).toEqual({ ret: 4, data: Buffer.alloc(4) })
    expect(await agent.pread(o.ret, 4, -1)).toEqual({ ret: -1, errno: 'EINVAL' })
    // write() goes to the file position, which pwrite does not move.
    expect(await agent.write(o.ret, Buffer.from('AB'))).toEqual({ ret: 2 })
    expect(await agent.pread(o.ret, 3, 0)).toEqual({ ret: 3, data: Buffer.from([0x41, 0x42, 0]) })
    // A read-only fd cannot be written.
    const ro = await agent.open(file, ['O_RDONLY'])
    expect(await agent.pwrite(ro.ret, Buffer.from('x'), 0)).toEqual({ ret: -1, errno: 'EBADF' })
  })

  test('1 MiB through pwrite and pread intact; beyond 16 MiB is refused (ERROR, not a result)', async () => {
    const { agent } = await ready()
    const o = await agent.open(path.join(dir, 'big'), ['O_RDWR', 'O_CREAT', 'O_TRUNC'])
    const data = Buffer.alloc(1 << 20)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff
    expect(await agent.pwrite(o.ret, data, 4096)).toEqual({ ret: data.length })
    const r = await agent.pread(o.ret, data.length, 4096)
    expect(r.ret).toBe(data.length)
    expect(r.data!.equals(data)).toBe(true)
    const e = await harnessRejection(agent.read(o.ret, (16 << 20) + 1))
    expect(e.message).toContain('16 MiB')
    expect(agent.alive).toBe(true)
  })

  test('ioctl with a buffer: FIONREAD on a fifo fills it; TCGETS on /dev/null is ENOTTY', async () => {
    const { agent } = await ready()
    const fifo = path.join(dir, 'fifo')
    await execa('mkfifo', [fifo])
    const f = await agent.open(fifo, ['O_RDWR', 'O_NONBLOCK'])
    expect(f.ret).toBeGreaterThanOrEqual(3)
    expect(await agent.write(f.ret, Buffer.from('abcde'))).toEqual({ ret: 5 })
    const r = await agent.ioctl(f.ret, FIONREAD, Buffer.alloc(4, 0xff))
    expect(r).toEqual({ ret: 0, data: Buffer.from([5, 0, 0, 0]) })
    expect(await agent.read(f.ret, 10)).toEqual({ ret: 5, data: Buffer.from('abcde') })
    expect(await agent.read(f.ret, 10)).toEqual({ ret: -1, errno: 'EAGAIN' })

    const n = await agent.open('/dev/null', ['O_RDWR'])
    const arg = Buffer.alloc(60, 0xab)
    expect(await agent.ioctl(n.ret, TCGETS, arg)).toEqual({ ret: -1, errno: 'ENOTTY', data: arg })
    expect(await agent.ioctl(9999, TCGETS, arg)).toEqual({ ret: -1, errno: 'EBADF', data: arg })
  })

  test('ioctl by value and without an argument; a negative (int32) request number works', async () => {
    const { agent } = await ready()
    const m = await agent.open('/dev/ptmx', ['O_RDWR', 'O_NOCTTY'])
    expect(m.ret).toBeGreaterThanOrEqual(3)
    // TCFLSH takes its queue selector by value: 0 (TCIFLUSH) is valid, 7 and -1 are not.
    expect(await agent.ioctl(m.ret, TCFLSH, 0)).toEqual({ ret: 0 })
    expect(await agent.ioctl(m.ret, TCFLSH, 7)).toEqual({ ret: -1, errno: 'EINVAL' })
    expect(await agent.ioctl(m.ret, TCFLSH, -1)).toEqual({ ret: -1, errno: 'EINVAL' })
    expect(await agent.ioctl(m.ret, TCFLSH, 2n)).toEqual({ ret: 0 })
    expect(await agent.ioctl(m.ret, FIOCLEX)).toEqual({ ret: 0 })
    expect(TIOCGPTN).toBeLessThan(0)
    const p = await agent.ioctl(m.ret, TIOCGPTN, Buffer.alloc(4, 0xff))
    expect(p.ret).toBe(0)
    expect(existsSync(`/dev/pts/${p.data!.readUInt32LE(0)}`)).toBe(true)
  })

  test('mem_alloc, mem_write and mem_read round trip; a bad address is EFAULT, not a crash', async () => {
    const { agent } = await ready()
    const { addr } = await agent.memAlloc(1 << 16)
    expect(addr % 4096n).toBe(0n)
    expect(addr).toBeGreaterThan(0n)
    expect(await agent.memRead(addr, 8)).toEqual(Buffer.alloc(8))
    const pattern = Buffer.from(Array.from({ length: 1 << 16 }, (_, i) => (i * 13) & 0xff))
    await agent.memWrite(addr, pattern)
    expect((await agent.memRead(addr, pattern.length)).equals(pattern)).toBe(true)
    await agent.memWrite(addr + 3n, Buffer.from('odd'))
    expect(await agent.memRead(addr + 1n, 6)).toEqual(Buffer.from([pattern[1]!, pattern[2]!, 0x6f, 0x64, 0x64, pattern[6]!]))

    expect(await agent.memReadSys(16n, 4)).toEqual({ ret: -1, errno: 'EFAULT', signal: 'SIGSEGV' })
    expect(await agent.memWriteSys(16n, Buffer.from('x'))).toEqual({ ret: -1, errno: 'EFAULT', signal: 'SIGSEGV' })
    await harnessRejection(agent.memRead(16n, 4))
    expect(await agent.getpid()).toBe(agent.pid)
    expect(await agent.munmap(addr, 1 << 16)).toEqual({ ret: 0 })
    expect((await agent.memReadSys(addr, 4)).errno).toBe('EFAULT')
  })

  test('mmap of a file is shared with the file', async () => {
    const { agent } = await ready()
    const file = path.join(dir, 'mapped')
    await writeFile(file, Buffer.alloc(8192, 0x11))
    const o = await agent.open(file, ['O_RDWR'])
    const m = await agent.mmap(o.ret, 8192, 4096)
    expect(m.errno).toBeUndefined()
    await agent.memWrite(m.addr!, Buffer.from('mapped'))
    expect(await agent.munmap(m.addr!, 8192)).toEqual({ ret: 0 })
    expect((await readFile(file)).subarray(4096, 4102).toString()).toBe('mapped')
    expect(await agent.mmap(o.ret, 4096, 1)).toEqual({ ret: -1, errno: 'EINVAL' })
  })

  test('readlink gives the target; EINVAL on a non-link', async () => {
    const { agent } = await ready()
    const link = path.join(dir, 'link')
    await symlink('../some/target ü', link)
    expect(await agent.readlink(link)).toEqual({ ret: 17, data: Buffer.from('../some/target ü'), target: '../some/target ü' })
    expect((await agent.readlink('/proc/self/exe')).target).toBe(bin)
    expect(await agent.readlink('/dev/null')).toEqual({ ret: -1, errno: 'EINVAL' })
  })

  test('write_file reports the byte count, or the step that failed', async () => {
    const { agent } = await ready()
    const file = path.join(dir, 'attr')
    await writeFile(file, 'old contents')
    expect(await agent.writeFile(file, 'new\n')).toEqual({ ret: 4 })
    // O_WRONLY only, as for a sysfs attribute: no O_TRUNC, no O_CREAT.
    expect(await readFile(file, 'utf8')).toBe('new\ncontents')
    expect(await agent.writeFile(path.join(dir, 'no', 'such'), 'x')).toEqual({ ret: -1, errno: 'ENOENT', step: 'open' })
    expect(await agent.writeFile('/dev/full', Buffer.from('0000:00:03.0'))).toEqual({ ret: -1, errno: 'ENOSPC', step: 'write' })
  })

  // The harness's PCI probe is one agent request; it must say exactly what the shell scan it
  // replaced says (the same parser reads both). This host's /sys/bus/pci is real sysfs.
  test('pci_scan prints what the shell scan prints, in one request', async () => {
    const { agent } = await ready()
    const shell = await execa('sh', ['-c', PCI_SCAN_SCRIPT])
    const scanned = await agent.pciScan()
    expect(scanned.split('\n').filter(Boolean).length).toBeGreaterThan(0)
    expect(scanned).toBe(shell.stdout.trim() + '\n')
    expect(parsePciScan(scanned)).toEqual(parsePciScan(shell.stdout))
  })

  test('concurrent requests are answered in order, each to its caller', async () => {
    const { agent } = await ready()
    const file = path.join(dir, 'concurrent')
    await writeFile(file, Buffer.from(Array.from({ length: 64 }, (_, i) => i)))
    const o = await agent.open(file, ['O_RDONLY'])
    const rs = await Promise.all(Array.from({ length: 32 }, (_, i) => agent.pread(o.ret, 1, i)))
    expect(rs.map((r) => r.data![0])).toEqual(Array.from({ length: 32 }, (_, i) => i))
  })
})

describe('guest agent: identity and capabilities', () => {
  test('--uid/--gid 65534: a 0600 root file is EACCES, a 0644 one opens', async () => {
    await writeFile(path.join(dir, 'secret'), 'x', { mode: 0o600 })
    await writeFile(path.join(dir, 'public'), 'x', { mode: 0o644 })
    const { agent } = await ready(['--gid', '65534', '--uid', '65534'])
    expect([agent.uid, agent.gid]).toEqual([65534, 65534])
    expect(agent.hello!.groups).toEqual([65534])
    expect(agent.hello!.caps).toEqual([])
    expect(await agent.open(path.join(dir, 'secret'), ['O_RDONLY'])).toEqual({ ret: -1, errno: 'EACCES' })
    expect((await agent.open(path.join(dir, 'public'), ['O_RDONLY'])).ret).toBeGreaterThanOrEqual(3)
  })

  test('--keep-caps cap_dac_read_search as 65534: exactly that one, which reads but does not write', async () => {
    await writeFile(path.join(dir, 'secret2'), 'x', { mode: 0o600 })
    const { agent } = await ready(['--gid', '65534', '--uid', '65534', '--keep-caps', 'cap_dac_read_search'])
    expect(agent.hello!.caps).toEqual(['cap_dac_read_search'])
    expect([agent.hello!.capEff, agent.hello!.capPrm, agent.hello!.capBnd, agent.hello!.capAmb]).toEqual([4n, 4n, 4n, 0n])
    expect(agent.hello!.noNewPrivs).toBe(true)
    expect((await agent.open(path.join(dir, 'secret2'), ['O_RDONLY'])).ret).toBeGreaterThanOrEqual(3)
    expect(await agent.open(path.join(dir, 'secret2'), ['O_RDWR'])).toEqual({ ret: -1, errno: 'EACCES' })
  })

  test('--drop-caps: no capability in any set; root without DAC override gets EACCES', async () => {
    const file = path.join(dir, 'nobodys')
    await writeFile(file, 'x', { mode: 0o600 })
    await chown(file, 65534, 65534)
    const { agent } = await ready(['--drop-caps'])
    expect(agent.uid).toBe(0)
    const h = agent.hello!
    expect(h.caps).toEqual([])
    expect([h.capEff, h.capPrm, h.capInh, h.capBnd, h.capAmb]).toEqual([0n, 0n, 0n, 0n, 0n])
    expect(h.noNewPrivs).toBe(true)
    expect(await agent.open(file, ['O_RDONLY'])).toEqual({ ret: -1, errno: 'EACCES' })
    const { agent: none } = await ready(['--keep-caps', 'none'])
    expect(none.hello!.capBnd).toBe(0n)
  })

  test.for([
    [['--uid', 'abc'], "--uid: not a number: 'abc'"],
    [['--uid'], '--uid needs a value'],
    [['--bogus'], "unknown option '--bogus'"],
    [['--keep-caps', 'cap_sys_admin,cap_nope'], "unknown capability 'cap_nope'"],
    [['--drop-caps', '--keep-caps', 'none'], 'given twice'],
  ] as const)('bad option %j: exit 2, and ready() rejects with the message', async ([args, message]) => {
    const { agent, exited, kills } = start([...args])
    const e = await harnessRejection(agent.ready())
    expect(e.message).toContain(message)
    expect(await exited).toEqual({ code: 2, signal: null })
    expect(kills()).toBe(1) // the failed start released its channel
  })
})

describe('guest agent: protocol and lifetime', () => {
  test('malformed lines and unknown ops get an error response; the agent keeps working', async () => {
    const { agent } = await ready()
    expect(await agent.rawRequest('garbage')).toEqual({ id: null, error: 'request is not a JSON object' })
    expect(await agent.rawRequest('{"op":"getpid"}')).toEqual({ id: null, error: 'missing field "id"' })
    expect(await agent.rawRequest('{"id":"x","op":"getpid"}')).toEqual({ id: null, error: 'field "id" must be an integer' })
    expect(await agent.rawRequest('{"id":41,"op":"frob"}')).toEqual({ id: 41, error: 'unknown op "frob"' })
    expect(await agent.rawRequest('{"id":42,"op":"open","path":"/dev/null"')).toEqual({ id: 42, error: 'unterminated object' })
    expect(await agent.rawRequest('{"id":43,"op":"close","fd":1.5}')).toEqual({ id: 43, error: 'field "fd": only integers are supported' })
    expect(await agent.rawRequest('{"id":44,"op":"open","path":"/dev/null","flags":"O_RDONLY","mdoe":1}')).toEqual({
      id: 44,
      error: 'op open: unknown field "mdoe"',
    })
    expect(await agent.rawRequest('{"id":45,"op":"open","path":"\\u002fdev\\/null","flags":0}')).toEqual({ id: 45, ret: 3 })
    // Through the typed API a refused request is a harness error, and the agent lives on.
    const e = await harnessRejection(agent.open('/dev/null', ['O_BOGUS']))
    expect(e.message).toContain("unknown flag 'O_BOGUS'")
    expect(agent.alive).toBe(true)
    expect(await agent.getpid()).toBe(agent.pid)
  })

  test('SIGKILL: the pending call and every later one reject with a harness error', async () => {
    const { agent, child } = await ready()
    const fifo = path.join(dir, 'fifo-block')
    await execa('mkfifo', [fifo])
    const f = await agent.open(fifo, ['O_RDWR']) // blocking: a read waits forever
    const pending = agent.read(f.ret, 1)
    await new Promise((r) => setTimeout(r, 100))
    child.kill('SIGKILL')
    const e = await harnessRejection(pending)
    expect(e.message).toContain('read')
    expect(agent.alive).toBe(false)
    await harnessRejection(agent.getpid())
    await harnessRejection(agent.open('/dev/null'))
  })

  test('a request that never returns times out as a harness error', async () => {
    const { agent } = await ready([], { requestTimeoutMs: 300 })
    const fifo = path.join(dir, 'fifo-hang')
    await execa('mkfifo', [fifo])
    const f = await agent.open(fifo, ['O_RDWR'])
    const e = await harnessRejection(agent.read(f.ret, 1))
    expect(e.message).toContain('no answer within 0.3 s')
    await harnessRejection(agent.getpid())
  })

  test('EOF on stdin: the agent exits 0', async () => {
    const { agent, child, exited } = await ready()
    child.stdin.end()
    expect(await exited).toEqual({ code: 0, signal: null })
    await harnessRejection(agent.getpid())
  })

  test('close() makes the agent exit 0, then kills once; it is idempotent', async () => {
    const { agent, exited, kills } = await ready()
    await Promise.all([agent.close(), agent.close()])
    await agent.close()
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(kills()).toBe(1)
    await harnessRejection(agent.getpid())
  })

  test('close() of a hung agent does not wait for it', async () => {
    const { agent, exited, kills } = await ready()
    const fifo = path.join(dir, 'fifo-close')
    await execa('mkfifo', [fifo])
    const f = await agent.open(fifo, ['O_RDWR'])
    const pending = harnessRejection(agent.read(f.ret, 1))
    const t0 = Date.now()
    await agent.close()
    expect(Date.now() - t0).toBeLessThan(3500)
    expect(kills()).toBe(1)
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect((await pending).message).toContain('no answer within 2 s')
  })

  test('abandon(): later calls reject without talking to the agent', async () => {
    const { agent, exited } = await ready()
    agent.abandon()
    const e = await harnessRejection(agent.getpid())
    expect(e.message).toContain('killed')
    // It never saw an exit request: it is still running until its stdin closes.
    const { child } = started.find((s) => s.agent === agent)!
    expect(child.exitCode).toBeNull()
    child.stdin.end()
    expect(await exited).toEqual({ code: 0, signal: null })
  })

  test('the client: a garbled response, a missing hello and a wrong id are harness errors', async () => {
    const fake = (): { agent: GuestAgent; out: PassThrough; sent: string[] } => {
      const out = new PassThrough()
      const inp = new PassThrough()
      const sent: string[] = []
      inp.on('data', (d: Buffer) => sent.push(d.toString()))
      return { agent: new GuestAgent({ stdin: inp, stdout: out, label: 'fake', kill: () => {}, readyTimeoutMs: 200 }), out, sent }
    }
    const silent = fake()
    expect((await harnessRejection(silent.agent.ready())).message).toContain('no hello line within 0.2 s')

    const a = fake()
    a.out.write('{"ready":true,"pid":7,"uid":1,"gid":2,"caps":"none"}\n')
    await a.agent.ready()
    expect([a.agent.pid, a.agent.uid, a.agent.gid]).toEqual([7, 1, 2])
    const p = a.agent.getpid()
    await new Promise((r) => setImmediate(r))
    expect(a.sent).toEqual(['{"id":1,"op":"getpid"}\n'])
    a.out.write('{"id":1,"ret":7}\n')
    expect(await p).toBe(7)
    const q = a.agent.getpid()
    a.out.write('not json\n')
    expect((await harnessRejection(q)).message).toContain('garbled line')

    const b = fake()
    b.out.write('{"ready":true,"pid":7,"uid":0,"gid":0,"caps":"none"}\n{"id":9,"ret":0}')
    await b.agent.ready()
    const r = b.agent.getpid()
    b.out.write('\n')
    expect((await harnessRejection(r)).message).toContain('response id 9 where 1')

    const c = fake()
    c.out.end('{"ready":true,"pid":1')
    expect((await harnessRejection(c.agent.ready())).message).toContain("channel closed")
  })
})
