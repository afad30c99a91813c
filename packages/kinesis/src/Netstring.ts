/**
 * Netstring aggregation, the framing of async-kinesis's `MsgpackProcessor`:
 * several user records in one Kinesis record, each as a netstring
 * (https://cr.yp.to/proto/netstrings.txt).
 *
 * Layout: `<length>:<bytes>,` per user record, back to back, where `length`
 * is the byte length of `bytes` in ASCII decimal (no sign, no leading zero
 * but for `0`). async-kinesis puts one MessagePack value in each (see
 * `Msgpack`); the framing itself takes any bytes. A record is framed even
 * alone. The user records take the Kinesis record's partition key, and the
 * producer never packs records of two keys together. The n-th netstring is
 * user record n: its sub-sequence number.
 */
import { Data, Either } from "effect"
import { encode, FramedAggregator, type Framing } from "./internal/framed"
import type { UserRecord } from "./Kpl"

const COLON = 0x3a
const COMMA = 0x2c
const ZERO = 0x30
/** Digits of a length: 1 MiB has seven; more than nine is not a Kinesis record. */
const MAX_DIGITS = 9

/** A record that is not a sequence of netstrings: dead-letter the Kinesis record. */
export class NetstringError extends Data.TaggedError("NetstringError")<{ readonly detail: string }> {
  override get message(): string {
    return `unreadable netstring record: ${this.detail}; dead-letter the Kinesis record`
  }
}

const digits = (n: number): number => (n < 10 ? 1 : Math.floor(Math.log10(n)) + 1)

/** Length digits, colon and comma around each record. */
export const framing: Framing = {
  overhead: (length) => digits(length) + 2,
  write: (out, offset, data) => {
    const length = String(data.length)
    for (let i = 0; i < length.length; i++) out[offset++] = length.charCodeAt(i)
    out[offset++] = COLON
    out.set(data, offset)
    offset += data.length
    out[offset++] = COMMA
    return offset
  }
}

/** The user records' data as netstrings. There is no size limit here: use an `aggregator`. */
export const aggregate = (records: ReadonlyArray<Uint8Array>): Uint8Array => encode(framing, records.map((data) => ({ partitionKey: "", data })))

/** An aggregator of records of one partition key into netstring records of at most `maxBytes` (data plus key). */
export const aggregator = <A extends UserRecord>(maxBytes?: number): FramedAggregator<A> => new FramedAggregator<A>(framing, maxBytes)

/** The netstrings of `data`, as views into it (no copy); the whole record must be netstrings. */
export const deaggregate = (data: Uint8Array): Either.Either<ReadonlyArray<Uint8Array>, NetstringError> => {
  if (data.length === 0) return Either.left(new NetstringError({ detail: "the record is empty" }))
  const out: Array<Uint8Array> = []
  let o = 0
  while (o < data.length) {
    const n = out.length
    let length = 0
    let i = o
    for (; i < data.length && data[i] !== COLON; i++) {
      const d = data[i]! - ZERO
      if (d < 0 || d > 9 || i - o >= MAX_DIGITS) {
        return Either.left(new NetstringError({ detail: `netstring ${n} at byte ${o} does not start with a decimal length and a colon` }))
      }
      length = length * 10 + d
    }
    if (i === o || i >= data.length) return Either.left(new NetstringError({ detail: `netstring ${n} at byte ${o} has no length before its colon` }))
    if (i - o > 1 && data[o] === ZERO) return Either.left(new NetstringError({ detail: `netstring ${n} at byte ${o} has a length with a leading zero` }))
    const start = i + 1
    const end = start + length
    if (end >= data.length || data[end] !== COMMA) {
      return Either.left(new NetstringError({ detail: `netstring ${n} at byte ${o} says ${length} bytes, but no comma follows them` }))
    }
    out.push(data.subarray(start, end))
    o = end + 1
  }
  return Either.right(out)
}
