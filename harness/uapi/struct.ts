// A tiny typed layout helper for kernel uapi structs (x86_64, little endian).
//
// A struct is data: its C name, sizeof, and each field's offset and type. The tables in
// vfio.ts and iommufd.ts are checked field by field against the real headers by
// test/unit/uapi.test.ts, so offsets here are written out, not computed.
//
//   const buf = encode(vfio_group_status)            // argsz = 8, flags = 0
//   const st = decode(vfio_group_status, r.data!)     // st.flags: number
//   encode(vfio_iommu_type1_dma_map, { iova: 0x100000n, size: 4096 })  // u64 takes bigint | number

/** Field types: fixed-width integers, a byte array, a NUL-padded char array. */
export type FieldType =
  | { readonly kind: 'u8'; readonly size: 1 }
  | { readonly kind: 'u16'; readonly size: 2 }
  | { readonly kind: 'u32'; readonly size: 4 }
  | { readonly kind: 's32'; readonly size: 4 }
  | { readonly kind: 'u64'; readonly size: 8 }
  | { readonly kind: 'bytes'; readonly size: number }
  | { readonly kind: 'string'; readonly size: number }

export const u8 = { kind: 'u8', size: 1 } as const
export const u16 = { kind: 'u16', size: 2 } as const
export const u32 = { kind: 'u32', size: 4 } as const
export const s32 = { kind: 's32', size: 4 } as const
export const u64 = { kind: 'u64', size: 8 } as const
export function bytes(n: number): { readonly kind: 'bytes'; readonly size: number } {
  return { kind: 'bytes', size: n }
}
export function string(n: number): { readonly kind: 'string'; readonly size: number } {
  return { kind: 'string', size: n }
}

/** What decode returns for a field type. */
export type ValueOf<T extends FieldType> = T extends { kind: 'u64' }
  ? bigint
  : T extends { kind: 'bytes' }
    ? Buffer
    : T extends { kind: 'string' }
      ? string
      : number

/** What encode accepts for a field type (u64 also takes a safe integer number). */
export type InputOf<T extends FieldType> = T extends { kind: 'u64' } ? bigint | number : ValueOf<T>

export interface Field<T extends FieldType = FieldType> {
  readonly offset: number
  readonly type: T
}

export type FieldSpec = Record<string, Field>

export interface Struct<F extends FieldSpec = FieldSpec> {
  readonly kind: 'struct'
  /** The C name without `struct `, e.g. "vfio_group_status". */
  readonly name: string
  /** sizeof(struct name). */
  readonly size: number
  readonly fields: F
  /** The u32 field that carries the argument size (argsz in vfio, size in iommufd), if any. */
  readonly sizeField?: string
  /** The header it comes from, e.g. "include/uapi/linux/vfio.h". */
  readonly header: string
}

/** The decoded value of a struct. */
export type Decoded<S extends Struct> = { -readonly [K in keyof S['fields']]: ValueOf<S['fields'][K]['type']> }
/** What encode takes for a struct: any subset of its fields. */
export type Input<S extends Struct> = { [K in keyof S['fields']]?: InputOf<S['fields'][K]['type']> }

/** Shorthand for a field: `f(4, u32)`. */
export function f<T extends FieldType>(offset: number, type: T): Field<T> {
  return { offset, type }
}

/**
 * Define a struct. Throws at load time when a field runs past the end, so a typo shows at
 * once; offsets and size are checked against the C compiler by the unit test.
 */
export function defineStruct<const F extends FieldSpec>(
  name: string,
  header: string,
  size: number,
  fields: F,
  opts: { sizeField?: keyof F & string } = {},
): Struct<F> {
  for (const [k, fd] of Object.entries(fields)) {
    if (fd.offset < 0 || fd.offset + fd.type.size > size) {
      throw new Error(`struct ${name}.${k}: offset ${fd.offset} + ${fd.type.size} exceeds sizeof ${size}`)
    }
    if (['u16', 'u32', 's32', 'u64'].includes(fd.type.kind) && fd.offset % fd.type.size !== 0) {
      throw new Error(`struct ${name}.${k}: ${fd.type.kind} at misaligned offset ${fd.offset}`)
    }
  }
  const sizeField: string | undefined = opts.sizeField ?? ('argsz' in fields ? 'argsz' : undefined)
  if (sizeField !== undefined && fields[sizeField]?.type.kind !== 'u32') {
    throw new Error(`struct ${name}: size field ${sizeField} is not a u32`)
  }
  return Object.freeze({ kind: 'struct', name, header, size, fields, sizeField })
}

export function isStruct(v: unknown): v is Struct {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'struct'
}

export interface EncodeOptions {
  /**
   * Bytes appended after the fixed part (a flexible array member: vfio_device_feature.data,
   * vfio_irq_set.data, ...). The size field then defaults to size + tail.length.
   */
  tail?: Buffer
}

/**
 * Encode a struct into a zero-filled buffer. Fields not given are 0; the size field
 * (argsz / size) defaults to the length of the buffer (sizeof the struct, plus any tail).
 */
export function encode<S extends Struct>(s: S, values: Input<S> = {}, opts: EncodeOptions = {}): Buffer {
  const tail = opts.tail ?? Buffer.alloc(0)
  const buf = Buffer.alloc(s.size + tail.length)
  tail.copy(buf, s.size)
  const vals = values as Record<string, unknown>
  if (s.sizeField !== undefined && vals[s.sizeField] === undefined) buf.writeUInt32LE(buf.length, s.fields[s.sizeField]!.offset)
  for (const [k, v] of Object.entries(vals)) {
    if (v === undefined) continue
    const fd = s.fields[k]
    if (!fd) throw new Error(`struct ${s.name} has no field ${k}`)
    writeField(buf, s.name, k, fd, v)
  }
  return buf
}

/** Decode a struct from the start of buf (at least sizeof the struct). u64 fields come back as bigint. */
export function decode<S extends Struct>(s: S, buf: Buffer): Decoded<S> {
  if (buf.length < s.size) throw new Error(`decode struct ${s.name}: ${buf.length} bytes, need ${s.size}`)
  const out: Record<string, unknown> = {}
  for (const [k, fd] of Object.entries(s.fields)) out[k] = readField(buf, fd)
  return out as Decoded<S>
}

function writeField(buf: Buffer, struct: string, name: string, fd: Field, v: unknown): void {
  const at = fd.offset
  const where = `${struct}.${name}`
  const int = (min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`${where}: ${String(v)} is not an integer in [${min}, ${max}]`)
    }
    return v
  }
  switch (fd.type.kind) {
    case 'u8':
      buf.writeUInt8(int(0, 0xff), at)
      return
    case 'u16':
      buf.writeUInt16LE(int(0, 0xffff), at)
      return
    case 'u32':
      buf.writeUInt32LE(int(0, 0xffffffff), at)
      return
    case 's32':
      buf.writeInt32LE(int(-0x80000000, 0x7fffffff), at)
      return
    case 'u64': {
      let b: bigint
      if (typeof v === 'bigint') b = v
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v)
      else throw new RangeError(`${where}: ${String(v)} is not a bigint or safe integer`)
      if (b < 0n || b > 0xffffffffffffffffn) throw new RangeError(`${where}: ${b} is out of u64 range`)
      buf.writeBigUInt64LE(b, at)
      return
    }
    case 'bytes': {
      if (!Buffer.isBuffer(v)) throw new TypeError(`${where}: expected a Buffer`)
      if (v.length > fd.type.size) throw new RangeError(`${where}: ${v.length} bytes exceed ${fd.type.size}`)
      v.copy(buf, at)
      return
    }
    case 'string': {
      if (typeof v !== 'string') throw new TypeError(`${where}: expected a string`)
      const b = Buffer.from(v, 'utf8')
      if (b.length >= fd.type.size) throw new RangeError(`${where}: "${v}" does not fit in char[${fd.type.size}] with its NUL`)
      b.copy(buf, at)
      return
    }
  }
}

function readField(buf: Buffer, fd: Field): unknown {
  const at = fd.offset
  switch (fd.type.kind) {
    case 'u8':
      return buf.readUInt8(at)
    case 'u16':
      return buf.readUInt16LE(at)
    case 'u32':
      return buf.readUInt32LE(at)
    case 's32':
      return buf.readInt32LE(at)
    case 'u64':
      return buf.readBigUInt64LE(at)
    case 'bytes':
      return Buffer.from(buf.subarray(at, at + fd.type.size))
    case 'string': {
      const raw = buf.subarray(at, at + fd.type.size)
      const nul = raw.indexOf(0)
      return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8')
    }
  }
}
