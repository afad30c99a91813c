import { Data, Effect, Exit, Fiber } from "effect"
import * as Acknowledgement from "@eddy/core/Acknowledgement"
import { Processor } from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"

/** Redelivery made no progress: the records never got done. */
export class NoProgressError extends Data.TaggedError("NoProgressError")<{ readonly message: string }> {}

/** Options of redelivery until done. */
export interface Options {
  /** Records per delivered batch. */
  readonly batchSize: number
  /** Deliveries allowed in all before giving up (faults must end for delivery to finish). */
  readonly maxDeliveries: number
}

/** What redelivery took. */
export interface Summary {
  readonly deliveries: number
  readonly crashes: number
  readonly redelivered: number
}

/**
 * Delivers records to the Processor the way Kinesis and Lambda do: per shard in
 * order, in batches; a batch whose processing was interrupted (a crash) is
 * delivered again whole; otherwise delivery resumes at the lowest record that
 * did not succeed, and everything after it is delivered again.
 */
export const deliverAll = (records: ReadonlyArray<SourceRecord>, options: Options) =>
  Effect.gen(function*() {
    const processor = yield* Processor
    const shards = new Map<string, Array<SourceRecord>>()
    for (const r of records) {
      const list = shards.get(r.shardId)
      if (list === undefined) shards.set(r.shardId, [r])
      else list.push(r)
    }
    let deliveries = 0
    let crashes = 0
    let redelivered = 0
    for (const [shardId, shard] of shards) {
      let cursor = 0
      while (cursor < shard.length) {
        if (deliveries++ >= options.maxDeliveries) {
          return yield* new NoProgressError({ message: `shard ${shardId} still at record ${cursor} of ${shard.length} after ${options.maxDeliveries} deliveries` })
        }
        const batch = shard.slice(cursor, cursor + options.batchSize)
        const exit = yield* Effect.fork(processor.process(batch)).pipe(Effect.flatMap(Fiber.await))
        if (Exit.isFailure(exit)) {
          crashes++
          redelivered += batch.length
          continue
        }
        const done = Acknowledgement.doneCount(exit.value.outcomes)
        redelivered += batch.length - done
        cursor += done
      }
    }
    return { deliveries, crashes, redelivered } satisfies Summary
  })
