import { describe, expect, it } from "@effect/vitest"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Store from "../src/Store"
import { Sales } from "./fixtures"

/** A store of counters only, as a user's own store might declare. */
class Counters extends Store.Tag("test/Counters", { holds: ["sum", "count"] })<Counters>() {}

const buyers = Monoid.hll(10)

describe("a pipeline names its store", () => {
  it("defaults to Store.Store, and keeps the placement it names", () => {
    const plain = Pipeline.make({ name: "plain", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => e.amount, aggregate: Monoid.sum })
    const counted = Pipeline.make({ name: "counted", source: Sales, events: ["sale"], key: (e) => e.item, value: () => 1, aggregate: Monoid.count, store: Counters })
    const inMemory = Pipeline.make({ name: "in_memory", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => buyers.of(e.eventId), aggregate: buyers, store: Store.Memory })
    expect(plain.store).toBe(Store.Store)
    expect(counted.store).toBe(Counters)
    expect(inMemory.store).toBe(Store.Memory)
    // The services a driver's layer must provide, by type.
    const needs: ReadonlyArray<Pipeline.StoresOf<[typeof plain, typeof counted, typeof inMemory]>> = []
    const _check: ReadonlyArray<Store.Store | Counters | Store.Memory> = needs
    expect(_check).toEqual([])
  })

  it("a store that cannot hold the monoid's kind does not compile, and is refused at run time", () => {
    expect(() =>
      Pipeline.make({
        name: "buyers",
        source: Sales,
        events: ["sale"],
        key: (e) => e.item,
        value: (e) => buyers.of(e.eventId),
        aggregate: buyers,
        // @ts-expect-error: Counters holds sums and counts, not a HyperLogLog
        store: Counters
      })
    ).toThrow(/pipeline buyers aggregates with hll\(10\), but its store test\/Counters holds only sum, count/)
    expect(() =>
      // A monoid whose kind is not known statically cannot be proven to fit either.
      Pipeline.make({
        name: "any_kind",
        source: Sales,
        events: ["sale"],
        key: (e) => e.item,
        value: (e) => e.amount,
        aggregate: Monoid.max as Monoid.Monoid<number>,
        // @ts-expect-error: the kind could be any
        store: Counters
      })
    ).toThrow(/holds only sum, count/)
  })
})
