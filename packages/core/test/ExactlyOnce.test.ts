import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Option, Schedule } from "effect"
import * as DeadLetter from "../src/DeadLetter"
import * as Deduper from "../src/Deduper"
import * as Faults from "@eddy/testing/Faults"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import * as Store from "../src/Store"
import { deliverAll } from "@eddy/testing/Redelivery"
import * as Window from "../src/Window"
import { revenue, Sales, salesCount, streamOf } from "./fixtures"

const top = Monoid.topK(2, { capacity: 8 })
const topItems = Pipeline.make({ name: "top_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item, e.amount + 1), aggregate: top })
const items = Monoid.hll(10)
const distinctItems = Pipeline.make({ name: "distinct_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => items.of(e.item), aggregate: items })
// The same hot keys spread over sub-items: each shard writes its own, reads merge them.
const spreadTop = Pipeline.make({
  name: "spread_top_items",
  source: Sales,
  events: ["sale"],
  key: () => "all",
  value: (e) => top.of(e.item, e.amount + 1),
  aggregate: top,
  subItemsPerKey: 2
})
const spreadItems = Pipeline.make({ name: "spread_distinct_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => items.of(e.item), aggregate: items, subItemsPerKey: 3 })
const pipelines = [revenue, salesCount, topItems, distinctItems, spreadTop, spreadItems]

/** A generated stream: valid sales, producer duplicates and poison records spread over shards. */
const arbitraryStream = fc
  .record({
    sales: fc.array(fc.record({ item: fc.constantFrom("a", "b", "c", "d"), amount: fc.integer({ min: 0, max: 1000 }), minute: fc.integer({ min: 0, max: 179 }) }), { minLength: 1, maxLength: 60 }),
    duplicates: fc.array(fc.nat(), { maxLength: 10 }),
    poison: fc.array(fc.nat(), { maxLength: 6 }),
    shards: fc.integer({ min: 1, max: 3 })
  })
  .map((shape) => ({
    ...streamOf(shape, (shard, n) => ({ shardId: `shard-${shard}`, sequenceNumber: String(1000 + n), subSequenceNumber: 0 })),
    poison: shape.poison.length
  }))

const arbitraryFault: fc.Arbitrary<Faults.Fault> = fc.oneof(
  fc.constant({ _tag: "Fail" as const }),
  fc.nat({ max: 8 }).map((done) => ({ _tag: "FailAfter" as const, done })),
  fc.nat({ max: 8 }).map((done) => ({ _tag: "Crash" as const, done })),
  fc.uniqueArray(fc.nat({ max: 8 }), { minLength: 1, maxLength: 3 }).map((rejected) => ({ _tag: "Reject" as const, rejected })),
  // The deployment refuses the call (access denied) until it is fixed: valid records wait, none is dead-lettered.
  fc.constant({ _tag: "Misconfigured" as const })
)

/** Faults on some of the first calls; later calls succeed so delivery can finish. */
const arbitraryPlan = fc.array(fc.option(arbitraryFault, { nil: undefined, freq: 2 }), { maxLength: 12 })
const planOf = (faults: ReadonlyArray<Faults.Fault | undefined>): Faults.FaultPlan => (call) => faults[call]

describe("exactly once under faults", () => {
  it.effect.prop(
    "stored aggregates equal the fold over distinct valid events, whatever fails and is redelivered",
    { stream: arbitraryStream, storeFaults: arbitraryPlan, dedupFaults: arbitraryPlan, batchSize: fc.integer({ min: 1, max: 25 }) },
    ({ batchSize, dedupFaults, storeFaults, stream }) =>
      Effect.gen(function*() {
        const summary = yield* deliverAll(stream.records, { batchSize, maxDeliveries: 10_000 })
        expect(summary.deliveries).toBeGreaterThan(0)

        const expected = new Map<string, { revenue: number; count: number }>()
        for (const e of stream.events) {
          const id = `${e.item}|${Window.bucketIdAt(revenue.window, Window.bucketStart(revenue.window, e.at))}`
          const acc = expected.get(id) ?? { revenue: 0, count: 0 }
          expected.set(id, { revenue: acc.revenue + e.amount, count: acc.count })
          const total = `${e.item}|all`
          const c = expected.get(total) ?? { revenue: 0, count: 0 }
          expected.set(total, { revenue: c.revenue, count: c.count + 1 })
        }
        for (const [id, want] of expected) {
          const [item, bucket] = id.split("|") as [string, string]
          if (bucket === "all") {
            const got = yield* Store.get(Monoid.count, { pipeline: salesCount.name, key: item, bucket })
            expect(Option.getOrElse(got, () => 0)).toBe(want.count)
          } else {
            const got = yield* Store.get(Monoid.sum, { pipeline: revenue.name, key: item, bucket })
            expect(Option.getOrElse(got, () => 0)).toBe(want.revenue)
          }
        }
        const storedTop = yield* Store.get(top, { pipeline: topItems.name, key: "all", bucket: "all" })
        expect(top.equals(Option.getOrElse(storedTop, () => top.empty), top.combineAll(stream.events.map((e) => top.of(e.item, e.amount + 1))))).toBe(true)
        const storedItems = yield* Store.get(items, { pipeline: distinctItems.name, key: "all", bucket: "all" })
        expect(items.equals(Option.getOrElse(storedItems, () => items.empty), items.combineAll(stream.events.map((e) => items.of(e.item))))).toBe(true)
        // Read through the spread: the raw store holds only the shards' sub-items of the spread pipelines.
        const raw = yield* Store.Store
        const spread = Store.spread(raw, pipelines)
        const [spreadTopValue, spreadItemsValue] = yield* Effect.all([
          spread.getMany(top, [{ pipeline: spreadTop.name, key: "all", bucket: "all" }]),
          spread.getMany(items, [{ pipeline: spreadItems.name, key: "all", bucket: "all" }])
        ])
        expect(top.equals(Option.getOrElse(spreadTopValue[0]!, () => top.empty), Option.getOrElse(storedTop, () => top.empty))).toBe(true)
        expect(items.equals(Option.getOrElse(spreadItemsValue[0]!, () => items.empty), Option.getOrElse(storedItems, () => items.empty))).toBe(true)
        expect(yield* raw.getMany(items, [{ pipeline: spreadItems.name, key: "all", bucket: "all" }])).toEqual([Option.none()])
        const deadLetters = yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)
        // Each poison record reaches the sink exactly once, even when its batch is redelivered.
        expect(new Set(deadLetters.map((d) => `${d.shardId}/${d.sequenceNumber}`)).size).toBe(stream.poison)
        expect(deadLetters.length).toBe(stream.poison)
      }).pipe(
        Effect.provide(
          Processor.layer({ pipelines, retry: Schedule.recurs(2) }).pipe(
            Layer.provideMerge(Faults.store(planOf(storeFaults))),
            Layer.provideMerge(Faults.deduper(planOf(dedupFaults))),
            Layer.provideMerge(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory))
          )
        )
      ),
    { fastCheck: { numRuns: 150 } }
  )
})
