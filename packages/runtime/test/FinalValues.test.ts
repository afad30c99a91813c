/**
 * Final values of closed buckets, on the emulators (kinesalite, dynalite)
 * through the real SDK clients: the service sends each key's value once its
 * bucket's lateness has passed, by the records' arrival times and the wall
 * clock while the shards are idle; a late event within the lateness counts,
 * one after it does not; a restart that reads everything again sends nothing
 * twice, as the marks in the store say (the bucket's own, then each value's).
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as FinalValue from "@eddy/core/FinalValue"
import * as Leases from "@eddy/core/Leases"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Kinesis } from "@eddy/kinesis/Kinesis"
import { Effect, Layer, Metric } from "effect"
import { type Sale, Sales } from "../../core/test/fixtures"
import * as F from "./fixtures/ServiceFixtures"

const utf8 = new TextEncoder()
const entry = (s: Sale): F.Entry => ({ PartitionKey: s.item, Data: utf8.encode(JSON.stringify(s)) })


describe("Service final values", () => {
  it.scopedLive("sends each key's final value once, after its bucket's lateness passed, and not again after a restart", () =>
    Effect.gen(function*() {
      // A minute bucket two minutes back, whose lateness ends about eight seconds from now, by the stream's clock.
      const now = Date.now()
      const window0 = Window.minute({ retention: "1 day" })
      const start = Window.bucketStart(window0, now - 120_000)
      const lateness = Math.ceil((now + 8_000 - (start + 60_000)) / 1000)
      const window = Window.minute({ retention: "1 day", allowedLateness: `${lateness} seconds` })
      const closesAt = Window.closesAt(window, start)!
      const bucket = Window.bucketIdAt(window, start)
      const revenue = Pipeline.make({
        name: "revenue_final",
        source: Sales,
        events: ["sale"],
        key: (e) => e.item,
        value: (e) => e.amount,
        aggregate: Monoid.sum,
        window
      })
      // No lateness: no final values.
      const sales = Pipeline.make({ name: "sales_open", source: Sales, events: ["sale"], key: (e: Sale) => e.item, value: () => 1, aggregate: Monoid.count, window: Window.minute({ retention: "1 day" }) })
      const sale = (eventId: string, item: string, amount: number): Sale => ({ type: "sale", eventId, item, amount, at: start + 1_000 })

      const endpoints = yield* F.emulators
      yield* Effect.gen(function*() {
        yield* F.ensureTables
        yield* F.createStream(F.streamName, 2)
        const received: Array<{ readonly final: FinalValue.FinalValue; readonly at: number }> = []
        const sink = FinalValue.callback((final) => Effect.sync(() => void received.push({ final, at: Date.now() })))
        const store = yield* Store.Store
        let marks = 0
        const counting: Store.Service = {
          ...store,
          apply: (writes) => {
            marks += writes.filter((w) => w.shardId === FinalValue.markShard).length
            return store.apply(writes)
          }
        }
        const leases = yield* Leases.Leases
        const layer = Layer.mergeAll(Layer.succeed(Store.Store, counting), Layer.succeed(Deduper.Deduper, yield* Deduper.Deduper), Layer.succeed(DeadLetter.DeadLetter, yield* DeadLetter.DeadLetter))
        const kinesis = Layer.succeed(Kinesis, yield* Kinesis)
        const worker = (workerId: string, leaseService: Leases.Leases["Type"]) =>
          F.startService({
            pipelines: [revenue, sales],
            layer,
            kinesis,
            leases: Layer.succeed(Leases.Leases, leaseService),
            finalValues: sink,
            ...F.finalValueWorker,
            workerId
          })
        const sentBefore = (yield* Metric.value(FinalValue.sent.pipe(Metric.tagged("pipeline", revenue.name)))).count

        const tips = yield* F.put(F.streamName, [sale("s1", "a", 5), sale("s2", "a", 7), sale("s3", "b", 11)].map(entry))
        const first = yield* worker("worker-1", F.forgetful(leases))
        yield* Effect.sleep("1 second")
        // Late for its minute, but within the lateness: it counts.
        yield* F.put(F.streamName, [entry(sale("s4", "a", 3))], tips)
        yield* Effect.sleep(Math.max(0, closesAt - 500 - Date.now()))
        expect(received, "nothing before the bucket closed").toEqual([])
        yield* Effect.sleep(Math.max(0, closesAt + 200 - Date.now()))
        // After the lateness: left out of the final value (and dead-lettered).
        yield* F.put(F.streamName, [entry(sale("s5", "a", 100))], tips)

        yield* F.until(Effect.sync(() => received.length >= 2), "both final values arrived")
        // Several more checks: still once each.
        yield* Effect.sleep("1500 millis")
        const finals = received.map((r) => r.final)
        expect(finals.map((f) => [f.id, f.readable]).sort()).toEqual([[`revenue_final/a/${bucket}`, 15], [`revenue_final/b/${bucket}`, 11]])
        expect(finals.every((f) => f.pipeline === revenue.name && f.bucket === bucket && f.start === start && f.end === start + 60_000)).toBe(true)
        expect(received.every((r) => r.at > closesAt), "none before the close").toBe(true)
        const lateLetters = (yield* Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)).filter((e) => e.error === "LateEvent")
        expect(lateLetters.map((e) => e.pipeline)).toEqual([revenue.name])
        expect((yield* Metric.value(FinalValue.sent.pipe(Metric.tagged("pipeline", revenue.name)))).count - sentBefore).toBe(2)
        expect(FinalValue.toJson(finals.find((f) => f.key === "a")!)).toEqual({
          id: `revenue_final/a/${bucket}`,
          pipeline: revenue.name,
          key: "a",
          bucket,
          start: new Date(start).toISOString(),
          end: new Date(start + 60_000).toISOString(),
          value: 15
        })
        yield* first.stop

        // The successor reads every record again and finds both values marked sent in the store.
        const marksBefore = marks
        const second = yield* worker("worker-2", leases)
        yield* F.until(F.consumed(tips), "the second worker has read every shard to its tip")
        yield* F.until(Effect.sync(() => marks >= marksBefore + 1), "the second worker has checked the bucket")
        yield* Effect.sleep("1 second")
        yield* second.stop
        expect(received.map((r) => r.final.id).sort(), "nothing sent again after the restart").toEqual(finals.map((f) => f.id).sort())
      }).pipe(Effect.provide(Layer.merge(F.durable(endpoints, { failoverTime: "2 seconds" }), DeadLetter.layerMemory)))
    }), { timeout: 120_000 })
})
