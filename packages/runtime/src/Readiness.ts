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
import { Clock, Duration, Effect, Stream } from "effect"
import * as ServiceMetrics from "./internal/serviceMetrics"

interface ShardState {
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
  /** `processor` with each batch's outcome observed for its shard. */
  readonly processorFor: (shardId: string, processor: Processor.Processor["Type"]) => Processor.Processor["Type"]
  readonly forget: (shardId: string) => void
  /** The problems of the shards in `owned`, as of now. */
  readonly report: (owned: ReadonlyArray<string>) => Effect.Effect<Report>
}

const isDone = (o: Processor.Outcome) => o._tag === "Applied" || o._tag === "Duplicate" || o._tag === "DeadLettered"

/** A tracker calling a shard stuck after `stuckAfter` without progress. */
export const make = (options: { readonly stuckAfter: Duration.DurationInput }): Tracker => {
  const stuckMillis = Duration.toMillis(Duration.decode(options.stuckAfter))
  const shards = new Map<string, ShardState>()
  const stateOf = (shardId: string): ShardState => {
    let state = shards.get(shardId)
    if (state === undefined) shards.set(shardId, state = { failingSince: undefined, reason: undefined })
    return state
  }
  /** The halted-shards gauge follows every change. */
  const halted = (): void => {
    let n = 0
    for (const state of shards.values()) if (state.failingSince !== undefined) n++
    ServiceMetrics.shardsHalted.unsafeUpdate(n, [])
  }
  const failing = (shardId: string, reason: string) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const state = stateOf(shardId)
      state.failingSince ??= now
      state.reason = reason
      halted()
    })

  return {
    watch: (shard) =>
      ({
        ...shard,
        batches: Stream.tapError(shard.batches, (e) => failing(shard.lease.leaseKey, `reading failed: ${e.message}`))
      }),
    processorFor: (shardId, processor) => ({
      ...processor,
      process: (records, options) =>
        Effect.tap(processor.process(records, options), (result) =>
          Effect.suspend(() => {
            const stuck = result.outcomes.find((o) => !isDone(o))
            if (stuck === undefined) {
              const state = stateOf(shardId)
              if (state.failingSince === undefined) return Effect.void
              state.failingSince = undefined
              state.reason = undefined
              halted()
              return Effect.void
            }
            const why = stuck._tag === "Failed" ? stuck.error.message : `${stuck.error}: ${stuck.reason}`
            return failing(shardId, `a record is not done: ${why}`)
          }))
    }),
    forget: (shardId) => {
      shards.delete(shardId)
      halted()
    },
    report: (owned) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const problems: Array<string> = []
        for (const shardId of owned) {
          const state = stateOf(shardId)
          if (state.failingSince !== undefined && now - state.failingSince >= stuckMillis) {
            problems.push(`shard ${shardId} is stuck: failing for ${Math.round((now - state.failingSince) / 1000)} s (${state.reason})`)
          }
        }
        return { problems }
      })
  }
}
