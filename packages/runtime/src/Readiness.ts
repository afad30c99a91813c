/**
 * What the service's `/readyz` knows of each shard it processes: since when
 * it has been failing (re-reads after a failed batch or read, with no batch
 * fully done since). A shard failing for longer than `stuckAfter` is stuck:
 * a poison record it cannot dead-letter, a store that refuses writes, a read
 * that keeps failing. `Service` is ready only when no shard is stuck, every
 * shard it holds a lease on is being processed, and Kinesis and the lease
 * table answer.
 */
import type * as Processor from "@eddy/core/Processor"
import type * as Consumer from "@eddy/kinesis/Consumer"
import { Clock, Duration, Effect, Metric, Stream, SubscriptionRef } from "effect"
import * as ServiceMetrics from "./internal/serviceMetrics"

interface ShardState {
  /** The shard's stream, by name: the dimension of `ShardsHalted`. */
  readonly stream: string
  /** The first failure since the last batch fully done; undefined while healthy. */
  failingSince: number | undefined
  reason: string | undefined
}

/** Whether every owned shard is being read, and what is wrong if not. */
export interface Report {
  /** Every problem that makes the worker not ready, in plain words; empty when ready. */
  readonly problems: ReadonlyArray<string>
}

/** Follows the shards' reads to tell which are stuck. */
export interface Tracker {
  /** `shard` with its read failures observed. */
  readonly watch: (shard: Consumer.ShardStream) => Consumer.ShardStream
  /** `processor` with each batch's outcome observed for `shard`. */
  readonly processorFor: (shard: Consumer.ShardStream, processor: Processor.Processor["Type"]) => Processor.Processor["Type"]
  readonly forget: (shardId: string) => Effect.Effect<void>
  /** The problems of the shards in `owned`, as of now. */
  readonly report: (owned: ReadonlyArray<string>) => Effect.Effect<Report>
  /** The halted shards of each stream (by name; a stream with none may be left out): the current count, then every change. */
  readonly halted: Stream.Stream<ReadonlyMap<string, number>>
}

const isDone = (o: Processor.Outcome) => o._tag === "Applied" || o._tag === "Duplicate" || o._tag === "DeadLettered"

/** A tracker calling a shard stuck after `stuckAfter` without progress. */
export const make = (options: { readonly stuckAfter: Duration.DurationInput }): Effect.Effect<Tracker> =>
  Effect.map(SubscriptionRef.make<ReadonlyMap<string, number>>(new Map()), (haltedByStream) => {
    const stuckMillis = Duration.toMillis(Duration.decode(options.stuckAfter))
    const shards = new Map<string, ShardState>()
    const stateOf = (shard: Consumer.ShardStream): ShardState => {
      let state = shards.get(shard.lease.leaseKey)
      if (state === undefined) shards.set(shard.lease.leaseKey, state = { stream: shard.stream.name, failingSince: undefined, reason: undefined })
      return state
    }
    /** The halted shards of each stream, counted afresh. */
    const count = (): ReadonlyMap<string, number> => {
      const counts = new Map<string, number>()
      for (const state of shards.values()) if (state.failingSince !== undefined) counts.set(state.stream, (counts.get(state.stream) ?? 0) + 1)
      return counts
    }
    /** The counts and the halted-shards gauge follow every change; counted under the ref's lock, so the last change is never overwritten. */
    const halted: Effect.Effect<void> = SubscriptionRef.updateAndGet(haltedByStream, count).pipe(
      Effect.flatMap((counts) => Metric.set(ServiceMetrics.shardsHalted, Array.from(counts.values()).reduce((a, b) => a + b, 0)))
    )
    const failing = (shard: Consumer.ShardStream, reason: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const state = stateOf(shard)
        state.failingSince ??= now
        state.reason = reason
        return halted
      })

    return {
      watch: (shard) =>
        ({
          ...shard,
          batches: Stream.tapError(shard.batches, (e) => failing(shard, `reading failed: ${e.message}`))
        }),
      processorFor: (shard, processor) => ({
        ...processor,
        process: (records, options) =>
          Effect.tap(processor.process(records, options), (result) =>
            Effect.suspend(() => {
              const stuck = result.outcomes.find((o) => !isDone(o))
              if (stuck === undefined) {
                const state = stateOf(shard)
                if (state.failingSince === undefined) return Effect.void
                state.failingSince = undefined
                state.reason = undefined
                return halted
              }
              const why = stuck._tag === "Failed" ? stuck.error.message : `${stuck.error}: ${stuck.reason}`
              return failing(shard, `a record is not done: ${why}`)
            }))
      }),
      forget: (shardId) =>
        Effect.suspend(() => {
          shards.delete(shardId)
          return halted
        }),
      report: (owned) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const problems: Array<string> = []
          for (const shardId of owned) {
            const state = shards.get(shardId)
            if (state?.failingSince !== undefined && now - state.failingSince >= stuckMillis) {
              problems.push(`shard ${shardId} is stuck: failing for ${Math.round((now - state.failingSince) / 1000)} s (${state.reason})`)
            }
          }
          return { problems }
        }),
      halted: haltedByStream.changes
    }
  })
