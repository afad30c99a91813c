/**
 * One leased shard from `Consumer.makeSharded`: read it from its checkpoint,
 * process each batch, and checkpoint only what the processor finished (see
 * `Acknowledgement`). `Service` runs one of these per shard handed out and
 * interrupts it when the lease is lost.
 */
import * as Acknowledgement from "@eddy/core/Acknowledgement"
import type * as Processor from "@eddy/core/Processor"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import type * as Consumer from "@eddy/kinesis/Consumer"
import { Chunk, Deferred, Effect, Either, Metric, Option, Schedule, Stream } from "effect"
import * as ServiceMetrics from "./serviceMetrics"

export interface Options {
  readonly streamName: string
  readonly shard: Consumer.ShardStream
  readonly processor: Processor.Processor["Type"]
  /** Waits before each re-read after a failure; when it is exhausted the lease is given up. */
  readonly rereadBackoff: Schedule.Schedule<unknown, unknown>
  /** Completed on shutdown: fetch nothing more, finish the batch in hand, then return. */
  readonly stop: Deferred.Deferred<void>
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
    const { processor, shard, stop, streamName } = options
    const { checkpointer } = shard
    const backoff = yield* Schedule.driver(options.rereadBackoff)

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

    /** Processes one batch and checkpoints the records done before the first failed one. */
    const handle = (batch: Consumer.ShardBatch): Effect.Effect<End | undefined> =>
      Effect.gen(function*() {
        const records = Chunk.toReadonlyArray(batch.records)
        const outcomes = records.length === 0 ? [] : (yield* processor.process(records, { source: streamName })).outcomes
        // One shard per batch: at most one acknowledgement.
        const [ack] = Acknowledgement.byShard(records, outcomes)
        if (ack?.resumeAt !== undefined) {
          const failed = ack.resumeAt
          const outcome = outcomes[records.indexOf(failed)]!
          const why = outcome._tag === "Failed" ? outcome.error.message : outcome._tag === "Blocked" ? `${outcome.error}: ${outcome.reason}` : outcome._tag
          const end = ack.done !== undefined ? yield* written(checkpointer.checkpoint(positionOf(ack.done))) : undefined
          return end ?? reread(`record ${failed.sequenceNumber}/${failed.subSequenceNumber} is not done: ${why}`)
        }
        if (batch.shardEnded) return (yield* written(checkpointer.checkpointShardEnd)) ?? finished
        return ack?.done !== undefined ? yield* written(checkpointer.checkpoint(positionOf(ack.done))) : undefined
      })

    /** Reads from the checkpoint until the shard ends, a failure calls for a re-read, or shutdown. */
    const read: Effect.Effect<End> = Effect.scoped(Effect.gen(function*() {
      // Each run starts at the last checkpoint, with one batch fetched ahead while the current one is processed.
      const pull = yield* Stream.toPull(shard.batches)
      while (true) {
        if (yield* Deferred.isDone(stop)) return stopped
        const next = yield* Effect.raceFirst(Effect.either(pull), Effect.as(Deferred.await(stop), undefined))
        if (next === undefined) return stopped
        if (Either.isLeft(next)) {
          // The consumer ends the shard's stream on shutdown too.
          if (Option.isNone(next.left) && (yield* Deferred.isDone(stop))) return stopped
          return reread(Option.match(next.left, { onNone: () => "the shard's stream ended before the shard did", onSome: (e) => `reading failed: ${e.message}` }))
        }
        // Not raced with `stop`: a batch in hand is finished (or abandoned by interruption), never checkpointed half-way.
        for (const batch of next.right) {
          const end = yield* handle(batch)
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
        case "Stopped":
          return "stopped"
        case "Lost":
          yield* Effect.logWarning("lease lost: another worker took the shard; stopped without checkpointing")
          return "lost"
        case "Reread": {
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
