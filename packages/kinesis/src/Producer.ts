/**
 * Writing records to one Kinesis stream with PutRecords: batched, paced per
 * shard, retried record by record, in order per partition key, and with an
 * outcome for every record.
 *
 * - `put` waits for room in a bounded buffer, then for the record's outcome:
 *   acknowledged with its shard and sequence number once Kinesis has written
 *   it, or failed with a typed error. `offer` only waits for room.
 * - Batches hold at most 500 records and 5 MiB; one is sent when full or when
 *   its first record has waited `linger` (retried records do not wait again).
 * - A record Kinesis rejects inside a successful PutRecords is retried alone,
 *   with the `retry` schedule; a retryable failure of the whole call retries
 *   its records the same way. Records that run out of retries, or fail with
 *   an error that retrying cannot fix, go to the failure sink.
 * - Order per partition key survives retries: a key has at most one Kinesis
 *   record in flight or awaiting a retry, and its later records wait behind
 *   it (see `internal/batcher`). A hot key therefore moves one record per
 *   round trip; `aggregate: true` packs its consecutive records into one
 *   KPL aggregate instead, which Kinesis accepts or rejects as a whole.
 *   (`SequenceNumberForOrdering` would not help: it exists only on the
 *   single-record PutRecord call.)
 * - Sending is paced per shard (1,000 records/s and 1 MiB/s by default, from
 *   the shard map that ListShards gives) and by an optional overall limit such
 *   as `100/m`, so the producer does not throttle itself.
 * - Closing the scope sends what is held, waiting at most `closeTimeout`;
 *   what is still unwritten then goes to the failure sink.
 *
 * Delivery is at least once: a call that failed after Kinesis wrote it (a
 * timeout, say) is retried and writes its records again, so consumers
 * deduplicate by event id.
 */
import * as Backoff from "@eddy/core/Backoff"
import type { PutRecordsOutput, PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import {
  Clock,
  Config,
  type ConfigError,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  Metric,
  Option,
  Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  type Scope
} from "effect"
import { isRetryable, Kinesis, type KinesisError } from "./Kinesis"
import { effectiveHashKey, MAX_RECORD_BYTES, type UserRecord } from "./Kpl"
import * as RateLimit from "./RateLimit"
import * as Shards from "./Shards"
import { Admission } from "./internal/admission"
import { type Batch, Batcher, type Entry, FULL, type Outgoing } from "./internal/batcher"
import { type Outcome, Ticket } from "./internal/ticket"

/** What the caller writes. Without a partition key, the `partitionKey` option derives one. */
export interface ProducerRecord {
  readonly data: Uint8Array
  readonly partitionKey?: string
  /** A decimal 128-bit hash key that places the record on a shard instead of its partition key's MD5. */
  readonly explicitHashKey?: string
}

/** Kinesis wrote the record. */
export interface Acknowledged {
  readonly shardId: string
  readonly sequenceNumber: string
  /** The record's position inside the KPL aggregate that carried it, if one did. */
  readonly subSequenceNumber?: number
  /** PutRecords calls it took. */
  readonly attempts: number
}

/** Kinesis's limit on one PutRecords request, partition keys included (5 MiB). */
export const MAX_REQUEST_BYTES = 5 * 1024 * 1024
/** Kinesis's limit on a partition key, in UTF-16 code units (as Kinesis counts its "characters"). */
export const MAX_PARTITION_KEY_LENGTH = 256

/** Why Kinesis would refuse `partitionKey` (it needs 1 to 256 UTF-16 code units), or `undefined` when it accepts it. */
export const partitionKeyProblem = (partitionKey: string): "Empty" | "TooLong" | undefined =>
  partitionKey.length === 0 ? "Empty" : partitionKey.length > MAX_PARTITION_KEY_LENGTH ? "TooLong" : undefined

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Refused at `put`: data plus partition key exceed what Kinesis accepts in one record. */
export class RecordTooLargeError extends Data.TaggedError("RecordTooLargeError")<{
  /** The record's position in the `putAll`/`offerAll` call. */
  readonly index: number
  readonly size: number
  readonly limit: number
}> {
  override get message(): string {
    return `record ${this.index} is ${this.size} bytes (data plus partition key), over Kinesis's ${this.limit}: split it or store the payload elsewhere and send a reference`
  }
}

/** Refused at `put`: the partition key is missing, empty or longer than 256 characters (UTF-16 code units). */
export class InvalidPartitionKeyError extends Data.TaggedError("InvalidPartitionKeyError")<{
  readonly index: number
  readonly partitionKey: string | undefined
  readonly reason: "Missing" | "Empty" | "TooLong"
}> {
  override get message(): string {
    return this.reason === "Missing"
      ? `record ${this.index} has no partition key: set one, or give the producer a \`partitionKey\` function`
      : `record ${this.index} has ${this.reason === "Empty" ? "an empty partition key" : "a partition key over 256 characters"}: Kinesis needs 1 to 256 (UTF-16 code units)`
  }
}

/** Refused at `put`: the explicit hash key is not a decimal integer in [0, 2^128). */
export class InvalidExplicitHashKeyError extends Data.TaggedError("InvalidExplicitHashKeyError")<{
  readonly index: number
  readonly explicitHashKey: string
}> {
  override get message(): string {
    return `record ${this.index} has explicit hash key ${JSON.stringify(this.explicitHashKey)}: it must be a decimal integer from 0 to 2^128 - 1`
  }
}

export type InvalidRecordError = RecordTooLargeError | InvalidPartitionKeyError | InvalidExplicitHashKeyError

/**
 * Kinesis rejected the record inside a successful PutRecords (per-record
 * `ErrorCode`), on its last attempt: the retry budget ran out, or the code is
 * one retrying cannot fix (e.g. a KMS access error).
 */
export class RecordRejectedError extends Data.TaggedError("RecordRejectedError")<{
  readonly errorCode: string
  readonly errorMessage: string
  readonly attempts: number
}> {
  override get message(): string {
    return `Kinesis rejected the record ${this.attempts} time(s), last with ${this.errorCode}: ${this.errorMessage}`
  }
}

/** The PutRecords call carrying the record failed: with an error retrying cannot fix, or retryably until the budget ran out. */
export class PutRecordsFailedError extends Data.TaggedError("PutRecordsFailedError")<{
  readonly cause: KinesisError
  readonly attempts: number
}> {
  override get message(): string {
    return `PutRecords failed after ${this.attempts} attempt(s): ${this.cause.message}`
  }
}

/**
 * The producer closed before the record was known to be written: put after
 * close, or still unwritten at the close deadline. With `attempts` > 0 a
 * call carrying it may have reached Kinesis, so it may have been written.
 */
export class ProducerClosedError extends Data.TaggedError("ProducerClosedError")<{
  readonly attempts: number
}> {
  override get message(): string {
    return this.attempts === 0
      ? "the producer closed before the record was sent"
      : `the producer closed before Kinesis confirmed the record (${this.attempts} attempt(s)); it may or may not have been written`
  }
}

/** Why a record was not written. */
export type PutFailure = RecordRejectedError | PutRecordsFailedError | ProducerClosedError

/** What the retry schedule is stepped with: the whole call's error, or the record's rejection. */
export type RetryCause = KinesisError | RecordRejectedError

/** A record the producer gave up on, as the failure sink receives it. */
export interface FailedRecord extends UserRecord {
  readonly error: PutFailure
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * Exponential backoff from `base`, each delay capped at `cap` and then drawn
 * uniformly from zero to it ("full jitter"), for at most `retries` retries.
 */
export const retrySchedule = (
  options: { readonly base?: Duration.DurationInput; readonly cap?: Duration.DurationInput; readonly retries?: number } = {}
): Schedule.Schedule<unknown, RetryCause> =>
  Backoff.exponential({ base: options.base ?? "100 millis", cap: options.cap ?? "5 seconds", times: options.retries ?? 10, jitter: "full" })

export interface Options {
  readonly streamName: string
  /** Derives the partition key of a record put without one. */
  readonly partitionKey?: (record: ProducerRecord) => string
  /** How long a batch may wait to fill, from its first record, before it is sent anyway. Default 100 ms. */
  readonly linger?: Duration.DurationInput
  /** Records held (queued, in flight or awaiting a retry) before `put` waits. Default 10,000. */
  readonly bufferRecords?: number
  /** Bytes held before `put` waits; at least one maximum-size record. Default 32 MiB. */
  readonly bufferBytes?: number
  /** Concurrent PutRecords calls. Default 8. */
  readonly maxInFlight?: number
  /** When to retry rejected records and failed calls, and how often. Default `retrySchedule()`: 100 ms to 5 s, 10 retries. */
  readonly retry?: Schedule.Schedule<unknown, RetryCause>
  /**
   * Receives every record the producer gave up on, with its error, before
   * the records leave the buffer (a slow sink slows `put`). Called
   * concurrently from in-flight batches. Default: log each at error level.
   */
  readonly failureSink?: (failures: ReadonlyArray<FailedRecord>) => Effect.Effect<void>
  /** Overall limit on user records sent, e.g. `RateLimit.parse("100/m")`. Default none. */
  readonly rateLimit?: RateLimit.RateLimit
  /** Per-shard pacing. Default Kinesis's write limits: 1,000 records/s and 1 MiB/s. */
  readonly shardLimit?: { readonly recordsPerSecond?: number; readonly bytesPerSecond?: number }
  /** Pack small records into KPL aggregates, never mixing shards. Default false. */
  readonly aggregate?: boolean
  /** How long closing the scope waits for held records to be written. Default 30 s. */
  readonly closeTimeout?: Duration.DurationInput
}

export interface ProducerApi {
  readonly streamName: string
  /** Waits for room, then for the record's outcome. */
  readonly put: (record: ProducerRecord) => Effect.Effect<Acknowledged, InvalidRecordError | PutFailure>
  /**
   * Waits for room for each record in turn, then for all outcomes, in input
   * order. An invalid record refuses the whole call before any is queued.
   */
  readonly putAll: (
    records: ReadonlyArray<ProducerRecord>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Acknowledged, PutFailure>>, InvalidRecordError>
  /** Waits for room only; a record that later fails reaches the failure sink. */
  readonly offer: (record: ProducerRecord) => Effect.Effect<void, InvalidRecordError | ProducerClosedError>
  readonly offerAll: (records: ReadonlyArray<ProducerRecord>) => Effect.Effect<void, InvalidRecordError | ProducerClosedError>
  /** Sends at once whatever waits to fill a batch and waits until the producer holds no record. */
  readonly flush: Effect.Effect<void>
  /** Records held now: queued, in flight or awaiting a retry. Never above `bufferRecords`, but for a single record put into an empty producer. */
  readonly depth: Effect.Effect<number>
}

export class Producer extends Context.Tag("@eddy/kinesis/Producer")<Producer, ProducerApi>() {}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/** The producer's metrics, tagged with `stream`. */
export const metrics = {
  recordsSent: Metric.counter("kinesis_producer_records_sent", {
    description: "user records Kinesis acknowledged",
    incremental: true
  }),
  recordsFailed: Metric.counter("kinesis_producer_records_failed", {
    description: "user records given to the failure sink",
    incremental: true
  }),
  recordsRetried: Metric.counter("kinesis_producer_records_retried", {
    description: "user records queued again after a rejection or a failed call",
    incremental: true
  }),
  recordsThrottled: Metric.counter("kinesis_producer_records_throttled", {
    description: "user records Kinesis refused for throughput, alone or with their whole call",
    incremental: true
  }),
  putRecordsCalls: Metric.counter("kinesis_producer_put_records_calls", { description: "PutRecords calls made", incremental: true }),
  putRecordsLatency: Metric.timer("kinesis_producer_put_records_latency", "PutRecords call duration"),
  queueDepth: Metric.gauge("kinesis_producer_queue_depth", { description: "user records held by the producer" })
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

const DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024
const retryableCodes = new Set([
  "ProvisionedThroughputExceededException",
  "InternalFailure",
  "ServiceUnavailable",
  "ThrottlingException",
  "KMSThrottlingException"
])

const logFailures = (streamName: string) => (failures: ReadonlyArray<FailedRecord>) =>
  Effect.logError(
    `${failures.length} record(s) could not be written to Kinesis stream ${streamName}`,
    ...failures.map((f) => `partition key ${f.partitionKey}: ${f.error.message}`)
  )

const toRequestEntry = (out: Outgoing): PutRecordsRequestEntry =>
  out.explicitHashKey === undefined
    ? { Data: out.data, PartitionKey: out.partitionKey }
    : { Data: out.data, PartitionKey: out.partitionKey, ExplicitHashKey: out.explicitHashKey }

const toFailedRecord = (e: Entry, error: PutFailure): FailedRecord =>
  e.explicitHashKey === undefined
    ? { partitionKey: e.partitionKey, data: e.data, error }
    : { partitionKey: e.partitionKey, explicitHashKey: e.explicitHashKey, data: e.data, error }

export const make = (options: Options): Effect.Effect<ProducerApi, KinesisError, Kinesis | Scope.Scope> =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const { streamName } = options
    const linger = Duration.toMillis(options.linger ?? "100 millis")
    const maxInFlight = options.maxInFlight ?? 8
    const schedule = options.retry ?? retrySchedule()
    const log = logFailures(streamName)
    // A failing sink must not wedge the producer or lose the records: they are logged instead.
    const sink = (failures: ReadonlyArray<FailedRecord>) =>
      options.failureSink === undefined ? log(failures) : options.failureSink(failures).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(Effect.logError("the Kinesis producer's failure sink failed; logging its records instead", cause), log(failures))
        )
      )
    const closeTimeout = options.closeTimeout ?? "30 seconds"
    const tag = <M extends Metric.Metric<any, any, any>>(metric: M): M => Metric.tagged(metric, "stream", streamName) as M
    const m = {
      sent: tag(metrics.recordsSent),
      failed: tag(metrics.recordsFailed),
      retried: tag(metrics.recordsRetried),
      throttled: tag(metrics.recordsThrottled),
      calls: tag(metrics.putRecordsCalls),
      latency: tag(metrics.putRecordsLatency),
      depth: tag(metrics.queueDepth)
    }

    const batcher = new Batcher(
      yield* Shards.list(streamName),
      {
        aggregate: options.aggregate ?? false,
        shardRecordsPerSecond: options.shardLimit?.recordsPerSecond ?? 1_000,
        shardBytesPerSecond: options.shardLimit?.bytesPerSecond ?? 1024 * 1024,
        rateLimit: options.rateLimit && {
          records: options.rateLimit.records,
          periodMillis: RateLimit.periodMillis(options.rateLimit)
        },
        maxRequestBytes: MAX_REQUEST_BYTES
      },
      yield* Clock.currentTimeMillis
    )
    const admission = new Admission(
      options.bufferRecords ?? 10_000,
      Math.max(options.bufferBytes ?? DEFAULT_BUFFER_BYTES, MAX_RECORD_BYTES)
    )
    /** Opened whenever the dispatcher has something new to look at. */
    const wake = Effect.unsafeMakeLatch(false)
    /** Open while the producer holds no record. */
    const drained = Effect.unsafeMakeLatch(true)
    let flushing = 0
    let inFlight = 0
    let stale = false
    const fibers = yield* FiberSet.make()

    // -- Admission -----------------------------------------------------------

    const toEntry = (record: ProducerRecord, index: number, ticket: Ticket | undefined): Entry | InvalidRecordError => {
      const partitionKey = record.partitionKey ?? options.partitionKey?.(record)
      if (partitionKey === undefined) return new InvalidPartitionKeyError({ index, partitionKey, reason: "Missing" })
      const problem = partitionKeyProblem(partitionKey)
      if (problem !== undefined) return new InvalidPartitionKeyError({ index, partitionKey, reason: problem })
      const size = record.data.byteLength + Buffer.byteLength(partitionKey, "utf8")
      if (size > MAX_RECORD_BYTES) return new RecordTooLargeError({ index, size, limit: MAX_RECORD_BYTES })
      const initial = schedule.initial
      if (record.explicitHashKey === undefined) {
        return {
          partitionKey,
          data: record.data,
          size,
          explicitHash: undefined,
          ticket,
          index,
          attempts: 0,
          retryState: initial,
          due: 0
        }
      }
      const explicitHashKey = record.explicitHashKey
      const hash = effectiveHashKey({ partitionKey, explicitHashKey, data: record.data })
      return Option.isSome(hash)
        ? {
          partitionKey,
          explicitHashKey,
          data: record.data,
          size,
          explicitHash: hash.value,
          ticket,
          index,
          attempts: 0,
          retryState: initial,
          due: 0
        }
        : new InvalidExplicitHashKeyError({ index, explicitHashKey })
    }

    const prepare = (records: ReadonlyArray<ProducerRecord>, ticket: Ticket | undefined) =>
      Effect.suspend(() => {
        const entries = new Array<Entry>(records.length)
        for (let i = 0; i < records.length; i++) {
          const entry = toEntry(records[i]!, i, ticket)
          if ("_tag" in entry) return Effect.fail(entry)
          entries[i] = entry
        }
        return Effect.succeed(entries)
      })

    /** Admits entries as room frees up; succeeds with how many got in before the producer closed. */
    const enqueue = (entries: ReadonlyArray<Entry>) =>
      admission.offer(entries.length, (i) => entries[i]!.size, (i) => {
        batcher.add(entries[i]!)
        drained.unsafeClose()
        wake.unsafeOpen()
      })

    const putAll = (records: ReadonlyArray<ProducerRecord>) =>
      Effect.gen(function*() {
        if (records.length === 0) return []
        const deferred = yield* Deferred.make<ReadonlyArray<Outcome>>()
        const ticket = new Ticket(records.length, deferred)
        const entries = yield* prepare(records, ticket)
        const admitted = yield* enqueue(entries)
        for (let i = admitted; i < entries.length; i++) ticket.settle(i, Either.left(new ProducerClosedError({ attempts: 0 })))
        return yield* Deferred.await(deferred)
      })

    const offerAll = (records: ReadonlyArray<ProducerRecord>) =>
      Effect.flatMap(prepare(records, undefined), (entries) =>
        Effect.flatMap(enqueue(entries), (admitted) =>
          admitted < entries.length ? Effect.fail(new ProducerClosedError({ attempts: 0 })) : Effect.void))

    // -- Settling a sent batch ---------------------------------------------

    /**
     * Steps the retry schedule once per group of records that share a
     * schedule state and a cause (typically a whole batch's rejects share
     * one), so the retry path allocates no Effect per record either.
     */
    const planRetries = (
      entries: ReadonlyArray<Entry>,
      causes: ReadonlyArray<RetryCause>,
      now: number,
      again: Set<Entry>,
      failed: Array<[Entry, PutFailure]>
    ) => {
      const groups = new Map<unknown, Map<string, Array<number>>>()
      entries.forEach((e, i) => {
        const cause = causes[i]!
        const key = cause._tag === "RecordRejectedError" ? cause.errorCode : cause._tag
        let byCause = groups.get(e.retryState)
        if (byCause === undefined) groups.set(e.retryState, byCause = new Map())
        const group = byCause.get(key)
        if (group === undefined) byCause.set(key, [i])
        else group.push(i)
      })
      return Effect.forEach(
        [...groups].flatMap(([state, byCause]) => [...byCause.values()].map((group) => [state, group] as const)),
        ([state, group]) =>
          Effect.map(schedule.step(now, causes[group[0]!]!, state), ([next, , decision]) => {
            for (const i of group) {
              const e = entries[i]!
              if (ScheduleDecision.isDone(decision)) {
                const cause = causes[i]!
                failed.push([
                  e,
                  cause._tag === "RecordRejectedError" ? cause : new PutRecordsFailedError({ cause, attempts: e.attempts })
                ])
              } else {
                e.retryState = next
                e.due = ScheduleIntervals.start(decision.intervals)
                again.add(e)
              }
            }
          }),
        { discard: true }
      )
    }

    const settle = (batch: Batch, result: Either.Either<PutRecordsOutput, KinesisError>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        let sent = 0
        let throttled = 0
        const retrying: Array<Entry> = []
        const causes: Array<RetryCause> = []
        const failed: Array<[Entry, PutFailure]> = []
        if (Either.isLeft(result)) {
          const error = result.left
          if (error._tag === "KinesisThrottledError") throttled = batch.userRecords
          for (const out of batch.records) {
            for (const e of out.entries) {
              if (isRetryable(error)) {
                retrying.push(e)
                causes.push(error)
              } else {
                failed.push([e, new PutRecordsFailedError({ cause: error, attempts: e.attempts })])
              }
            }
          }
        } else {
          const results = result.right.Records ?? []
          for (let i = 0; i < batch.records.length; i++) {
            const out = batch.records[i]!
            const r = results[i]
            if (r?.SequenceNumber !== undefined && r.ErrorCode === undefined) {
              sent += out.entries.length
              // Kinesis put it elsewhere than the shard map said: the stream was resharded.
              if (r.ShardId !== out.shardId) stale = true
              acknowledge(out, r.ShardId!, r.SequenceNumber)
              continue
            }
            const errorCode = r?.ErrorCode ?? "MissingResult"
            const errorMessage = r?.ErrorMessage ?? "PutRecords returned no result for this record"
            if (errorCode === "ProvisionedThroughputExceededException") {
              throttled += out.entries.length
              batcher.throttled(out.shardId, now)
            }
            for (const e of out.entries) {
              const error = new RecordRejectedError({ errorCode, errorMessage, attempts: e.attempts })
              if (retryableCodes.has(errorCode)) {
                retrying.push(e)
                causes.push(error)
              } else {
                failed.push([e, error])
              }
            }
          }
        }
        const again = new Set<Entry>()
        if (retrying.length > 0) yield* planRetries(retrying, causes, now, again, failed)
        if (failed.length > 0) yield* sink(failed.map(([e, error]) => toFailedRecord(e, error)))

        let doneBytes = 0
        for (const out of batch.records) {
          batcher.finish(out, again.size > 0 ? again : undefined)
          for (const e of out.entries) if (again.size === 0 || !again.has(e)) doneBytes += e.size
        }
        for (const [e, error] of failed) e.ticket?.settle(e.index, Either.left(error))
        admission.release(batch.userRecords - again.size, doneBytes)
        if (admission.records === 0) drained.unsafeOpen()
        yield* Metric.incrementBy(m.sent, sent)
        yield* Metric.incrementBy(m.failed, failed.length)
        yield* Metric.incrementBy(m.retried, again.size)
        yield* Metric.incrementBy(m.throttled, throttled)
      })

    const acknowledge = (out: Outgoing, shardId: string, sequenceNumber: string) => {
      const entries = out.entries
      for (let j = 0; j < entries.length; j++) {
        const e = entries[j]!
        e.ticket?.settle(
          e.index,
          Either.right(
            out.aggregated
              ? { shardId, sequenceNumber, subSequenceNumber: j, attempts: e.attempts }
              : { shardId, sequenceNumber, attempts: e.attempts }
          )
        )
      }
    }

    const send = (batch: Batch) =>
      Effect.uninterruptibleMask((restore) =>
        Metric.increment(m.calls).pipe(
          Effect.zipRight(
            restore(
              kinesis.putRecords({ StreamName: streamName, Records: batch.records.map(toRequestEntry) }).pipe(
                Metric.trackDuration(m.latency)
              )
            )
          ),
          Effect.either,
          // Once Kinesis answered, the answer is recorded even if the producer is closing.
          Effect.flatMap((result) => settle(batch, result)),
          Effect.ensuring(Effect.sync(() => {
            inFlight--
            wake.unsafeOpen()
          }))
        )
      )

    // -- Dispatching ----------------------------------------------------------

    const refreshShards = Effect.suspend(() => {
      stale = false
      return Shards.list(streamName).pipe(
        Effect.flatMap((shards) => Effect.map(Clock.currentTimeMillis, (now) => batcher.refresh(shards, now))),
        Effect.catchAll((error) =>
          Effect.logWarning(`Kinesis stream ${streamName} was resharded, but listing its shards failed; pacing and aggregation use the old shard map until the next mismatch`, error)
        )
      )
    })

    /** The one fiber that assembles batches: fills, sends when full, lingered or flushing, else sleeps until something changes. */
    const dispatch = Effect.gen(function*() {
      while (true) {
        wake.unsafeClose()
        const now = yield* Clock.currentTimeMillis
        if (stale && batcher.isEmpty) yield* refreshShards
        const wakeAt = batcher.fill(now)
        const canSend = !batcher.isEmpty && inFlight < maxInFlight
        if (canSend && (wakeAt === FULL || flushing > 0 || now - batcher.openedAt >= linger)) {
          inFlight++
          yield* FiberSet.run(fibers, send(batcher.take()))
          continue
        }
        yield* Metric.set(m.depth, admission.records)
        const until = Math.min(wakeAt === FULL ? Infinity : wakeAt, canSend ? batcher.openedAt + linger : Infinity)
        if (until === Infinity) yield* wake.await
        else yield* Effect.timeoutOption(wake.await, Duration.millis(Math.max(0, until - now)))
      }
    })

    yield* FiberSet.run(fibers, Effect.tapDefect(dispatch, (defect) => Effect.logError("the Kinesis producer's dispatcher died", defect)))

    // -- Closing --------------------------------------------------------------

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        admission.close()
        flushing++
        wake.unsafeOpen()
        // Finalizers run uninterruptibly; the timeout must be able to interrupt the wait.
        yield* Effect.interruptible(Effect.timeoutOption(drained.await, closeTimeout))
        // Stops the dispatcher and cancels calls still waiting for Kinesis; answered calls finish settling first.
        yield* FiberSet.clear(fibers)
        const left = batcher.drain()
        if (left.length === 0) return
        const failures = left.map((e) => [e, new ProducerClosedError({ attempts: e.attempts })] as const)
        yield* sink(failures.map(([e, error]) => toFailedRecord(e, error)))
        for (const [e, error] of failures) e.ticket?.settle(e.index, Either.left(error))
        admission.release(left.length, left.reduce((n, e) => n + e.size, 0))
        yield* Metric.incrementBy(m.failed, left.length)
      })
    )

    return {
      streamName,
      put: (record) => Effect.flatMap(putAll([record]), (outcomes) => outcomes[0]!),
      putAll,
      offer: (record) => offerAll([record]),
      offerAll,
      flush: Effect.acquireUseRelease(
        Effect.sync(() => {
          flushing++
          wake.unsafeOpen()
        }),
        () => drained.await,
        () => Effect.sync(() => flushing--)
      ),
      depth: Effect.sync(() => admission.records)
    } satisfies ProducerApi
  })

export const layer = (options: Options): Layer.Layer<Producer, KinesisError, Kinesis> => Layer.scoped(Producer, make(options))

/**
 * Like `layer`, with the stream name from `Config` (e.g.
 * `Config.string("KINESIS_ORDERS_STREAM")`) and the overall rate limit from
 * `KINESIS_INSERT_RATE_LIMIT` when it is set.
 */
export const layerConfig = (
  options: Omit<Options, "streamName" | "rateLimit"> & { readonly streamName: Config.Config<string> }
): Layer.Layer<Producer, KinesisError | ConfigError.ConfigError, Kinesis> =>
  Layer.scoped(
    Producer,
    Effect.gen(function*() {
      const streamName = yield* options.streamName
      const rateLimit = yield* Config.option(RateLimit.config())
      return yield* make({ ...options, streamName, ...(Option.isSome(rateLimit) ? { rateLimit: rateLimit.value } : {}) })
    })
  )
