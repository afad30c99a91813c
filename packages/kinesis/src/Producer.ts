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
 *   round trip; `aggregation` packs its consecutive records into one
 *   aggregate instead (KPL, NDJSON or netstring-framed MessagePack: see
 *   `Aggregation`), which Kinesis accepts or rejects as a whole.
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
 *
 * With `writeAheadLog`, records survive a crash of the process: `put` and
 * `offer` append them to a local log first (see `WriteAheadLog`), `offer`
 * returns once they are there (and on disk, per its `fsync`), and the next
 * producer to open the log sends whatever Kinesis had not acknowledged,
 * including what was still held when the scope closed.
 *
 * The errors are in `ProducerError`; the steps in `internal/`: `validation`
 * (what `put` refuses), `dispatcher` (the send loop and closing),
 * `settlement` (acknowledging and requeueing a sent batch) and `batcher`
 * (keys, shard lanes and pacing).
 */
import * as Backoff from "@eddy/core/Backoff"
import {
  Clock,
  Config,
  type ConfigError,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  Metric,
  MetricLabel,
  type Schedule,
  type Scope
} from "effect"
import type * as Aggregation from "./Aggregation"
import { Kinesis, type KinesisError } from "./Kinesis"
import { PUT_RECORDS_MAX_BYTES, RECORD_MAX_BYTES, SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND } from "./Limits"
import {
  type FailedRecord,
  type InvalidRecordError,
  partitionKeyProblem as partitionKeyProblemOf,
  ProducerClosedError,
  type PutFailure,
  type RetryCause
} from "./ProducerError"
import * as ProducerMetrics from "./ProducerMetrics"
import * as RateLimit from "./RateLimit"
import * as Shards from "./Shards"
import { Admission } from "./internal/admission"
import { Batcher, type Entry } from "./internal/batcher"
import * as Dispatcher from "./internal/dispatcher"
import { type Meters, State } from "./internal/state"
import { type Acknowledged, type Outcome, Ticket } from "./internal/ticket"
import * as Validation from "./internal/validation"
import * as Log from "./internal/writeAheadLog"
import type * as WriteAheadLog from "./WriteAheadLog"

export type { Acknowledged } from "./internal/ticket"

/** What the caller writes. Without a partition key, the `partitionKey` option derives one. */
export interface ProducerRecord {
  readonly data: Uint8Array
  readonly partitionKey?: string
  /** A decimal 128-bit hash key that places the record on a shard instead of its partition key's MD5. */
  readonly explicitHashKey?: string
}

/** `ProducerError.partitionKeyProblem`: why Kinesis would refuse `partitionKey`, or `undefined` when it accepts it. */
export const partitionKeyProblem: (partitionKey: string) => "Empty" | "TooLong" | "LoneSurrogate" | undefined =
  partitionKeyProblemOf

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

/** The producer's stream, batching, rate limit and retries. */
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
  /**
   * How to pack small records into Kinesis records (see `Aggregation`):
   * `kpl` mixes the keys of one shard in an aggregate, `ndjson` and `msgpack`
   * (netstrings) pack consecutive records of one key; records must then be
   * JSON without line feeds, or MessagePack values (`Msgpack.encode`). Each
   * user record's acknowledgement carries its sub-sequence number. Default `none`.
   */
  readonly aggregation?: Aggregation.Format
  /** `true` is `aggregation: "kpl"`. */
  readonly aggregate?: boolean
  /** How long closing the scope waits for held records to be written. Default 30 s. */
  readonly closeTimeout?: Duration.DurationInput
  /** Appends every record to this local write-ahead log before taking it, so a crash loses none. Default none. */
  readonly writeAheadLog?: WriteAheadLog.Options
}

/**
 * A producer's calls; `E` is what its write-ahead log may refuse with
 * (`WriteAheadLogError`), `never` without one.
 */
export interface ProducerApi<E = never> {
  readonly streamName: string
  /** Waits for room (in the write-ahead log too, if there is one), then for the record's outcome. */
  readonly put: (record: ProducerRecord) => Effect.Effect<Acknowledged, InvalidRecordError | PutFailure | E>
  /**
   * Waits for room for each record in turn, then for all outcomes, in input
   * order. An invalid record refuses the whole call before any is queued.
   */
  readonly putAll: (
    records: ReadonlyArray<ProducerRecord>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Acknowledged, PutFailure>>, InvalidRecordError | E>
  /**
   * Waits for room only; a record that later fails reaches the failure sink.
   * With a write-ahead log, it returns once the record is in the log (and on
   * disk, per its `fsync`): from then on a crash does not lose it.
   */
  readonly offer: (record: ProducerRecord) => Effect.Effect<void, InvalidRecordError | ProducerClosedError | E>
  readonly offerAll: (
    records: ReadonlyArray<ProducerRecord>
  ) => Effect.Effect<void, InvalidRecordError | ProducerClosedError | E>
  /** Sends at once whatever waits to fill a batch and waits until the producer holds no record. */
  readonly flush: Effect.Effect<void>
  /** Records held now: queued, in flight or awaiting a retry. Never above `bufferRecords`, but for a single record put into an empty producer. */
  readonly depth: Effect.Effect<number>
}

/** The producer a layer builds; its calls' errors include the write-ahead log's, which only a producer with one raises. */
export class Producer extends Context.Tag("@eddy/kinesis/Producer")<Producer, ProducerApi<WriteAheadLog.WriteAheadLogError>>() {}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/** The producer's metrics, tagged with `stream` (see `ProducerMetrics`). */
export const metrics = ProducerMetrics

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

const DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024

const logFailures = (streamName: string) => (failures: ReadonlyArray<FailedRecord>) =>
  Effect.logError(
    `${failures.length} record(s) could not be written to Kinesis stream ${streamName}`,
    ...failures.map((f) => `partition key ${f.partitionKey}: ${f.error.message}`)
  )

/** The user's failure sink, or logging; a failing sink must not wedge the producer or lose the records: they are logged instead. */
const failureSinkOf = (options: Options) => {
  const log = logFailures(options.streamName)
  const sink = options.failureSink
  const deliver = sink === undefined ? log : (failures: ReadonlyArray<FailedRecord>) =>
    sink(failures).pipe(
      Effect.catchAllCause((cause) =>
        Effect.zipRight(Effect.logError("the Kinesis producer's failure sink failed; logging its records instead", cause), log(failures))
      )
    )
  // Every record given up on passes here once: counted by error code.
  const byCode = ProducerMetrics.failures.pipe(Metric.tagged("stream", options.streamName))
  return (failures: ReadonlyArray<FailedRecord>) =>
    Effect.zipRight(
      Effect.sync(() => {
        for (const f of failures) byCode.unsafeUpdate(1, [MetricLabel.make("error_code", ProducerMetrics.errorCodeOf(f.error))])
      }),
      deliver(failures)
    )
}

const metersOf = (streamName: string): Meters => {
  const tag = <M extends Metric.Metric<any, any, any>>(metric: M): M => Metric.tagged(metric, "stream", streamName) as M
  return {
    sent: tag(metrics.recordsSent),
    failed: tag(metrics.recordsFailed),
    retried: tag(metrics.recordsRetried),
    throttled: tag(metrics.recordsThrottled),
    calls: tag(metrics.putRecordsCalls),
    latency: tag(metrics.putRecordsLatency),
    depth: tag(metrics.queueDepth)
  }
}

const aggregationOf = (options: Options): Aggregation.Format => options.aggregation ?? (options.aggregate === true ? "kpl" : "none")

const makeBatcher = (options: Options) =>
  Effect.gen(function*() {
    const shards = yield* Shards.list(options.streamName)
    return new Batcher(
      shards,
      {
        aggregation: aggregationOf(options),
        shardRecordsPerSecond: options.shardLimit?.recordsPerSecond ?? SHARD_WRITE_RECORDS_PER_SECOND,
        shardBytesPerSecond: options.shardLimit?.bytesPerSecond ?? SHARD_WRITE_BYTES_PER_SECOND,
        rateLimit: options.rateLimit && {
          records: options.rateLimit.records,
          periodMillis: RateLimit.periodMillis(options.rateLimit)
        },
        maxRequestBytes: PUT_RECORDS_MAX_BYTES
      },
      yield* Clock.currentTimeMillis
    )
  })

/** Why a producer could not start: listing the stream's shards failed, or its write-ahead log could not be opened. */
export type MakeError = KinesisError | WriteAheadLog.WriteAheadLogLockedError | WriteAheadLog.WriteAheadLogIoError

/**
 * Queues what the write-ahead log kept from the last run, oldest first and
 * before any new record, so order per key holds across the restart; past
 * the buffer bound, as the records are in memory already.
 */
const resend = (state: State, admit: Validation.Admit<ProducerRecord>, recovered: ReadonlyArray<Log.Recovered>) => {
  let bytes = 0
  const invalid: Array<number> = []
  const entries: Array<Entry> = []
  for (const r of recovered) {
    const entry = Validation.toEntry(admit, r, entries.length, undefined)
    // Checked when first put; only a change of Kinesis's limits could refuse it now, and retrying would not help.
    if ("_tag" in entry) {
      invalid.push(r.seq)
      continue
    }
    entry.logSeq = r.seq
    entries.push(entry)
    bytes += entry.size
  }
  state.log?.acknowledge(invalid)
  if (entries.length === 0) return
  state.admission.force(entries.length, bytes)
  for (const e of entries) state.batcher.add(e)
  state.drained.unsafeClose()
  state.wake.unsafeOpen()
}

/** A producer of `options.streamName`, for the scope; closing the scope sends what it holds (see the module's notes). */
export function make(options: Options & { readonly writeAheadLog?: undefined }): Effect.Effect<ProducerApi, KinesisError, Kinesis | Scope.Scope>
export function make(
  options: Options
): Effect.Effect<ProducerApi<WriteAheadLog.WriteAheadLogError>, MakeError, Kinesis | Scope.Scope>
export function make(options: Options): Effect.Effect<ProducerApi<WriteAheadLog.WriteAheadLogError>, MakeError, Kinesis | Scope.Scope> {
  return Effect.gen(function*() {
    const { streamName } = options
    const schedule = options.retry ?? retrySchedule()
    // Opened first, so it closes last: after the producer has settled what it could.
    const opened = options.writeAheadLog === undefined ? undefined : yield* Log.open(options.writeAheadLog)
    const log = opened?.log
    const state = new State(
      {
        streamName,
        kinesis: yield* Kinesis,
        linger: Duration.toMillis(options.linger ?? "100 millis"),
        maxInFlight: options.maxInFlight ?? 8,
        schedule,
        sink: failureSinkOf(options),
        meters: metersOf(streamName)
      },
      yield* makeBatcher(options),
      new Admission(options.bufferRecords ?? 10_000, Math.max(options.bufferBytes ?? DEFAULT_BUFFER_BYTES, RECORD_MAX_BYTES)),
      yield* FiberSet.make(),
      log
    )
    const admit: Validation.Admit<ProducerRecord> = { partitionKey: options.partitionKey, retryState: schedule.initial, aggregation: aggregationOf(options) }

    /** Admits entries as room frees up; succeeds with how many got in before the producer closed. */
    const enqueue = (entries: ReadonlyArray<Entry>) =>
      state.admission.offer(entries.length, (i) => entries[i]!.size, (i) => {
        state.batcher.add(entries[i]!)
        state.drained.unsafeClose()
        state.wake.unsafeOpen()
      })

    const putAll = (records: ReadonlyArray<ProducerRecord>) =>
      Effect.gen(function*() {
        if (records.length === 0) return []
        const deferred = yield* Deferred.make<ReadonlyArray<Outcome>>()
        const ticket = new Ticket(records.length, deferred)
        const entries = yield* Validation.toEntries(admit, records, ticket)
        if (log !== undefined) yield* log.append(entries)
        const admitted = yield* enqueue(entries)
        for (let i = admitted; i < entries.length; i++) ticket.settle(i, Either.left(new ProducerClosedError({ attempts: 0 })))
        return yield* Deferred.await(deferred)
      })

    const offerAll = (records: ReadonlyArray<ProducerRecord>) =>
      Effect.gen(function*() {
        const entries = yield* Validation.toEntries(admit, records, undefined)
        if (log !== undefined) yield* log.append(entries)
        const admitted = yield* enqueue(entries)
        // Returning means accepted: on disk first, as the log's fsync setting says.
        if (log !== undefined) yield* log.durable
        if (admitted < entries.length) return yield* Effect.fail(new ProducerClosedError({ attempts: 0 }))
      })

    if (opened !== undefined) resend(state, admit, opened.recovered)

    yield* FiberSet.run(
      state.fibers,
      Effect.tapDefect(Dispatcher.dispatch(state), (defect) => Effect.logError("the Kinesis producer's dispatcher died", defect))
    )
    yield* Effect.addFinalizer(() => Dispatcher.close(state, options.closeTimeout ?? "30 seconds"))

    return {
      streamName,
      put: (record) => Effect.flatMap(putAll([record]), (outcomes) => outcomes[0]!),
      putAll,
      offer: (record) => offerAll([record]),
      offerAll,
      flush: Dispatcher.flush(state),
      depth: Effect.sync(() => state.admission.records)
    } satisfies ProducerApi<WriteAheadLog.WriteAheadLogError>
  })
}

/** `make` as a layer. */
export const layer = (options: Options): Layer.Layer<Producer, MakeError, Kinesis> => Layer.scoped(Producer, make(options))

/**
 * Like `layer`, with the options from `Config`, e.g. `{ streamName:
 * Config.string("ORDERS_STREAM"), rateLimit: Config.option(RateLimit.config("INSERT_RATE_LIMIT")).pipe(Config.map(Option.getOrUndefined)) }`.
 */
export const layerConfig = (config: Config.Config.Wrap<Options>): Layer.Layer<Producer, MakeError | ConfigError.ConfigError, Kinesis> =>
  Layer.scoped(Producer, Effect.flatMap(Config.unwrap(config), make))
