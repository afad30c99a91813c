import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, type MetricState, Option, Schedule } from "effect"
import * as DeadLetter from "../src/DeadLetter"
import * as Deduper from "../src/Deduper"
import * as Metrics from "../src/Metrics"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import type { SourceRecord } from "../src/SourceRecord"
import * as Store from "../src/Store"
import * as Window from "../src/Window"
import { revenueBy, type Sale, sale, T0 } from "./fixtures"

const minutes = (n: number) => n * 60_000

/** Hourly revenue whose buckets close 10 minutes after they end; late records dead-lettered. */
const strict = revenueBy("revenue_strict", Window.hour({ retention: "1 day", allowedLateness: "10 minutes" }))

/** The same with late records applied anyway. */
const lenient = revenueBy("revenue_lenient", Window.hour({ retention: "1 day", allowedLateness: "10 minutes", late: "apply" }))

/** Daily, no lateness: takes everything. */
const daily = revenueBy("revenue_daily", Window.day({ retention: "2 days" }))

const encoder = new TextEncoder()

/** A sale in the 09:00 hour (which closes at 10:10), arriving at `arrival`. */
const recordsOf = (sales: ReadonlyArray<readonly [Sale, number]>, shardId = "shard-a", first = 100): Array<SourceRecord> =>
  sales.map(([s, arrivalTime], i) => ({ data: encoder.encode(JSON.stringify(s)), partitionKey: s.item, shardId, sequenceNumber: String(first + i), subSequenceNumber: 0, arrivalTime }))

const backends = Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory)
/** The dead-letter sink in context, its first `failing` sends refused as unavailable. */
const flakySink = (failing: number) =>
  Layer.effect(DeadLetter.DeadLetter, Effect.map(DeadLetter.DeadLetter, (inner) => {
    let calls = 0
    return { send: (entries) => calls++ < failing ? Effect.fail(new DeadLetter.DeadLetterError({ message: "injected fault: sink down" })) : inner.send(entries) }
  }))

const run = (options: Processor.Options, failingSends = 0) => <A, E>(self: Effect.Effect<A, E, Processor.Processor | Store.Store | Deduper.Deduper | DeadLetter.DeadLetter | DeadLetter.MemoryDeadLetters>) =>
  Effect.provide(self, Processor.layer(options).pipe(Layer.provideMerge(flakySink(failingSends)), Layer.provideMerge(backends)))

const valueOf = (pipeline: Pipeline.Pipeline, bucket: string) => Effect.map(Store.get(Monoid.sum, { pipeline: pipeline.name, key: "a", bucket }), Option.getOrUndefined)
const deadLetters = Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)
const tags = (result: Processor.Result) => result.outcomes.map((o) => o._tag)
const closes = T0 + minutes(70)

describe("Window lateness", () => {
  it("a bucket closes its allowed lateness after it ends; without one it never closes", () => {
    expect(Window.closesAt(strict.window, T0)).toBe(closes)
    expect(Window.bucketer(strict.window)(T0 + minutes(5))).toEqual({ id: "2026-11-21T09Z", expiresAt: (T0 + minutes(60) + 86_400_000) / 1000, closesAt: closes })
    expect(Window.closesAt(daily.window, T0)).toBeUndefined()
    expect(Window.closesAt(Window.none, 0)).toBeUndefined()
    expect(Window.describe(strict.window)).toBe("hourly, kept 1d, closed 10m after it ends (late events: deadLetter)")
  })

  it("refuses a lateness as long as the retention: the bucket would expire while it still takes events", () => {
    expect(() => Window.minute({ retention: "1 hour", allowedLateness: "1 hour" })).toThrow(/allowedLateness \(1h\) must be finite and shorter than its retention \(1h\)/)
  })
})

describe("Processor lateness", () => {
  it.effect("leaves a late record out of the closed bucket, dead-letters it for that pipeline only, and counts it", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const before = yield* Metric.value(Metrics.lateEvents.pipe(Metric.tagged("pipeline", strict.name)))
      const records = recordsOf([
        [sale("e1", "a", 5, T0 + minutes(5)), T0 + minutes(6)],
        [sale("e2", "a", 7, T0 + minutes(50)), closes], // the last moment that is on time
        [sale("e3", "a", 11, T0 + minutes(59)), closes + 1],
        [sale("e4", "a", 13, T0 + minutes(61)), closes + 1] // the next hour: on time
      ])
      const result = yield* processor.process(records, { source: "sales" })
      expect(tags(result)).toEqual(["Applied", "Applied", "Applied", "Applied"])
      expect(result.late).toEqual([1, 1, 0])
      expect(yield* valueOf(strict, "2026-11-21T09Z")).toBe(12)
      expect(yield* valueOf(strict, "2026-11-21T10Z")).toBe(13)
      expect(yield* valueOf(lenient, "2026-11-21T09Z")).toBe(23)
      expect(yield* valueOf(daily, "2026-11-21")).toBe(36)
      const entries = yield* deadLetters
      expect(entries).toHaveLength(1)
      expect(entries[0]).toMatchObject({ error: "LateEvent", pipeline: strict.name, sequenceNumber: "102", source: "sales" })
      expect(entries[0]!.reason).toBe(
        "pipeline revenue_strict did not apply this event: it arrived at 2026-11-21T10:10:00.001Z, after its bucket 2026-11-21T09Z closed at 2026-11-21T10:10:00.000Z (the window's allowedLateness)"
      )
      const after = yield* Metric.value(Metrics.lateEvents.pipe(Metric.tagged("pipeline", strict.name)))
      expect((after as MetricState.MetricState.Counter<number>).count - (before as MetricState.MetricState.Counter<number>).count).toBe(1)

      // Redelivered: the same verdict, nothing applied twice.
      yield* processor.process(records, { source: "sales" })
      expect(yield* valueOf(strict, "2026-11-21T09Z")).toBe(12)
      expect(yield* valueOf(lenient, "2026-11-21T09Z")).toBe(23)
      expect(yield* valueOf(daily, "2026-11-21")).toBe(36)
    }).pipe(run({ pipelines: [strict, lenient, daily] })))

  it.effect("a record whose late dead letter could not be sent is left for redelivery, which sends it once and writes nothing twice", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const records = recordsOf([[sale("e1", "a", 5, T0), T0], [sale("e2", "a", 7, T0), closes + minutes(1)], [sale("e3", "a", 1, T0), T0 + minutes(1)]])
      const first = yield* processor.process(records)
      expect(tags(first)).toEqual(["Applied", "Failed", "Applied"])
      expect(yield* deadLetters).toEqual([])
      const again = yield* processor.process(records.slice(1))
      // Their writes landed the first time: counted once, as duplicates now; the late dead letter goes out now.
      expect(tags(again)).toEqual(["Duplicate", "Duplicate"])
      expect((yield* deadLetters).map((e) => [e.error, e.sequenceNumber])).toEqual([["LateEvent", "101"]])
      expect(yield* valueOf(strict, "2026-11-21T09Z")).toBe(6)
      expect(yield* valueOf(daily, "2026-11-21")).toBe(13)
    }).pipe(run({ pipelines: [strict, daily], retry: Schedule.stop }, 1)))
})
