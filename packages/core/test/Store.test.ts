import { describe, expect, it } from "@effect/vitest"
import { applyOk, ref, storeSuite, write } from "@eddy/testing/StoreSuite"
import { Effect, Option } from "effect"
import * as Monoid from "../src/Monoid"
import * as Store from "../src/Store"

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
