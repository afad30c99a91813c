/**
 * Reading Kinesis streams as Effect streams: every shard of a stream merged
 * (`all`, for a single process), or a fleet's share of the shards of one or
 * several streams over leases (`shardedStream`). One shard is read by
 * `ShardReader`; streams are named by name or ARN (`StreamId`).
 */
import * as Backoff from "@eddy/core/Backoff"
import * as Leases from "@eddy/core/Leases"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import { Chunk, Clock, Deferred, type Duration, Effect, Either, Fiber, Mailbox, Queue, Schedule, type Scope, Stream } from "effect"
import * as Checkpointer from "./Checkpointer"
import type { Kinesis, KinesisError } from "./Kinesis"
import * as Shards from "./Shards"
import * as StreamId from "./StreamId"
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

/** How the stream's shards are discovered. */
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

/** Options of a consumer of every shard. */
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

/**
 * How a shard is read: by default polling (`readShard`, GetRecords); with
 * enhanced fan-out `FanOut.source`. Given the shard's stream, id and start, it
 * yields the shard's batches and ends after a closed shard's `shardEnded` batch.
 */
export type ShardSource = (stream: StreamId.StreamId, shardId: string, from: StartPosition) => Stream.Stream<ShardBatch, KinesisError, Kinesis>

/** Options of a consumer that reads the shards its leases give it. */
export interface ShardedOptions extends ReadOptions {
  /** Default polling with these options (`readShard`). */
  readonly source?: ShardSource
  /** Unique among the live workers that share the lease table. */
  readonly workerId: string
  /** Default `TRIM_HORIZON`. */
  readonly initialPosition?: InitialCheckpoint
  /** Time between two shard listings (ListShards), to follow resharding (default 10 s). */
  readonly discoveryInterval?: Duration.DurationInput
}

/** One shard this worker took the lease of. */
export interface ShardStream {
  readonly stream: StreamId.StreamId
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
  /** The last shard listing of every stream succeeded. */
  readonly discoveryOk: boolean
  /** The lease keys (`<stream>:<shardId>`) of the shards handed out and not ended. */
  readonly shards: ReadonlyArray<string>
}

/** A consumer of leased shards. */
export interface ShardedConsumer {
  /** A shard each time this worker takes a lease; ends after `stop`. */
  readonly shards: Stream.Stream<ShardStream>
  readonly status: Effect.Effect<ShardedStatus>
  /** Stops the heartbeat and discovery and ends `shards` and every shard's `batches`; the leases are kept until released. */
  readonly stop: Effect.Effect<void>
}

/** One stream or several. */
export type Streams = StreamId.Input | ReadonlyArray<StreamId.Input>

const streamIds = (streams: Streams): ReadonlyArray<StreamId.StreamId> =>
  (typeof streams === "string" || !Array.isArray(streams) ? [streams as StreamId.Input] : streams as ReadonlyArray<StreamId.Input>).map(StreamId.of)

/** The leases a worker of `streams` may take: give it to `Leases.worker`, so that streams sharing the table do not meet. */
export const accepts = (streams: Streams): (leaseKey: string) => boolean => {
  const ids = streamIds(streams)
  return (key) => ids.some((id) => StreamId.shardIdOf(id, key) !== undefined)
}

/** The checkpoint a new lease starts at: a child of a leased shard continues its parents; LATEST skips closed shards. */
const initialCheckpoint = (shard: Shards.Shard, leased: ReadonlySet<string>, initial: InitialCheckpoint) =>
  shard.parents.some((p) => leased.has(p)) || initial === "TRIM_HORIZON"
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

/** Options of reading one leased shard. */
export interface LeasedShardOptions extends ReadOptions {
  /** Default polling with these options (`readShard`). */
  readonly source?: ShardSource
  /** Completes when the lease is lost; default never. */
  readonly leaseLost?: Effect.Effect<void>
  /** Completes when the consumer stops: `batches` ends; default never. */
  readonly stopped?: Effect.Effect<void>
  /** Told once when this worker's run of the shard is over (see `Checkpointer.make`). */
  readonly onEnd?: (end: Checkpointer.End) => Effect.Effect<void>
}

/**
 * The stream and checkpointer of one shard whose lease `worker` holds: what
 * `makeSharded` hands out per lease. The lease's key names the shard: a key of
 * `stream` (`<stream>:<shardId>`), or a bare shard id.
 */
export const leasedShard = (
  stream: StreamId.Input,
  worker: Leases.LeaseWorker,
  lease: Leases.HeldLease,
  options: LeasedShardOptions = {}
): Effect.Effect<ShardStream, never, Kinesis> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<Kinesis>()
    const id = StreamId.of(stream)
    const shardId = StreamId.shardIdOf(id, lease.leaseKey) ?? lease.leaseKey
    const leaseLost = options.leaseLost ?? Effect.never
    const checkpointer = yield* Checkpointer.make(worker, lease, options.onEnd, shardId)
    const takenAt = yield* Clock.currentTimeMillis
    let firstRead = true
    const batches = Stream.unwrap(Effect.map(checkpointer.position, (position) => {
      const from = startFrom(position, firstRead, takenAt)
      firstRead = false
      return options.source !== undefined ? options.source(id, shardId, from) : readShard(id, shardId, from, options)
    })).pipe(
      Stream.provideContext(context),
      aheadByOne,
      Stream.interruptWhen(Effect.raceFirst(leaseLost, options.stopped ?? Effect.never))
    )
    const records = batches.pipe(Stream.filter((b) => Chunk.isNonEmpty(b.records)), Stream.map((b) => b.records))
    return { stream: id, shardId, lease, batches, records, checkpointer, leaseLost }
  })

/**
 * `self` with its next element fetched while the current one is processed,
 * and no more: `Stream.buffer({ capacity: 1 })` also holds one in its queue
 * and one waiting to enter it, and a batch of 10,000 records is megabytes.
 */
const aheadByOne = <A, E>(self: Stream.Stream<A, E>): Stream.Stream<A, E> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const pull = yield* Stream.toPull(self)
    let next = yield* Effect.forkIn(pull, scope)
    return Stream.repeatEffectChunkOption(Effect.flatMap(Effect.suspend(() => Fiber.join(next)), (chunk) =>
      Effect.as(Effect.tap(Effect.forkIn(pull, scope), (fiber) => {
        next = fiber
      }), chunk)))
  }))

interface Running {
  readonly token: number
  readonly lost: Deferred.Deferred<void>
}

/** The shard ids below a closed shard in the map: a closed shard whose descendant has a lease is done, even once its own lease is gone. */
const descendants = (shards: Shards.ShardMap) => {
  const children = new Map<string, Array<string>>()
  for (const s of shards.values()) for (const p of s.parents) children.set(p, [...(children.get(p) ?? []), s.shardId])
  return (shardId: string): ReadonlyArray<string> => {
    const out: Array<string> = []
    const visit = (id: string) => {
      for (const c of children.get(id) ?? []) if (!out.includes(c)) (out.push(c), visit(c))
    }
    visit(shardId)
    return out
  }
}

/** A child has started once it checkpointed past where it began. */
const started = (lease: Leases.Lease) =>
  lease.checkpoint.sequenceNumber !== Leases.TRIM_HORIZON.sequenceNumber && lease.checkpoint.sequenceNumber !== Leases.LATEST.sequenceNumber

/** The stream's leases by shard id. */
const leasesOf = (id: StreamId.StreamId, all: ReadonlyArray<Leases.Lease>) => {
  const out = new Map<string, Leases.Lease>()
  for (const l of all) {
    const shardId = StreamId.shardIdOf(id, l.leaseKey)
    if (shardId !== undefined) out.set(shardId, l)
  }
  return out
}

/**
 * Finished leases whose children have all started: KCL's lease clean-up, so
 * that the table does not grow with every reshard. A child of a listed parent
 * must have a lease for each of the parent's children in the map; the parent
 * is kept while any of them still starts from TRIM_HORIZON.
 */
const removable = (shards: Shards.ShardMap, mine: ReadonlyMap<string, Leases.Lease>, all: ReadonlyArray<Leases.Lease>) => {
  const out: Array<Leases.Lease> = []
  for (const [shardId, lease] of mine) {
    if (!Leases.isShardEnd(lease.checkpoint) || lease.leaseOwner !== undefined) continue
    const children = all.filter((l) => l.parentShardIds.includes(lease.leaseKey))
    const listed = Array.from(shards.values()).filter((s) => s.parents.includes(shardId))
    if (children.length === 0 || listed.some((s) => !mine.has(s.shardId))) continue
    if (children.every(started)) out.push(lease)
  }
  return out
}

/**
 * A worker's share of its streams' shards over the lease table, with its
 * lease worker given (the caller releases its leases; create it with
 * `accepts(streams)`). In the scope it runs the heartbeat (a lease round
 * every `heartbeatInterval`) and shard discovery per stream (creating a lease
 * for each new shard, removing finished ones); each lease taken is handed out
 * on `shards`, a child shard only after its parents are checkpointed at
 * SHARD_END. Fails at once on a lease table in the single-stream format.
 */
export const makeSharded = (
  streams: Streams,
  worker: Leases.LeaseWorker,
  options: ShardedOptions
): Effect.Effect<ShardedConsumer, StreamId.LegacyLeaseTableError | Leases.LeaseStoreError, Kinesis | Leases.Leases | Scope.Scope> =>
  Effect.gen(function*() {
    const leases = yield* Leases.Leases
    const context = yield* Effect.context<Kinesis>()
    const ids = streamIds(streams)
    const initial = options.initialPosition ?? "TRIM_HORIZON"
    const out = yield* Mailbox.make<ShardStream>()
    const stopped = yield* Deferred.make<void>()
    const heartbeatWake = yield* Queue.sliding<void>(1)
    const discoveryWake = yield* Queue.sliding<void>(1)
    const running = new Map<string, Running>()
    let rounds = 0
    let roundOk = false
    const discoveryOk = new Map<string, boolean>()
    /** Per stream, the shard map as of the last complete pass, and whether the lease table must be read again anyway. */
    const lastPass = new Map<string, { readonly signature: string; readonly again: boolean }>()

    const status = Effect.sync((): ShardedStatus => ({
      rounds,
      roundOk,
      discoveryOk: ids.every((id) => discoveryOk.get(StreamId.leasePrefix(id)) === true),
      shards: Array.from(running.keys()).sort()
    }))

    // A table in the old format would have its leases taken for the wrong stream: refuse it before taking any.
    const legacy = (yield* leases.list.pipe(Effect.retry(Backoff.exponential({ base: "200 millis", cap: "2 seconds", times: 5 }))))
      .map((l) => l.leaseKey).filter(StreamId.isLegacyKey)
    if (legacy.length > 0) return yield* Effect.fail(StreamId.legacyLeaseTableError(leases.tableName, legacy, ids[0]!))

    /**
     * Creates leases for the stream's shards that have none, and removes
     * finished ones whose children started. The lease table is read only
     * when the shard map changed or a reshard is still being worked through.
     */
    const discoverStream = (id: StreamId.StreamId) =>
      Effect.gen(function*() {
        const prefix = StreamId.leasePrefix(id)
        const shards = yield* Shards.list(id, options)
        const sig = signature(shards)
        const last = lastPass.get(prefix)
        if (last !== undefined && last.signature === sig && !last.again) return
        const all = yield* leases.list
        const mine = leasesOf(id, all)
        const below = descendants(shards)
        const leased = new Set(mine.keys())
        const fresh: Array<Leases.NewLease> = []
        for (const shard of shards.values()) {
          if (mine.has(shard.shardId)) continue
          // Finished and cleaned up: its children carry on.
          if (shard.closed && below(shard.shardId).some((c) => mine.has(c))) continue
          fresh.push({
            leaseKey: StreamId.leaseKey(id, shard.shardId),
            parentShardIds: shard.parents.map((p) => StreamId.leaseKey(id, p)),
            checkpoint: initialCheckpoint(shard, leased, initial)
          })
        }
        if (fresh.length > 0) {
          yield* leases.createLeases(fresh)
          yield* worker.rescan
          yield* Effect.logInfo("leases created for new shards").pipe(Effect.annotateLogs({ stream: prefix, shards: fresh.map((l) => l.leaseKey) }))
          yield* heartbeatWake.offer(undefined)
        }
        const finished = removable(shards, mine, all)
        const removed = yield* Effect.filter(finished, (l) => leases.removeFinished(l))
        if (removed.length > 0) {
          yield* Effect.logInfo("finished leases removed: their children have started").pipe(
            Effect.annotateLogs({ stream: prefix, leases: removed.map((l) => l.leaseKey) })
          )
        }
        // While a closed shard still has a lease, the reshard is not worked through: read the table again next time.
        const again = fresh.length > 0 || Array.from(shards.values()).some((s) => s.closed && mine.has(s.shardId) && !removed.includes(mine.get(s.shardId)!))
        lastPass.set(prefix, { signature: sig, again })
      }).pipe(
        Effect.either,
        Effect.flatMap((result) => {
          discoveryOk.set(StreamId.leasePrefix(id), Either.isRight(result))
          return Either.isLeft(result)
            ? Effect.logWarning("shard discovery failed; retrying at the next interval").pipe(
              Effect.annotateLogs({ stream: StreamId.leasePrefix(id), error: result.left.message })
            )
            : Effect.void
        })
      )

    const discover = Effect.forEach(ids, discoverStream, { discard: true })

    /** A shard's run ended for this worker: forget it, and let a finished parent's children start now. */
    const ended = (key: string, entry: Running) => (end: Checkpointer.End) =>
      Effect.suspend(() => {
        if (running.get(key) === entry) running.delete(key)
        if (end === "lost") return Deferred.succeed(entry.lost, undefined)
        for (const [prefix, pass] of lastPass) if (key.startsWith(`${prefix}:`)) lastPass.set(prefix, { ...pass, again: true })
        return Effect.zipRight(discoveryWake.offer(undefined), heartbeatWake.offer(undefined))
      })

    const streamOf = (key: string) => ids.find((id) => StreamId.shardIdOf(id, key) !== undefined)

    const start = (lease: Leases.HeldLease) =>
      Effect.gen(function*() {
        const key = lease.leaseKey
        const stream = streamOf(key)
        if (stream === undefined) return
        const entry: Running = { token: lease.concurrencyToken, lost: yield* Deferred.make<void>() }
        running.set(key, entry)
        const shard = yield* leasedShard(stream, worker, lease, {
          ...options,
          leaseLost: Deferred.await(entry.lost),
          stopped: Deferred.await(stopped),
          onEnd: ended(key, entry)
        }).pipe(Effect.provide(context))
        yield* out.offer(shard)
        yield* Effect.logInfo("shard started").pipe(
          Effect.annotateLogs({ stream: stream.name, shardId: shard.shardId, checkpoint: lease.checkpoint.sequenceNumber })
        )
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
        yield* Effect.logWarning("lease lost: stopped the shard without checkpointing").pipe(Effect.annotateLogs({ leaseKey: key }))
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
 * This worker's share of its streams' shards, in the shape zio-kinesis made
 * popular: one element per lease taken, each with its records and its
 * checkpointer. Runs the heartbeat and shard discovery while it is consumed
 * and releases the leases when it ends.
 *
 * ```ts
 * Consumer.shardedStream(["orders", "products"], { workerId }).pipe(
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
  streams: Streams,
  options: ShardedOptions
): Stream.Stream<ShardStream, StreamId.LegacyLeaseTableError | Leases.LeaseStoreError, Kinesis | Leases.Leases> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const worker = yield* Leases.worker(options.workerId, { accepts: accepts(streams) })
    const consumer = yield* makeSharded(streams, worker, options)
    return consumer.shards
  }))
