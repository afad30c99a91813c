/**
 * The KPL aggregated record format: many small user records packed into one
 * Kinesis record, as the Kinesis Producer Library writes it and the KCL and
 * `aws-kinesis-agg` read it.
 *
 * Layout: the magic bytes `F3 89 9A C2`, a protobuf (proto2) message
 *
 * ```
 * message AggregatedRecord {
 *   repeated string partition_key_table     = 1;
 *   repeated string explicit_hash_key_table = 2;
 *   repeated Record records                 = 3;
 * }
 * message Record {
 *   required uint64 partition_key_index     = 1;
 *   optional uint64 explicit_hash_key_index = 2;
 *   required bytes  data                    = 3;
 *   repeated Tag    tags                    = 4;  // not used by the KPL; skipped
 * }
 * ```
 *
 * then the 16-byte MD5 of the protobuf bytes. Everything here is synchronous
 * and works on whole records, so a producer or consumer can call it inside a
 * chunk loop without allocating an Effect per record.
 */
import { createHash } from "node:crypto"
import { Data, Either, Option } from "effect"
import {
  lengthDelimitedSize,
  MalformedError,
  Reader,
  varintSize,
  WireType,
  writeKey,
  writeVarint
} from "./internal/protobuf"
import { RECORD_MAX_BYTES } from "./Limits"

/** The four bytes that start every aggregated record. */
export const MAGIC: Uint8Array = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2)

const CHECKSUM_BYTES = 16
/** Bytes an aggregate adds around its protobuf message. */
const FRAMING_BYTES = MAGIC.length + CHECKSUM_BYTES

/** The largest hash key Kinesis accepts: 2^128 - 1. */
const MAX_HASH_KEY = (1n << 128n) - 1n

/** A record as the application wrote it, before aggregation or after deaggregation. */
export interface UserRecord {
  readonly partitionKey: string
  /** A decimal 128-bit hash key that overrides the partition key's hash for shard placement. */
  readonly explicitHashKey?: string
  readonly data: Uint8Array
}

/** What is wrong with an aggregated record. */
export type KplErrorReason =
  /** Shorter than the magic bytes plus the MD5 trailer. */
  | "TooShort"
  /** The MD5 trailer does not match the protobuf bytes: damaged in transit or storage. */
  | "ChecksumMismatch"
  /** The protobuf message cannot be parsed (truncated, bad varint, wrong wire type). */
  | "MalformedProtobuf"
  /** A record lacks its required partition key index or data. */
  | "MissingField"
  /** A record points past the end of the partition key or explicit hash key table. */
  | "IndexOutOfRange"

/**
 * An aggregated record that cannot be deaggregated. Retrying cannot help:
 * send the Kinesis record to the dead-letter destination with this reason.
 */
export class KplError extends Data.TaggedError("KplError")<{
  readonly reason: KplErrorReason
  readonly detail: string
}> {
  override get message(): string {
    return `corrupt KPL aggregated record (${this.reason}): ${this.detail}; dead-letter the Kinesis record, it cannot be deaggregated`
  }
}

/** Whether `data` starts with the aggregated-record magic bytes. */
export const isAggregated = (data: Uint8Array): boolean =>
  data.length >= MAGIC.length &&
  data[0] === MAGIC[0] &&
  data[1] === MAGIC[1] &&
  data[2] === MAGIC[2] &&
  data[3] === MAGIC[3]

const utf8Encoder = new TextEncoder()
// Lenient, as proto2 strings are: a bad byte becomes U+FFFD rather than failing the whole record.
const utf8Decoder = new TextDecoder()

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")

const md5 = (bytes: Uint8Array): Buffer => createHash("md5").update(bytes).digest()

/**
 * The 128-bit hash Kinesis uses to place a partition key on a shard: the MD5
 * of its UTF-8 bytes read as an unsigned big-endian integer. A shard owns the
 * keys within its `HashKeyRange`.
 */
export const hashKeyOf = (partitionKey: string): bigint =>
  BigInt("0x" + createHash("md5").update(partitionKey, "utf8").digest("hex"))

const DECIMAL = /^(0|[1-9][0-9]{0,38})$/

/**
 * The hash key that decides a record's shard: its explicit hash key when it
 * has one, else the hash of its partition key. `None` when the explicit hash
 * key is not a decimal integer in [0, 2^128), which Kinesis would refuse.
 */
export const effectiveHashKey = (record: UserRecord): Option.Option<bigint> => {
  if (record.explicitHashKey === undefined) return Option.some(hashKeyOf(record.partitionKey))
  if (!DECIMAL.test(record.explicitHashKey)) return Option.none()
  const key = BigInt(record.explicitHashKey)
  return key <= MAX_HASH_KEY ? Option.some(key) : Option.none()
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/**
 * One of an aggregate's key tables (partition keys, explicit hash keys): each
 * distinct key once, with its UTF-8 length, so records refer to it by index.
 */
class KeyTable {
  private readonly index = new Map<string, number>()
  private readonly keys: Array<string> = []
  private readonly bytes: Array<number> = []
  /** Protobuf bytes of the table's entries, field keys and length prefixes included. */
  protoSize = 0

  constructor(private readonly field: number) {}

  /** UTF-8 length of the first key; 0 when there is none. */
  get firstKeyBytes(): number {
    return this.bytes.length === 0 ? 0 : this.bytes[0]!
  }

  /** The index `key` has, or would get from `intern`; -1 for no key. */
  indexFor(key: string | undefined): number {
    return key === undefined ? -1 : this.index.get(key) ?? this.keys.length
  }

  /** Protobuf bytes `intern(key)` would add, given `index = indexFor(key)`: none when the key is there already. */
  growth(key: string | undefined, index: number): number {
    return key !== undefined && index === this.keys.length ? lengthDelimitedSize(utf8Length(key)) : 0
  }

  /** The index of `key`, added when new; -1 for no key. */
  intern(key: string | undefined): number {
    const index = this.indexFor(key)
    if (key !== undefined && index === this.keys.length) {
      const bytes = utf8Length(key)
      this.index.set(key, index)
      this.keys.push(key)
      this.bytes.push(bytes)
      this.protoSize += lengthDelimitedSize(bytes)
    }
    return index
  }

  write(out: Uint8Array, o: number): number {
    for (let i = 0; i < this.keys.length; i++) {
      const length = this.bytes[i]!
      o = writeKey(out, o, this.field, WireType.LengthDelimited)
      o = writeVarint(out, o, length)
      utf8Encoder.encodeInto(this.keys[i]!, out.subarray(o, o + length))
      o += length
    }
    return o
  }

  clear(): void {
    this.index.clear()
    this.keys.length = 0
    this.bytes.length = 0
    this.protoSize = 0
  }
}

/**
 * Collects user records with deduplicated key tables and keeps the exact
 * protobuf size as it goes, so the aggregator can test a record against the
 * limit without encoding anything.
 */
class Builder<A extends UserRecord> {
  private readonly partitionKeys = new KeyTable(1)
  private readonly hashKeys = new KeyTable(2)
  private readonly recordPk: Array<number> = []
  /** -1 when the record has no explicit hash key. */
  private readonly recordEhk: Array<number> = []
  /** Size of each `Record` message, without its own key and length prefix. */
  private readonly recordBytes: Array<number> = []
  /** Protobuf bytes of the `Record` messages, keys and length prefixes included. */
  private recordsSize = 0
  records: Array<A> = []

  get protoSize(): number {
    return this.partitionKeys.protoSize + this.hashKeys.protoSize + this.recordsSize
  }

  /** UTF-8 length of the first record's partition key, which becomes the outer Kinesis partition key. */
  get outerKeyBytes(): number {
    return this.partitionKeys.firstKeyBytes
  }

  /** How many protobuf bytes `record` would add. */
  growth(record: A): number {
    const pk = this.partitionKeys.indexFor(record.partitionKey)
    const ehk = this.hashKeys.indexFor(record.explicitHashKey)
    return this.partitionKeys.growth(record.partitionKey, pk) + this.hashKeys.growth(record.explicitHashKey, ehk) +
      lengthDelimitedSize(recordSize(pk, ehk, record.data.length))
  }

  push(record: A): void {
    const pk = this.partitionKeys.intern(record.partitionKey)
    const ehk = this.hashKeys.intern(record.explicitHashKey)
    const size = recordSize(pk, ehk, record.data.length)
    this.records.push(record)
    this.recordPk.push(pk)
    this.recordEhk.push(ehk)
    this.recordBytes.push(size)
    this.recordsSize += lengthDelimitedSize(size)
  }

  /** Magic bytes, protobuf message, MD5 trailer: exactly `FRAMING_BYTES + protoSize` bytes. */
  encode(): Uint8Array {
    const out = new Uint8Array(FRAMING_BYTES + this.protoSize)
    out.set(MAGIC, 0)
    let o = MAGIC.length
    o = this.partitionKeys.write(out, o)
    o = this.hashKeys.write(out, o)
    for (let i = 0; i < this.records.length; i++) {
      o = writeKey(out, o, 3, WireType.LengthDelimited)
      o = writeVarint(out, o, this.recordBytes[i]!)
      o = writeKey(out, o, 1, WireType.Varint)
      o = writeVarint(out, o, this.recordPk[i]!)
      const ehk = this.recordEhk[i]!
      if (ehk >= 0) {
        o = writeKey(out, o, 2, WireType.Varint)
        o = writeVarint(out, o, ehk)
      }
      const data = this.records[i]!.data
      o = writeKey(out, o, 3, WireType.LengthDelimited)
      o = writeVarint(out, o, data.length)
      out.set(data, o)
      o += data.length
    }
    out.set(md5(out.subarray(MAGIC.length, o)), o)
    return out
  }

  clear(): void {
    this.partitionKeys.clear()
    this.hashKeys.clear()
    this.recordPk.length = 0
    this.recordEhk.length = 0
    this.recordBytes.length = 0
    this.recordsSize = 0
    // A fresh array: the previous one was handed out with the finished aggregate.
    this.records = []
  }
}

/** Size of a `Record` message body: both indices as varints plus the data field. */
const recordSize = (pk: number, ehk: number, dataLength: number): number =>
  1 + varintSize(pk) + (ehk >= 0 ? 1 + varintSize(ehk) : 0) + lengthDelimitedSize(dataLength)

/**
 * Packs `records` into one aggregated record, partition keys and explicit hash
 * keys deduplicated into the tables. There is no size limit here: use an
 * `Aggregator` to stay within what Kinesis accepts.
 */
export const aggregate = (records: ReadonlyArray<UserRecord>): Uint8Array => {
  const builder = new Builder<UserRecord>()
  for (const record of records) builder.push(record)
  return builder.encode()
}

/** One Kinesis record ready for PutRecords, and the user records it carries. */
export interface Aggregate<A extends UserRecord = UserRecord> {
  /** The first user record's partition key. */
  readonly partitionKey: string
  /** The first user record's explicit hash key, if it has one. */
  readonly explicitHashKey?: string
  /** An aggregated record, or the user record's own data when it travels alone (see `Aggregator`). */
  readonly data: Uint8Array
  /** The user records inside, in order; for retries and failure reports. */
  readonly records: ReadonlyArray<A>
}

/** Options of the KPL aggregator. */
export interface AggregatorOptions {
  /**
   * Largest Kinesis record to produce, counting its data and the UTF-8 bytes
   * of its partition key as Kinesis does. Defaults to `Limits.RECORD_MAX_BYTES` (1 MiB).
   */
  readonly maxBytes?: number
}

const NOTHING: ReadonlyArray<never> = []

/**
 * Packs user records, in order, into aggregates of at most `maxBytes` (data
 * plus outer partition key), computing the encoded size exactly as records
 * arrive.
 *
 * The outer Kinesis record takes the first user record's partition key (and
 * explicit hash key), so Kinesis places it on that record's shard. Every user
 * record of one aggregator must therefore map to the same shard: the caller
 * keeps one aggregator per shard, choosing it with `effectiveHashKey` against
 * the shards' hash key ranges. The KCL drops user records that do not belong
 * to the shard it reads.
 *
 * A record that would not fit even in an empty aggregate, and an aggregate of
 * a single record, are emitted as the plain user record (as the KPL does):
 * no framing overhead, and every deaggregator reads a plain record as itself.
 * A lone record whose data happens to start with `MAGIC` is still aggregated,
 * so it cannot be mistaken for an aggregate, unless it is too big to be.
 * Refusing records over Kinesis's own limit is the caller's job.
 */
export class Aggregator<A extends UserRecord = UserRecord> {
  readonly maxBytes: number
  private readonly builder = new Builder<A>()

  constructor(options: AggregatorOptions = {}) {
    this.maxBytes = options.maxBytes ?? RECORD_MAX_BYTES
  }

  /** User records waiting in the current aggregate. */
  get count(): number {
    return this.builder.records.length
  }

  /**
   * Exact size the current aggregate would have as a Kinesis record (encoded
   * data plus outer partition key); 0 when empty. A flush of a single record
   * emits it plain, which is smaller still.
   */
  get size(): number {
    return this.count === 0 ? 0 : FRAMING_BYTES + this.builder.protoSize + this.builder.outerKeyBytes
  }

  /** Every record may join a KPL aggregate: each keeps its own partition key. */
  joins(_record: A): boolean {
    return true
  }

  /**
   * Adds `record`. Returns what is finished: nothing while it fits; the
   * current aggregate when `record` would push it over `maxBytes` (`record`
   * then starts the next one); and `record` itself, plain, when it cannot fit
   * in any aggregate.
   */
  add(record: A): ReadonlyArray<Aggregate<A>> {
    const builder = this.builder
    if (builder.records.length > 0) {
      if (FRAMING_BYTES + builder.protoSize + builder.growth(record) + builder.outerKeyBytes <= this.maxBytes) {
        builder.push(record)
        return NOTHING
      }
      const finished = this.finish()
      if (!this.fitsAlone(record)) return [finished, plain(record)]
      builder.push(record)
      return [finished]
    }
    if (this.fitsAlone(record)) {
      builder.push(record)
      return NOTHING
    }
    return [plain(record)]
  }

  /** Returns the current aggregate, if any, and starts an empty one. */
  flush(): ReadonlyArray<Aggregate<A>> {
    return this.count === 0 ? NOTHING : [this.finish()]
  }

  private fitsAlone(record: A): boolean {
    return FRAMING_BYTES + this.builder.growth(record) + utf8Length(record.partitionKey) <= this.maxBytes
  }

  private finish(): Aggregate<A> {
    const builder = this.builder
    const records = builder.records
    const first = records[0]!
    const result: Aggregate<A> =
      records.length === 1 && !isAggregated(first.data)
        ? plain(first)
        : withKeys(first, builder.encode(), records)
    builder.clear()
    return result
  }
}

const withKeys = <A extends UserRecord>(first: A, data: Uint8Array, records: ReadonlyArray<A>): Aggregate<A> =>
  first.explicitHashKey === undefined
    ? { partitionKey: first.partitionKey, data, records }
    : { partitionKey: first.partitionKey, explicitHashKey: first.explicitHashKey, data, records }

const plain = <A extends UserRecord>(record: A): Aggregate<A> => withKeys(record, record.data, [record])

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/**
 * The user records inside one Kinesis record. Data that is not aggregated (no
 * magic bytes) is one user record under `outerPartitionKey`. The data of each
 * returned record is a view into `data`, not a copy.
 *
 * Never throws: a damaged aggregate is a `KplError` naming what is wrong.
 */
export const deaggregate = (
  data: Uint8Array,
  outerPartitionKey: string
): Either.Either<ReadonlyArray<UserRecord>, KplError> => {
  if (!isAggregated(data)) return Either.right([{ partitionKey: outerPartitionKey, data }])
  if (data.length < FRAMING_BYTES) {
    return Either.left(
      new KplError({
        reason: "TooShort",
        detail: `${data.length} bytes, but the magic bytes and checksum alone take ${FRAMING_BYTES}`
      })
    )
  }
  const end = data.length - CHECKSUM_BYTES
  const digest = md5(data.subarray(MAGIC.length, end))
  for (let i = 0; i < CHECKSUM_BYTES; i++) {
    if (digest[i] !== data[end + i]) {
      return Either.left(
        new KplError({ reason: "ChecksumMismatch", detail: "the MD5 trailer does not match the protobuf message" })
      )
    }
  }
  try {
    return Either.right(decodeMessage(data, MAGIC.length, end))
  } catch (e) {
    if (e instanceof KplError) return Either.left(e)
    if (e instanceof MalformedError) return Either.left(new KplError({ reason: "MalformedProtobuf", detail: e.message }))
    throw e
  }
}

const decodeMessage = (buf: Uint8Array, start: number, end: number): Array<UserRecord> => {
  const reader = new Reader(buf, start, end)
  const partitionKeys: Array<string> = []
  const explicitHashKeys: Array<string> = []
  // Tables may follow the records that index them, so records are decoded after the whole message.
  const recordBounds: Array<number> = []
  while (!reader.done) {
    const key = reader.varint()
    const field = Math.floor(key / 8)
    const wireType = key % 8
    if (field >= 1 && field <= 3) {
      if (wireType !== WireType.LengthDelimited) {
        throw new MalformedError(`field ${field} of AggregatedRecord has wire type ${wireType}, not length-delimited`)
      }
      const from = reader.lengthDelimited()
      if (field === 1) partitionKeys.push(utf8Decoder.decode(buf.subarray(from, reader.pos)))
      else if (field === 2) explicitHashKeys.push(utf8Decoder.decode(buf.subarray(from, reader.pos)))
      else recordBounds.push(from, reader.pos)
    } else if (field === 0) {
      throw new MalformedError("field number 0 in AggregatedRecord")
    } else {
      reader.skip(wireType)
    }
  }
  const records = new Array<UserRecord>(recordBounds.length / 2)
  for (let i = 0; i < records.length; i++) {
    records[i] = decodeRecord(buf, recordBounds[2 * i]!, recordBounds[2 * i + 1]!, i, partitionKeys, explicitHashKeys)
  }
  return records
}

const decodeRecord = (
  buf: Uint8Array,
  start: number,
  end: number,
  n: number,
  partitionKeys: ReadonlyArray<string>,
  explicitHashKeys: ReadonlyArray<string>
): UserRecord => {
  const reader = new Reader(buf, start, end)
  let pk = -1
  let ehk = -1
  let dataStart = -1
  let dataEnd = -1
  while (!reader.done) {
    const key = reader.varint()
    const field = Math.floor(key / 8)
    const wireType = key % 8
    const expected = field === 3 ? WireType.LengthDelimited : WireType.Varint
    if (field >= 1 && field <= 3 && wireType !== expected) {
      throw new MalformedError(`field ${field} of record ${n} has wire type ${wireType}, expected ${expected}`)
    }
    if (field === 1) pk = reader.varint()
    else if (field === 2) ehk = reader.varint()
    else if (field === 3) {
      dataStart = reader.lengthDelimited()
      dataEnd = reader.pos
    } else if (field === 0) throw new MalformedError(`field number 0 in record ${n}`)
    else reader.skip(wireType)
  }
  if (pk < 0) throw new KplError({ reason: "MissingField", detail: `record ${n} has no partition_key_index` })
  if (dataStart < 0) throw new KplError({ reason: "MissingField", detail: `record ${n} has no data` })
  if (pk >= partitionKeys.length) {
    throw new KplError({
      reason: "IndexOutOfRange",
      detail: `record ${n} has partition_key_index ${pk}, but the table has ${partitionKeys.length} keys`
    })
  }
  const data = buf.subarray(dataStart, dataEnd)
  if (ehk < 0) return { partitionKey: partitionKeys[pk]!, data }
  if (ehk >= explicitHashKeys.length) {
    throw new KplError({
      reason: "IndexOutOfRange",
      detail: `record ${n} has explicit_hash_key_index ${ehk}, but the table has ${explicitHashKeys.length} keys`
    })
  }
  return { partitionKey: partitionKeys[pk]!, explicitHashKey: explicitHashKeys[ehk]!, data }
}
