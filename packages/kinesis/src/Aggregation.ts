/**
 * How user records are packed into Kinesis records, one name per format:
 *
 * - `kpl`: the KPL aggregated record (see `Kpl`); user records keep their own
 *   partition keys, so one aggregate carries any keys of one shard.
 * - `ndjson`: newline-delimited JSON (see `Ndjson`), async-kinesis's `JsonLineProcessor`.
 * - `msgpack`: MessagePack values framed as netstrings (see `Netstring` and
 *   `Msgpack`), async-kinesis's `MsgpackProcessor`.
 * - `none`: one user record per Kinesis record.
 *
 * A reader is told the format of each stream; nothing is guessed from the
 * data but KPL aggregates, which carry magic bytes and are always unpacked,
 * whatever the stream's format. So `kpl` and `none` read the same, and a
 * stream may mix KPL aggregates with records of its own format. The n-th
 * user record of a Kinesis record has sub-sequence number n in every format,
 * which positions, watermarks, checkpoints and dead letters use.
 */
import { Config, ConfigError, Either } from "effect"
import * as Kpl from "./Kpl"
import { RECORD_MAX_BYTES } from "./Limits"
import * as Ndjson from "./Ndjson"
import * as Netstring from "./Netstring"

/** How several user records travel in one Kinesis record: KPL, newline-delimited JSON, msgpack, or one per record (`none`). */
export type Format = "kpl" | "ndjson" | "msgpack" | "none"

/** Every format, as `EDDY_AGGREGATION` accepts them. */
export const formats: ReadonlyArray<Format> = ["kpl", "ndjson", "msgpack", "none"]

/** One format for every stream, or a format per stream name with one for the rest (default `kpl`). */
export type Setting = Format | { readonly streams: Readonly<Record<string, Format>>; readonly otherwise?: Format }

/** The format of `stream` (a name) under `setting`; `kpl` without one. */
export const formatOf = (setting: Setting | undefined, stream: string): Format =>
  setting === undefined ? "kpl" : typeof setting === "string" ? setting : setting.streams[stream] ?? setting.otherwise ?? "kpl"

const isFormat = (s: string): s is Format => (formats as ReadonlyArray<string>).includes(s)

/**
 * `ndjson`, or `orders=ndjson,clicks=msgpack` (stream names), or both with
 * the bare format for the other streams: `orders=ndjson,kpl`.
 */
export const parse = (text: string): Either.Either<Setting, string> => {
  const streams: Record<string, Format> = {}
  let otherwise: Format | undefined
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.indexOf("=")
    const format = (eq < 0 ? part : part.slice(eq + 1)).trim()
    if (!isFormat(format)) return Either.left(`${JSON.stringify(format)} is not an aggregation format; use one of ${formats.join(", ")}`)
    if (eq < 0) otherwise = format
    else streams[part.slice(0, eq).trim()] = format
  }
  if (Object.keys(streams).length === 0) {
    return otherwise === undefined ? Either.left(`give a format (${formats.join(", ")}) or stream=format pairs`) : Either.right(otherwise)
  }
  return Either.right(otherwise === undefined ? { streams } : { streams, otherwise })
}

/** A `Setting` read from `name` (see `parse`), `kpl` when unset. */
export const config = (name: string): Config.Config<Setting> =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => Either.mapLeft(parse(text), (message) => ConfigError.InvalidData([name], message))),
    Config.withDefault<Setting>("kpl")
  )

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** Why a Kinesis record could not be unpacked: it is dead-lettered whole with this. */
export interface Unreadable {
  readonly error: string
  readonly reason: string
}

/**
 * The user records of one Kinesis record of `format` that is not a KPL
 * aggregate (the caller checks `Kpl.isAggregated` first), as views into
 * `data`; `undefined` for a plain record (`kpl`, `none`).
 */
export const unpack = (format: Format, data: Uint8Array): Either.Either<ReadonlyArray<Uint8Array>, Unreadable> | undefined => {
  const result: Either.Either<ReadonlyArray<Uint8Array>, Ndjson.NdjsonError | Netstring.NetstringError> | undefined = format === "ndjson"
    ? Ndjson.deaggregate(data)
    : format === "msgpack"
    ? Netstring.deaggregate(data)
    : undefined
  return result === undefined ? undefined : Either.mapLeft(result, (e): Unreadable => ({ error: e._tag, reason: e.message }))
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/** What a producer packs with: `Kpl.Aggregator` and the framed formats' aggregators. */
export interface Aggregator<A extends Kpl.UserRecord> {
  /** Largest Kinesis record it makes, data plus partition key. */
  readonly maxBytes: number
  /** User records in the current aggregate. */
  readonly count: number
  /** Size of the current aggregate as a Kinesis record; 0 when empty. */
  readonly size: number
  /** Whether `record` may join the current aggregate (framed formats take one partition key each). */
  readonly joins: (record: A) => boolean
  /** Adds `record`; returns the aggregates it finished. */
  readonly add: (record: A) => ReadonlyArray<Kpl.Aggregate<A>>
  /** Returns the current aggregate, if any, and starts an empty one. */
  readonly flush: () => ReadonlyArray<Kpl.Aggregate<A>>
}

/** A fresh aggregator of `format`; none for `none`. */
export const aggregator = <A extends Kpl.UserRecord>(format: Format, maxBytes: number = RECORD_MAX_BYTES): Aggregator<A> | undefined =>
  format === "kpl"
    ? new Kpl.Aggregator<A>({ maxBytes })
    : format === "ndjson"
    ? Ndjson.aggregator<A>(maxBytes)
    : format === "msgpack"
    ? Netstring.aggregator<A>(maxBytes)
    : undefined

/** Bytes `format` adds around one user record of `dataLength` bytes when it travels in an aggregate of its own. */
export const framingOverhead = (format: Format, dataLength: number): number =>
  format === "ndjson" ? Ndjson.framing.overhead(dataLength) : format === "msgpack" ? Netstring.framing.overhead(dataLength) : 0
