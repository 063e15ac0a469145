// Minimal QMP client: enough to ask QEMU about itself and to quit it.
import net from 'node:net'

export class Qmp {
  private sock?: net.Socket
  private buf = ''
  private waiters: Array<(msg: any) => void> = []

  static async connect(path: string, timeoutMs = 5000): Promise<Qmp> {
    const q = new Qmp()
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        await q.open(path)
        break
      } catch (e) {
        if (Date.now() > deadline) throw e
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    await q.next() // greeting
    await q.execute('qmp_capabilities')
    return q
  }

  private open(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path)
      s.once('connect', () => {
        this.sock = s
        s.on('data', (d) => this.onData(d))
        s.on('error', () => {})
        resolve()
      })
      s.once('error', reject)
    })
  }

  private onData(d: Buffer): void {
    this.buf += d.toString()
    let i: number
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).trim()
      this.buf = this.buf.slice(i + 1)
      if (!line) continue
      const msg = JSON.parse(line)
      if (msg.event) continue
      this.waiters.shift()?.(msg)
    }
  }

  private next(): Promise<any> {
    return new Promise((r) => this.waiters.push(r))
  }

  async execute(cmd: string, args?: object): Promise<any> {
    const p = this.next()
    this.sock!.write(JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}) }) + '\n')
    const msg = await p
    if (msg.error) throw new Error(`QMP ${cmd}: ${msg.error.desc}`)
    return msg.return
  }

  close(): void {
    this.sock?.destroy()
  }
}
