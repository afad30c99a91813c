/**
 * MessagePack events, as async-kinesis's `MsgpackProcessor` writes them: one
 * MessagePack value per user record (a map, for an event), several user
 * records per Kinesis record framed as netstrings (see `Netstring`; the
 * `msgpack` aggregation). Encoding and decoding use `msgpackr` with plain
 * MessagePack only (no record extension), so any MessagePack library reads
 * what is written here: Python's `msgpack.unpackb(data, raw=False)` included.
 *
 * ```ts
 * import * as Msgpack from "@eddy/kinesis/Msgpack"
 * import { Schema } from "effect"
 * const PageView = Schema.Struct({ type: Schema.Literal("page.viewed"), id: Schema.String, at: Schema.Number })
 * const decoder = Msgpack.decoder(PageView) // the pipeline source's decoder for a msgpack stream
 * ```
 */
import { type Decoder, NotMsgpackError, ofObjects } from "@eddy/core/Decoder"
import { Either, type Schema } from "effect"
import { Packr, Unpackr } from "msgpackr"

// Maps as plain objects; 64-bit integers as numbers, as JSON would give them.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" })
const packr = new Packr({ useRecords: false })

/** One value as MessagePack bytes (a JavaScript object becomes a map). */
export const encode = (value: unknown): Uint8Array => packr.pack(value)

const kindOf = (value: unknown): string =>
  value === null ? "nil" : Array.isArray(value) ? "an array" : value instanceof Uint8Array ? "binary data" : `a ${typeof value}`

/** The value in `bytes`, which must be exactly one MessagePack value. */
export const decode = (bytes: Uint8Array): Either.Either<unknown, NotMsgpackError> => {
  if (bytes.length === 0) return Either.left(new NotMsgpackError({ found: "empty data" }))
  try {
    return Either.right(unpackr.unpack(bytes))
  } catch (e) {
    // msgpackr's messages name positions, never the payload.
    return Either.left(new NotMsgpackError({ found: `invalid MessagePack (${(e as Error).message})` }))
  }
}

/** Parses the bytes as one MessagePack map with string keys: the start of every msgpack decoder. */
export const parseObject = (bytes: Uint8Array): Either.Either<Record<string, unknown>, NotMsgpackError> =>
  Either.flatMap(decode(bytes), (value) =>
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Map)
      ? Either.right(value as Record<string, unknown>)
      : Either.left(new NotMsgpackError({ found: kindOf(value) })))

/** A decoder of MessagePack maps validated by `schema`, as `Decoder.json` is for JSON; unknown fields are ignored. */
export const decoder = <A, I>(schema: Schema.Schema<A, I, never>): Decoder<A> => ofObjects(parseObject, schema)
