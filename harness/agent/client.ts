// Typed client of the guest agent (guests/agent/agent.c): one agent is one process in the
// guest, making the syscalls a test asks for and keeping its fds open between requests.
//
// Protocol (JSON lines; the full description is at the top of agent.c):
//   agent -> {"ready":true,"pid":..,"uid":..,"gid":..,"caps":"cap_a,cap_b"|"none",..}   once, first
//   client -> {"id":7,"op":"pread","fd":3,"len":4,"off":"0x70000000000"}                 one per line
//   agent -> {"id":7,"ret":4,"data":"0a0b0c0d"} | {"id":7,"ret":-1,"errno":"EBUSY","errnum":16}
//            | {"id":7,"error":"..."}   (a request the agent refused: nothing was called)
//   64-bit values (ioctl numbers, offsets, addresses) travel as decimal/0x strings; bytes as hex.
//
// Two kinds of failure, kept apart on purpose: what the kernel answered is a SysResult (a
// test asserts on it: FAIL when wrong); anything wrong with the agent or its channel (died,
// closed, hung, garbled, refused the request) is a HarnessError (ERROR, never FAIL).
import type { Readable, Writable } from 'node:stream'
import { HarnessError } from '../util/errors.js'

/** Result of one syscall in the guest. `errno` is the name ("EBUSY") when the call failed (ret -1). */
export interface SysResult {
  ret: number
  errno?: string
  /** Bytes out: the ioctl argument buffer after the call, or what read/pread returned. */
  data?: Buffer
}

export interface AgentIo {
  stdin: Writable
  stdout: Readable
  stderr?: Readable
  label: string
  kill: () => void
  /** How long to wait for the hello line (default 20 s). */
  readyTimeoutMs?: number
  /** How long one request may take before the agent counts as hung (default 60 s). */
  requestTimeoutMs?: number
}

/** What the agent reported about itself when it started (after any uid/capability change). */
export interface AgentHello {
  pid: number
  uid: number
  gid: number
  euid: number
  egid: number
  groups: number[]
  /** Effective capabilities by name (e.g. "cap_sys_admin"); empty when it has none. */
  caps: string[]
  capEff: bigint
  capPrm: bigint
  capInh: bigint
  capBnd: bigint
  capAmb: bigint
  noNewPrivs: boolean
  /** Largest single buffer the agent accepts, in bytes. */
  maxBuf: number
}

/** A raw response line, parsed. */
export type AgentResponse = Record<string, unknown>

/** The errno name of a result, or 'OK' when the call succeeded: `expect(errnoOf(r)).toBe('EBUSY')`. */
export function errnoOf(r: SysResult): string {
  return r.errno ?? 'OK'
}

const DEFAULT_READY_TIMEOUT_MS = 20_000
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** How long close() waits for the agent to answer "exit" and for the channel to end. */
const CLOSE_GRACE_MS = 2_000
const STDERR_KEEP = 4096

interface Pending {
  /** undefined for rawRequest(): the line's id is whatever the caller wrote. */
  id?: number
  what: string
  resolve: (r: AgentResponse) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

export class GuestAgent {
  pid = 0
  uid = 0
  gid = 0
  /** The whole hello, once ready() resolved. */
  hello?: AgentHello

  private nextId = 1
  private pending: Pending[] = []
  private partial: Buffer[] = []
  private stderrTail = ''
  private dead?: string
  private closeRequested = false
  private closing?: Promise<void>
  private killed = false
  private readyPromise: Promise<void>
  private readySettle?: { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  private stdoutEnded: Promise<void>
  private stderrEnded: Promise<void>

  constructor(readonly io: AgentIo) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      const ms = io.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
      const timer = setTimeout(() => {
        this.die(`no hello line within ${ms / 1000} s${this.stderrSuffix()}`)
      }, ms)
      timer.unref?.()
      this.readySettle = { resolve, reject, timer }
    })
    // ready() may be called late (or never): do not let an early failure be "unhandled".
    this.readyPromise.catch(() => {})

    let endStdout!: () => void
    this.stdoutEnded = new Promise((r) => (endStdout = r))
    io.stdout.on('data', (chunk: Buffer | string) => this.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk))
    const onEnd = (): void => {
      endStdout()
      void this.onChannelEnd()
    }
    io.stdout.once('end', onEnd)
    io.stdout.once('close', onEnd)
    io.stdout.on('error', (e: Error) => this.die(`reading from the agent failed: ${e.message}`))
    // With ssh2, stdin and stdout are the same channel: errors are reported once either way.
    if (io.stdin !== (io.stdout as unknown)) io.stdin.on('error', (e: Error) => this.die(`writing to the agent failed: ${e.message}`))

    if (io.stderr) {
      const err = io.stderr
      this.stderrEnded = new Promise((r) => {
        err.once('end', r)
        err.once('close', r)
      })
      err.on('data', (chunk: Buffer | string) => {
        this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_KEEP)
      })
      err.on('error', () => {})
    } else {
      this.stderrEnded = Promise.resolve()
    }
  }

  /** Waits for the hello line; sets pid, uid, gid and hello. */
  ready(): Promise<void> {
    return this.readyPromise
  }

  /** False once the agent died, was closed or abandoned. */
  get alive(): boolean {
    return this.dead === undefined
  }

  /** What the agent wrote on stderr (the last 4 KiB). */
  get stderr(): string {
    return this.stderrTail
  }

  // ---- syscalls ----

  /** open(2). flags: names (['O_RDWR', 'O_CLOEXEC']) or a number; mode applies with O_CREAT (default 0600). */
  async open(path: string, flags: number | string[] = ['O_RDWR'], mode?: number): Promise<SysResult> {
    const f = typeof flags === 'number' ? checkInt('flags', flags) : flags.length ? flags.join('|') : 0
    return this.sys('open', { path, flags: f, ...(mode !== undefined ? { mode: checkInt('mode', mode) } : {}) })
  }

  async closeFd(fd: number): Promise<SysResult> {
    return this.sys('close', { fd: checkInt('fd', fd) })
  }

  /**
   * ioctl(2). arg: a Buffer is copied into a page-aligned buffer whose address is passed, and
   * `data` is that buffer after the call (same length); a number/bigint is passed by value;
   * none passes 0. The request is taken modulo 2^32 as the kernel does, so the negative
   * numbers JavaScript's bitwise operators make of _IOWR values are fine.
   */
  async ioctl(fd: number, request: number | bigint, arg?: Buffer | number | bigint): Promise<SysResult> {
    const req = BigInt.asUintN(32, BigInt(checkInt('request', request))).toString()
    const fields: Record<string, unknown> = { fd: checkInt('fd', fd), req }
    if (Buffer.isBuffer(arg)) fields.buf = arg.toString('hex')
    else if (arg !== undefined) fields.val = BigInt(checkInt('arg', arg)).toString()
    return this.sys('ioctl', fields)
  }

  async read(fd: number, len: number): Promise<SysResult> {
    return this.sys('read', { fd: checkInt('fd', fd), len: checkInt('len', len) })
  }

  async write(fd: number, data: Buffer): Promise<SysResult> {
    return this.sys('write', { fd: checkInt('fd', fd), data: data.toString('hex') })
  }

  async pread(fd: number, len: number, offset: bigint | number): Promise<SysResult> {
    return this.sys('pread', { fd: checkInt('fd', fd), len: checkInt('len', len), off: BigInt(checkInt('offset', offset)).toString() })
  }

  async pwrite(fd: number, data: Buffer, offset: bigint | number): Promise<SysResult> {
    return this.sys('pwrite', { fd: checkInt('fd', fd), data: data.toString('hex'), off: BigInt(checkInt('offset', offset)).toString() })
  }

  /**
   * open(O_WRONLY) + one write() + close(), for sysfs attributes (no O_CREAT, no O_TRUNC: a
   * regular file is overwritten from its start, not truncated). ret is the write's
   * byte count, or the failing step's -1 with `step` naming it ('open' | 'write' | 'close').
   */
  async writeFile(path: string, data: string | Buffer): Promise<SysResult & { step?: 'open' | 'write' | 'close' }> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    const r = await this.call('write_file', { path, data: buf.toString('hex') })
    const res: SysResult & { step?: 'open' | 'write' | 'close' } = this.toSys('write_file', r)
    if (r.step !== undefined) {
      if (r.step !== 'open' && r.step !== 'write' && r.step !== 'close') throw this.malformed('write_file', r)
      res.step = r.step
    }
    return res
  }

  /** readlink(2); `target` is the link's text. */
  async readlink(path: string): Promise<SysResult & { target?: string }> {
    const r: SysResult & { target?: string } = await this.sys('readlink', { path })
    if (r.data) r.target = r.data.toString('utf8')
    return r
  }

  /**
   * Every PCI device's sysfs facts in one request (the agent's pci_scan): one line per device,
   * "<realpath> <vendor> <device> <driver>- <group>-", sorted by BDF, the format
   * harness/guest/pci.ts parses. Failure (no /sys/bus/pci) is a HarnessError: plumbing.
   */
  async pciScan(): Promise<string> {
    const r = await this.sys('pci_scan', {})
    if (r.ret < 0 || !r.data) throw new HarnessError(`${this.io.label}: pci_scan failed: ${errnoOf(r)}`)
    const lines = r.data.toString('utf8').split('\n').filter(Boolean)
    const bdf = (l: string) => l.split(' ')[0]!.split('/').pop()!
    return lines.sort((a, b) => (bdf(a) < bdf(b) ? -1 : bdf(a) > bdf(b) ? 1 : 0)).join('\n') + '\n'
  }

  /** Anonymous read-write memory in the agent (for DMA maps). Failure is a HarnessError. */
  async memAlloc(len: number): Promise<{ addr: bigint }> {
    const r = await this.mapping('mem_alloc', { len: checkInt('len', len) })
    if (r.addr === undefined) throw new HarnessError(`${this.io.label}: mem_alloc(${len}) failed: ${errnoOf(r)}`)
    return { addr: r.addr }
  }

  private readOnlyFiles = 0

  /**
   * `data` at the start of a page the agent may read but not write: a PROT_READ, MAP_SHARED
   * mapping of a file it writes under /tmp (one page, zero-filled). As an ioctl argument the
   * kernel's copy_from_user of it works and its copy_to_user faults (EFAULT).
   */
  async readOnlyMem(data: Buffer): Promise<bigint> {
    if (data.length > 4096) throw new HarnessError(`${this.io.label}: readOnlyMem: ${data.length} bytes, at most one page`)
    const path = `/tmp/vfio-conform-ro-${process.pid}-${Math.random().toString(36).slice(2, 10)}-${this.readOnlyFiles++}`
    const page = Buffer.alloc(4096)
    data.copy(page)
    const fd = await this.open(path, ['O_RDWR', 'O_CREAT', 'O_EXCL', 'O_CLOEXEC'], 0o600)
    if (fd.ret < 0) throw new HarnessError(`${this.io.label}: create ${path}: ${errnoOf(fd)}`)
    const w = await this.write(fd.ret, page)
    const m = w.ret === page.length ? await this.mmap(fd.ret, 4096, 0, ['PROT_READ']) : undefined
    await this.closeFd(fd.ret)
    if (!m) throw new HarnessError(`${this.io.label}: write ${path}: ${errnoOf(w)}`)
    if (m.addr === undefined) throw new HarnessError(`${this.io.label}: mmap ${path} read-only: ${errnoOf(m)}`)
    return m.addr
  }

  /**
   * `data` ending exactly at the end of a page the agent may read and write, the next page
   * mapped with nothing behind it (a two-page MAP_SHARED mapping of a one-page file under /tmp).
   * As an ioctl argument the kernel reads and writes `data` itself, and a copy_to_user past
   * it faults (EFAULT): how a test tells a copy-out of what follows a header from the header's.
   */
  async memBeforeHole(data: Buffer): Promise<bigint> {
    if (data.length > 4096) throw new HarnessError(`${this.io.label}: memBeforeHole: ${data.length} bytes, at most one page`)
    const path = `/tmp/vfio-conform-hole-${process.pid}-${Math.random().toString(36).slice(2, 10)}-${this.readOnlyFiles++}`
    const page = Buffer.alloc(4096)
    data.copy(page, 4096 - data.length)
    const fd = await this.open(path, ['O_RDWR', 'O_CREAT', 'O_EXCL', 'O_CLOEXEC'], 0o600)
    if (fd.ret < 0) throw new HarnessError(`${this.io.label}: create ${path}: ${errnoOf(fd)}`)
    const w = await this.write(fd.ret, page)
    const m = w.ret === page.length ? await this.mmap(fd.ret, 8192, 0) : undefined
    await this.closeFd(fd.ret)
    if (!m) throw new HarnessError(`${this.io.label}: write ${path}: ${errnoOf(w)}`)
    if (m.addr === undefined) throw new HarnessError(`${this.io.label}: mmap ${path}: ${errnoOf(m)}`)
    return m.addr + BigInt(4096 - data.length)
  }

  /** mmap(2) of an fd, MAP_SHARED (e.g. a VFIO region). prot: names, default read+write. */
  async mmap(fd: number, len: number, offset: bigint | number, prot: string[] = ['PROT_READ', 'PROT_WRITE']): Promise<SysResult & { addr?: bigint }> {
    return this.mapping('mmap', {
      fd: checkInt('fd', fd),
      len: checkInt('len', len),
      off: BigInt(checkInt('offset', offset)).toString(),
      prot: prot.length ? prot.join('|') : 0,
    })
  }

  async munmap(addr: bigint, len: number): Promise<SysResult> {
    return this.sys('munmap', { addr: addr.toString(), len: checkInt('len', len) })
  }

  /** Reads the agent's memory; a fault is a HarnessError (use memReadSys to assert on one). */
  async memRead(addr: bigint, len: number): Promise<Buffer> {
    const r = await this.memReadSys(addr, len)
    if (r.ret < 0) throw new HarnessError(`${this.io.label}: mem_read(0x${addr.toString(16)}, ${len}) failed: ${errnoOf(r)}${r.signal ? ` (${r.signal})` : ''}`)
    return r.data ?? Buffer.alloc(0)
  }

  async memWrite(addr: bigint, data: Buffer): Promise<void> {
    const r = await this.memWriteSys(addr, data)
    if (r.ret < 0) throw new HarnessError(`${this.io.label}: mem_write(0x${addr.toString(16)}, ${data.length}) failed: ${errnoOf(r)}${r.signal ? ` (${r.signal})` : ''}`)
  }

  /** mem_read as a result: a fault gives ret -1, EFAULT and the signal ('SIGSEGV' | 'SIGBUS'). */
  async memReadSys(addr: bigint, len: number): Promise<SysResult & { signal?: string }> {
    return this.withSignal('mem_read', await this.call('mem_read', { addr: addr.toString(), len: checkInt('len', len) }))
  }

  async memWriteSys(addr: bigint, data: Buffer): Promise<SysResult & { signal?: string }> {
    return this.withSignal('mem_write', await this.call('mem_write', { addr: addr.toString(), data: data.toString('hex') }))
  }

  /** eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC): read(fd, 8) gives the counter, EAGAIN while unsignalled. */
  async eventfd(): Promise<SysResult> {
    return this.sys('eventfd', {})
  }

  /** An eventfd's counter (reading resets it), 0 when nothing was signalled (EAGAIN). */
  async eventfdCount(fd: number): Promise<number> {
    const r = await this.read(fd, 8)
    if (r.ret === 8 && r.data) return Number(r.data.readBigUInt64LE(0))
    if (r.errno === 'EAGAIN') return 0
    throw new Error(`read of eventfd ${fd}: ret ${r.ret} ${r.errno ?? ''}`)
  }

  /**
   * capset(2) of the effective set alone: exactly these capabilities ('none': none), the
   * permitted set unchanged, so they can be raised again. Files opened before keep working:
   * this reaches checks a kernel makes at a later call (capable() reads the effective set).
   */
  async capsEffective(caps: string[] | 'none'): Promise<SysResult> {
    return this.sys('caps_effective', { caps: caps === 'none' || !caps.length ? 'none' : caps.join(',') })
  }

  async getpid(): Promise<number> {
    return (await this.sys('getpid', {})).ret
  }

  /**
   * Sends one line exactly as given and resolves with the next response, whatever its id
   * (for testing the protocol itself; suites use the typed methods).
   */
  rawRequest(line: string): Promise<AgentResponse> {
    return this.enqueue(undefined, 'raw request', line.replace(/\n/g, ' '), this.requestTimeoutMs())
  }

  // ---- lifetime ----

  /** Asks the agent to exit, waits briefly for the channel to end, then kill(). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.dead) {
        this.closeRequested = true
        const answered = await this.call('exit', {}, CLOSE_GRACE_MS).then(
          () => true,
          () => false,
        )
        // A hung agent (stuck in a syscall) does not answer: go straight to kill().
        if (answered) await within(this.stdoutEnded, CLOSE_GRACE_MS)
        this.die('the agent was closed')
      }
      this.killOnce()
    })()
    return this.closing
  }

  /** Marks the agent dead without talking to it (after it was SIGKILLed); later calls reject. */
  abandon(): void {
    this.die('the agent was killed (abandoned)')
  }

  // ---- internals ----

  private requestTimeoutMs(): number {
    return this.io.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  }

  private killOnce(): void {
    if (this.killed) return
    this.killed = true
    try {
      this.io.kill()
    } catch {
      // Already gone.
    }
  }

  private call(op: string, fields: Record<string, unknown>, timeoutMs = this.requestTimeoutMs()): Promise<AgentResponse> {
    if (this.dead) return Promise.reject(new HarnessError(`${this.io.label}: ${op}: agent is gone: ${this.dead}`))
    const id = this.nextId++
    return this.enqueue(id, op, JSON.stringify({ id, op, ...fields }), timeoutMs)
  }

  private enqueue(id: number | undefined, what: string, line: string, timeoutMs: number): Promise<AgentResponse> {
    if (this.dead) return Promise.reject(new HarnessError(`${this.io.label}: ${what}: agent is gone: ${this.dead}`))
    return new Promise<AgentResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The agent is sequential: a request that never returns blocks all behind it.
        this.die(`${what} got no answer within ${timeoutMs / 1000} s; the agent counts as hung`)
      }, timeoutMs)
      timer.unref?.()
      this.pending.push({ id, what, resolve, reject, timer })
      this.io.stdin.write(line + '\n', (e) => {
        if (e) this.die(`writing to the agent failed: ${e.message}`)
      })
    })
  }

  /** A syscall op: the response as a SysResult. */
  private async sys(op: string, fields: Record<string, unknown>): Promise<SysResult> {
    return this.toSys(op, await this.call(op, fields))
  }

  private toSys(op: string, r: AgentResponse): SysResult {
    if (typeof r.error === 'string') throw new HarnessError(`${this.io.label}: the agent refused ${op}: ${r.error}`)
    if (typeof r.ret !== 'number' || !Number.isInteger(r.ret)) throw this.malformed(op, r)
    const res: SysResult = { ret: r.ret }
    if (r.ret < 0) {
      if (typeof r.errno !== 'string') throw this.malformed(op, r)
      res.errno = r.errno
    }
    if (r.data !== undefined) {
      if (typeof r.data !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(r.data)) throw this.malformed(op, r)
      res.data = Buffer.from(r.data, 'hex')
    }
    return res
  }

  private async mapping(op: string, fields: Record<string, unknown>): Promise<SysResult & { addr?: bigint }> {
    const r = await this.call(op, fields)
    const res: SysResult & { addr?: bigint } = this.toSys(op, r)
    if (res.ret >= 0) {
      if (typeof r.addr !== 'string' || !/^0x[0-9a-f]+$/.test(r.addr)) throw this.malformed(op, r)
      res.addr = BigInt(r.addr)
    }
    return res
  }

  private withSignal(op: string, r: AgentResponse): SysResult & { signal?: string } {
    const res: SysResult & { signal?: string } = this.toSys(op, r)
    if (typeof r.signal === 'string') res.signal = r.signal
    return res
  }

  private malformed(op: string, r: AgentResponse): HarnessError {
    return new HarnessError(`${this.io.label}: malformed response to ${op}: ${JSON.stringify(r).slice(0, 300)}`)
  }

  private onData(chunk: Buffer): void {
    let start = 0
    while (!this.dead) {
      const nl = chunk.indexOf(10, start)
      if (nl < 0) {
        if (start < chunk.length) this.partial.push(chunk.subarray(start))
        return
      }
      const piece = chunk.subarray(start, nl)
      const line = (this.partial.length ? Buffer.concat([...this.partial, piece]) : piece).toString('utf8')
      this.partial = []
      start = nl + 1
      this.onLine(line)
    }
  }

  private onLine(line: string): void {
    let msg: unknown
    try {
      msg = JSON.parse(line)
    } catch {
      msg = undefined
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.die(`garbled line from the agent: ${JSON.stringify(line.slice(0, 200))}`)
      return
    }
    const r = msg as AgentResponse
    if (this.readySettle) {
      const settle = this.readySettle
      if (r.ready !== true || typeof r.pid !== 'number') {
        this.die(`expected the hello line, got ${JSON.stringify(line.slice(0, 200))}`)
        return
      }
      this.readySettle = undefined
      clearTimeout(settle.timer)
      this.hello = parseHello(r)
      this.pid = this.hello.pid
      this.uid = this.hello.uid
      this.gid = this.hello.gid
      settle.resolve()
      return
    }
    const head = this.pending[0]
    if (!head) {
      this.die(`response to no request: ${JSON.stringify(line.slice(0, 200))}`)
      return
    }
    if (head.id !== undefined && r.id !== head.id) {
      this.die(`response id ${JSON.stringify(r.id)} where ${head.id} (${head.what}) was due`)
      return
    }
    this.pending.shift()
    clearTimeout(head.timer)
    head.resolve(r)
  }

  private async onChannelEnd(): Promise<void> {
    if (this.dead) return
    // The agent's last words on stderr may arrive just after stdout's end.
    await within(this.stderrEnded, 300)
    this.die(this.closeRequested ? 'the agent was closed' : `the agent's channel closed${this.stderrSuffix()}`)
  }

  private stderrSuffix(): string {
    const t = this.stderrTail.trim()
    return t ? `; agent stderr: ${t}` : ''
  }

  /** Marks the agent dead for `reason`: everything pending and everything later rejects. */
  private die(reason: string): void {
    if (this.dead) return
    this.dead = reason
    const err = (what: string): HarnessError => new HarnessError(`${this.io.label}: ${what}: ${reason}`, this.stderrTail || undefined)
    if (this.readySettle) {
      clearTimeout(this.readySettle.timer)
      this.readySettle.reject(err('agent start-up'))
      this.readySettle = undefined
      // Whoever started it gets no agent to close: release the channel here.
      this.killOnce()
    }
    const pending = this.pending
    this.pending = []
    for (const p of pending) {
      clearTimeout(p.timer)
      p.reject(err(p.what))
    }
  }
}

function parseHello(r: AgentResponse): AgentHello {
  const num = (k: string): number => (typeof r[k] === 'number' ? (r[k] as number) : -1)
  const big = (k: string): bigint => (typeof r[k] === 'string' && /^0x[0-9a-f]+$/.test(r[k] as string) ? BigInt(r[k] as string) : 0n)
  const caps = typeof r.caps === 'string' && r.caps !== 'none' && r.caps !== '' ? r.caps.split(',') : []
  return {
    pid: num('pid'),
    uid: num('uid'),
    gid: num('gid'),
    euid: num('euid'),
    egid: num('egid'),
    groups: Array.isArray(r.groups) ? r.groups.filter((g): g is number => typeof g === 'number') : [],
    caps,
    capEff: big('cap_eff'),
    capPrm: big('cap_prm'),
    capInh: big('cap_inh'),
    capBnd: big('cap_bnd'),
    capAmb: big('cap_amb'),
    noNewPrivs: r.no_new_privs === 1,
    maxBuf: num('max_buf'),
  }
}

/** Integers only, and exactly representable: a wrong argument is a test bug (ERROR). */
function checkInt<T extends number | bigint>(what: string, v: T): T {
  if (typeof v === 'bigint') return v
  if (!Number.isSafeInteger(v)) throw new HarnessError(`agent: ${what} must be a safe integer, got ${v}`)
  return v
}

/** Waits for p, but at most ms (without leaving a timer behind). */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))])
  } finally {
    clearTimeout(timer)
  }
}
