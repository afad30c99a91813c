/**
 * Kinesis records to the user records the Processor takes, for both drivers:
 * the records of a Lambda Kinesis event and those of a GetRecords call go
 * through the same unpacking. Synchronous, one pass, no Effect per record.
 *
 * An aggregate is unpacked into its user records, each keeping the
 * aggregate's sequence number with its index as sub-sequence number: a KPL
 * aggregate always (its magic bytes say what it is), an NDJSON or netstring
 * one where the stream's `Aggregation.Format` says so. An aggregate that
 * cannot be unpacked is kept whole, marked `unreadable`, so the processor
 * dead-letters it rather than losing it.
 */
import { type Position, type SourceRecord, streamNameOf } from "@eddy/core/SourceRecord"
import { Data, Either } from "effect"
import * as Aggregation from "./Aggregation"
import * as Kpl from "./Kpl"

/** One Kinesis record, as either driver receives it. */
export interface KinesisRecord {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly sequenceNumber: string
  /** Approximate arrival time, epoch milliseconds. */
  readonly arrivalTime: number
}

/** Whether records of `format` that are not KPL aggregates are still aggregates. */
const isFramed = (format: Aggregation.Format): boolean => format === "ndjson" || format === "msgpack"

/**
 * Appends the user records of `record` in `shardId`, of a stream of `format`
 * (default `kpl`), to `out`, skipping those at or before `skip` (a
 * checkpoint inside an aggregate that is read again). Returns how many were
 * appended.
 */
export const append = (
  out: Array<SourceRecord>,
  shardId: string,
  record: KinesisRecord,
  skip?: Position,
  format: Aggregation.Format = "kpl"
): number => {
  const { arrivalTime, data, partitionKey, sequenceNumber } = record
  const first = skip !== undefined && skip.sequenceNumber === sequenceNumber ? skip.subSequenceNumber + 1 : 0
  const kpl = Kpl.isAggregated(data)
  const framed = kpl ? undefined : Aggregation.unpack(format, data)
  // Object literals, not spreads: this runs for every record and a spread costs several times more.
  if (!kpl && framed === undefined) {
    if (first > 0) return 0
    out.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime })
    return 1
  }
  const users: Either.Either<ReadonlyArray<Uint8Array | Kpl.UserRecord>, Aggregation.Unreadable> = framed ?? Either.mapLeft(Kpl.deaggregate(data, partitionKey), (e): Aggregation.Unreadable => ({ error: e._tag, reason: e.message }))
  if (Either.isLeft(users)) {
    if (first > 0) return 0
    out.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime, unreadable: users.left })
    return 1
  }
  const all = users.right
  for (let i = first; i < all.length; i++) {
    const user = all[i]!
    // Framed user records are bare data under the Kinesis record's key; KPL ones carry their own.
    if (user instanceof Uint8Array) out.push({ data: user, partitionKey, shardId, sequenceNumber, subSequenceNumber: i, arrivalTime })
    else out.push({ data: user.data, partitionKey: user.partitionKey, shardId, sequenceNumber, subSequenceNumber: i, arrivalTime })
  }
  return Math.max(0, all.length - first)
}

/** The fields of a GetRecords record that eddy reads (the SDK's `_Record`). */
export interface GetRecordsRecord {
  readonly Data?: Uint8Array | undefined
  readonly PartitionKey?: string | undefined
  readonly SequenceNumber?: string | undefined
  readonly ApproximateArrivalTimestamp?: Date | undefined
}

/** The user records of one GetRecords page of `shardId`, of a stream of `format` (default `kpl`), less those at or before `skip`. */
export const fromGetRecords = (
  page: ReadonlyArray<GetRecordsRecord>,
  shardId: string,
  skip?: Position,
  format: Aggregation.Format = "kpl"
): Array<SourceRecord> => {
  const out: Array<SourceRecord> = []
  const framed = isFramed(format)
  for (const r of page) {
    const data = r.Data!
    const partitionKey = r.PartitionKey!
    const sequenceNumber = r.SequenceNumber!
    const arrivalTime = r.ApproximateArrivalTimestamp?.getTime() ?? 0
    // The usual record, neither an aggregate nor the checkpoint, is pushed here directly.
    if (!framed && !Kpl.isAggregated(data) && (skip === undefined || skip.sequenceNumber !== sequenceNumber)) {
      out.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime })
      continue
    }
    append(out, shardId, { data, partitionKey, sequenceNumber, arrivalTime }, skip, format)
  }
  return out
}

/**
 * The event is not what a Kinesis event-source mapping sends: it has no
 * `Records` list, or a record lacks its position, so nothing can be placed in
 * its shard. Lambda retries the whole batch; the message says what is wrong.
 */
export class MalformedEventError extends Data.TaggedError("MalformedEventError")<{ readonly message: string }> {}

/** The fields of a Lambda Kinesis event that eddy reads (`KinesisStreamEvent` of `@types/aws-lambda`). */
export interface LambdaEvent {
  readonly Records: ReadonlyArray<{
    readonly eventID: string
    readonly eventSourceARN?: string
    readonly kinesis: {
      readonly data: string
      readonly partitionKey: string
      readonly sequenceNumber: string
      readonly approximateArrivalTimestamp: number
    }
  }>
}

/** The user records of one Lambda Kinesis event, in event order. */
export interface LambdaBatch {
  readonly records: ReadonlyArray<SourceRecord>
  /** The event source ARN of each user record. */
  readonly sources: ReadonlyArray<string | undefined>
  /** Newest approximate arrival time in the event, epoch milliseconds; undefined when no record carries one. */
  readonly newestArrival: number | undefined
}

type LambdaRecord = LambdaEvent["Records"][number]

/** Why a record cannot be placed in its shard. */
const unplaceable = (r: LambdaRecord, index: number): MalformedEventError =>
  new MalformedEventError({
    message: `record ${index} cannot be placed in its shard: a Kinesis record needs kinesis.sequenceNumber and an eventID of the form ` +
      `shardId:sequenceNumber, got eventID ${JSON.stringify(r?.eventID)} and sequenceNumber ${JSON.stringify(r?.kinesis?.sequenceNumber)}; ` +
      `is the function invoked by something other than a Kinesis event-source mapping?`
  })

/**
 * The shard id of each record (the `eventID` up to its colon), or throws for
 * the first record that cannot be placed. A batch is one shard's, so the
 * previous record's id is reused rather than sliced again.
 */
const shardIdsOf = (records: ReadonlyArray<LambdaRecord>): Array<string> => {
  const shardIds: Array<string> = new Array(records.length)
  let previous = ""
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const sequenceNumber = r?.kinesis?.sequenceNumber
    const eventID = r?.eventID
    if (typeof sequenceNumber !== "string" || sequenceNumber === "" || typeof eventID !== "string") throw unplaceable(r, i)
    if (previous !== "" && eventID.charCodeAt(previous.length) === 58 && eventID.startsWith(previous)) {
      shardIds[i] = previous
      continue
    }
    const colon = eventID.indexOf(":")
    if (colon <= 0) throw unplaceable(r, i)
    shardIds[i] = previous = eventID.slice(0, colon)
  }
  return shardIds
}

/** Why a placed record cannot be read, if it cannot: it is dead-lettered with this reason, its neighbours go on. */
const unreadableOf = (r: LambdaRecord): { readonly error: string; readonly reason: string } | undefined =>
  typeof r.kinesis.data !== "string"
    ? { error: "MalformedRecord", reason: "the record has no kinesis.data (base64 text)" }
    : typeof r.kinesis.partitionKey !== "string" || r.kinesis.partitionKey === ""
    ? { error: "MalformedRecord", reason: "the record has no kinesis.partitionKey" }
    : undefined

/**
 * The user records of a Lambda event, base64 decoded and unpacked, each
 * record by the format `aggregation` gives its stream (default `kpl`). Throws
 * `MalformedEventError`, before anything is processed, for an event without
 * `Records` or a record without its position; a record that is placed but
 * lacks its data or partition key becomes an `unreadable` record.
 */
export const fromLambdaEvent = (event: LambdaEvent, aggregation?: Aggregation.Setting): LambdaBatch => {
  if (!Array.isArray(event?.Records)) {
    throw new MalformedEventError({ message: "the event has no Records list: the handler takes Kinesis events from an event-source mapping" })
  }
  const shardIds = shardIdsOf(event.Records)
  const records: Array<SourceRecord> = []
  const sources: Array<string | undefined> = []
  let newestArrival: number | undefined
  // An event comes from one source, mostly: its format is looked up once per change of source.
  let source: string | undefined
  let format = Aggregation.formatOf(aggregation, "")
  for (let i = 0; i < event.Records.length; i++) {
    const r = event.Records[i]!
    const shardId = shardIds[i]!
    const { approximateArrivalTimestamp: seconds, data: base64, partitionKey, sequenceNumber } = r.kinesis
    const arrival = typeof seconds === "number" && Number.isFinite(seconds) ? Math.round(seconds * 1000) : undefined
    if (arrival !== undefined && (newestArrival === undefined || arrival > newestArrival)) newestArrival = arrival
    const arrivalTime = arrival ?? 0
    const unreadable = unreadableOf(r)
    if (unreadable !== undefined) {
      const data = typeof base64 === "string" ? Buffer.from(base64, "base64") : new Uint8Array(0)
      records.push({ data, partitionKey: typeof partitionKey === "string" ? partitionKey : "", shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime, unreadable })
      sources.push(r.eventSourceARN)
      continue
    }
    const data = Buffer.from(base64, "base64")
    if (typeof aggregation === "object" && r.eventSourceARN !== source) {
      source = r.eventSourceARN
      format = Aggregation.formatOf(aggregation, source === undefined ? "" : streamNameOf(source))
    }
    // The usual record is not an aggregate: pushed here directly, without `append`'s argument object.
    if (!isFramed(format) && !Kpl.isAggregated(data)) {
      records.push({ data, partitionKey, shardId, sequenceNumber, subSequenceNumber: 0, arrivalTime })
      sources.push(r.eventSourceARN)
      continue
    }
    const added = append(records, shardId, { data, partitionKey, sequenceNumber, arrivalTime }, undefined, format)
    for (let k = 0; k < added; k++) sources.push(r.eventSourceARN)
  }
  return { records, sources, newestArrival }
}
