// `vfio-conform bench [KERNEL...]`: runs bench/boot.ts.
import { benchBoot } from '../../bench/boot.js'

export async function benchCommand(args: string[]): Promise<number> {
  return benchBoot(args.length ? args : ['debian:bookworm', 'debian:trixie'])
}
