/**
 * Re-driving what a pipeline could not process: dead-letter entries (the JSON
 * form of `@eddy/runtime/DeadLetterSinks.encode`, from a file of stdout lines,
 * an SQS queue or a Kinesis dead-letter stream) and Lambda on-failure batches
 * (only positions: the records are re-read from the stream).
 *
 * Records are processed here, through the Processor with the configured
 * store and deduper, rather than put back into the source stream: the
 * command can then report what became of each one, and nothing depends on a
 * consumer being up.
 *
 * Exactly once, because:
 * - each record claims its event id as its *original* record (the dedup
 *   owner is translated back), so an event its original record claimed before
 *   it failed is still its own, while an event some other record applied is a
 *   duplicate;
 * - its writes carry a watermark of their own (one scope per dead letter, one
 *   per on-failure batch): the source shard's watermark has usually moved past
 *   the failed record, and would hide its write, while a second run of the
 *   same record finds its own watermark and writes nothing;
 * - a ledger claim per record position, taken after it is applied, tells a
 *   second run's records (applied before: duplicates) from the first's.
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import { comparePosition, positionId, type SourceRecord, streamNameOf } from "@eddy/core/SourceRecord"
import type * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as UserRecords from "@eddy/kinesis/UserRecords"
import { Data, Effect, Either, Schema } from "effect"

/** The scope of watermarks and dedup owners of re-driven writes; never a stream's name. */
export const SCOPE = "eddy-redrive"

/** Prefix of the ledger's claim ids. */
const LEDGER = "redriven:"

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/** A dead-letter entry as a sink wrote it, payload in base64; truncated payloads say so. */
const EntryJson = Schema.Struct({
  error: Schema.String,
  reason: Schema.String,
  source: Schema.optional(Schema.String),
  pipeline: Schema.optional(Schema.String),
  shardId: Schema.String,
  sequenceNumber: Schema.String,
  subSequenceNumber: Schema.Number,
  partitionKey: Schema.String,
  arrivalTime: Schema.Number,
  payload: Schema.String,
  payloadTruncated: Schema.optional(Schema.Boolean)
})

/** A Lambda on-failure destination record for a Kinesis batch. */
const OnFailureJson = Schema.Struct({
  KinesisBatchInfo: Schema.Struct({
    shardId: Schema.String,
    startSequenceNumber: Schema.String,
    endSequenceNumber: Schema.String,
    streamArn: Schema.String
  })
})

/** The batch an on-failure record names: a shard and the range of sequence numbers that failed. */
export interface OnFailureBatch {
  readonly streamArn: string
  readonly shardId: string
  readonly startSequenceNumber: string
  readonly endSequenceNumber: string
}

/** A line or message that is not what the command was given to read. */
export class InvalidInputError extends Data.TaggedError("InvalidInputError")<{ readonly message: string }> {}

const parseJson = (text: string, where: string): Either.Either<unknown, InvalidInputError> =>
  Either.try({ try: () => JSON.parse(text) as unknown, catch: () => new InvalidInputError({ message: `${where} is not JSON` }) })

/**
 * A dead-letter entry from its JSON (a sink's message, or a stdout log line,
 * which has the same fields after `level` and `msg`). A truncated payload
 * cannot be re-driven from the entry: re-read the record from the stream.
 */
export const parseEntry = (text: string, where: string): Either.Either<DeadLetter.DeadLetterEntry, InvalidInputError> =>
  Either.flatMap(parseJson(text, where), (json) =>
    (json as { payloadRedacted?: unknown } | null)?.payloadRedacted === true
      ? Either.left(new InvalidInputError({ message: `${where}: the stdout sink logged only the payload's hash; redrive it with --on-failure from the stream, or log dead letters with EDDY_DEAD_LETTER=stdout:full` }))
      : Either.flatMap(
      Schema.decodeUnknownEither(EntryJson)(json).pipe(
        Either.mapLeft(() => new InvalidInputError({ message: `${where} is not a dead-letter entry (expected the fields error, shardId, sequenceNumber, payload, ...)` }))
      ),
      (e) =>
        e.payloadTruncated === true
          ? Either.left(new InvalidInputError({ message: `${where}: the payload of ${e.shardId} ${e.sequenceNumber} was truncated by the sink; redrive it with --on-failure from the stream` }))
          : Either.right<DeadLetter.DeadLetterEntry>({ ...DeadLetter.fieldsOf(e), payload: new Uint8Array(Buffer.from(e.payload, "base64")) })
    ))

/** The dead-letter entries among JSON lines: lines of other kinds (other log lines) are passed over. */
export const entriesOfLines = (text: string, name: string): Either.Either<ReadonlyArray<DeadLetter.DeadLetterEntry>, InvalidInputError> =>
  Either.all(
    text.split("\n").flatMap((line, i) => {
      const trimmed = line.trim()
      if (trimmed === "" || !trimmed.includes("\"payload\"") || !trimmed.includes("\"shardId\"")) return []
      return [parseEntry(trimmed, `${name} line ${i + 1}`)]
    })
  )

/** One Lambda on-failure record (JSON text); `where` names it in the error. */
export const parseOnFailure = (text: string, where: string): Either.Either<OnFailureBatch, InvalidInputError> =>
  Either.flatMap(parseJson(text, where), (json) =>
    Schema.decodeUnknownEither(OnFailureJson)(json).pipe(
      Either.map((o) => o.KinesisBatchInfo),
      Either.mapLeft(() => new InvalidInputError({ message: `${where} is not a Lambda on-failure record (expected KinesisBatchInfo with shardId, startSequenceNumber, endSequenceNumber, streamArn)` }))
    ))

/** On-failure records: a JSON array, or one JSON object per line (as saved from SQS or S3). */
export const onFailuresOfText = (text: string, name: string): Either.Either<ReadonlyArray<OnFailureBatch>, InvalidInputError> => {
  const trimmed = text.trim()
  if (trimmed.startsWith("[")) {
    return Either.flatMap(parseJson(trimmed, name), (json) =>
      Array.isArray(json)
        ? Either.all(json.map((item, i) => parseOnFailure(JSON.stringify(item), `${name} item ${i + 1}`)))
        : Either.left(new InvalidInputError({ message: `${name} is not a list` })))
  }
  return Either.all(trimmed.split("\n").filter((l) => l.trim() !== "").map((l, i) => parseOnFailure(l, `${name} line ${i + 1}`)))
}

// ---------------------------------------------------------------------------
// Re-reading on-failure positions
// ---------------------------------------------------------------------------

/** The user records of an on-failure batch, read from the stream from its first position to its last. */
export const readBatch = (batch: OnFailureBatch): Effect.Effect<ReadonlyArray<SourceRecord>, Kinesis.KinesisError, Kinesis.Kinesis> =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const stream = streamNameOf(batch.streamArn)
    const end = { sequenceNumber: batch.endSequenceNumber, subSequenceNumber: Number.MAX_SAFE_INTEGER }
    const { ShardIterator } = yield* kinesis.getShardIterator({
      StreamName: stream,
      ShardId: batch.shardId,
      ShardIteratorType: "AT_SEQUENCE_NUMBER",
      StartingSequenceNumber: batch.startSequenceNumber
    })
    const out: Array<SourceRecord> = []
    let iterator = ShardIterator
    while (iterator !== undefined) {
      const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 1000 })
      for (const r of UserRecords.fromGetRecords(page.Records ?? [], batch.shardId)) {
        if (comparePosition(r, end) > 0) return out
        out.push(r)
      }
      // An empty page at the tip of the shard: the batch's last record is behind us.
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) return out
      iterator = page.NextShardIterator
    }
    return out
  })

// ---------------------------------------------------------------------------
// Processing
// ---------------------------------------------------------------------------

/** Records of one watermark scope, with the stream their dedup owners belong to. */
export interface Group {
  /** The stream the records came from (name or ARN), if known: their original dedup owners are scoped by it. */
  readonly source: string | undefined
  /** Names the scope: a dead letter's position, or an on-failure batch's first sequence number. */
  readonly tag: string
  /** In shard order. */
  readonly records: ReadonlyArray<SourceRecord>
}

/** Each dead letter its own group. */
export const groupsOfEntries = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>): ReadonlyArray<Group> =>
  entries.map((e) => ({
    source: e.source,
    tag: `${e.sequenceNumber}.${e.subSequenceNumber}`,
    records: [{
      data: e.payload,
      partitionKey: e.partitionKey,
      shardId: e.shardId,
      sequenceNumber: e.sequenceNumber,
      subSequenceNumber: e.subSequenceNumber,
      arrivalTime: e.arrivalTime
    }]
  }))

/** What a re-drive did with the records it was given. */
export interface Report {
  /** Records applied by this run. */
  readonly applied: number
  /** Records whose event was applied before: by another record, or by an earlier re-drive (one that stopped half-way too). */
  readonly duplicate: number
  /** Records that are poison still: their new dead-letter entries. */
  readonly poisoned: ReadonlyArray<DeadLetter.DeadLetterEntry>
  /** Records that could not be processed now (store or dedup table unavailable): run again. */
  readonly failed: number
}

/** What `run` re-drives with: the pipelines, the ledger of re-driven positions, this run's id. */
export interface Options {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /** Where the ledger of re-driven positions is kept: a deduper with a long retention. */
  readonly ledger: Deduper.Deduper["Type"]
  /** Names this run in the ledger. */
  readonly runId: string
  readonly retry?: Processor.Options["retry"]
}

const originalScope = (source: string | undefined, shardId: string): string =>
  source === undefined ? shardId : `${streamNameOf(source)}/${shardId}`

/** Records as the Processor sees them here: in the re-drive scope, one shard per group. */
const scoped = (group: Group): ReadonlyArray<SourceRecord> =>
  group.records.map((r) => ({ ...r, shardId: `${streamNameOf(group.source ?? "-")}/${r.shardId}@${group.tag}` }))

/** A deduper that claims each event id as the record's original owner. */
const asOriginalOwners = (deduper: Deduper.Deduper["Type"], owners: ReadonlyMap<string, string>): Deduper.Deduper["Type"] => {
  const original = (claims: ReadonlyArray<Deduper.Claim>) => claims.map((c) => ({ ...c, owner: owners.get(c.owner) ?? c.owner }))
  return { claim: (claims) => deduper.claim(original(claims)), release: (claims) => deduper.release(original(claims)) }
}

/** Re-drives the groups; never fails: what could not be done is counted as failed. */
export const run = (groups: ReadonlyArray<Group>, options: Options): Effect.Effect<Report, never, Store.Store | Deduper.Deduper> =>
  Effect.gen(function*() {
    const records: Array<SourceRecord> = []
    const originals: Array<string> = []
    const owners = new Map<string, string>()
    for (const group of groups) {
      const inScope = scoped(group)
      group.records.forEach((r, i) => {
        const original = positionId(originalScope(group.source, r.shardId), r)
        owners.set(positionId(`${SCOPE}/${inScope[i]!.shardId}`, r), original)
        originals.push(original)
        records.push(inScope[i]!)
      })
    }
    const deduper = yield* Deduper.Deduper
    const deadLetters = yield* DeadLetter.MemoryDeadLetters
    const processor = yield* Processor.make({ pipelines: options.pipelines, ...(options.retry !== undefined ? { retry: options.retry } : {}) }).pipe(
      Effect.provideService(Deduper.Deduper, asOriginalOwners(deduper, owners))
    )
    const { outcomes } = yield* processor.process(records, { source: SCOPE })
    const applied = outcomes.flatMap((o, i) => (o._tag === "Applied" ? [i] : []))
    const ledger = yield* Effect.either(options.ledger.claim(applied.map((i) => ({ eventId: `${LEDGER}${originals[i]}`, owner: options.runId }))))
    const firstTime = Either.getOrElse(ledger, () => applied.map(() => true))
    const counts = { applied: 0, duplicate: 0, failed: 0 }
    for (const o of outcomes) {
      if (o._tag === "Duplicate") counts.duplicate++
      else if (o._tag === "Failed" || o._tag === "Blocked") counts.failed++
    }
    applied.forEach((_, j) => {
      if (firstTime[j]) counts.applied++
      else counts.duplicate++
    })
    const poisoned = (yield* deadLetters.entries).map((e) => restore(e, groups))
    return { ...counts, poisoned }
  }).pipe(Effect.provide(DeadLetter.layerMemory))

/** A poisoned-again entry names its original stream and shard, so it can be re-driven once more. */
const restore = (entry: DeadLetter.DeadLetterEntry, groups: ReadonlyArray<Group>): DeadLetter.DeadLetterEntry => {
  const at = entry.shardId.lastIndexOf("@")
  const slash = entry.shardId.indexOf("/")
  const shardId = at < 0 || slash < 0 ? entry.shardId : entry.shardId.slice(slash + 1, at)
  const group = groups.find((g) => g.records.some((r) => r.shardId === shardId && r.sequenceNumber === entry.sequenceNumber))
  const { source: _, ...rest } = entry
  return { ...rest, shardId, ...(group?.source !== undefined ? { source: group.source } : {}) }
}
