// ioctl request numbers as include/uapi/asm-generic/ioctl.h encodes them (x86 uses the
// generic layout): nr in bits 0-7, type in 8-15, size in 16-29, direction in 30-31.
import type { Struct } from './struct.js'

/** include/uapi/asm-generic/ioctl.h: _IOC_NRBITS */
export const _IOC_NRBITS = 8
/** include/uapi/asm-generic/ioctl.h: _IOC_TYPEBITS */
export const _IOC_TYPEBITS = 8
/** include/uapi/asm-generic/ioctl.h: _IOC_SIZEBITS */
export const _IOC_SIZEBITS = 14
/** include/uapi/asm-generic/ioctl.h: _IOC_DIRBITS */
export const _IOC_DIRBITS = 2

/** include/uapi/asm-generic/ioctl.h: _IOC_NRSHIFT */
export const _IOC_NRSHIFT = 0
/** include/uapi/asm-generic/ioctl.h: _IOC_TYPESHIFT */
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
/** include/uapi/asm-generic/ioctl.h: _IOC_SIZESHIFT */
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
/** include/uapi/asm-generic/ioctl.h: _IOC_DIRSHIFT */
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS

/** include/uapi/asm-generic/ioctl.h: _IOC_NONE */
export const _IOC_NONE = 0
/** include/uapi/asm-generic/ioctl.h: _IOC_WRITE */
export const _IOC_WRITE = 1
/** include/uapi/asm-generic/ioctl.h: _IOC_READ */
export const _IOC_READ = 2

/** A type byte: a number or a one-character string such as ';'. */
export type IocType = number | string

function typeByte(t: IocType): number {
  if (typeof t === 'number') return t
  if (t.length !== 1) throw new RangeError(`ioctl type "${t}" must be one character`)
  return t.charCodeAt(0)
}

function sizeOf(s: number | Struct): number {
  return typeof s === 'number' ? s : s.size
}

function check(name: string, v: number, bits: number): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new RangeError(`ioctl ${name} ${v} does not fit in ${bits} bits`)
  return v
}

/** include/uapi/asm-generic/ioctl.h: _IOC(dir, type, nr, size), as an unsigned 32-bit number. */
export function _IOC(dir: number, type: IocType, nr: number, size: number): number {
  return (
    ((check('dir', dir, _IOC_DIRBITS) << _IOC_DIRSHIFT) |
      (check('type', typeByte(type), _IOC_TYPEBITS) << _IOC_TYPESHIFT) |
      (check('nr', nr, _IOC_NRBITS) << _IOC_NRSHIFT) |
      (check('size', size, _IOC_SIZEBITS) << _IOC_SIZESHIFT)) >>>
    0
  )
}

/** include/uapi/asm-generic/ioctl.h: _IO(type, nr) */
export function _IO(type: IocType, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0)
}
/** include/uapi/asm-generic/ioctl.h: _IOR(type, nr, argtype); pass sizeof(argtype) or a Struct. */
export function _IOR(type: IocType, nr: number, size: number | Struct): number {
  return _IOC(_IOC_READ, type, nr, sizeOf(size))
}
/** include/uapi/asm-generic/ioctl.h: _IOW(type, nr, argtype); pass sizeof(argtype) or a Struct. */
export function _IOW(type: IocType, nr: number, size: number | Struct): number {
  return _IOC(_IOC_WRITE, type, nr, sizeOf(size))
}
/** include/uapi/asm-generic/ioctl.h: _IOWR(type, nr, argtype); pass sizeof(argtype) or a Struct. */
export function _IOWR(type: IocType, nr: number, size: number | Struct): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, sizeOf(size))
}

/** include/uapi/asm-generic/ioctl.h: _IOC_DIR(nr) */
export const _IOC_DIR = (req: number): number => (req >>> _IOC_DIRSHIFT) & ((1 << _IOC_DIRBITS) - 1)
/** include/uapi/asm-generic/ioctl.h: _IOC_TYPE(nr) */
export const _IOC_TYPE = (req: number): number => (req >>> _IOC_TYPESHIFT) & ((1 << _IOC_TYPEBITS) - 1)
/** include/uapi/asm-generic/ioctl.h: _IOC_NR(nr) */
export const _IOC_NR = (req: number): number => (req >>> _IOC_NRSHIFT) & ((1 << _IOC_NRBITS) - 1)
/** include/uapi/asm-generic/ioctl.h: _IOC_SIZE(nr) */
export const _IOC_SIZE = (req: number): number => (req >>> _IOC_SIZESHIFT) & ((1 << _IOC_SIZEBITS) - 1)

/**
 * What an ioctl takes as its third argument: a struct (pointer to it), a plain integer
 * passed by value (an extension number), a pointer to an s32 (an fd: `s32Arg(fd)`), a
 * pointer to a NUL-terminated string (`cString(name)`), or nothing.
 */
export type IoctlArg = Struct | 'int' | 's32-ptr' | 'string' | 'none'

/** One ioctl: its C name, request number and argument kind. */
export interface Ioctl<A extends IoctlArg = IoctlArg> {
  readonly name: string
  readonly request: number
  readonly arg: A
  readonly header: string
}

export function defineIoctl<const A extends IoctlArg>(name: string, header: string, request: number, arg: A): Ioctl<A> {
  return Object.freeze({ name, header, request, arg })
}

/** The argument buffer of an ioctl that takes a pointer to an s32 (e.g. a container fd). */
export function s32Arg(v: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32LE(v)
  return b
}

/** The argument buffer of an ioctl that takes a NUL-terminated string (e.g. a device name). */
export function cString(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)])
}
