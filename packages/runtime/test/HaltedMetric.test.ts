import { describe, expect, it } from "@effect/vitest"
import { Effect, SubscriptionRef, TestClock } from "effect"
import type * as Emf from "../src/Emf"
import * as HaltedMetric from "../src/internal/haltedMetric"

describe("HaltedMetric", () => {
  it.scoped("writes ShardsHalted per stream on each change, again every minute while above 0, and a 0 once", () =>
    Effect.gen(function*() {
      const halted = yield* SubscriptionRef.make<ReadonlyMap<string, number>>(new Map())
      const written: Array<string> = []
      const writer: Emf.Writer["Type"] = {
        write: (documents) => Effect.sync(() => void written.push(...documents.map((d) => `${d.dimensions.stream}=${d.metrics[0]!.value}`)))
      }
      const writtenSoFar = (n: number) => Effect.repeat(Effect.sync(() => written.length), { until: (length) => length >= n })
      yield* HaltedMetric.run({ halted: halted.changes, streams: ["orders", "products"], namespace: "eddy", interval: "1 minute", writer, properties: {} }).pipe(
        Effect.forkScoped
      )
      yield* writtenSoFar(2)
      expect([...written].sort()).toEqual(["orders=0", "products=0"])

      written.length = 0
      yield* SubscriptionRef.set(halted, new Map([["orders", 1]]))
      yield* writtenSoFar(1)
      yield* TestClock.adjust("59 seconds")
      expect(written).toEqual(["orders=1"])
      yield* TestClock.adjust("1 second")
      yield* writtenSoFar(2)
      // Another shard's failure that leaves the count as it was writes nothing new.
      yield* SubscriptionRef.set(halted, new Map([["orders", 1]]))
      yield* TestClock.adjust("1 minute")
      yield* writtenSoFar(3)
      expect(written).toEqual(["orders=1", "orders=1", "orders=1"])

      yield* SubscriptionRef.set(halted, new Map())
      yield* writtenSoFar(4)
      yield* TestClock.adjust("10 minutes")
      expect(written).toEqual(["orders=1", "orders=1", "orders=1", "orders=0"])
    }))
})
