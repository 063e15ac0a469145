// Small readers shared by the models' fault-line parsers.

/** PCI requester id from the hex bus, device and function a fault line prints. */
export const rid = (bus: string, dev: string, fn: string) => (parseInt(bus, 16) << 8) | (parseInt(dev, 16) << 3) | parseInt(fn, 16)

/** A printed hex number, with or without 0x. */
export const hex = (s: string | undefined) => (s === undefined ? undefined : BigInt(s.startsWith('0x') ? s : '0x' + s))
