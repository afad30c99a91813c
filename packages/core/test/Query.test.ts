/**
 * Reading aggregates back: the buckets of a range, each bucket's stored value
 * (empty buckets left out, not zero) and their merge with the monoid, over
 * what the Processor wrote to the in-memory store.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import * as DeadLetter from "../src/DeadLetter"
import * as Deduper from "../src/Deduper"
import * as Processor from "../src/Processor"
import * as Query from "../src/Query"
import * as Store from "../src/Store"
import { recordsOf, revenue, sale, salesCount, T0 } from "./fixtures"

const HOUR = 3_600_000

/** Sales of `a` in hours 0 and 2 (none in hour 1) and one of `b`, processed into a fresh in-memory store. */
const written = Effect.gen(function*() {
  const processor = yield* Processor.Processor
  yield* processor.process(recordsOf([sale("s1", "a", 5), sale("s2", "a", 7, T0 + 2 * HOUR), sale("s3", "b", 3), sale("s4", "a", 1, T0 + 2 * HOUR + 60_000)]))
}).pipe(Effect.provide(Processor.layer({ pipelines: [revenue, salesCount] }).pipe(Layer.provideMerge(Layer.mergeAll(Deduper.layerMemory(), DeadLetter.layerMemory)))))

describe("Query", () => {
  it.effect("reads each bucket of a range that holds a value and merges them with the pipeline's monoid", () =>
    Effect.gen(function*() {
      yield* written
      const result = yield* Query.value(revenue, "a", Query.between(T0, T0 + 2 * HOUR))
      expect(result.buckets).toEqual(["2026-11-21T09Z", "2026-11-21T10Z", "2026-11-21T11Z"])
      expect(result.points).toEqual([{ bucket: "2026-11-21T09Z", value: 5 }, { bucket: "2026-11-21T11Z", value: 8 }])
      expect(result.total).toEqual(Option.some(13))
      expect(Query.toJson(result)).toEqual({
        pipeline: "revenue_by_item_hourly",
        key: "a",
        aggregate: "sum",
        buckets: [{ bucket: "2026-11-21T09Z", value: 5 }, { bucket: "2026-11-21T11Z", value: 8 }],
        total: 13
      })
      // An unbounded window has one bucket, whatever the range.
      expect((yield* Query.value(salesCount, "a", Query.last(5))).total).toEqual(Option.some(3))
      const none = yield* Query.value(revenue, "c", Query.buckets(["2026-11-21T09Z"]))
      expect(none.points).toEqual([])
      expect(none.total).toEqual(Option.none())
    }).pipe(Effect.provide(Store.layerMemory)))

  it.effect("the last buckets end at the clock's hour", () =>
    Effect.gen(function*() {
      yield* written
      yield* TestClock.setTime(T0 + 2 * HOUR + 30 * 60_000)
      const result = yield* Query.value(revenue, "a", Query.last(2))
      expect(result.buckets).toEqual(["2026-11-21T10Z", "2026-11-21T11Z"])
      expect(result.total).toEqual(Option.some(8))
      expect(Query.defaultRange(revenue.window)).toEqual(Query.last(24))
    }).pipe(Effect.provide(Store.layerMemory)))

  it.effect("refuses backwards, empty and too long ranges with a message that says what to do", () =>
    Effect.gen(function*() {
      const backwards = yield* Effect.flip(Query.bucketsOf(revenue.window, Query.between(T0, T0 - 1)))
      expect(backwards.message).toContain("must run forward in time")
      const zero = yield* Effect.flip(Query.bucketsOf(revenue.window, Query.last(0)))
      expect(zero.message).toContain(`from 1 to ${Query.MAX_BUCKETS}`)
      const long = yield* Effect.flip(Query.bucketsOf(revenue.window, Query.between(T0, T0 + Query.MAX_BUCKETS * HOUR)))
      expect(long.message).toContain("narrow it")
      const many = yield* Effect.flip(Query.bucketsOf(revenue.window, Query.buckets(Array.from({ length: Query.MAX_BUCKETS + 1 }, (_, i) => String(i)))))
      expect(many._tag).toBe("InvalidRangeError")
    }))
})
