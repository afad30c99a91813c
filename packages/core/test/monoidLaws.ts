import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { canonicalJson } from "../src/internal/canonicalJson"
import type { Json } from "../src/Json"
import type { Monoid } from "../src/Monoid"

/** Fails with both states' JSON in the message when the monoid says they differ. */
export const expectSame = <A>(monoid: Monoid<A>, actual: A, expected: A): void => {
  if (!monoid.equals(actual, expected)) {
    expect.fail(`${monoid.name}: ${canonicalJson(monoid.encode(actual))} is not ${canonicalJson(monoid.encode(expected))}`)
  }
}

/** The reference fold: `combine` from `empty`, left to right. */
export const leftFold = <A>(monoid: Monoid<A>, values: ReadonlyArray<A>): A => values.reduce((acc, v) => monoid.combine(acc, v), monoid.empty)

const stateList = <A>(state: fc.Arbitrary<A>): fc.Arbitrary<Array<A>> => fc.array(state, { maxLength: 8 })

/** The stored text of a state: what no operation may change. */
const snapshot = <A>(monoid: Monoid<A>, values: ReadonlyArray<A>): ReadonlyArray<string> =>
  values.map((v) => canonicalJson(monoid.encode(v)))

export interface LawOptions {
  /**
   * False for monoids that are associative only up to a documented bound
   * (TopK beyond its capacity); their own tests check that bound instead.
   */
  readonly exactAssociativity?: boolean
}

/**
 * Property tests of the monoid laws over generated states: identity on both
 * sides, associativity, commutativity, idempotence when claimed, `combineAll`
 * equal to the left fold, JSON round trips, `equals` agreeing with the
 * canonical JSON text, and no operation mutating its inputs.
 */
export const monoidLaws = <A>(monoid: Monoid<A>, state: fc.Arbitrary<A>, options: LawOptions = {}): void => {
  describe(`${monoid.name} laws`, () => {
    it.prop("identity on both sides", [state], ([a]) => {
      expectSame(monoid, monoid.combine(monoid.empty, a), a)
      expectSame(monoid, monoid.combine(a, monoid.empty), a)
      expectSame(monoid, monoid.combineAll([a]), a)
    })

    if (options.exactAssociativity !== false) {
      it.prop("associativity", [state, state, state], ([a, b, c]) => {
        expectSame(monoid, monoid.combine(monoid.combine(a, b), c), monoid.combine(a, monoid.combine(b, c)))
      })
    }

    it.prop("commutativity", [state, state], ([a, b]) => {
      expectSame(monoid, monoid.combine(a, b), monoid.combine(b, a))
    })

    if (monoid.idempotent) {
      it.prop("idempotence", [state], ([a]) => {
        expectSame(monoid, monoid.combine(a, a), a)
      })
    }

    it.prop("combineAll equals the left fold", [stateList(state)], ([values]) => {
      expectSame(monoid, monoid.combineAll(values), leftFold(monoid, values))
    })

    it.prop("no operation mutates its inputs", [stateList(state)], ([values]) => {
      const before = snapshot(monoid, values)
      monoid.combineAll(values)
      for (let i = 1; i < values.length; i++) monoid.combine(values[i - 1]!, values[i]!)
      expect(snapshot(monoid, values)).toEqual(before)
    })

    it.prop("decode(encode(x)) equals x, also through JSON text", [state], ([a]) => {
      expectSame(monoid, monoid.decode(monoid.encode(a)), a)
      expectSame(monoid, monoid.decode(JSON.parse(JSON.stringify(monoid.encode(a))) as Json), a)
    })

    it.prop("equals agrees with the canonical JSON", [state, state], ([a, b]) => {
      const same = canonicalJson(monoid.encode(a)) === canonicalJson(monoid.encode(b))
      expect(monoid.equals(a, b)).toBe(same)
      expect(monoid.equals(a, a)).toBe(true)
    })
  })
}
