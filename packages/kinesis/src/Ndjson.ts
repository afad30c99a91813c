/**
 * Newline-delimited JSON aggregation: several user records in one Kinesis
 * record, each followed by a line feed, as async-kinesis's
 * `JsonLineProcessor` writes and reads them.
 *
 * Layout: `record₀ 0A record₁ 0A … recordₙ 0A`: each user record's bytes
 * (one JSON value, written without a line feed inside, as `JSON.stringify`
 * without indentation writes it) followed by the byte `0A`. Reading splits at
 * every `0A`, drops a `0D` before it (CRLF lines), and skips empty lines, so
 * a last line without its line feed is read too. The user records have no
 * partition key of their own: they take the Kinesis record's, and the
 * producer never packs records of two keys together. The n-th non-empty line
 * is user record n: its sub-sequence number.
 */
import { Data, Either } from "effect"
import { encode, FramedAggregator, type Framing } from "./internal/framed"
import type { UserRecord } from "./Kpl"

const LF = 0x0a
const CR = 0x0d

/** An NDJSON record with no line in it: dead-letter the Kinesis record. */
export class NdjsonError extends Data.TaggedError("NdjsonError")<{ readonly detail: string }> {
  override get message(): string {
    return `unreadable newline-delimited JSON record: ${this.detail}; dead-letter the Kinesis record`
  }
}

/** The line feed after each record. */
export const framing: Framing = {
  overhead: () => 1,
  write: (out, offset, data) => {
    out.set(data, offset)
    out[offset + data.length] = LF
    return offset + data.length + 1
  }
}

/** Whether `data` can travel as one NDJSON line: it holds no line feed. */
export const fits = (data: Uint8Array): boolean => data.indexOf(LF) < 0

/** The user records' data, each followed by a line feed. There is no size limit here: use an `aggregator`. */
export const aggregate = (records: ReadonlyArray<Uint8Array>): Uint8Array => encode(framing, records.map((data) => ({ partitionKey: "", data })))

/** An aggregator of records of one partition key into NDJSON records of at most `maxBytes` (data plus key). */
export const aggregator = <A extends UserRecord>(maxBytes?: number): FramedAggregator<A> => new FramedAggregator<A>(framing, maxBytes)

/** The lines of `data`, as views into it (no copy). */
export const deaggregate = (data: Uint8Array): Either.Either<ReadonlyArray<Uint8Array>, NdjsonError> => {
  const lines: Array<Uint8Array> = []
  let start = 0
  while (start < data.length) {
    let end = data.indexOf(LF, start)
    if (end < 0) end = data.length
    const stop = end > start && data[end - 1] === CR ? end - 1 : end
    if (stop > start) lines.push(data.subarray(start, stop))
    start = end + 1
  }
  return lines.length > 0 ? Either.right(lines) : Either.left(new NdjsonError({ detail: data.length === 0 ? "the record is empty" : "the record holds only empty lines" }))
}
