import { describe, expect, it } from "@effect/vitest"
import type * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import { Effect, Metric } from "effect"
import * as AppliedOnce from "../src/AppliedOnce"

const record = (n: number): SourceRecord =>
  ({ data: new Uint8Array(), partitionKey: `k${n}`, shardId: "shardId-0", sequenceNumber: String(1000 + n), subSequenceNumber: 0, arrivedAt: 0 }) as unknown as SourceRecord

/** A processor that answers each call with the next scripted outcomes, as the real one does when the store skips re-applied writes. */
const scripted = (script: Array<ReadonlyArray<Processor.Outcome["_tag"]>>): Processor.Processor["Type"] => ({
  process: (records: ReadonlyArray<SourceRecord>) =>
    Effect.sync(() => {
      const tags = script.shift()!
      expect(tags).toHaveLength(records.length)
      const outcomes = tags.map((tag): Processor.Outcome =>
        tag === "Failed"
          ? ({ _tag: "Failed", error: { message: "store down" } } as unknown as Processor.Outcome)
          : ({ _tag: tag } as Processor.Outcome)
      )
      return { outcomes, counts: { applied: 0, duplicate: 0, deadLettered: 0, blocked: 0, failed: 0 }, writes: [], retries: 0 }
    })
} as unknown as Processor.Processor["Type"])

describe("AppliedOnce", () => {
  it.effect("counts each applied record once across re-reads, and none after a failure until it is read again", () =>
    Effect.gen(function*() {
      const before = (yield* Metric.value(AppliedOnce.recordsApplied)).count
      const processor = AppliedOnce.wrap(scripted([
        ["Applied", "Applied", "Failed", "Applied"],
        // Re-read from the checkpoint (after record 2): both applied now; record 4's write had landed already.
        ["Applied", "Applied"],
        // Read again after a restart of the shard's reader: everything reported applied again.
        ["Applied", "Duplicate", "Applied", "Applied"],
        ["Applied"]
      ]))
      yield* processor.process([1, 2, 3, 4].map(record))
      expect((yield* Metric.value(AppliedOnce.recordsApplied)).count - before).toBe(2)
      yield* processor.process([3, 4].map(record))
      expect((yield* Metric.value(AppliedOnce.recordsApplied)).count - before).toBe(4)
      yield* processor.process([1, 2, 3, 4].map(record))
      expect((yield* Metric.value(AppliedOnce.recordsApplied)).count - before).toBe(4)
      yield* processor.process([5].map(record))
      expect((yield* Metric.value(AppliedOnce.recordsApplied)).count - before).toBe(5)
    }))
})
