// One SSH connection to a guest (ssh2 client to dropbear on a forwarded 127.0.0.1 port).
// Commands and agents each run in their own exec channel over it.
import ssh2, { type ClientChannel } from 'ssh2'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'

export interface ExecResult {
  stdout: string
  stderr: string
  code: number | null
  signal?: string
}

export class SshConnection {
  private client: ssh2.Client
  private closed = false
  private lostReason?: string

  private constructor(client: ssh2.Client, readonly label: string) {
    this.client = client
    client.on('close', () => {
      // An error comes before the close it causes (ssh2's "Keepalive timeout", a reset): that
      // is the reason worth reporting, not the close.
      if (!this.closed) this.lostReason ??= 'SSH connection closed'
      this.closed = true
    })
    client.on('error', (e) => {
      this.lostReason = `SSH error: ${e.message}`
    })
  }

  /** Connect once; rejects on refusal, auth failure or a host key that is not the pinned one. */
  static connectOnce(opts: { port: number; privateKey: string; hostKeyBlob: Buffer; label: string; timeoutMs?: number }): Promise<SshConnection> {
    return new Promise((resolve, reject) => {
      const c = new ssh2.Client()
      let hostKeyMismatch = false
      const onError = (e: Error) => {
        c.removeAllListeners()
        c.on('error', () => {})
        c.end()
        reject(hostKeyMismatch ? new HarnessError(`${opts.label}: guest presented a host key other than the pinned one`) : e)
      }
      c.once('ready', () => {
        c.removeListener('error', onError)
        resolve(new SshConnection(c, opts.label))
      })
      c.once('error', onError)
      c.connect({
        host: '127.0.0.1',
        port: opts.port,
        username: 'root',
        privateKey: opts.privateKey,
        readyTimeout: opts.timeoutMs ?? 20_000,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 6,
        hostVerifier: (key: Buffer) => {
          const ok = Buffer.compare(key, opts.hostKeyBlob) === 0
          if (!ok) hostKeyMismatch = true
          return ok
        },
      })
    })
  }

  get alive(): boolean {
    return !this.closed
  }

  private checkAlive(): void {
    if (this.closed) throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.label}: ${this.lostReason ?? 'SSH connection closed'}`)
  }

  /**
   * Open an exec channel (stdin/stdout/stderr streams) running `command`. dropbear refuses a
   * channel now and then under a loaded TCG guest ("Unable to exec": the request was
   * declined, nothing ran), so a refused exec is retried a few times before it is an ERROR.
   */
  async channel(command: string): Promise<ClientChannel> {
    for (let attempt = 1; ; attempt++) {
      this.checkAlive()
      try {
        return await new Promise<ClientChannel>((resolve, reject) => {
          this.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)))
        })
      } catch (e) {
        const msg = (e as Error).message
        if (attempt < 4 && /Unable to exec/.test(msg)) {
          await new Promise((r) => setTimeout(r, 500 * attempt))
          continue
        }
        throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.label}: exec "${command}" failed: ${msg}`)
      }
    }
  }

  /**
   * Run a command to completion, with optional stdin. The exit status travels in-band on
   * stdout too: dropbear occasionally closes a channel without sending the exit-status
   * request (seen under a loaded TCG guest: the command ran, `code` came back null), and a
   * lost status must turn neither into a FAIL nor an ERROR. The command runs in a subshell
   * so that an `exit` in it still reaches the printf.
   */
  async exec(command: string, opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await this.execRaw(`(\n${command}\n); printf '\\n${RC_MARK}%d\\n' $?`, opts, command)
    const { stdout, rc } = splitRc(r.stdout)
    return { ...r, stdout, code: rc ?? r.code }
  }

  private async execRaw(command: string, opts: { stdin?: string | Buffer; timeoutMs?: number }, shown: string): Promise<ExecResult> {
    const ch = await this.channel(command)
    return new Promise((resolve, reject) => {
      const out: Buffer[] = []
      const err: Buffer[] = []
      let code: number | null = null
      let signal: string | undefined
      const timer = setTimeout(() => {
        ch.close()
        reject(new HarnessError(`${HARNESS_ERROR_TAG} ${this.label}: "${shown}" did not finish in ${opts.timeoutMs ?? 60_000} ms`))
      }, opts.timeoutMs ?? 60_000)
      ch.on('data', (d: Buffer) => out.push(d))
      ch.stderr.on('data', (d: Buffer) => err.push(d))
      ch.on('exit', (c: number | null, sig?: string) => {
        code = c
        signal = sig
      })
      ch.on('close', () => {
        clearTimeout(timer)
        if (this.closed) {
          reject(new HarnessError(`${HARNESS_ERROR_TAG} ${this.label}: SSH connection lost during "${shown}"`))
          return
        }
        resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code, signal })
      })
      if (opts.stdin !== undefined) ch.end(opts.stdin)
      else ch.end()
    })
  }

  /** Run a command that must succeed; a failure is a harness problem, not a kernel verdict. */
  async run(command: string, opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(command, opts)
    if (r.code !== 0) {
      throw new HarnessError(`${HARNESS_ERROR_TAG} ${this.label}: "${command}" exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`)
    }
    return r.stdout
  }

  close(): void {
    this.closed = true
    this.client.end()
  }
}

const RC_MARK = '__vfio_conform_rc='

/** Split the in-band exit status that run() appends from a command's stdout. Exported for unit tests. */
export function splitRc(out: string): { stdout: string; rc?: number } {
  const m = new RegExp(`\\n${RC_MARK}(\\d+)\\n$`).exec(out)
  if (!m) return { stdout: out }
  return { stdout: out.slice(0, m.index), rc: Number(m[1]) }
}
