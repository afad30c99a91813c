/**
 * Reading one Kinesis shard as an Effect stream: one element per GetRecords
 * call that returned records, KPL aggregates unpacked into user records,
 * paced under the per-shard read limit, and resilient to throttling and
 * expired iterators without skipping or repeating a record.
 */
import type { GetShardIteratorInput } from "@aws-sdk/client-kinesis"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import { Chunk, Clock, Data, Duration, Effect, Metric, Option, type Schedule, Stream } from "effect"
import { readCall } from "./internal/readCall"
import { startingPoint } from "./internal/startingPoint"
import { Kinesis, type KinesisError } from "./Kinesis"
import { GET_RECORDS_MAX_RECORDS } from "./Limits"
import * as StreamId from "./StreamId"
import * as UserRecords from "./UserRecords"
import * as Aggregation from "./Aggregation"

/** Where a shard reader starts. */
export type StartPosition = Data.TaggedEnum<{
  /** The oldest record still in the shard. */
  TrimHorizon: {}
  /** Only records written after the reader started. */
  Latest: {}
  AtSequenceNumber: { readonly sequenceNumber: string }
  /**
   * After a record, e.g. a checkpoint. With `subSequenceNumber` k, resumes
   * inside a KPL aggregate: its user records 0..k are skipped, the rest
   * delivered (a plain record counts as sub-sequence 0, so it is skipped).
   */
  AfterSequenceNumber: { readonly sequenceNumber: string; readonly subSequenceNumber?: number }
  /** The first record that arrived at or after `timestamp` (epoch milliseconds). */
  AtTimestamp: { readonly timestamp: number }
}>

export const StartPosition = Data.taggedEnum<StartPosition>()

/** Resumes after a checkpointed position, inside an aggregate if need be. */
export const after = (position: Position): StartPosition =>
  StartPosition.AfterSequenceNumber({ sequenceNumber: position.sequenceNumber, subSequenceNumber: position.subSequenceNumber })

/** What one GetRecords call returned for one shard. */
export interface ShardBatch {
  readonly shardId: string
  /** User records in shard order: aggregates unpacked, a corrupt aggregate as one `unreadable` record. */
  readonly records: Chunk.Chunk<SourceRecord>
  /** How far this shard's reader is behind the tip of the stream. */
  readonly millisBehindLatest: number
  /**
   * The shard is closed and these are its last records (possibly none): once
   * they are processed the shard is done (checkpoint SHARD_END) and its
   * children may start. Always the last batch of a closed shard's stream.
   */
  readonly shardEnded: boolean
}

/** How a shard is read: records per call, pacing, retries, timeouts. */
export interface ReadOptions {
  /** Most records per GetRecords call, 1..10,000 (default 10,000). */
  readonly limit?: number
  /**
   * Least time between two GetRecords calls on one shard (default 200 ms):
   * Kinesis allows 5 calls/s per shard, shared by all its readers.
   */
  readonly pollInterval?: Duration.DurationInput
  /**
   * Longest wait between calls once a shard is caught up: empty results
   * double the wait from `pollInterval` (from 50 ms when it is shorter, so a
   * `pollInterval` of 0 never polls an idle shard in a busy loop) up to this
   * (default 1 s).
   */
  readonly maxIdleInterval?: Duration.DurationInput
  /** Retries throttled or unavailable calls (default: exponential from 100 ms, capped at 5 s, jittered, 10 retries). */
  readonly retry?: Schedule.Schedule<unknown, KinesisError>
  /** Longest wait for one GetRecords or GetShardIterator answer before it is retried (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput
  /** How the stream's records are packed (default `kpl`: KPL aggregates unpacked, other records taken whole); see `Aggregation`. */
  readonly aggregation?: Aggregation.Setting
  /**
   * End the stream once the reader reaches the tip of an open shard: at the
   * first GetRecords that returns nothing while `MillisBehindLatest` is 0 (a
   * batch tool such as a replay; a consumer waits for more). Default false.
   */
  readonly untilCaughtUp?: boolean
}

/** The least a caught-up shard's idle wait doubles from: 100 ms at its first empty result. */
const IDLE_BASE_MILLIS = 50

/** Reader lag per stream and shard, from each GetRecords' `MillisBehindLatest`. */
export const millisBehindLatest = Metric.gauge("eddy_kinesis_millis_behind_latest", {
  description: "How far a shard reader is behind the tip of its shard, in milliseconds"
})

/**
 * Reads one shard from `from`: one batch per GetRecords call that returned
 * records, and at a closed shard's end a final batch with `shardEnded` set,
 * after which the stream completes. An open shard's stream never ends, unless
 * `untilCaughtUp` ends it at the tip.
 *
 * An expired iterator is replaced by one after the last record consumed (or
 * at `from` if none was), so nothing is skipped or repeated. A `Latest` start
 * is pinned to the time the reader started, so records written while the
 * first iterator was outstanding are not lost on such a recovery.
 */
export const readShard = (
  stream: StreamId.Input,
  shardId: string,
  from: StartPosition,
  options: ReadOptions = {}
): Stream.Stream<ShardBatch, KinesisError, Kinesis> =>
  Stream.suspend(() => {
    const limit = options.limit ?? GET_RECORDS_MAX_RECORDS
    if (!Number.isInteger(limit) || limit < 1 || limit > GET_RECORDS_MAX_RECORDS) {
      return Stream.dieMessage(`ReadOptions.limit must be an integer from 1 to ${GET_RECORDS_MAX_RECORDS}, got ${limit}`)
    }
    const pollMillis = Duration.toMillis(options.pollInterval ?? "200 millis")
    const maxIdleMillis = Math.max(pollMillis, Duration.toMillis(options.maxIdleInterval ?? "1 second"))
    const id = StreamId.of(stream)
    const format = Aggregation.formatOf(options.aggregation, id.name)
    const lag = millisBehindLatest.pipe(Metric.tagged("stream", id.name), Metric.tagged("shard", shardId))

    // Reader state, private to this run of the stream.
    let resume = from
    let iterator: string | undefined
    /** After a resume inside an aggregate: its user records up to this position are already consumed. */
    let skip: Position | undefined
    let ended = false
    let lastCall = Number.NEGATIVE_INFINITY
    let wait = 0

    const acquire = Effect.gen(function*() {
      const kinesis = yield* Kinesis
      const startedAt = yield* Clock.currentTimeMillis
      const out = yield* readCall("getShardIterator", kinesis.getShardIterator(iteratorInput(id, shardId, resume)), options)
      if (resume._tag === "Latest") resume = StartPosition.AtTimestamp({ timestamp: startedAt })
      skip = resume._tag === "AfterSequenceNumber" && resume.subSequenceNumber !== undefined
        ? { sequenceNumber: resume.sequenceNumber, subSequenceNumber: resume.subSequenceNumber }
        : undefined
      // No iterator: the shard is closed and nothing is left after the position.
      if (out.ShardIterator) iterator = out.ShardIterator
      else ended = true
    })

    const pull: Effect.Effect<ShardBatch, KinesisError, Kinesis> = Effect.gen(function*() {
      const kinesis = yield* Kinesis
      while (true) {
        if (iterator === undefined) {
          yield* acquire
          if (ended) return endOfShard(shardId, Chunk.empty(), 0)
        }
        const now = yield* Clock.currentTimeMillis
        if (lastCall + wait > now) yield* Effect.sleep(lastCall + wait - now)
        lastCall = yield* Clock.currentTimeMillis
        const result = yield* readCall(
          "getRecords",
          kinesis.getRecords({ ShardIterator: iterator!, Limit: limit, ...(id.arn !== undefined ? { StreamARN: id.arn } : {}) }).pipe(
            Effect.map(Option.some),
            Effect.catchTag("KinesisExpiredIteratorError", () => Effect.succeedNone)
          ),
          options
        )
        if (Option.isNone(result)) {
          iterator = undefined
          continue
        }
        const { MillisBehindLatest: behind = 0, NextShardIterator: next, Records: raw = [] } = result.value
        yield* Metric.set(lag, behind)
        const records = Chunk.unsafeFromArray(UserRecords.fromGetRecords(raw, shardId, skip, format))
        if (raw.length > 0) {
          resume = StartPosition.AfterSequenceNumber({ sequenceNumber: raw[raw.length - 1]!.SequenceNumber! })
          skip = undefined
        }
        // Back off only when caught up: an empty result while behind means a gap in the shard, not idleness.
        wait = raw.length === 0 && behind === 0 ? Math.min(maxIdleMillis, 2 * Math.max(wait, pollMillis, IDLE_BASE_MILLIS)) : pollMillis
        if (!next) {
          ended = true
          return endOfShard(shardId, records, behind)
        }
        iterator = next
        if (options.untilCaughtUp === true && raw.length === 0 && behind === 0) {
          ended = true
          return { shardId, records, millisBehindLatest: 0, shardEnded: false }
        }
        if (Chunk.isNonEmpty(records)) return { shardId, records, millisBehindLatest: behind, shardEnded: false }
      }
    })

    return Stream.repeatEffectOption(Effect.suspend(() => ended ? Effect.fail(Option.none()) : Effect.mapError(pull, Option.some)))
  })

/** A closed shard's last batch. */
export const endOfShard = (shardId: string, records: Chunk.Chunk<SourceRecord>, behind: number): ShardBatch => ({
  shardId,
  records,
  millisBehindLatest: behind,
  shardEnded: true
})

const iteratorInput = (stream: StreamId.StreamId, ShardId: string, from: StartPosition): GetShardIteratorInput => {
  const { sequenceNumber, timestamp, type } = startingPoint(from)
  return {
    ...StreamId.sdkParams(stream),
    ShardId,
    ShardIteratorType: type,
    ...(sequenceNumber !== undefined ? { StartingSequenceNumber: sequenceNumber } : {}),
    ...(timestamp !== undefined ? { Timestamp: timestamp } : {})
  }
}
