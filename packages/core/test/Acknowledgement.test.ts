import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Acknowledgement from "../src/Acknowledgement"
import * as DeadLetter from "../src/DeadLetter"
import type * as Processor from "../src/Processor"
import type { SourceRecord } from "../src/SourceRecord"

const outcomes: ReadonlyArray<Processor.Outcome | undefined> = [
  { _tag: "Applied" },
  { _tag: "Duplicate" },
  { _tag: "DeadLettered", error: "NotJsonError", reason: "not JSON" },
  { _tag: "Blocked", error: "NotJsonError", reason: "not JSON" },
  { _tag: "Failed", error: new DeadLetter.DeadLetterError({ message: "down" }) },
  undefined
]

/** A chunk: records of up to four shards interleaved, each shard in sequence order, and an outcome per record. */
const arbitraryChunk = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(...outcomes)), { maxLength: 40 }).map((entries) => {
  const next = new Map<number, number>()
  const records = entries.map(([shard]): SourceRecord => {
    const n = next.get(shard) ?? 0
    next.set(shard, n + 1)
    return { data: new Uint8Array(), partitionKey: "k", shardId: `shard-${shard}`, sequenceNumber: String(100 + n), subSequenceNumber: 0, arrivalTime: 0 }
  })
  return { records, outcomes: entries.map(([, outcome]) => outcome) }
})

describe("Acknowledgement", () => {
  it("counts as done what needs no redelivery", () => {
    expect(outcomes.map(Acknowledgement.isDone)).toEqual([true, true, true, false, false, false])
  })

  it.prop("resumes each shard at its first record not done, with the record before it done", [arbitraryChunk], ([chunk]) => {
    const acks = Acknowledgement.byShard(chunk.records, chunk.outcomes)
    const shards = [...new Set(chunk.records.map((r) => r.shardId))]
    expect(acks.map((a) => a.shardId)).toEqual(shards)
    for (const ack of acks) {
      const indices = chunk.records.flatMap((r, i) => (r.shardId === ack.shardId ? [i] : []))
      const first = indices.findIndex((i) => !Acknowledgement.isDone(chunk.outcomes[i]))
      const resume = first < 0 ? undefined : indices[first]!
      expect(ack.resumeAt).toBe(resume === undefined ? undefined : chunk.records[resume])
      const lastDone = first < 0 ? indices[indices.length - 1]! : first === 0 ? undefined : indices[first - 1]!
      expect(ack.done).toBe(lastDone === undefined ? undefined : chunk.records[lastDone])
      // One shard alone: doneCount is how far it moves.
      expect(Acknowledgement.doneCount(indices.map((i) => chunk.outcomes[i]))).toBe(first < 0 ? indices.length : first)
    }
  })
})
