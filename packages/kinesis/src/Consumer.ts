/**
 * Reading Kinesis streams as Effect streams: every shard of a stream merged
 * (`all`, for a single process), or a fleet's share of the shards over leases
 * (`shardedStream`). One shard is read by `ShardReader`.
 */
import * as Leases from "@eddy/core/Leases"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import { Chunk, Clock, Deferred, type Duration, Effect, Either, Mailbox, Queue, Schedule, type Scope, Stream } from "effect"
import * as Checkpointer from "./Checkpointer"
import type { Kinesis, KinesisError } from "./Kinesis"
import * as Shards from "./Shards"
import { after, readShard, type ReadOptions, type ShardBatch, StartPosition } from "./ShardReader"

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

/** Where shards start that have no checkpoint yet. Shards created by resharding always start at their beginning. */
export type InitialCheckpoint = "TRIM_HORIZON" | "LATEST"

export interface ShardedOptions extends ReadOptions {
  /** Unique among the live workers of the stream. */
  readonly workerId: string
  /** Default `TRIM_HORIZON`. */
  readonly initialPosition?: InitialCheckpoint
  /** Time between two shard listings (ListShards), to follow resharding (default 10 s). */
  readonly discoveryInterval?: Duration.DurationInput
}

/** One shard this worker took the lease of. */
export interface ShardStream {
  readonly shardId: string
  readonly lease: Leases.HeldLease
  /**
   * The shard's batches from just after its checkpoint, one batch fetched
   * ahead. Each run starts at the checkpoint as of that run, so running it
   * again after a failed batch re-reads from the last checkpoint; a `LATEST`
   * start is pinned to when the lease was taken. Ends when the lease is lost
   * or the consumer stops.
   */
  readonly batches: Stream.Stream<ShardBatch, KinesisError>
  /** The user records of `batches`, without the batch details. */
  readonly records: Stream.Stream<Chunk.Chunk<SourceRecord>, KinesisError>
  readonly checkpointer: Checkpointer.Checkpointer
  /**
   * Completes when the lease is lost (a heartbeat found it taken by another
   * worker, or a checkpoint was refused): stop processing the shard at once.
   */
  readonly leaseLost: Effect.Effect<void>
}

/** What a sharded consumer knows of its own progress, for readiness. */
export interface ShardedStatus {
  /** Heartbeats run so far; none until the first lease round has completed. */
  readonly rounds: number
  /** The last lease round succeeded. */
  readonly roundOk: boolean
  /** The last shard listing succeeded. */
  readonly discoveryOk: boolean
  /** The shards handed out and not ended. */
  readonly shards: ReadonlyArray<string>
}

export interface ShardedConsumer {
  /** A shard each time this worker takes a lease; ends after `stop`. */
  readonly shards: Stream.Stream<ShardStream>
  readonly status: Effect.Effect<ShardedStatus>
  /** Stops the heartbeat and discovery and ends `shards` and every shard's `batches`; the leases are kept until released. */
  readonly stop: Effect.Effect<void>
}

/** The checkpoint a new lease starts at: a child of a leased shard continues its parents; LATEST skips closed shards. */
const initialCheckpoint = (shard: Shards.Shard, existing: ReadonlySet<string>, initial: InitialCheckpoint) =>
  shard.parents.some((p) => existing.has(p)) || initial === "TRIM_HORIZON"
    ? Leases.TRIM_HORIZON
    : shard.closed
    ? Leases.SHARD_END
    : Leases.LATEST

/** Where a shard's read starts from its checkpoint. */
const startFrom = (checkpoint: Position, firstRead: boolean, takenAt: number): StartPosition => {
  if (checkpoint.sequenceNumber === Leases.TRIM_HORIZON.sequenceNumber) return StartPosition.TrimHorizon()
  if (checkpoint.sequenceNumber === Leases.LATEST.sequenceNumber) {
    return firstRead ? StartPosition.Latest() : StartPosition.AtTimestamp({ timestamp: takenAt })
  }
  return after(checkpoint)
}

export interface LeasedShardOptions extends ReadOptions {
  /** Completes when the lease is lost; default never. */
  readonly leaseLost?: Effect.Effect<void>
  /** Completes when the consumer stops: `batches` ends; default never. */
  readonly stopped?: Effect.Effect<void>
  /** Told once when this worker's run of the shard is over (see `Checkpointer.make`). */
  readonly onEnd?: (end: Checkpointer.End) => Effect.Effect<void>
}

/** The stream and checkpointer of one shard whose lease `worker` holds: what `makeSharded` hands out per lease. */
export const leasedShard = (
  streamName: string,
  worker: Leases.LeaseWorker,
  lease: Leases.HeldLease,
  options: LeasedShardOptions = {}
): Effect.Effect<ShardStream, never, Kinesis> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<Kinesis>()
    const shardId = lease.leaseKey
    const leaseLost = options.leaseLost ?? Effect.never
    const checkpointer = yield* Checkpointer.make(worker, lease, options.onEnd)
    const takenAt = yield* Clock.currentTimeMillis
    let firstRead = true
    const batches = Stream.unwrap(Effect.map(checkpointer.position, (position) => {
      const from = startFrom(position, firstRead, takenAt)
      firstRead = false
      return readShard(streamName, shardId, from, options)
    })).pipe(
      Stream.buffer({ capacity: 1 }),
      Stream.interruptWhen(Effect.raceFirst(leaseLost, options.stopped ?? Effect.never)),
      Stream.provideContext(context)
    )
    const records = batches.pipe(Stream.filter((b) => Chunk.isNonEmpty(b.records)), Stream.map((b) => b.records))
    return { shardId, lease, batches, records, checkpointer, leaseLost }
  })

interface Running {
  readonly token: number
  readonly lost: Deferred.Deferred<void>
}

/**
 * A worker's share of the stream's shards over the lease table, with its
 * lease worker given (the caller releases its leases). In the scope it runs
 * the heartbeat (a lease round every `heartbeatInterval`) and shard
 * discovery (creating a lease for each new shard); each lease taken is
 * handed out on `shards`, a child shard only after its parents are
 * checkpointed at SHARD_END.
 */
export const makeSharded = (
  streamName: string,
  worker: Leases.LeaseWorker,
  options: ShardedOptions
): Effect.Effect<ShardedConsumer, never, Kinesis | Leases.Leases | Scope.Scope> =>
  Effect.gen(function*() {
    const leases = yield* Leases.Leases
    const context = yield* Effect.context<Kinesis>()
    const initial = options.initialPosition ?? "TRIM_HORIZON"
    const out = yield* Mailbox.make<ShardStream>()
    const stopped = yield* Deferred.make<void>()
    const heartbeatWake = yield* Queue.sliding<void>(1)
    const discoveryWake = yield* Queue.sliding<void>(1)
    const running = new Map<string, Running>()
    let rounds = 0
    let roundOk = false
    let discoveryOk = false

    const status = Effect.sync((): ShardedStatus => ({ rounds, roundOk, discoveryOk, shards: Array.from(running.keys()).sort() }))

    /** Creates leases for shards that have none. */
    const discover = Effect.gen(function*() {
      const shards = yield* Shards.list(streamName, options)
      const existing = new Set((yield* leases.list).map((l) => l.leaseKey))
      const fresh: Array<Leases.NewLease> = []
      for (const shard of shards.values()) {
        if (!existing.has(shard.shardId)) {
          fresh.push({ leaseKey: shard.shardId, parentShardIds: shard.parents, checkpoint: initialCheckpoint(shard, existing, initial) })
        }
      }
      if (fresh.length === 0) return
      yield* leases.createLeases(fresh)
      yield* Effect.logInfo("leases created for new shards").pipe(Effect.annotateLogs({ shards: fresh.map((l) => l.leaseKey) }))
      yield* heartbeatWake.offer(undefined)
    }).pipe(
      Effect.either,
      Effect.flatMap((result) => {
        discoveryOk = Either.isRight(result)
        return Either.isLeft(result)
          ? Effect.logWarning("shard discovery failed; retrying at the next interval").pipe(Effect.annotateLogs({ error: result.left.message }))
          : Effect.void
      })
    )

    /** A shard's run ended for this worker: forget it, and let a finished parent's children start now. */
    const ended = (key: string, entry: Running) => (end: Checkpointer.End) =>
      Effect.suspend(() => {
        if (running.get(key) === entry) running.delete(key)
        return end === "lost" ? Deferred.succeed(entry.lost, undefined) : Effect.zipRight(discoveryWake.offer(undefined), heartbeatWake.offer(undefined))
      })

    const start = (lease: Leases.HeldLease) =>
      Effect.gen(function*() {
        const key = lease.leaseKey
        const entry: Running = { token: lease.concurrencyToken, lost: yield* Deferred.make<void>() }
        running.set(key, entry)
        const shard = yield* leasedShard(streamName, worker, lease, {
          ...options,
          leaseLost: Deferred.await(entry.lost),
          stopped: Deferred.await(stopped),
          onEnd: ended(key, entry)
        }).pipe(Effect.provide(context))
        yield* out.offer(shard)
        yield* Effect.logInfo("shard started").pipe(Effect.annotateLogs({ shardId: key, checkpoint: lease.checkpoint.sequenceNumber }))
      })

    /** One lease round, then shards follow the leases: lost ones are told at once, new ones are handed out. */
    const heartbeat = Effect.gen(function*() {
      // A round is not cut short: a lease it takes must also be recorded as held, to be released on shutdown.
      const round = yield* Effect.either(Effect.uninterruptible(worker.round))
      roundOk = Either.isRight(round)
      if (Either.isLeft(round)) yield* Effect.logWarning("lease round failed").pipe(Effect.annotateLogs({ error: round.left.message }))
      const held = new Map((yield* worker.held).map((l) => [l.leaseKey, l]))
      for (const [key, entry] of running) {
        if (held.get(key)?.concurrencyToken === entry.token) continue
        running.delete(key)
        yield* Deferred.succeed(entry.lost, undefined)
        yield* Effect.logWarning("lease lost: stopped the shard without checkpointing").pipe(Effect.annotateLogs({ shardId: key }))
      }
      if (yield* Deferred.isDone(stopped)) return
      for (const lease of held.values()) if (!running.has(lease.leaseKey)) yield* start(lease)
      if (rounds++ === 0) yield* Effect.logInfo("worker running").pipe(Effect.annotateLogs({ shards: Array.from(running.keys()) }))
    })

    yield* discover.pipe(Effect.provide(context))
    const loops = Effect.all([
      heartbeat.pipe(Effect.zipRight(Effect.race(Effect.sleep(leases.heartbeatInterval), heartbeatWake.take)), Effect.forever),
      Effect.race(Effect.sleep(options.discoveryInterval ?? "10 seconds"), discoveryWake.take).pipe(
        Effect.zipRight(discover),
        Effect.forever,
        Effect.provide(context)
      )
    ], { concurrency: "unbounded", discard: true })
    yield* loops.pipe(Effect.interruptible, Effect.raceFirst(Deferred.await(stopped)), Effect.forkScoped)

    return {
      shards: Mailbox.toStream(out),
      status,
      stop: Effect.zipRight(Deferred.succeed(stopped, undefined), out.end)
    }
  }).pipe(Effect.annotateLogs({ workerId: worker.workerId }))

/**
 * This worker's share of the stream's shards, in the shape zio-kinesis made
 * popular: one element per lease taken, each with its records and its
 * checkpointer. Runs the heartbeat and shard discovery while it is consumed
 * and releases the leases when it ends.
 *
 * ```ts
 * Consumer.shardedStream("orders", { workerId }).pipe(
 *   Stream.flatMap((shard) =>
 *     shard.records.pipe(
 *       Stream.mapEffect((chunk) => Effect.as(handle(chunk), Chunk.lastNonEmpty(chunk))),
 *       Stream.mapEffect((last) => shard.checkpointer.checkpoint(last))
 *     ), { concurrency: "unbounded" }),
 *   Stream.runDrain
 * )
 * ```
 */
export const shardedStream = (
  streamName: string,
  options: ShardedOptions
): Stream.Stream<ShardStream, never, Kinesis | Leases.Leases> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const worker = yield* Leases.worker(options.workerId)
    const consumer = yield* makeSharded(streamName, worker, options)
    return consumer.shards
  }))
