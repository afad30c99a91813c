import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Metric, Option, Schedule, TestClock } from "effect"
import * as DeadLetter from "../src/DeadLetter"
import * as Deduper from "../src/Deduper"
import * as Faults from "@eddy/testing/Faults"
import * as Metrics from "../src/Metrics"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import * as Store from "../src/Store"
import { recordsOf, revenue, sale, Sales, salesCount, T0 } from "./fixtures"

const backends = Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory)

const run = (options: Processor.Options, faults: { store?: Faults.FaultPlan } = {}) => <A, E>(self: Effect.Effect<A, E, Processor.Processor | Store.Store | DeadLetter.MemoryDeadLetters>) =>
  self.pipe(
    Effect.provide(
      Processor.layer(options).pipe(
        Layer.provideMerge(faults.store ? Faults.store(faults.store) : Layer.empty),
        Layer.provideMerge(backends)
      )
    )
  )

const tags = (result: Processor.Result) => result.outcomes.map((o) => o._tag)
const hour = "2026-11-21T09Z"

/** Throws on the item "boom". */
const fragile = Pipeline.make({
  name: "fragile",
  source: Sales,
  events: ["sale"],
  key: (e) => {
    if (e.item === "boom") throw new Error("cannot key boom")
    return e.item
  },
  value: () => 1,
  aggregate: Monoid.count
})

describe("Processor", () => {
  it.effect("applies valid records, dead-letters poison with its reason and keeps neighbours", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const records = recordsOf([sale("e1", "a", 5), "{oops", sale("e2", "a", 7), JSON.stringify({ ...sale("e3", "b", 1), amount: 1.5 }), sale("e4", "b", 2)])
      const outcomes = yield* processor.process(records, { source: "arn:aws:kinesis:eu-west-1:1:stream/sales" })
      expect(tags(outcomes)).toEqual(["Applied", "DeadLettered", "Applied", "DeadLettered", "Applied"])
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(12)
      expect(Option.getOrThrow(yield* Store.get(Monoid.count, { pipeline: salesCount.name, key: "b", bucket: "all" }))).toBe(1)
      const entries = yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)
      expect(entries.map((e) => [e.error, e.sequenceNumber, e.source])).toEqual([
        ["NotJsonError", "1001", "arn:aws:kinesis:eu-west-1:1:stream/sales"],
        ["InvalidEventError", "1003", "arn:aws:kinesis:eu-west-1:1:stream/sales"]
      ])
      expect(entries[1]!.reason).toMatch(/amount/)
      expect(new TextDecoder().decode(entries[0]!.payload)).toBe("{oops")
    }).pipe(run({ pipelines: [revenue, salesCount] })))

  it.effect("counts a producer duplicate once, within a chunk and across chunks", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const first = yield* processor.process(recordsOf([sale("e1", "a", 5), sale("e1", "a", 5)]))
      const later = yield* processor.process(recordsOf([sale("e1", "a", 5)], "shardId-001"))
      expect(tags(first)).toEqual(["Applied", "Duplicate"])
      expect(tags(later)).toEqual(["Duplicate"])
      // Redelivery of the original record finds its own claim; the watermark skips it, so it counts as a duplicate, not applied again.
      expect(tags(yield* processor.process(recordsOf([sale("e1", "a", 5)])))).toEqual(["Duplicate"])
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(5)
    }).pipe(run({ pipelines: [revenue] })))

  it.effect("retries retryable store failures on the schedule, only for the writes that failed", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const fiber = yield* Effect.fork(processor.process(recordsOf([sale("e1", "a", 5), sale("e2", "b", 1)])))
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(tags(result)).toEqual(["Applied", "Applied"])
      // Two store calls rejected the first write: two retries.
      expect(result.retries).toBe(2)
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "b", bucket: hour }))).toBe(1)
    }).pipe(
      run(
        { pipelines: [revenue], retry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(3))) },
        { store: (call) => (call < 2 ? { _tag: "Reject", rejected: [0] } : undefined) }
      )
    ))

  it.effect("reports records as failed when retries run out, and not before the schedule ends", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const fiber = yield* Effect.fork(processor.process(recordsOf([sale("e1", "a", 5), "{bad", sale("e2", "b", 1)])))
      yield* TestClock.adjust(Duration.seconds(10))
      const result = yield* Fiber.join(fiber)
      expect(tags(result)).toEqual(["Failed", "Failed", "Failed"])
      // The poison record after the failure waits for the redelivery instead of reaching the sink twice.
      expect(yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)).toEqual([])
      const failed = result.outcomes[0] as Processor.Failed
      expect(failed.error._tag).toBe("StoreUnavailableError")
    }).pipe(run({ pipelines: [revenue], retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(3))) }, { store: () => ({ _tag: "Fail" }) })))

  it.effect("does not retry a rejected write, and dead-letters its records so they do not block the shard", () =>
    Effect.gen(function*() {
      let calls = 0
      const rejecting = Layer.succeed(Store.Store, {
        getMany: () => Effect.succeed([]),
        apply: (writes) => Effect.sync(() => { calls++; return writes.map(() => new Store.StoreRejectedError({ message: "item too large" })) })
      })
      const [{ outcomes }, entries] = yield* Effect.flatMap(Processor.Processor, (p) => p.process(recordsOf([sale("e1", "a", 5)]))).pipe(
        Effect.zip(Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)),
        Effect.provide(Processor.layer({ pipelines: [revenue] }).pipe(Layer.provideMerge(Layer.mergeAll(rejecting, Deduper.layerMemory(), DeadLetter.layerMemory))))
      )
      expect(outcomes[0]).toMatchObject({ _tag: "DeadLettered", error: "StoreRejectedError" })
      expect((outcomes[0] as Processor.DeadLettered).reason).toBe('pipeline revenue_by_item_hourly cannot store key "a" in bucket 2026-11-21T09Z: item too large')
      expect(calls).toBe(1)
      expect(entries.map((e) => e.pipeline)).toEqual([revenue.name])
    }))

  it.effect("dead-letters an event a pipeline throws on, naming the pipeline, and writes none of it; its re-drive after the fix is applied whole", () =>
    Effect.gen(function*() {
      const deduper = yield* Deduper.makeMemory()
      const shared = Layer.mergeAll(Store.layerMemory, Layer.succeed(Deduper.Deduper, deduper), DeadLetter.layerMemory)
      const once = (pipelines: ReadonlyArray<Pipeline.Pipeline>, records: ReturnType<typeof recordsOf>) =>
        Effect.flatMap(Processor.Processor, (p) => p.process(records)).pipe(Effect.provide(Processor.layer({ pipelines }).pipe(Layer.provideMerge(shared))))
      const { outcomes } = yield* once([revenue, fragile], recordsOf([sale("e1", "boom", 3)]))
      expect(outcomes[0]).toMatchObject({ _tag: "DeadLettered", error: "PipelineFailure", reason: "pipeline fragile failed on this event: cannot key boom" })
      // Its claim was given up: the re-driven payload, at a new position, is not a duplicate.
      const fixed = Pipeline.make({ name: "fragile", source: Sales, events: ["sale"], key: (e) => e.item, value: () => 1, aggregate: Monoid.count })
      const redriven = yield* once([revenue, fixed], recordsOf([sale("e1", "boom", 3)], "shardId-000", 5000))
      expect(tags(redriven)).toEqual(["Applied"])
    }))

  it.effect("a deployment fault is neither retried nor dead-lettered: the records fail, the alarm counts it, and they apply once it is fixed", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const alarm = Metrics.deploymentFaults.pipe(Metric.tagged("service", "store"), Metric.tagged("pipeline", revenue.name), Metric.tagged("error", "AccessDeniedException"))
      const before = (yield* Metric.value(alarm)).count
      const records = recordsOf([sale("e1", "a", 5), sale("e2", "a", 2)])
      const denied = yield* processor.process(records)
      expect(tags(denied)).toEqual(["Failed", "Failed"])
      expect(denied.retries).toBe(0)
      expect(denied.deploymentFaults).toEqual([{ service: "store", pipeline: revenue.name, error: "AccessDeniedException", message: expect.stringMatching(/access denied/), count: 1 }])
      expect((yield* Metric.value(alarm)).count - before).toBe(1)
      expect(yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)).toEqual([])
      // Fixed: the redelivery finds its own claims and applies.
      expect(tags(yield* processor.process(records))).toEqual(["Applied", "Applied"])
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(7)
    }).pipe(run({ pipelines: [revenue], retry: Schedule.recurs(3) }, { store: (call) => (call === 0 ? { _tag: "Misconfigured" } : undefined) })))

  it.effect("a reused event id with another payload is dead-lettered as a conflict with both hashes, within a chunk and across; the same payload is a duplicate", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const [original, other] = recordsOf([sale("e1", "a", 5), sale("e1", "b", 9)])
      const first = yield* processor.process([original!, other!])
      expect(tags(first)).toEqual(["Applied", "DeadLettered"])
      expect(first.conflicts).toBe(1)
      const later = recordsOf([sale("e1", "a", 5), sale("e1", "c", 1)], "shardId-001")
      const second = yield* processor.process(later)
      expect(tags(second)).toEqual(["Duplicate", "DeadLettered"])
      const entries = yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)
      expect(entries.map((e) => e.error)).toEqual(["EventIdConflict", "EventIdConflict"])
      expect(entries[1]!.reason).toContain(Deduper.payloadHashOf(original!.data))
      expect(entries[1]!.reason).toContain(Deduper.payloadHashOf(later[1]!.data))
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(5)
      expect(Option.isNone(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "b", bucket: hour }))).toBe(true)
    }).pipe(run({ pipelines: [revenue] })))

  it.effect("leaves poison records unacknowledged while the dead-letter sink is down", () =>
    Effect.gen(function*() {
      const down = Layer.succeed(DeadLetter.DeadLetter, { send: () => Effect.fail(new DeadLetter.DeadLetterError({ message: "queue unreachable" })) })
      const outcomes = yield* Effect.flatMap(Processor.Processor, (p) => p.process(recordsOf([sale("e1", "a", 1), "{bad"]))).pipe(
        Effect.provide(Processor.layer({ pipelines: [revenue], retry: Schedule.recurs(1) }).pipe(Layer.provide(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), down))))
      )
      expect(tags(outcomes)).toEqual(["Applied", "Failed"])
    }))

  it.effect("dead-letters a record the driver could not unpack, with the driver's reason", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const [record] = recordsOf([sale("e1", "a", 1)])
      const { outcomes } = yield* processor.process([{ ...record!, unreadable: { error: "KplError", reason: "aggregated record checksum mismatch" } }])
      expect(outcomes[0]).toEqual({ _tag: "DeadLettered", error: "KplError", reason: "aggregated record checksum mismatch" })
    }).pipe(run({ pipelines: [revenue] })))

  it.effect("writes one folded delta per pipeline, key and bucket, and counts its metrics", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const before = (yield* Metric.value(Metrics.recordsIn)).count
      const writesBefore = (yield* Metric.value(Metrics.storeWrites.pipe(Metric.tagged("pipeline", revenue.name)))).count
      const events = Array.from({ length: 100 }, (_, i) => sale(`e${i}`, i % 2 ? "a" : "b", 1, T0 + (i % 3) * 3_600_000))
      const result = yield* processor.process(recordsOf(events))
      expect(result.counts).toEqual({ applied: 100, duplicate: 0, deadLettered: 0, blocked: 0, failed: 0 })
      expect(result.writes).toEqual([6])
      expect(result.retries).toBe(0)
      expect((yield* Metric.value(Metrics.recordsIn)).count - before).toBe(100)
      // 2 items x 3 hours.
      expect((yield* Metric.value(Metrics.storeWrites.pipe(Metric.tagged("pipeline", revenue.name)))).count - writesBefore).toBe(6)
    }).pipe(run({ pipelines: [revenue] })))
})

describe("Processor across streams", () => {
  it.effect("keeps separate watermarks and claims for equal shard ids of different streams", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      // Same shard id and sequence numbers on two streams, both feeding one aggregate.
      const fromOrders = yield* processor.process(recordsOf([sale("o1", "a", 5)]), { source: "arn:aws:kinesis:eu-west-1:1:stream/orders" })
      const fromReturns = yield* processor.process(recordsOf([sale("r1", "a", 7)]), { source: "returns" })
      expect([...tags(fromOrders), ...tags(fromReturns)]).toEqual(["Applied", "Applied"])
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(12)
      // Lambda names the stream by ARN, the service by name: one scope, so the redelivery is skipped.
      expect(tags(yield* processor.process(recordsOf([sale("o1", "a", 5)]), { source: "orders" }))).toEqual(["Duplicate"])
      expect(Option.getOrThrow(yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: "a", bucket: hour }))).toBe(12)
    }).pipe(run({ pipelines: [revenue] })))
})

describe("Processor with the block poison policy", () => {
  const block = { pipelines: [revenue], poison: "block" as const }
  const revenueOf = (key: string) => Effect.map(Store.get(Monoid.sum, { pipeline: revenue.name, key, bucket: hour }), Option.getOrUndefined)
  const deadLetters = Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)

  it.effect("holds a shard at its poison record: nothing after it in that shard is written, other shards proceed", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const a = recordsOf([sale("e1", "a", 5), "{bad", sale("e2", "a", 7), sale("e3", "b", 1)], "shard-a")
      const b = recordsOf([sale("e4", "a", 10), sale("e5", "b", 2)], "shard-b")
      const result = yield* processor.process([a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, a[3]!])
      expect(tags(result)).toEqual(["Applied", "Applied", "Blocked", "Applied", "Blocked", "Blocked"])
      expect(result.outcomes[4]).toEqual({ _tag: "Blocked", error: "NotJsonError", reason: expect.stringContaining("JSON") })
      expect(result.counts).toEqual({ applied: 3, duplicate: 0, deadLettered: 0, blocked: 3, failed: 0 })
      expect(yield* revenueOf("a")).toBe(15)
      expect(yield* revenueOf("b")).toBe(2)
      expect(yield* deadLetters).toEqual([])
      // Fixed and redelivered from the poison: no watermark moved past it, so all of it is applied.
      const fixed = recordsOf([sale("e6", "a", 3), sale("e2", "a", 7), sale("e3", "b", 1)], "shard-a", 1001)
      expect(tags(yield* processor.process(fixed))).toEqual(["Applied", "Applied", "Applied"])
      expect(yield* revenueOf("a")).toBe(25)
      expect(yield* revenueOf("b")).toBe(3)
    }).pipe(run(block)))

  it.effect("gives up the claims of the records it holds back, so their re-drive elsewhere is not a duplicate", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const held = yield* processor.process(recordsOf([sale("e1", "boom", 1), sale("e2", "a", 7)], "shard-a"))
      expect(tags(held)).toEqual(["Blocked", "Blocked"])
      // The shard was given up on (MaximumRetryAttempts) and its records put back into the stream.
      expect(tags(yield* processor.process(recordsOf([sale("e2", "a", 7)], "shard-b", 9000)))).toEqual(["Applied"])
      expect(yield* revenueOf("a")).toBe(7)
    }).pipe(run({ pipelines: [revenue, fragile], poison: "block" })))

  it.effect("blocks at an event a pipeline throws on, writing none of its pairs nor anything after it", () =>
    Effect.gen(function*() {
      const result = yield* Effect.flatMap(Processor.Processor, (p) => p.process(recordsOf([sale("e1", "a", 1), sale("e2", "boom", 3), sale("e3", "a", 2)])))
      expect(tags(result)).toEqual(["Applied", "Blocked", "Blocked"])
      expect(result.outcomes[1]).toEqual({ _tag: "Blocked", error: "PipelineFailure", reason: "pipeline fragile failed on this event: cannot key boom" })
      expect(yield* revenueOf("a")).toBe(1)
      expect(yield* revenueOf("boom")).toBeUndefined()
      expect(yield* deadLetters).toEqual([])
    }).pipe(run({ pipelines: [revenue, fragile], poison: "block" })))

  it.effect("blocks at a rejected write instead of dead-lettering it, and its redelivery is still exact", () =>
    Effect.gen(function*() {
      const memory = yield* Store.makeMemory
      const rejectBig = Layer.succeed(Store.Store, {
        getMany: memory.getMany,
        apply: (writes) =>
          Effect.map(memory.apply(writes.filter((w) => w.key !== "big")), (results) => {
            let k = 0
            return writes.map((w) => (w.key === "big" ? new Store.StoreRejectedError({ message: "item too large" }) : results[k++]))
          })
      })
      const layer = Processor.layer(block).pipe(Layer.provideMerge(Layer.mergeAll(rejectBig, Deduper.layerMemory(), DeadLetter.layerMemory)))
      yield* Effect.gen(function*() {
        const processor = yield* Processor.Processor
        const records = recordsOf([sale("e1", "a", 1), sale("e2", "big", 2), sale("e3", "a", 3)])
        const first = yield* processor.process(records)
        expect(tags(first)).toEqual(["Applied", "Blocked", "Applied"])
        expect(first.outcomes[1]).toMatchObject({ _tag: "Blocked", error: "StoreRejectedError" })
        // Redelivered from it: still rejected, and the watermark keeps the record after it from counting twice.
        expect(tags(yield* processor.process(records.slice(1)))).toEqual(["Blocked", "Duplicate"])
        expect(yield* deadLetters).toEqual([])
      }).pipe(Effect.provide(layer))
      const [a] = yield* memory.getMany(Monoid.sum, [{ pipeline: revenue.name, key: "a", bucket: hour }])
      expect(Option.getOrThrow(a!)).toBe(4)
    }))
})
