import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Json } from "../src/Json"
import * as Monoid from "../src/Monoid"
import { expectSame } from "./monoidLaws"

const decodeError = (monoid: { readonly decode: (json: Json) => unknown }, json: Json) =>
  expect(() => monoid.decode(json)).toThrow(Monoid.MonoidDecodeError)

describe("Monoid", () => {
  describe("fold", () => {
    it.prop("folds any iterable as combineAll does", [fc.array(fc.integer({ min: -1000, max: 1000 }))], ([values]) => {
      function* generate() {
        yield* values
      }
      expect(Monoid.fold(Monoid.sum, generate())).toBe(values.reduce((a, b) => a + b, 0))
      expect(Monoid.fold(Monoid.sum, values)).toBe(Monoid.sum.combineAll(values))
    })
  })

  describe("sum and count", () => {
    it("add, and store plain numbers", () => {
      expect(Monoid.sum.combineAll([3, 4, -2])).toBe(5)
      expect(Monoid.count.combineAll([1, 1, 1])).toBe(3)
      expect(Monoid.count.kind).toBe("count")
      expect(Monoid.sum.encode(12)).toBe(12)
      decodeError(Monoid.sum, "12")
      decodeError(Monoid.count, null)
    })
  })

  describe("min and max", () => {
    it("keep the extreme value", () => {
      expect(Monoid.min.combineAll([3, -1.5, 7])).toBe(-1.5)
      expect(Monoid.max.combineAll([3, -1.5, 7])).toBe(7)
    })

    it("store the empty state as null, since JSON has no Infinity", () => {
      expect(Monoid.min.encode(Monoid.min.empty)).toBeNull()
      expect(Monoid.max.encode(Monoid.max.empty)).toBeNull()
      expect(Monoid.min.decode(null)).toBe(Infinity)
      expect(Monoid.max.decode(null)).toBe(-Infinity)
      expect(Monoid.min.encode(-3)).toBe(-3)
    })

    it("refuse to store a non-finite value that is not the identity", () => {
      expect(() => Monoid.min.encode(-Infinity)).toThrow(RangeError)
      expect(() => Monoid.max.encode(Infinity)).toThrow(RangeError)
      expect(() => Monoid.min.encode(NaN)).toThrow(RangeError)
      decodeError(Monoid.min, "1")
      decodeError(Monoid.max, [1])
    })
  })

  describe("first and last", () => {
    const t0 = Date.UTC(2025, 0, 1)

    it("keep the value with the earliest or latest event time, whatever the order", () => {
      const states = [Monoid.timed(t0 + 2, "b"), Monoid.timed(t0, "a"), Monoid.timed(t0 + 5, "c"), Monoid.timed(t0 + 1, "d")]
      expect(Monoid.first.combineAll(states)).toEqual({ at: t0, value: "a" })
      expect(Monoid.last.combineAll(states)).toEqual({ at: t0 + 5, value: "c" })
      expect(Monoid.last.combineAll(states.slice().reverse())).toEqual({ at: t0 + 5, value: "c" })
    })

    it("break ties at the same time by canonical JSON: first takes the smaller, last the larger", () => {
      const x = Monoid.timed(t0, { sku: "A", qty: 2 })
      const y = Monoid.timed(t0, { qty: 10, sku: "B" })
      // Canonical forms: {"qty":10,...} < {"qty":2,...} as text.
      for (const [a, b] of [[x, y], [y, x]] as const) {
        expect(Monoid.first.combine(a, b)).toBe(y)
        expect(Monoid.last.combine(a, b)).toBe(x)
      }
    })

    it("treat values that differ only in key order as equal", () => {
      const x = Monoid.timed(t0, { a: 1, b: [1, { c: null, d: true }] })
      const y = Monoid.timed(t0, { b: [1, { d: true, c: null }], a: 1 })
      expect(Monoid.first.equals(x, y)).toBe(true)
      expect(Monoid.first.equals(x, Monoid.timed(t0 + 1, x.value))).toBe(false)
      expect(Monoid.first.equals(x, Monoid.timed(t0, { a: 2 }))).toBe(false)
    })

    it("store { at, value } or null", () => {
      expect(Monoid.first.encode(Monoid.timed(t0, [1, "x"]))).toEqual({ at: t0, value: [1, "x"] })
      expect(Monoid.last.encode(null)).toBeNull()
      expect(Monoid.last.decode({ at: t0, value: null })).toEqual({ at: t0, value: null })
      decodeError(Monoid.first, { at: "yesterday", value: 1 })
      decodeError(Monoid.first, { at: t0 })
      decodeError(Monoid.last, 5)
    })

    it("timed refuses a non-finite time", () => {
      expect(() => Monoid.timed(NaN, 1)).toThrow(RangeError)
    })
  })

  describe("set", () => {
    const set = Monoid.set(3)

    it("keeps the capacity smallest items of the union and flags the overflow", () => {
      const state = set.combineAll(["d", "b", "e", "a", "b"].map(set.of))
      expect(state).toEqual({ items: ["a", "b", "d"], overflowed: true })
      expect(set.combineAll(["c", "a", "c"].map(set.of))).toEqual({ items: ["a", "c"], overflowed: false })
      expect(set.combine(set.combineAll(["a", "b", "c"].map(set.of)), set.of("b"))).toEqual({ items: ["a", "b", "c"], overflowed: false })
      expect(set.combine(set.combineAll(["a", "b", "c"].map(set.of)), set.of("0"))).toEqual({ items: ["0", "a", "b"], overflowed: true })
    })

    it("stays overflowed once it overflowed, even when combined with small sets", () => {
      const full = set.combineAll(["w", "x", "y", "z"].map(set.of))
      expect(set.combine(set.of("a"), full)).toEqual({ items: ["a", "w", "x"], overflowed: true })
    })

    it("stores { items, overflowed } and reads states of a larger capacity as overflowed", () => {
      expect(set.encode(set.of("x"))).toEqual({ items: ["x"], overflowed: false })
      expect(set.decode({ items: ["a", "b", "c", "d"], overflowed: false })).toEqual({ items: ["a", "b", "c"], overflowed: true })
      decodeError(set, { items: ["b", "a"], overflowed: false })
      decodeError(set, { items: ["a", "a"], overflowed: false })
      decodeError(set, { items: ["a", 1], overflowed: false })
      decodeError(set, { items: ["a"] })
    })

    it("names its capacity and refuses a bad one", () => {
      expect(set.name).toBe("set(3)")
      expect(() => Monoid.set(0)).toThrow(RangeError)
      expect(() => Monoid.set(2.5)).toThrow(RangeError)
    })
  })

  describe("map", () => {
    const revenue = Monoid.map(Monoid.sum)

    it("combines values key by key", () => {
      const state = revenue.combineAll([revenue.of("US", 3), revenue.of("DE", 5), revenue.of("US", 4)])
      expect(Array.from(state).sort()).toEqual([["DE", 5], ["US", 7]])
      expect(revenue.combine(state, revenue.of("FR", 1)).get("FR")).toBe(1)
    })

    it("stores an object with sorted keys and names its inner monoid", () => {
      expect(JSON.stringify(revenue.encode(revenue.combineAll([revenue.of("b", 1), revenue.of("a", 2)])))).toBe(`{"a":2,"b":1}`)
      expect(revenue.name).toBe("map(sum)")
      expect(Monoid.map(Monoid.hll(12)).name).toBe("map(hll(12))")
    })

    it("keeps keys that are not plain identifiers, such as __proto__", () => {
      const state = revenue.decode(JSON.parse(`{"__proto__": 2, "constructor": 3}`))
      expect(state.get("__proto__")).toBe(2)
      expectSame(revenue, revenue.decode(JSON.parse(JSON.stringify(revenue.encode(state)))), state)
    })

    it("is idempotent exactly when its inner monoid is", () => {
      expect(revenue.idempotent).toBe(false)
      expect(Monoid.map(Monoid.max).idempotent).toBe(true)
      expect(Monoid.map(Monoid.hll()).idempotent).toBe(true)
    })

    it("reports which key failed to decode", () => {
      expect(() => revenue.decode({ a: 1, b: "x" })).toThrow(/map\(sum\).*key "b"/)
      decodeError(revenue, [1])
    })
  })
})
