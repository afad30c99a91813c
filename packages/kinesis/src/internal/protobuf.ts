/**
 * The few protobuf wire-format primitives the KPL aggregated record needs:
 * varints and length-delimited fields, read and written in place on a
 * Uint8Array. Kept by hand because the message is tiny and a generic codec
 * would allocate an object per field.
 */

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  Fixed32: 5
} as const

/** Bytes taken by `value` (a non-negative integer below 2^53) as a varint. */
export const varintSize = (value: number): number => {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

/** Bytes taken by a length-delimited field of `length` bytes whose field number is below 16. */
export const lengthDelimitedSize = (length: number): number => 1 + varintSize(length) + length

/** Writes `value` as a varint at `offset`; returns the offset after it. */
export const writeVarint = (buf: Uint8Array, offset: number, value: number): number => {
  while (value >= 0x80) {
    buf[offset++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  buf[offset++] = value
  return offset
}

/** Writes a field key (field number below 16) at `offset`; returns the offset after it. */
export const writeKey = (buf: Uint8Array, offset: number, field: number, wireType: number): number => {
  buf[offset] = (field << 3) | wireType
  return offset + 1
}

/** Thrown inside the reader only; the KPL decoder turns it into a typed error at its boundary. */
export class MalformedError extends Error {}

/** A cursor over `buf[pos, end)`. Lengths and varints are checked against `end`. */
export class Reader {
  constructor(readonly buf: Uint8Array, public pos: number, readonly end: number) {}

  get done(): boolean {
    return this.pos >= this.end
  }

  /**
   * Reads a varint of up to 10 bytes. Values above 2^53 lose precision, which
   * only matters for indices, and any such index is out of range anyway.
   */
  varint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedError("varint runs past the end of the message")
      const b = this.buf[this.pos++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) return value
      scale *= 128
    }
    throw new MalformedError("varint longer than 10 bytes")
  }

  /**
   * Reads a length prefix and moves past the bytes it covers; returns where
   * they start (they end at the new `pos`). No tuple, so nothing is allocated.
   */
  lengthDelimited(): number {
    const length = this.varint()
    const start = this.pos
    if (length > this.end - start) {
      throw new MalformedError(`a length-delimited field of ${length} bytes runs past the end of the message`)
    }
    this.pos = start + length
    return start
  }

  /** Skips a field of an unknown number, as protobuf requires for forward compatibility. */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint()
        return
      case WireType.Fixed64:
        return this.advance(8)
      case WireType.LengthDelimited:
        this.lengthDelimited()
        return
      case WireType.Fixed32:
        return this.advance(4)
      default:
        throw new MalformedError(`unsupported wire type ${wireType}`)
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new MalformedError("fixed-width field runs past the end of the message")
    this.pos += n
  }
}
