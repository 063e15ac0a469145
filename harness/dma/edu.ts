// QEMU's educational PCI device (hw/misc/edu.c) driven from a guest agent through a VFIO
// device fd: BAR0 registers by pread/pwrite on the VFIO BAR0 region, bus mastering by a
// write to the PCI command register in the VFIO config region, and the DMA engine, which
// moves bytes between guest memory (an IOVA, translated by the vIOMMU: edu uses
// pci_dma_read/pci_dma_write) and a 4 KiB buffer inside the device.
//
// The device buffer has no MMIO window: the only way to see what it holds is another DMA.
// A round trip is: pattern in user memory A (mapped at IOVA X) -> dmaToDevice(X) ->
// dmaFromDevice(Y) -> user memory B (mapped at Y) compared with the pattern.
//
// A DMA the IOMMU refuses is invisible to the device: edu ignores the MemTxResult of
// pci_dma_read/write and clears its RUN bit all the same; the refusal shows in the guest
// kernel log (harness/dma/faults.ts) and in memory that did not change. A DMA that never
// completes (RUN still set at the deadline) is a result too (`completed: false`), not a
// harness error: the test decides.
import type { GuestAgent, SysResult } from '../agent/client.js'
import { decode, encode } from '../uapi/struct.js'
import { VFIO_DEVICE_GET_REGION_INFO, VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, vfio_region_info } from '../uapi/vfio.js'
import { HarnessError, HARNESS_ERROR_TAG } from '../util/errors.js'

/** hw/misc/edu.c edu_mmio_read: register 0x00 reads 0x010000ed (version 1.0, "ed"u). */
export const EDU_IDENT = 0x010000ed
/** hw/misc/edu.c: BAR0 register offsets. */
export const EDU_REG = {
  IDENT: 0x00,
  /** Liveness check: a write of x makes it read ~x (edu->addr4 = ~val). */
  LIVENESS: 0x04,
  DMA_SRC: 0x80,
  DMA_DST: 0x88,
  DMA_CNT: 0x90,
  DMA_CMD: 0x98,
} as const
/** hw/misc/edu.c: EDU_DMA_RUN (start; reads back set while the transfer is pending). */
export const EDU_DMA_RUN = 0x1n
/** hw/misc/edu.c: EDU_DMA_DIR bit; set = EDU_DMA_TO_PCI (device buffer -> RAM), clear = EDU_DMA_FROM_PCI. */
export const EDU_DMA_TO_PCI = 0x2n
/** hw/misc/edu.c: EDU_DMA_IRQ (raise DMA_IRQ when done). Not used: completion is polled. */
export const EDU_DMA_IRQ = 0x4n
/** hw/misc/edu.c DMA_START / DMA_SIZE: the device-side address and size of the internal buffer. */
export const EDU_DMA_START = 0x40000n
export const EDU_DMA_SIZE = 4096
/**
 * hw/misc/edu.c edu_instance_init: dma_mask = (1UL << 28) - 1; edu_clamp_addr silently
 * masks RAM-side addresses with it, so IOVAs must stay below 2^28.
 */
export const EDU_DMA_MASK = (1n << 28n) - 1n
/** include/uapi/linux/pci_regs.h */
export const PCI_COMMAND = 0x04
export const PCI_COMMAND_MEMORY = 0x2
export const PCI_COMMAND_MASTER = 0x4

export interface EduDmaResult {
  /** The RUN bit cleared before the deadline (the device says it is done; not that memory was reached). */
  completed: boolean
  /** The last value read from the command register. */
  cmd: bigint
  elapsedMs: number
  /** Why the DMA did not run or complete, when it did not. */
  note?: string
}

export interface EduDmaOptions {
  /** Offset inside the device buffer (default 0). */
  deviceOffset?: number
  /** How long to poll the RUN bit (default 15 s: the edu timer is 100 ms of virtual time, TCG is slow). */
  deadlineMs?: number
}

interface Region {
  index: number
  offset: bigint
  size: bigint
  flags: number
}

/** A register access the kernel refused or cut short: a FAIL naming the step (like `must`). */
function mustIo(r: SysResult, len: number, step: string): void {
  if (r.errno) throw new Error(`${step} failed: ${r.errno} (ret ${r.ret})`)
  if (r.ret !== len) throw new Error(`${step}: ${r.ret} bytes instead of ${len}`)
}

export class EduDevice {
  private constructor(
    readonly agent: GuestAgent,
    readonly fd: number,
    readonly bar0: Region,
    readonly config: Region,
    readonly label: string,
  ) {}

  /** Reads the BAR0 and config region offsets (VFIO_DEVICE_GET_REGION_INFO) of a VFIO device fd. */
  static async open(agent: GuestAgent, deviceFd: number, label = `device fd ${deviceFd}`): Promise<EduDevice> {
    const region = async (index: number): Promise<Region> => {
      const r = await agent.ioctl(deviceFd, VFIO_DEVICE_GET_REGION_INFO, encode(vfio_region_info, { index }))
      if (r.errno) throw new Error(`${label}: VFIO_DEVICE_GET_REGION_INFO(${index}) failed: ${r.errno}`)
      const info = decode(vfio_region_info, r.data!)
      return { index, offset: info.offset, size: info.size, flags: info.flags }
    }
    const bar0 = await region(VFIO_PCI_BAR0_REGION_INDEX)
    const config = await region(VFIO_PCI_CONFIG_REGION_INDEX)
    // hw/misc/edu.c pci_edu_realize: BAR0 is a 1 MiB MMIO region.
    if (bar0.size < 0x100n) throw new Error(`${label}: BAR0 region is ${bar0.size} bytes: not an edu device?`)
    return new EduDevice(agent, deviceFd, bar0, config, label)
  }

  // ---- registers ----

  async read32(reg: number): Promise<number> {
    const r = await this.agent.pread(this.fd, 4, this.bar0.offset + BigInt(reg))
    mustIo(r, 4, `${this.label}: BAR0 read32 @0x${reg.toString(16)}`)
    return r.data!.readUInt32LE(0)
  }

  async write32(reg: number, v: number): Promise<void> {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(v >>> 0)
    mustIo(await this.agent.pwrite(this.fd, b, this.bar0.offset + BigInt(reg)), 4, `${this.label}: BAR0 write32 @0x${reg.toString(16)}`)
  }

  /** vfio_pci_core_do_io_rw does 8-byte accesses where ioread64 exists (x86_64); edu accepts 4 and 8. */
  async read64(reg: number): Promise<bigint> {
    const r = await this.agent.pread(this.fd, 8, this.bar0.offset + BigInt(reg))
    mustIo(r, 8, `${this.label}: BAR0 read64 @0x${reg.toString(16)}`)
    return r.data!.readBigUInt64LE(0)
  }

  async write64(reg: number, v: bigint): Promise<void> {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(v)
    mustIo(await this.agent.pwrite(this.fd, b, this.bar0.offset + BigInt(reg)), 8, `${this.label}: BAR0 write64 @0x${reg.toString(16)}`)
  }

  async ident(): Promise<number> {
    return this.read32(EDU_REG.IDENT)
  }

  /** Writes x to the liveness register and returns what it reads back (~x on a live edu). */
  async liveness(x: number): Promise<number> {
    await this.write32(EDU_REG.LIVENESS, x)
    return this.read32(EDU_REG.LIVENESS)
  }

  async configRead16(off: number): Promise<number> {
    const r = await this.agent.pread(this.fd, 2, this.config.offset + BigInt(off))
    mustIo(r, 2, `${this.label}: config read16 @0x${off.toString(16)}`)
    return r.data!.readUInt16LE(0)
  }

  async configWrite16(off: number, v: number): Promise<void> {
    const b = Buffer.alloc(2)
    b.writeUInt16LE(v & 0xffff)
    mustIo(await this.agent.pwrite(this.fd, b, this.config.offset + BigInt(off)), 2, `${this.label}: config write16 @0x${off.toString(16)}`)
  }

  /**
   * Sets PCI_COMMAND_MASTER through the VFIO config region (vfio-pci does not set it on
   * open: vfio_pci_core_enable only enables the device; the command register's master bit
   * is passed through to the device by vfio_basic_config_write). Returns the command
   * register as read back afterwards.
   */
  async enableBusMaster(): Promise<number> {
    const cmd = await this.configRead16(PCI_COMMAND)
    if (!(cmd & PCI_COMMAND_MASTER)) await this.configWrite16(PCI_COMMAND, cmd | PCI_COMMAND_MASTER)
    return this.configRead16(PCI_COMMAND)
  }

  async disableBusMaster(): Promise<number> {
    const cmd = await this.configRead16(PCI_COMMAND)
    if (cmd & PCI_COMMAND_MASTER) await this.configWrite16(PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER)
    return this.configRead16(PCI_COMMAND)
  }

  // ---- DMA ----

  /** RAM (IOVA) -> device buffer: EDU_DMA_FROM_PCI, pci_dma_read through the vIOMMU. */
  dmaToDevice(iova: bigint | number, len: number, opts: EduDmaOptions = {}): Promise<EduDmaResult> {
    const dev = EDU_DMA_START + BigInt(opts.deviceOffset ?? 0)
    return this.dma({ src: BigInt(iova), dst: dev, len, cmd: EDU_DMA_RUN, iova: BigInt(iova), opts })
  }

  /** Device buffer -> RAM (IOVA): EDU_DMA_TO_PCI, pci_dma_write through the vIOMMU. */
  dmaFromDevice(iova: bigint | number, len: number, opts: EduDmaOptions = {}): Promise<EduDmaResult> {
    const dev = EDU_DMA_START + BigInt(opts.deviceOffset ?? 0)
    return this.dma({ src: dev, dst: BigInt(iova), len, cmd: EDU_DMA_RUN | EDU_DMA_TO_PCI, iova: BigInt(iova), opts })
  }

  private async dma(x: { src: bigint; dst: bigint; len: number; cmd: bigint; iova: bigint; opts: EduDmaOptions }): Promise<EduDmaResult> {
    const off = x.opts.deviceOffset ?? 0
    // QEMU 7.2's edu_check_range calls hw_error() (QEMU aborts) for a transfer outside the
    // buffer, and edu_clamp_addr silently masks IOVAs: both would be test bugs, not results.
    if (!Number.isInteger(x.len) || x.len <= 0 || off < 0 || off + x.len >= EDU_DMA_SIZE) {
      throw new HarnessError(`${HARNESS_ERROR_TAG} edu DMA of ${x.len} bytes at buffer offset ${off}: must stay inside the ${EDU_DMA_SIZE}-byte buffer (end < ${EDU_DMA_SIZE})`)
    }
    if (x.iova < 0n || x.iova + BigInt(x.len) - 1n > EDU_DMA_MASK) {
      throw new HarnessError(`${HARNESS_ERROR_TAG} edu DMA at IOVA 0x${x.iova.toString(16)}: beyond edu's 28-bit dma_mask (QEMU would clamp it)`)
    }
    const started = Date.now()
    // dma_rw ignores register writes while RUN is set: a previous transfer must be over.
    const before = await this.read64(EDU_REG.DMA_CMD)
    if (before & EDU_DMA_RUN) return { completed: false, cmd: before, elapsedMs: 0, note: 'a previous DMA is still running (RUN set)' }
    await this.write64(EDU_REG.DMA_SRC, x.src)
    await this.write64(EDU_REG.DMA_DST, x.dst)
    await this.write64(EDU_REG.DMA_CNT, BigInt(x.len))
    await this.write64(EDU_REG.DMA_CMD, x.cmd)
    const deadline = started + (x.opts.deadlineMs ?? 15_000)
    for (;;) {
      // The transfer runs from a QEMU_CLOCK_VIRTUAL timer 100 ms after the command write.
      await new Promise((r) => setTimeout(r, 50))
      const cmd = await this.read64(EDU_REG.DMA_CMD)
      if (!(cmd & EDU_DMA_RUN)) return { completed: true, cmd, elapsedMs: Date.now() - started }
      if (Date.now() > deadline) {
        return { completed: false, cmd, elapsedMs: Date.now() - started, note: `RUN still set after ${Date.now() - started} ms` }
      }
    }
  }
}
