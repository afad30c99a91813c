import { describe, expect, it } from "@effect/vitest"
import { applyOk, ref, storeSuite, write } from "@eddy/testing/StoreSuite"
import { Effect, Layer, Option } from "effect"
import * as FinalValue from "../src/FinalValue"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Store from "../src/Store"
import * as Window from "../src/Window"
import { Sales } from "./fixtures"

storeSuite({ name: "memory", it: it.scoped, make: () => Store.makeMemory })

describe("Store.routed", () => {
  it.effect("sends each write to its pipeline's store, and a failing store fails only its own writes", () =>
    Effect.gen(function*() {
      const a = yield* Store.makeMemory
      const b = yield* Store.makeMemory
      const down: Store.Service = { apply: () => Effect.fail(new Store.StoreUnavailableError({ message: "down" })), getMany: a.getMany }
      const routed = Store.routed(new Map([["in_a", a], ["in_b", b], ["in_down", down]]))
      const results = yield* routed.apply([
        write(Monoid.sum, ref("in_a"), "s", 1, [1]),
        write(Monoid.sum, ref("in_down"), "s", 1, [2]),
        write(Monoid.sum, ref("in_b"), "s", 1, [3])
      ])
      expect(results.map((r) => r?._tag)).toEqual([undefined, "StoreUnavailableError", undefined])
      expect(yield* a.getMany(Monoid.sum, [ref("in_a"), ref("in_b")])).toEqual([Option.some(1), Option.none()])
      expect(yield* b.getMany(Monoid.sum, [ref("in_a"), ref("in_b")])).toEqual([Option.none(), Option.some(3)])
      // Reads are routed the same way.
      expect(yield* routed.getMany(Monoid.sum, [ref("in_b"), ref("in_a")])).toEqual([Option.some(3), Option.some(1)])
      // One store behind every pipeline is that store itself.
      expect(Store.routed(new Map([["x", a], ["y", a]]))).toBe(a)
      yield* applyOk(routed, [write(Monoid.sum, ref("in_a"), "s", 2, [5])])
    }))
})

describe("Store.layerSpread", () => {
  it.effect("spreads the Store in context: writes land on the shard's sub-item, reads through it merge", () =>
    Effect.gen(function*() {
      const raw = yield* Store.makeMemory
      const hll = Monoid.hll(8)
      const r = ref("hot_hll")
      const spread = yield* Effect.provide(Store.Store, Store.layerSpread([{ name: "hot_hll", subItemsPerKey: 3 }]).pipe(Layer.provide(Layer.succeed(Store.Store, raw))))
      yield* applyOk(spread, [write(hll, r, "shardId-000000000001", 1, [hll.of("x")]), write(hll, r, "shardId-000000000002", 1, [hll.of("y")])])
      const subs = [0, 1, 2].map((i) => Store.subItem(r, i))
      const held = (yield* raw.getMany(hll, subs)).flatMap((v, i) => Option.isSome(v) ? [subs[i]!.bucket] : [])
      expect(held.sort()).toEqual(["shardId-000000000001", "shardId-000000000002"].map((shard) => Store.subItemOf(r, 3, shard).bucket).sort())
      expect(held).toHaveLength(2)
      const [merged] = yield* spread.getMany(hll, [r])
      expect(hll.equals(Option.getOrThrow(merged!), hll.combine(hll.of("x"), hll.of("y")))).toBe(true)
    }))
})

describe("final values of a spread pipeline", () => {
  it.effect("are its sub-items merged, sent once, from a store that spreads or not", () =>
    Effect.gen(function*() {
      const top = Monoid.topK(3)
      const hot = Pipeline.make({ name: "hot_top", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item), aggregate: top, window: Window.hour({ retention: "1 day" }), subItemsPerKey: 4 })
      const raw = yield* Store.makeMemory
      const spread = Store.spread(raw, [hot])
      const start = Date.UTC(2026, 10, 21, 10)
      const item = { pipeline: hot.name, key: "all", bucket: Window.bucketIdAt(hot.window, start) }
      yield* applyOk(spread, [write(top, item, "shardId-000000000000", 1, [top.of("a", 2)]), write(top, item, "shardId-000000000001", 1, [top.of("a"), top.of("b")])])
      const sent: Array<FinalValue.FinalValue> = []
      const sink = FinalValue.callback((f) => Effect.sync(() => void sent.push(f)))
      const due = [{ ...item, start }]
      const pipelines = new Map([[hot.name, hot]])
      expect(yield* FinalValue.emit(raw, pipelines, due).pipe(Effect.provide(sink))).toEqual({ sent: 1, skipped: 0, pending: 0 })
      expect(sent.map((f) => f.readable)).toEqual([[{ item: "a", count: 3 }, { item: "b", count: 1 }]])
      // The mark lives on a sub-item too: a store that spreads already finds it, and sends nothing again.
      expect(yield* FinalValue.emit(spread, pipelines, due).pipe(Effect.provide(sink))).toEqual({ sent: 0, skipped: 1, pending: 0 })
      expect(yield* raw.getMany(top, [item])).toEqual([Option.none()])
    }))
})
