/**
 * One leased shard from `Consumer.makeSharded`: read it from its checkpoint,
 * process each batch, and checkpoint only what the processor finished (see
 * `Acknowledgement`). `Service` runs one of these per shard handed out and
 * interrupts it when the lease is lost.
 *
 * Reads are folded before they are written: the records of several
 * GetRecords calls are buffered and processed as one chunk (one store write
 * per item) once `flushRecords` records are buffered or `flushInterval`
 * passed since the first of them was read, and at once at shard end, before
 * a re-read and on shutdown. Nothing buffered is checkpointed before its
 * write landed; a crash or a lost lease drops the buffer, and the records are
 * read again from the checkpoint.
 *
 * Checkpoints are lease-table writes, so they are spaced: what is durably
 * written is remembered as pending and checkpointed once `checkpointRecords`
 * records are pending or `checkpointInterval` passed since the last
 * checkpoint (a timer writes it while the shard is idle), and always before a
 * re-read, on shutdown and at shard end. A pending position is never past a
 * record whose writes did not land; a crash re-reads what was pending, which
 * the store's watermarks make idempotent.
 */
import * as Acknowledgement from "@eddy/core/Acknowledgement"
import type * as Processor from "@eddy/core/Processor"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import type * as Consumer from "@eddy/kinesis/Consumer"
import type { KinesisError } from "@eddy/kinesis/Kinesis"
import { type Chunk, Clock, Deferred, Duration, Effect, Either, Fiber, Metric, Option, Schedule, Stream } from "effect"
import * as ServiceMetrics from "./serviceMetrics"

export interface Options {
  readonly shard: Consumer.ShardStream
  readonly processor: Processor.Processor["Type"]
  /** Waits before each re-read after a failure; when it is exhausted the lease is given up. */
  readonly rereadBackoff: Schedule.Schedule<unknown, unknown>
  /** Completed on shutdown: fetch nothing more, finish the batch in hand, then return. */
  readonly stop: Deferred.Deferred<void>
  /** Longest time durably written records wait for their checkpoint; default 5 seconds. */
  readonly checkpointInterval?: Duration.DurationInput
  /** Records pending that trigger a checkpoint at once; default 10,000. */
  readonly checkpointRecords?: number
  /** Longest time records read wait for their write, folded with those read after them; default 1 second. */
  readonly flushInterval?: Duration.DurationInput
  /** Records buffered that are written at once, before the interval is up; default 10,000 (1: every read on its own). */
  readonly flushRecords?: number
}

/** How a shard's run ended; in every case this worker no longer holds the lease. */
export type Exit =
  /** Read to its end and checkpointed at SHARD_END (which gives the lease up). */
  | "finished"
  /** Shutdown: what completed is checkpointed; the lease is released by the service. */
  | "stopped"
  /** A checkpoint was refused: another worker holds the lease now. */
  | "lost"
  /** Re-reads kept failing until the backoff ran out; the lease was released for any worker to try. */
  | "gaveUp"

/** Why one read of the shard ended. */
type End =
  | { readonly _tag: "Finished" | "Stopped" | "Lost" }
  | { readonly _tag: "Reread"; readonly reason: string }

const finished: End = { _tag: "Finished" }
const stopped: End = { _tag: "Stopped" }
const lost: End = { _tag: "Lost" }
const reread = (reason: string): End => ({ _tag: "Reread", reason })

const positionOf = (r: SourceRecord): Position => ({ sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber })

export const run = (options: Options): Effect.Effect<Exit> =>
  Effect.gen(function*() {
    const { processor, shard, stop } = options
    const { checkpointer } = shard
    const source = shard.stream.name
    const backoff = yield* Schedule.driver(options.rereadBackoff)
    const intervalMillis = Duration.toMillis(options.checkpointInterval ?? Duration.seconds(5))
    const recordsPerCheckpoint = options.checkpointRecords ?? 10_000
    const flushMillis = Duration.toMillis(options.flushInterval ?? Duration.seconds(1))
    const recordsPerFlush = options.flushRecords ?? 10_000

    /** The last durably written position not yet checkpointed, the records up to it, and when the last checkpoint was written. */
    let pending: Position | undefined
    let pendingRecords = 0
    let lastCheckpoint = yield* Clock.currentTimeMillis
    /** Records read and not yet written, in shard order, and when the first of them was read. */
    let buffered: Array<SourceRecord> = []
    let bufferedSince = 0

    /** Undefined when written; otherwise how the read ends. */
    const written = (checkpoint: typeof checkpointer.checkpointShardEnd): Effect.Effect<End | undefined> =>
      checkpoint.pipe(
        Effect.zipRight(Metric.increment(ServiceMetrics.checkpoints)),
        Effect.as(undefined),
        Effect.catchTags({
          LeaseLostError: () => Effect.succeed(lost),
          LeaseStoreError: (e) => Effect.succeed(reread(`the checkpoint could not be written: ${e.message}`))
        })
      )

    /** Writes the pending checkpoint, if any. */
    const flush: Effect.Effect<End | undefined> = Effect.suspend(() => {
      const at = pending
      if (at === undefined) return Effect.succeed(undefined)
      return Effect.tap(written(checkpointer.checkpoint(at)), (end) =>
        Effect.map(Clock.currentTimeMillis, (t) => {
          if (end !== undefined || pending !== at) return
          pending = undefined
          pendingRecords = 0
          lastCheckpoint = t
        }))
    })

    /** Notes records as durably written, and checkpoints them when the count or the interval says so. */
    const done = (at: Position, records: number): Effect.Effect<End | undefined> =>
      Effect.flatMap(Clock.currentTimeMillis, (t) => {
        pending = at
        pendingRecords += records
        return pendingRecords >= recordsPerCheckpoint || t - lastCheckpoint >= intervalMillis ? flush : Effect.succeed(undefined)
      })

    /** Waits until the buffered records' write or the pending checkpoint is due by time; never while neither is waiting. */
    const due = Effect.flatMap(Clock.currentTimeMillis, (t) => {
      const at = Math.min(
        buffered.length > 0 ? bufferedSince + flushMillis : Infinity,
        pending !== undefined ? lastCheckpoint + intervalMillis : Infinity
      )
      return at === Infinity ? Effect.never : Effect.sleep(Math.max(0, at - t))
    })

    /** Processes the buffered records as one chunk, then the checkpoint as `handle` says; `shardEnded` when they are a closed shard's last. */
    const write = (shardEnded = false): Effect.Effect<End | undefined> =>
      Effect.suspend(() => {
        const records = buffered
        buffered = []
        return handle(records, shardEnded)
      })

    /** Writes what is buffered before the read ends as `end`; a failed write ends it as the write says. */
    const writeThen = (end: End): Effect.Effect<End> => Effect.map(write(), (ended) => ended ?? end)

    /** Processes records and checkpoints those done before the first failed one. */
    const handle = (records: ReadonlyArray<SourceRecord>, shardEnded: boolean): Effect.Effect<End | undefined> =>
      Effect.gen(function*() {
        const outcomes = records.length === 0 ? [] : (yield* processor.process(records, { source })).outcomes
        // One shard per batch: at most one acknowledgement.
        const [ack] = Acknowledgement.byShard(records, outcomes)
        if (ack?.resumeAt !== undefined) {
          const failed = ack.resumeAt
          const outcome = outcomes[records.indexOf(failed)]!
          const why = outcome._tag === "Failed" ? outcome.error.message : outcome._tag === "Blocked" ? `${outcome.error}: ${outcome.reason}` : outcome._tag
          // The re-read starts at the checkpoint: write what is done first.
          if (ack.done !== undefined) pending = positionOf(ack.done)
          return (yield* flush) ?? reread(`record ${failed.sequenceNumber}/${failed.subSequenceNumber} is not done: ${why}`)
        }
        if (shardEnded) {
          const end = yield* written(checkpointer.checkpointShardEnd)
          if (end === undefined) pending = undefined
          return end ?? finished
        }
        return ack?.done !== undefined ? yield* done(positionOf(ack.done), records.length) : undefined
      })

    /** Reads from the checkpoint until the shard ends, a failure calls for a re-read, or shutdown. */
    const read: Effect.Effect<End> = Effect.scoped(Effect.gen(function*() {
      // Each run starts at the last checkpoint, with one batch fetched ahead while the current one is processed.
      const pull = yield* Stream.toPull(shard.batches)
      // The pull runs in a fiber of its own, so that a due checkpoint can be written while it waits, without cutting it short.
      let pulling: Fiber.RuntimeFiber<Either.Either<Chunk.Chunk<Consumer.ShardBatch>, Option.Option<KinesisError>>> | undefined
      while (true) {
        if (yield* Deferred.isDone(stop)) return yield* writeThen(stopped)
        pulling ??= yield* Effect.forkScoped(Effect.either(pull))
        const next = yield* Effect.raceFirst(
          Fiber.join(pulling),
          Effect.raceFirst(Effect.as(Deferred.await(stop), "stop" as const), Effect.as(due, "due" as const))
        )
        // What is buffered is written on shutdown, as a batch in hand is finished: it is never checkpointed half-way.
        if (next === "stop") return yield* writeThen(stopped)
        if (next === "due") {
          const t = yield* Clock.currentTimeMillis
          const end = buffered.length > 0 && t >= bufferedSince + flushMillis ? yield* write() : yield* flush
          if (end !== undefined) return end
          continue
        }
        pulling = undefined
        if (Either.isLeft(next)) {
          // The consumer ends the shard's stream on shutdown too.
          if (Option.isNone(next.left) && (yield* Deferred.isDone(stop))) return yield* writeThen(stopped)
          return yield* writeThen(
            reread(Option.match(next.left, { onNone: () => "the shard's stream ended before the shard did", onSome: (e) => `reading failed: ${e.message}` }))
          )
        }
        for (const batch of next.right) {
          const t = yield* Clock.currentTimeMillis
          if (buffered.length === 0) bufferedSince = t
          for (const record of batch.records) buffered.push(record)
          // A closed shard's last records are written at once: SHARD_END follows them. Checked here too, as reads that
          // keep arriving would win every race against the timer.
          const end = batch.shardEnded
            ? yield* write(true)
            : buffered.length >= recordsPerFlush || t - bufferedSince >= flushMillis
            ? yield* write()
            : undefined
          if (end !== undefined) return end
        }
        yield* backoff.reset
      }
    }))

    while (true) {
      const end = yield* read
      switch (end._tag) {
        case "Finished":
          yield* Effect.logInfo("shard finished: checkpointed at SHARD_END")
          return "finished"
        case "Stopped": {
          // Shutdown: what is durably written is checkpointed before the lease is released.
          const end = yield* flush
          if (end?._tag === "Lost") return "lost"
          return "stopped"
        }
        case "Lost":
          yield* Effect.logWarning("lease lost: another worker took the shard; stopped without checkpointing")
          return "lost"
        case "Reread": {
          if ((yield* flush)?._tag === "Lost") return "lost"
          yield* Metric.increment(ServiceMetrics.rereads)
          const checkpoint = yield* checkpointer.position
          const annotations = { reason: end.reason, checkpoint: checkpoint.sequenceNumber, subSequenceNumber: checkpoint.subSequenceNumber }
          yield* Effect.logWarning("re-reading the shard from its checkpoint after a backoff").pipe(Effect.annotateLogs(annotations))
          const waited = yield* Effect.raceFirst(Effect.either(backoff.next(undefined)), Effect.as(Deferred.await(stop), undefined))
          if (waited === undefined) return "stopped"
          if (Either.isLeft(waited)) {
            yield* Effect.logError("giving the shard's lease up: re-reads kept failing").pipe(Effect.annotateLogs(annotations))
            yield* Effect.ignoreLogged(checkpointer.release)
            return "gaveUp"
          }
        }
      }
    }
  })
