/**
 * Counts applied records once per worker. The processor reports a record
 * read again (after a failed batch, its shard re-read from the checkpoint)
 * as applied again when the store skips its already-written contribution,
 * so its own `eddy_records_applied` counts re-reads; this counter counts a
 * record only once it is done with every record before it (so it will be
 * checkpointed), and only past the furthest position already counted on its
 * shard.
 * (After a restart a worker cannot know what its predecessor counted: the
 * records after the last checkpoint are counted again then.)
 */
import * as Metrics from "@eddy/core/Metrics"
import type * as Processor from "@eddy/core/Processor"
import { comparePosition, type Position } from "@eddy/core/SourceRecord"
import { Effect, Metric } from "effect"

export const recordsApplied = Metrics.counter("eddy_service_records_applied", "records whose aggregates are durably written, each counted once even when its shard is read again")

/** `processor` with its applied records counted once each in `recordsApplied`; one per shard. */
export const wrap = (processor: Processor.Processor["Type"]): Processor.Processor["Type"] => {
  let furthest: Position | undefined
  return {
    ...processor,
    process: (records, context) =>
      Effect.tap(processor.process(records, context), (result) =>
        Effect.suspend(() => {
          let fresh = 0
          let next = furthest
          // Only the records before the first one not done: the rest are read again (and counted then).
          for (let i = 0; i < result.outcomes.length; i++) {
            const outcome = result.outcomes[i]!
            if (outcome._tag === "Failed" || outcome._tag === "Blocked") break
            const record = records[i]!
            if (furthest !== undefined && comparePosition(record, furthest) <= 0) continue
            if (outcome._tag === "Applied") fresh++
            if (next === undefined || comparePosition(record, next) > 0) next = { sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber }
          }
          furthest = next
          return fresh === 0 ? Effect.void : Metric.incrementBy(recordsApplied, fresh)
        }))
  }
}
