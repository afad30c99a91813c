import { describe } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Json } from "../src/Json"
import * as Monoid from "../src/Monoid"
import { leftFold, monoidLaws } from "./monoidLaws"

/**
 * States folded (with `combine`, the reference) from generated single-record
 * states; `size: "max"` lets lists reach `maxLength`, beyond the capacities.
 */
const folded = <A>(monoid: Monoid.Monoid<A>, single: fc.Arbitrary<A>, maxLength: number) =>
  fc.array(single, { maxLength, size: "max" }).map((values) => leftFold(monoid, values))

/** A few common items, so states overlap, and arbitrary (also non-ASCII) ones. */
const item = fc.oneof(
  fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h"),
  fc.string({ maxLength: 4 }),
  fc.string({ unit: "binary", maxLength: 3 })
)

describe("Monoid", () => {
  monoidLaws(Monoid.sum, fc.integer({ min: -1e9, max: 1e9 }))
  monoidLaws(Monoid.count, fc.nat(1e9))

  const finite = fc.double({ noNaN: true, noDefaultInfinity: true })
  monoidLaws(Monoid.min, folded(Monoid.min, finite, 4))
  monoidLaws(Monoid.max, folded(Monoid.max, finite, 4))

  // Few distinct times, so ties between different values are common.
  const timed = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.jsonValue({ maxDepth: 2 }))
    .map(([at, value]) => Monoid.timed(1_700_000_000_000 + at, value as Json))
  monoidLaws(Monoid.first, folded(Monoid.first, timed, 4))
  monoidLaws(Monoid.last, folded(Monoid.last, timed, 4))

  // Up to 12 items into 4 places: many states overflow.
  const set4 = Monoid.set(4)
  monoidLaws(set4, folded(set4, item.map(set4.of), 12))

  // p = 4 has 16 registers and turns dense past 4 of them; p = 8 past 64.
  const hll4 = Monoid.hll(4)
  monoidLaws(hll4, folded(hll4, item.map(hll4.of), 40))
  const hll8 = Monoid.hll(8)
  monoidLaws(hll8, folded(hll8, fc.nat(400).map((i) => hll8.of(`user-${i}`)), 150))
  // p = 14 turns dense past 4,096 registers: ranges of up to 6,000 users, folded
  // with combineAll, whose agreement with `combine` the laws above check.
  const hll14 = Monoid.hll(14)
  monoidLaws(
    hll14,
    fc.tuple(fc.nat(10_000), fc.nat(6_000)).map(([from, n]) =>
      hll14.combineAll(Array.from({ length: n }, (_, i) => hll14.of(`user-${from + i}`)))
    )
  )

  // 40 possible items under a capacity of 50: always exact, so exactly associative.
  const exact = Monoid.topK(3, { capacity: 50 })
  const few = fc.tuple(fc.nat(39), fc.integer({ min: 1, max: 5 })).map(([i, n]) => exact.of(`sku-${i}`, n))
  monoidLaws(exact, folded(exact, few, 30))
  // Beyond capacity: associativity holds up to the Misra-Gries bound (TopK tests).
  const small = Monoid.topK(2, { capacity: 5 })
  monoidLaws(
    small,
    folded(small, fc.tuple(item, fc.integer({ min: 1, max: 5 })).map(([i, n]) => small.of(i, n)), 30),
    { exactAssociativity: false }
  )

  const sums = Monoid.map(Monoid.sum)
  monoidLaws(sums, folded(sums, fc.tuple(item, fc.integer({ min: -100, max: 100 })).map(([k, v]) => sums.of(k, v)), 10))
  const set3 = Monoid.set(3)
  const sets = Monoid.map(set3)
  monoidLaws(sets, folded(sets, fc.tuple(item, item).map(([k, v]) => sets.of(k, set3.of(v))), 20))
  const sketches = Monoid.map(hll4)
  monoidLaws(sketches, folded(sketches, fc.tuple(item, item).map(([k, v]) => sketches.of(k, hll4.of(v))), 30))
})
