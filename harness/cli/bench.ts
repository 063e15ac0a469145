// `vfio-conform bench [KERNEL...]`: runs bench/boot.ts; `vfio-conform bench --speed [...]`:
// bench/speed.ts (the old execution order against the new one, in one invocation);
// `vfio-conform bench --stability [N]`: bench/stability.ts (the main job N times, fresh guests).
import { benchBoot } from '../../bench/boot.js'

export async function benchCommand(args: string[]): Promise<number> {
  if (args[0] === '--stability') {
    const { benchStability } = await import('../../bench/stability.js')
    return benchStability(args.slice(1))
  }
  if (args[0] === '--speed') {
    const { benchSpeed } = await import('../../bench/speed.js')
    return benchSpeed(args.slice(1))
  }
  return benchBoot(args.length ? args : ['debian:bookworm', 'debian:trixie'])
}
