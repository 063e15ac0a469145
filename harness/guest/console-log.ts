// The guest's serial console, written by QEMU to a file. Watchers poll the file and match
// patterns; offsets let a test read exactly the lines written while it ran.
import { open, stat } from 'node:fs/promises'

export class ConsoleLog {
  constructor(readonly file: string) {}

  async size(): Promise<number> {
    return stat(this.file).then((s) => s.size, () => 0)
  }

  async read(from = 0, to?: number): Promise<string> {
    const fh = await open(this.file, 'r').catch(() => undefined)
    if (!fh) return ''
    try {
      const end = to ?? (await fh.stat()).size
      if (end <= from) return ''
      const buf = Buffer.alloc(end - from)
      await fh.read(buf, 0, buf.length, from)
      return buf.toString('utf8')
    } finally {
      await fh.close()
    }
  }

  /** ms since QEMU last wrote to the console (undefined when there is no file). */
  async ageMs(): Promise<number | undefined> {
    return stat(this.file).then((s) => Date.now() - s.mtimeMs, () => undefined)
  }

  /** The last non-empty line, as the kernel printed it. */
  async lastLine(): Promise<string | undefined> {
    return (await this.tail(5)).split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim()).pop()
  }

  async tail(lines = 40): Promise<string> {
    const size = await this.size()
    const text = await this.read(Math.max(0, size - 64 * 1024))
    return text.split('\n').slice(-lines).join('\n')
  }

  /**
   * Wait until `pattern` appears after `from`. Rejects with the matched line when a
   * `failure` pattern appears first, or when `abort` resolves (QEMU exited), or on deadline.
   */
  async waitFor(
    pattern: RegExp,
    opts: { from?: number; failure?: RegExp; deadlineMs: number; abort?: () => string | undefined },
  ): Promise<{ line: string; offset: number }> {
    const from = opts.from ?? 0
    const until = Date.now() + opts.deadlineMs
    // Polls the file: first soon (a marker the guest just wrote is usually there within a few
    // ms, and every test waits for its end marker), then every 100 ms for slower lines.
    let pollMs = 5
    for (;;) {
      const text = await this.read(from)
      const lines = text.split('\n')
      let offset = from
      for (const raw of lines) {
        // The serial console ends lines with "\r\n": match on the line without the "\r".
        const line = raw.replace(/\r$/, '')
        if (opts.failure?.test(line)) throw new ConsoleFailure(`console: ${line.trim()}`, line)
        if (pattern.test(line)) return { line, offset }
        offset += Buffer.byteLength(raw) + 1
      }
      const aborted = opts.abort?.()
      if (aborted) throw new ConsoleFailure(aborted)
      if (Date.now() > until) throw new ConsoleFailure(`no "${pattern.source}" on the console within ${Math.round(opts.deadlineMs / 1000)} s`)
      await new Promise((r) => setTimeout(r, pollMs))
      pollMs = Math.min(100, pollMs * 2)
    }
  }
}

export class ConsoleFailure extends Error {
  constructor(message: string, readonly line?: string) {
    super(message)
  }
}
