// Kernel .config parsing. Tests decide SKIP-with-reason from these facts, never from guesses.
import { gunzipSync } from 'node:zlib'

export type KconfigValue = 'y' | 'm' | 'n' | string

export class KernelConfig {
  constructor(readonly values: Map<string, KconfigValue>) {}

  static parse(text: string | Buffer): KernelConfig {
    const buf = typeof text === 'string' ? Buffer.from(text) : text
    const src = buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf).toString('utf8') : buf.toString('utf8')
    const values = new Map<string, KconfigValue>()
    for (const line of src.split('\n')) {
      let m = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line)
      if (m) {
        let v = m[2]!
        if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\"/g, '"').replace(/\\\\/g, '\\')
        values.set(m[1]!, v)
        continue
      }
      m = /^# CONFIG_([A-Za-z0-9_]+) is not set$/.exec(line)
      if (m) values.set(m[1]!, 'n')
    }
    return new KernelConfig(values)
  }

  /** Value of an option ("y", "m", a string), or "n" when unset or absent. */
  get(opt: string): KconfigValue {
    return this.values.get(opt.replace(/^CONFIG_/, '')) ?? 'n'
  }

  /** True when the option is built in or a module. */
  enabled(opt: string): boolean {
    const v = this.get(opt)
    return v === 'y' || v === 'm'
  }

  /**
   * Why a feature is missing, in the words a SKIP should carry: "CONFIG_IOMMUFD not set"
   * distinguishes an option the kernel knows but disabled from one this kernel does not have.
   */
  missing(...opts: string[]): string | undefined {
    const reasons: string[] = []
    for (const o of opts) {
      const name = o.replace(/^CONFIG_/, '')
      if (this.enabled(name)) continue
      reasons.push(this.values.has(name) ? `CONFIG_${name} not set` : `CONFIG_${name} absent from this kernel's config`)
    }
    return reasons.length ? reasons.join(', ') : undefined
  }
}
