import { describe, expect, it } from "@effect/vitest"
import * as Random from "../src/Random"
import { FastCheck as fc } from "effect"
import * as Monoid from "../src/Monoid"
import { expectSame, leftFold } from "./monoidLaws"

type Stream = ReadonlyArray<readonly [item: string, count: number]>

const trueCounts = (stream: Stream): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const [item, n] of stream) counts.set(item, (counts.get(item) ?? 0) + n)
  return counts
}


/**
 * Folds a stream the way a pipeline might: random chunks folded by
 * `combineAll` or by `combine`, then merged pairwise in a random tree, each
 * pair in a random order, with the odd `combineAll` over several states.
 */
const mergeTree = (topK: Monoid.TopK, stream: Stream, seed: number): Monoid.TopKState => {
  const next = Random.seeded(seed)
  const pick = (n: number) => Math.floor(next() * n)
  const states: Array<Monoid.TopKState> = []
  for (let i = 0; i < stream.length;) {
    const chunk = stream.slice(i, (i += 1 + pick(40))).map(([item, n]) => topK.of(item, n))
    states.push(next() < 0.5 ? topK.combineAll(chunk) : leftFold(topK, chunk))
  }
  while (states.length > 1) {
    if (next() < 0.1) {
      const some = states.splice(pick(states.length - 1), 2 + pick(3))
      states.push(topK.combineAll(some))
    } else {
      const [x] = states.splice(pick(states.length), 1)
      const [y] = states.splice(pick(states.length), 1)
      states.push(topK.combine(x!, y!))
    }
  }
  return states[0] ?? topK.empty
}

const weight = fc.integer({ min: 1, max: 3 })
/** Heavy hitters, a long tail and one-off items: many more distinct items than the capacity. */
const skewed: fc.Arbitrary<Stream> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom("hot", "warm", "mild"), weight) },
    { weight: 3, arbitrary: fc.tuple(fc.nat(40).map((i) => `tail-${i}`), weight) },
    { weight: 3, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), weight) }
  ),
  { maxLength: 400, size: "max" }
)

describe("topK", () => {
  const topK = Monoid.topK(3, { capacity: 8 })

  it.prop("is exact while the items fit the capacity, for any merge tree", [
    fc.array(fc.tuple(fc.nat(7).map((i) => `sku-${i}`), weight), { maxLength: 300, size: "max" }),
    fc.integer()
  ], ([stream, seed]) => {
    const state = mergeTree(topK, stream, seed)
    expect(state.counts).toEqual(trueCounts(stream))
    expect(state.total).toBe(stream.reduce((n, [, c]) => n + c, 0))
    expect(topK.maxError(state)).toBe(0)
  })

  it.prop("keeps the Misra-Gries bound beyond capacity, for any merge tree and order", [skewed, fc.integer()], ([stream, seed]) => {
    const state = mergeTree(topK, stream, seed)
    const truth = trueCounts(stream)
    const total = stream.reduce((n, [, c]) => n + c, 0)
    const bound = total / (topK.capacity + 1)
    expect(state.total).toBe(total)
    expect(state.counts.size).toBeLessThanOrEqual(topK.capacity)
    expect(topK.maxError(state)).toBeLessThanOrEqual(bound)
    for (const [item, estimate] of state.counts) {
      expect(truth.has(item)).toBe(true)
      expect(Number.isSafeInteger(estimate) && estimate > 0).toBe(true)
    }
    for (const [item, count] of truth) {
      const estimate = state.counts.get(item) ?? 0
      expect(estimate).toBeLessThanOrEqual(count)
      expect(count - estimate).toBeLessThanOrEqual(topK.maxError(state))
      if (count > bound) expect(state.counts.has(item)).toBe(true)
    }
  })

  it.prop("combines associatively within the bound, and exactly when the union fits", [skewed, skewed, skewed], ([a, b, c]) => {
    const [x, y, z] = [a, b, c].map((s) => topK.combineAll(s.map(([item, n]) => topK.of(item, n))))
    const left = topK.combine(topK.combine(x!, y!), z!)
    const right = topK.combine(x!, topK.combine(y!, z!))
    const truth = trueCounts([...a, ...b, ...c])
    if (truth.size <= topK.capacity) expectSame(topK, left, right)
    for (const state of [left, right]) {
      for (const [item, count] of truth) {
        const estimate = state.counts.get(item) ?? 0
        expect(estimate).toBeLessThanOrEqual(count)
        expect(count - estimate).toBeLessThanOrEqual(state.total / (topK.capacity + 1))
      }
    }
  })

  it("finds a heavy hitter in a flood of one-off items", () => {
    const stream: Array<readonly [string, number]> = []
    for (let i = 0; i < 5_000; i++) {
      stream.push([`once-${i}`, 1])
      if (i % 4 === 0) stream.push(["hot", 1])
    }
    const state = mergeTree(topK, stream, 1)
    const [best] = topK.top(state)
    expect(best?.item).toBe("hot")
    expect(best!.count).toBeGreaterThanOrEqual(1_250 - stream.length / (topK.capacity + 1))
  })

  it("top gives the k best by count, then by item", () => {
    const state = topK.combineAll([topK.of("b", 5), topK.of("a", 5), topK.of("c", 9), topK.of("d", 1), topK.of("e")])
    expect(topK.top(state)).toEqual([{ item: "c", count: 9 }, { item: "a", count: 5 }, { item: "b", count: 5 }])
    expect(topK.top(topK.of("x", 2))).toEqual([{ item: "x", count: 2 }])
  })

  it("stores { total, counts } sorted, and prunes states stored with a larger capacity", () => {
    expect(topK.encode(topK.combineAll([topK.of("b", 2), topK.of("a", 7), topK.of("c", 2)]))).toEqual({
      total: 11,
      counts: [["a", 7], ["b", 2], ["c", 2]]
    })
    const two = Monoid.topK(1, { capacity: 2 })
    const state = two.decode({ total: 10, counts: [["a", 5], ["b", 3], ["c", 1], ["d", 1]] })
    // The third largest count, 1, comes off every counter.
    expect(state).toEqual({ total: 10, counts: new Map([["a", 4], ["b", 2]]) })
  })

  it("refuses stored states that are not summaries, saying why", () => {
    const refuse = (json: Parameters<typeof topK.decode>[0], reason: RegExp) => {
      expect(() => topK.decode(json)).toThrow(Monoid.MonoidDecodeError)
      expect(() => topK.decode(json)).toThrow(reason)
    }
    refuse({ total: 3, counts: [["a", 2], ["a", 1]] }, /counted twice/)
    refuse({ total: 3, counts: [["a", 0]] }, /positive integer/)
    refuse({ total: 3, counts: [["a", 1.5]] }, /positive integer/)
    refuse({ total: 1, counts: [["a", 2]] }, /below the sum/)
    refuse({ counts: [] }, /expected/)
  })

  it("defaults the capacity to 10 k and checks its parameters", () => {
    expect(Monoid.topK(5).capacity).toBe(50)
    expect(Monoid.topK(5).name).toBe("topk(5,50)")
    expect(() => Monoid.topK(0)).toThrow(RangeError)
    expect(() => Monoid.topK(5, { capacity: 4 })).toThrow(RangeError)
    expect(() => topK.of("x", 0)).toThrow(RangeError)
    expect(() => topK.of("x", 1.5)).toThrow(RangeError)
  })
})
