// `vfio-conform bench [KERNEL...]`: runs bench/boot.ts; `vfio-conform bench --speed [...]`:
// bench/speed.ts (the old execution order against the new one, in one invocation);
// `vfio-conform bench --stability [N]`: bench/stability.ts (the main job N times, fresh guests);
// `vfio-conform bench --first-run`: bench/first-run.ts (README's first command, no caches).
// Each writes its figures into its section of docs/measurements.md (--no-record: print only).
import { benchBoot } from '../../bench/boot.js'
import { kernelSpecProblem } from '../kernel/resolve.js'
import { commandSpec, opt, parseOptions } from './options.js'

/** `bench [--no-record] [KERNEL...]`: the kernels to boot (default bench/boot.ts's). */
export const BENCH_SPEC = commandSpec('bench', { 'no-record': opt.flag() }, { name: 'KERNEL...', check: { kind: 'kernel', check: kernelSpecProblem }, min: 0, max: Infinity })

export async function benchCommand(args: string[]): Promise<number> {
  if (args[0] === '--stability') {
    const { benchStability } = await import('../../bench/stability.js')
    return benchStability(args.slice(1))
  }
  if (args[0] === '--first-run') {
    const { benchFirstRun } = await import('../../bench/first-run.js')
    return benchFirstRun(args.slice(1))
  }
  if (args[0] === '--speed') {
    const { benchSpeed } = await import('../../bench/speed.js')
    return benchSpeed(args.slice(1))
  }
  parseOptions(BENCH_SPEC, args)
  return benchBoot(args)
}
