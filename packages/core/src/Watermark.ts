import type { Position } from "./SourceRecord"

/**
 * A shard position as sortable text: what durable stores keep per item and
 * shard as its watermark (see `Store.DeltaWrite`). Stores compare watermarks
 * byte-wise (a DynamoDB condition, a Redis script), so their text order must
 * equal `comparePosition`: a three-digit length, the sequence number, then the
 * sub-sequence number zero-padded to ten digits. Length-first is how
 * `comparePosition` orders sequence numbers too, and it costs about 70 bytes
 * for today's 56-digit numbers instead of the 139 that padding to Kinesis's
 * 128-digit maximum would.
 */
export const encode = (p: Position): string => {
  const seq = p.sequenceNumber
  return String(seq.length).padStart(3, "0") + seq + String(p.subSequenceNumber).padStart(10, "0")
}

/** The position `encode` wrote. */
export const decode = (s: string): Position => {
  const length = Number(s.slice(0, 3))
  return { sequenceNumber: s.slice(3, 3 + length), subSequenceNumber: Number(s.slice(3 + length)) }
}

/** `undefined` when the position cannot be encoded in order (not a Kinesis sequence number). */
export const invalid = (p: Position): string | undefined =>
  !/^[0-9]{1,999}$/.test(p.sequenceNumber)
    ? `sequence number ${JSON.stringify(p.sequenceNumber)} is not a decimal string`
    : !Number.isSafeInteger(p.subSequenceNumber) || p.subSequenceNumber < 0 || p.subSequenceNumber > 9_999_999_999
    ? `sub-sequence number ${p.subSequenceNumber} is not an integer in 0..9999999999`
    : undefined

