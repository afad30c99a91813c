/**
 * Reading Kinesis streams as Effect streams: every shard of a stream merged
 * (`all`, for a single process), or a fleet's share of the shards over leases
 * (`shardedStream`). One shard is read by `ShardReader`.
 */
import {
  Chunk,
  Duration,
  Effect,
  Mailbox,
  Queue,
  Schedule,
  Stream
} from "effect"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import type { KinesisError, Kinesis } from "./Kinesis"
import * as Shards from "./Shards"
import { readShard, type ReadOptions, type ShardBatch, StartPosition } from "./ShardReader"

export {
  after,
  millisBehindLatest,
  readShard,
  type ReadOptions,
  type ShardBatch,
  StartPosition
} from "./ShardReader"

/** The user records of one shard, one chunk per GetRecords call; completes at a closed shard's end. */
export const records = (
  streamName: string,
  shardId: string,
  from: StartPosition,
  options?: ReadOptions
): Stream.Stream<Chunk.Chunk<SourceRecord>, KinesisError, Kinesis> =>
  readShard(streamName, shardId, from, options).pipe(
    Stream.filter((batch) => Chunk.isNonEmpty(batch.records)),
    Stream.map((batch) => batch.records)
  )

export interface DiscoveryOptions extends Shards.ListOptions {
  /** Time between two ListShards listings (default 10 s). */
  readonly discoveryInterval?: Duration.DurationInput
}

const signature = (shards: Shards.ShardMap): string =>
  Array.from(shards.values(), (s) => (s.closed ? `${s.shardId}!` : s.shardId)).join(",")

/**
 * The stream's shard map now and again whenever it changes (a shard appears,
 * closes, or is trimmed away), polling ListShards. Never ends on its own; a
 * listing that still fails after its retries fails the stream.
 */
export const shards = (streamName: string, options: DiscoveryOptions = {}): Stream.Stream<Shards.ShardMap, KinesisError, Kinesis> =>
  Stream.repeatEffectWithSchedule(
    Shards.list(streamName, options),
    Schedule.spaced(options.discoveryInterval ?? "10 seconds")
  ).pipe(Stream.changesWith((a, b) => signature(a) === signature(b)))

/** Where `all` starts the shards it finds at first; shards that appear later are read from their start. */
export type InitialPosition = Extract<StartPosition, { readonly _tag: "TrimHorizon" | "Latest" | "AtTimestamp" }>

export interface AllOptions extends ReadOptions, DiscoveryOptions {
  /** Batches buffered ahead of the consumer across all shards (default 16). */
  readonly bufferSize?: number
}

/**
 * Every shard of the stream, merged: each shard starts once its parents have
 * ended, so records of one partition key come out in order across splits and
 * merges, and shards created by later resharding are picked up. The batches
 * include each closed shard's `shardEnded` batch. Never ends on its own.
 *
 * From `Latest`, shards already closed at the first listing are skipped.
 * A single-process reader for tests and tools; a fleet of workers shares
 * shards through leases instead.
 */
export const all = (
  streamName: string,
  from: InitialPosition = StartPosition.TrimHorizon(),
  options: AllOptions = {}
): Stream.Stream<ShardBatch, KinesisError, Kinesis> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const out = yield* Mailbox.make<ShardBatch, KinesisError>(options.bufferSize ?? 16)
    // A finished shard wakes discovery at once, so its children start without waiting a whole interval.
    const wake = yield* Queue.sliding<void>(1)
    const finished = new Set<string>()
    const started = new Set<string>()
    let initial: ReadonlySet<string> | undefined

    const read = (shardId: string, position: StartPosition) =>
      readShard(streamName, shardId, position, options).pipe(
        Stream.runForEach((batch) => out.offer(batch)),
        Effect.zipRight(Effect.sync(() => finished.add(shardId))),
        Effect.zipRight(wake.offer(undefined)),
        Effect.catchAllCause((cause) => out.failCause(cause)),
        Effect.forkScoped
      )

    const discover = Effect.gen(function*() {
      const map = yield* Shards.list(streamName, options)
      if (initial === undefined) {
        initial = new Set(map.keys())
        if (from._tag === "Latest") for (const s of map.values()) if (s.closed) finished.add(s.shardId)
      }
      for (const shard of Shards.ready(map, (id) => finished.has(id))) {
        if (started.has(shard.shardId)) continue
        started.add(shard.shardId)
        yield* read(shard.shardId, initial.has(shard.shardId) ? from : StartPosition.TrimHorizon())
      }
    })

    const interval = options.discoveryInterval ?? "10 seconds"
    yield* discover.pipe(
      Effect.zipRight(Effect.race(wake.take, Effect.sleep(interval))),
      Effect.forever,
      Effect.catchAllCause((cause) => out.failCause(cause)),
      Effect.forkScoped
    )
    return Mailbox.toStream(out)
  }))
