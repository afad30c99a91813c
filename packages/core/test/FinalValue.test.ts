import { describe, expect, it } from "@effect/vitest"
import { applyOk, write } from "@eddy/testing/StoreSuite"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import * as FinalValue from "../src/FinalValue"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Store from "../src/Store"
import * as Window from "../src/Window"
import { Sales } from "./fixtures"

const revenue = Pipeline.make({
  name: "revenue",
  source: Sales,
  events: ["sale"],
  key: (e) => e.item,
  value: (e) => e.amount,
  aggregate: Monoid.sum,
  window: Window.hour({ retention: "1 day" })
})
const start = Date.UTC(2026, 10, 21, 10)
const item = { pipeline: revenue.name, key: "a", bucket: Window.bucketIdAt(revenue.window, start) }
const pipelines = new Map([[revenue.name, revenue]])

/** A store holding 5 for `item`, and `emit` of that item to a sink that fails while `down.now` is set. */
const setup = Effect.gen(function*() {
  const store = yield* Store.makeMemory
  yield* applyOk(store, [write(Monoid.sum, item, "shardId-000000000000", 1, [5])])
  const sent: Array<FinalValue.FinalValue> = []
  const down = { now: false }
  const sink = FinalValue.callback((final) =>
    down.now ? Effect.fail(new FinalValue.FinalValueSinkError({ message: "sink down" })) : Effect.sync(() => void sent.push(final))
  )
  const emit = FinalValue.emit(store, pipelines, [{ ...item, start }]).pipe(Effect.provide(sink))
  yield* TestClock.setTime(start + 2 * 3_600_000)
  return { emit, sent, down }
})

describe("FinalValue.emit", () => {
  it.effect("a second sender while the first is sending leaves the item to it, and finds it sent afterwards", () =>
    Effect.gen(function*() {
      const store = yield* Store.makeMemory
      yield* applyOk(store, [write(Monoid.sum, item, "shardId-000000000000", 1, [5])])
      const sent: Array<FinalValue.FinalValue> = []
      const sending = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const slowSink = FinalValue.callback((final) =>
        Deferred.succeed(sending, undefined).pipe(Effect.zipRight(Deferred.await(gate)), Effect.zipRight(Effect.sync(() => void sent.push(final))))
      )
      const fastSink = FinalValue.callback((final) => Effect.sync(() => void sent.push(final)))
      const emitTo = (sink: typeof fastSink) => FinalValue.emit(store, pipelines, [{ ...item, start }]).pipe(Effect.provide(sink))
      yield* TestClock.setTime(start + 2 * 3_600_000)
      const first = yield* Effect.fork(emitTo(slowSink))
      yield* Deferred.await(sending)
      expect(yield* emitTo(fastSink)).toEqual({ sent: 0, skipped: 0, pending: 1 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(first)).toEqual({ sent: 1, skipped: 0, pending: 0 })
      expect(yield* emitTo(fastSink)).toEqual({ sent: 0, skipped: 1, pending: 0 })
      expect(sent.map((f) => f.readable)).toEqual([5])
    }))

  it.effect("a claim whose send failed holds the item for its slot; in a later slot the value is sent and marked", () =>
    Effect.gen(function*() {
      const { down, emit, sent } = yield* setup
      down.now = true
      expect(yield* Effect.flip(emit)).toMatchObject({ _tag: "FinalValueSinkError" })
      down.now = false
      expect(yield* emit).toEqual({ sent: 0, skipped: 0, pending: 1 })
      yield* TestClock.adjust(FinalValue.claimSlotMillis)
      expect(yield* emit).toEqual({ sent: 1, skipped: 0, pending: 0 })
      expect(yield* emit).toEqual({ sent: 0, skipped: 1, pending: 0 })
      expect(sent.map((f) => f.id)).toEqual([`revenue/a/${item.bucket}`])
    }))
})
