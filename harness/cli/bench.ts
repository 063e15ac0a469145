// `vfio-conform bench [KERNEL...]`: runs bench/boot.ts; `vfio-conform bench --speed [...]`:
// bench/speed.ts (the old execution order against the new one, in one invocation).
import { benchBoot } from '../../bench/boot.js'

export async function benchCommand(args: string[]): Promise<number> {
  if (args[0] === '--speed') {
    const { benchSpeed } = await import('../../bench/speed.js')
    return benchSpeed(args.slice(1))
  }
  return benchBoot(args.length ? args : ['debian:bookworm', 'debian:trixie'])
}
