/** `AggregateScan` on dynalite: the sub-items of a spread pipeline come as one item, merged with its plain item. */
import { describe, expect, layer } from "@effect/vitest"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { applyOk, ref, write } from "@eddy/testing/StoreSuite"
import { Effect, Layer, Option, Stream } from "effect"
import * as AggregateScan from "../src/AggregateScan"
import * as DynamoStore from "../src/DynamoStore"
import * as Local from "./support/Local"

const Env = Layer.effectDiscard(Local.ensure({ aggregate: "scanned" })).pipe(Layer.provideMerge(Local.layer))

layer(Env, { excludeTestServices: true })("AggregateScan", (it) => {
  describe("spread pipelines", () => {
    it.effect("folds a spread pipeline's sub-items and plain item into one item, and leaves other pipelines' items as they are", () =>
      Effect.gen(function*() {
        const top = Monoid.topK(3)
        const raw = yield* DynamoStore.make({ table: "scanned" })
        const hot = ref("hot", "all", "2026-12-03")
        // Written before the pipeline was spread, then by two shards spread over two sub-items.
        yield* applyOk(raw, [write(top, hot, "shardId-000000000000", 1, [top.of("a")])])
        const spread = Store.spread(raw, [{ name: "hot", subItemsPerKey: 2 }])
        yield* applyOk(spread, [write(top, hot, "shardId-000000000000", 2, [top.of("a")]), write(top, hot, "shardId-000000000001", 1, [top.of("b", 4)])])
        yield* applyOk(raw, [write(Monoid.sum, ref("plain", "k", "2026-12-03"), "shardId-000000000000", 1, [7])])
        const monoids = new Map<string, Monoid.Monoid<unknown>>([["hot", top as Monoid.Monoid<unknown>], ["plain", Monoid.sum as Monoid.Monoid<unknown>]])

        const items = Array.from(yield* Stream.runCollect(AggregateScan.scan("scanned", monoids, { spread: new Set(["hot"]) })))
        expect(items.map((i) => `${i.pipeline}/${i.key}/${i.bucket}`).sort()).toEqual(["hot/all/2026-12-03", "plain/k/2026-12-03"])
        const merged = items.find((i) => i.pipeline === "hot")!.value as Monoid.TopKState
        expect(new Map(merged.counts)).toEqual(new Map([["a", 2], ["b", 4]]))
        const [read] = yield* spread.getMany(top, [hot])
        expect(top.equals(Option.getOrThrow(read!), merged)).toBe(true)

        // Without `spread`, the scan shows the items as stored.
        const stored = Array.from(yield* Stream.runCollect(AggregateScan.scan("scanned", monoids)))
        expect(stored.filter((i) => i.pipeline === "hot").map((i) => i.bucket).sort()).toEqual(["2026-12-03", "2026-12-03~0", "2026-12-03~1"])
      }))
  })
})
