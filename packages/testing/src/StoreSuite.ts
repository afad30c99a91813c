import { describe, expect, type Vitest } from "@effect/vitest"
import { Effect, Option, Schedule, type Scope } from "effect"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"

/** A store under test: every aggregate store must pass the same exactly-once contract. */
export interface StoreBackend {
  readonly name: string
  /** `it.effect`/`it.scoped` on the test clock, `it.scopedLive` for stores on real time. */
  readonly it: Vitest.Tester<Scope.Scope>
  /** A store over a fresh, empty namespace or table; `conflictRetry` where the store takes one. */
  readonly make: (options: { readonly conflictRetry?: Schedule.Schedule<unknown, unknown> }) => Effect.Effect<Store.Service, unknown, Scope.Scope>
  /** The expiry the store keeps for an item, epoch seconds (`undefined`: none), when the backend can show it. */
  readonly expiresAt?: (store: Store.Service, ref: Store.ItemRef) => Effect.Effect<number | undefined, unknown, Scope.Scope>
}

/** 56-digit sequence numbers, like Kinesis's. */
export const seq = (n: number): string => `4959033827149025660855969253836157109592157598913${String(n).padStart(7, "0")}`

/** A write of `values` at sequence numbers `from`, `from + 1`, ... of `shardId`. */
export const write = <A>(
  monoid: Monoid.Monoid<A>,
  ref: Store.ItemRef,
  shardId: string,
  from: number,
  values: ReadonlyArray<A>,
  expiresAt?: number
): Store.DeltaWrite => ({
  ...ref,
  monoid: monoid as Monoid.Monoid<unknown>,
  shardId,
  contributions: values.map((value, i) => ({ position: { sequenceNumber: seq(from + i), subSequenceNumber: 0 }, value })),
  delta: monoid.combineAll(values),
  expiresAt
})

/** An item of `pipeline`: key `k`, bucket `all` unless given. */
export const ref = (pipeline: string, key = "k", bucket = "all"): Store.ItemRef => ({ pipeline, key, bucket })

/** Applies writes and expects each to succeed: applied now (`undefined`) or found applied before (`AlreadyApplied`). */
export const applyOk = (store: Store.Service, writes: ReadonlyArray<Store.DeltaWrite>) =>
  Effect.map(store.apply(writes), (results) => expect(results.filter(Store.isFailure)).toEqual([]))

/** Applies a redelivered write and expects the store to say which part it had applied: up to `watermark`. */
export const applySkipping = (store: Store.Service, w: Store.DeltaWrite, watermark: { readonly sequenceNumber: string; readonly subSequenceNumber: number }) =>
  Effect.map(store.apply([w]), (results) => expect(results).toEqual([{ _tag: "AlreadyApplied", watermark }]))

/** Position `n` of a shard's sequence, sub-record 0. */
export const at0 = (n: number) => ({ sequenceNumber: seq(n), subSequenceNumber: 0 })

/**
 * Sums into `r`: a write, its redelivery whole and from its second record
 * with a new one, and another shard's write; leaves shard-0's watermark at 4
 * and shard-1's at 1, for backends that look at how they are stored.
 */
export const sumRedeliveries = (store: Store.Service, r: Store.ItemRef) =>
  Effect.gen(function*() {
    yield* applyOk(store, [write(Monoid.sum, r, "shard-0", 1, [10, 20, 30])])
    expect(yield* Store.get(Monoid.sum, r).pipe(Effect.provideService(Store.Store, store))).toEqual(Option.some(60))
    // Redelivered whole: nothing changes, and the store says it had it.
    yield* applySkipping(store, write(Monoid.sum, r, "shard-0", 1, [10, 20, 30]), at0(3))
    // Redelivered from sequence 2 with a new record 4: only 40 is new.
    yield* applySkipping(store, write(Monoid.sum, r, "shard-0", 2, [20, 30, 40]), at0(3))
    // Another shard has its own watermark: its sequence 1 counts.
    yield* applyOk(store, [write(Monoid.sum, r, "shard-1", 1, [5])])
    expect(yield* store.getMany(Monoid.sum, [r])).toEqual([Option.some(105)])
  })

/** Merges sketches into `r` from two shards, one write redelivered: two compare-and-set writes land. */
export const hllRedelivery = (store: Store.Service, r: Store.ItemRef) =>
  Effect.gen(function*() {
    const hll = Monoid.hll(12)
    const users = (from: number, n: number) => Array.from({ length: n }, (_, i) => hll.of(`user-${from + i}`))
    yield* applyOk(store, [write(hll, r, "shard-0", 1, users(0, 300))])
    yield* applySkipping(store, write(hll, r, "shard-0", 1, users(0, 300)), at0(300))
    yield* applyOk(store, [write(hll, r, "shard-1", 1, users(200, 300))])
    const [stored] = yield* store.getMany(hll, [r])
    expect(hll.equals(Option.getOrThrow(stored!), hll.combineAll(users(0, 500)))).toBe(true)
  })

/** The store contract as a `describe` block: call it from a backend's test file. */
export const storeSuite = (backend: StoreBackend) =>
  describe(`Store contract (${backend.name})`, () => {
    const { it } = backend
    const make = () => backend.make({})

    it("sum: adds, ignores a redelivered write, applies only the tail of a partial redelivery", () =>
      Effect.flatMap(make(), (store) => sumRedeliveries(store, ref("revenue"))))

    it("sum: exact for safe integers, and two shards of one chunk writing one item both count", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const r = ref("big")
        const big = Number.MAX_SAFE_INTEGER - 10
        yield* applyOk(store, [write(Monoid.sum, r, "shard-0", 1, [big]), write(Monoid.sum, r, "shard-1", 1, [7])])
        expect(yield* store.getMany(Monoid.sum, [r])).toEqual([Option.some(big + 7)])
      }))

    it("count: redelivery with a KPL sub-sequence split applies only the sub-records after the watermark", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const r = ref("orders")
        const at = (sub: number) => ({ position: { sequenceNumber: seq(7), subSequenceNumber: sub }, value: 1 })
        const w = (cs: ReadonlyArray<ReturnType<typeof at>>): Store.DeltaWrite => ({
          ...r,
          monoid: Monoid.count as Monoid.Monoid<unknown>,
          shardId: "shard-0",
          contributions: cs,
          delta: cs.length,
          expiresAt: undefined
        })
        yield* applyOk(store, [w([at(0), at(1)])])
        yield* applyOk(store, [w([at(0), at(1), at(2), at(10)])])
        expect(yield* store.getMany(Monoid.count, [r])).toEqual([Option.some(4)])
      }))

    it("min and max: keep the extreme, whatever order and redelivery", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const lo = ref("cheapest")
        const hi = ref("dearest")
        const both = (shard: string, from: number, values: ReadonlyArray<number>) => [write(Monoid.min, lo, shard, from, values), write(Monoid.max, hi, shard, from, values)]
        yield* applyOk(store, both("shard-0", 1, [50, 30]))
        yield* applyOk(store, both("shard-0", 3, [40, 70]))
        yield* applyOk(store, both("shard-1", 1, [-2.5]))
        yield* applyOk(store, both("shard-0", 3, [40, 70]))
        expect(yield* store.getMany(Monoid.min, [lo])).toEqual([Option.some(-2.5)])
        expect(yield* store.getMany(Monoid.max, [hi])).toEqual([Option.some(70)])
      }))

    it("a write of the monoid's identity (a final-value mark) records its watermark, whatever the monoid, and leaves the value", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const hll = Monoid.hll(8)
        const cases: ReadonlyArray<readonly [Monoid.Monoid<unknown>, unknown]> = [
          [Monoid.sum as Monoid.Monoid<unknown>, 5],
          [Monoid.max as Monoid.Monoid<unknown>, 7],
          [hll as Monoid.Monoid<unknown>, hll.of("u")],
          [Monoid.topK(3) as Monoid.Monoid<unknown>, Monoid.topK(3).of("p", 2)],
          [Monoid.set(3) as Monoid.Monoid<unknown>, Monoid.set(3).of("x")]
        ]
        for (const [monoid, value] of cases) {
          const r = ref(`marks-${monoid.name.replace(/\W/g, "-")}`)
          yield* applyOk(store, [write(monoid, r, "shard-0", 1, [value])])
          const mark = (n: number) => write(monoid, r, "eddy:final-value", n, [monoid.empty])
          yield* applyOk(store, [mark(1)])
          yield* applySkipping(store, mark(1), at0(1))
          yield* applyOk(store, [mark(2)])
          yield* applySkipping(store, mark(1), at0(2))
          const [stored] = yield* store.getMany(monoid, [r])
          expect(Option.map(stored!, (v) => monoid.equals(v, value)), monoid.name).toEqual(Option.some(true))
        }
      }))

    it("hll: merges sketches by compare-and-set; a redelivery is a no-op", () =>
      Effect.flatMap(make(), (store) => hllRedelivery(store, ref("buyers"))))

    it("an idempotent state that already holds a write's delta still moves its watermark, so a redelivery of it is a duplicate", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const hll = Monoid.hll(10)
        const set = Monoid.set(5)
        const users = (ids: ReadonlyArray<number>) => ids.map((i) => hll.of(`user-${i}`))
        yield* applyOk(store, [write(hll, ref("seen_hll"), "shard-0", 1, users([1, 2, 3])), write(set, ref("seen_set"), "shard-0", 1, ["a", "b"].map(set.of))])
        // Records 4 and 5 bring only what the states hold already: nothing changes but the watermark.
        const again = [write(hll, ref("seen_hll"), "shard-0", 4, users([2, 3])), write(set, ref("seen_set"), "shard-0", 4, ["b", "a"].map(set.of))]
        expect(yield* store.apply(again)).toEqual([undefined, undefined])
        // Redelivered (a restart from an older checkpoint): applied before, so the processor counts them as duplicates, not applied twice.
        expect(yield* store.apply(again)).toEqual([{ _tag: "AlreadyApplied", watermark: at0(5) }, { _tag: "AlreadyApplied", watermark: at0(5) }])
        const [sketch] = yield* store.getMany(hll, [ref("seen_hll")])
        expect(hll.equals(Option.getOrThrow(sketch!), hll.combineAll(users([1, 2, 3])))).toBe(true)
        expect(yield* store.getMany(set, [ref("seen_set")])).toEqual([Option.some({ items: ["a", "b"], overflowed: false })])
      }))

    it("topk: a partial redelivery counts only the records after the watermark", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const top = Monoid.topK(3)
        const r = ref("top_products")
        const items = ["a", "b", "a", "c", "a", "b"].map((item) => top.of(item))
        yield* applyOk(store, [write(top, r, "shard-0", 1, items.slice(0, 4))])
        yield* applyOk(store, [write(top, r, "shard-0", 3, items.slice(2))])
        yield* applyOk(store, [write(top, r, "shard-0", 3, items.slice(2))])
        const [stored] = yield* store.getMany(top, [r])
        expect(top.top(Option.getOrThrow(stored!))).toEqual([{ item: "a", count: 3 }, { item: "b", count: 2 }, { item: "c", count: 1 }])
      }))

    it("set, map and last: states by compare-and-set, two writes to one item in one call", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const set = Monoid.set(3)
        const byKind = Monoid.map(Monoid.sum)
        yield* applyOk(store, [
          write(set, ref("tags"), "shard-0", 1, ["b", "a"].map(set.of)),
          write(set, ref("tags"), "shard-1", 1, ["d", "c"].map(set.of)),
          write(byKind, ref("by_kind"), "shard-0", 1, [byKind.of("x", 2), byKind.of("y", 1)]),
          write(Monoid.last, ref("latest"), "shard-0", 1, [Monoid.timed(5, "old"), Monoid.timed(9, { v: "new" })])
        ])
        expect(yield* store.getMany(set, [ref("tags")])).toEqual([Option.some({ items: ["a", "b", "c"], overflowed: true })])
        expect(yield* store.getMany(byKind, [ref("by_kind")])).toEqual([Option.some(new Map([["x", 2], ["y", 1]]))])
        expect(yield* store.getMany(Monoid.last, [ref("latest")])).toEqual([Option.some({ at: 9, value: { v: "new" } })])
      }))

    if (backend.expiresAt !== undefined) {
      const expiresAtOf = backend.expiresAt
      it("windowed buckets carry their expiry from the window's retention", () =>
        Effect.gen(function*() {
          const store = yield* make()
          const expiresAt = 1_800_000_000
          const sum = ref("hourly", "p-1", "2026-11-21T10Z")
          const hll = ref("hourly_buyers", "p-1", "2026-11-21T10:05Z")
          const plain = ref("forever")
          yield* applyOk(store, [
            write(Monoid.sum, sum, "shard-0", 1, [1], expiresAt),
            write(Monoid.hll(8), hll, "shard-0", 1, [Monoid.hll(8).of("u")], expiresAt),
            write(Monoid.sum, plain, "shard-0", 1, [1])
          ])
          expect(yield* expiresAtOf(store, sum)).toBe(expiresAt)
          expect(yield* expiresAtOf(store, hll)).toBe(expiresAt)
          expect(yield* expiresAtOf(store, plain)).toBeUndefined()
        }))
    }

    it("two writers on different shards merging into one hot key lose no update", () =>
      Effect.gen(function*() {
        const store = yield* backend.make({ conflictRetry: Schedule.recurs(50) })
        const top = Monoid.topK(5)
        const hll = Monoid.hll(10)
        const chunks = 15
        const writer = (shard: number) =>
          Effect.forEach(Array.from({ length: chunks }, (_, c) => c), (c) => {
            const at = 1 + c * 4
            const writes = [
              write(Monoid.sum, ref("hot_sum"), `shard-${shard}`, at, [1, 2, 3, 4]),
              write(top, ref("hot_top"), `shard-${shard}`, at, [top.of("x"), top.of(`s${shard}`), top.of("x"), top.of("y")]),
              write(hll, ref("hot_hll"), `shard-${shard}`, at, [0, 1, 2, 3].map((i) => hll.of(`u-${shard}-${c}-${i}`)))
            ]
            // A failed write is retried, as the processor does.
            return store.apply(writes).pipe(
              Effect.flatMap((results) => results.every((r) => r === undefined) ? Effect.void : Effect.fail("retry")),
              Effect.retry(Schedule.recurs(20))
            )
          }, { discard: true })
        yield* Effect.all([writer(0), writer(1)], { concurrency: 2, discard: true })
        expect(yield* store.getMany(Monoid.sum, [ref("hot_sum")])).toEqual([Option.some(2 * chunks * 10)])
        const [tops] = yield* store.getMany(top, [ref("hot_top")])
        expect(new Map(Option.getOrThrow(tops!).counts)).toEqual(new Map([["x", 4 * chunks], ["s0", chunks], ["s1", chunks], ["y", 2 * chunks]]))
        const [sketch] = yield* store.getMany(hll, [ref("hot_hll")])
        const all = [0, 1].flatMap((s) => Array.from({ length: chunks * 4 }, (_, i) => hll.of(`u-${s}-${Math.floor(i / 4)}-${i % 4}`)))
        expect(hll.equals(Option.getOrThrow(sketch!), hll.combineAll(all))).toBe(true)
      }))

    it("getMany reads many keys in order, and getRange skips absent buckets", () =>
      Effect.gen(function*() {
        const store = yield* make()
        const refs = Array.from({ length: 150 }, (_, i) => ref("many", `k-${i}`))
        yield* applyOk(store, refs.filter((_, i) => i % 3 !== 0).map((r, i) => write(Monoid.sum, r, "shard-0", 1, [i + 1])))
        const values = yield* store.getMany(Monoid.sum, refs)
        expect(values.filter(Option.isSome).length).toBe(100)
        expect(values[0]).toEqual(Option.none())
        expect(values[1]).toEqual(Option.some(1))
        expect(yield* store.getMany(Monoid.sum, [refs[1]!, refs[1]!])).toEqual([Option.some(1), Option.some(1)])
        const buckets = ["2026-11-21T08Z", "2026-11-21T09Z", "2026-11-21T10Z"]
        yield* applyOk(store, [write(Monoid.max, ref("range", "p", buckets[0]!), "s", 1, [7]), write(Monoid.max, ref("range", "p", buckets[2]!), "s", 1, [3])])
        const range = (key: string) => Store.getRange(Monoid.max, "range", key, buckets).pipe(Effect.provideService(Store.Store, store))
        expect(yield* range("p")).toEqual(Option.some(7))
        expect(yield* range("none")).toEqual(Option.none())
      }))

    it("spread: each shard writes its own sub-item, redelivery is skipped there, and reads merge the sub-items", () =>
      Effect.gen(function*() {
        const raw = yield* make()
        const hll = Monoid.hll(10)
        const store = Store.spread(raw, [{ name: "spread_hll", subItemsPerKey: 4 }])
        const r = ref("spread_hll", "all", "2026-12-03")
        const shards = [0, 1, 2, 3].map((s) => `orders/shardId-00000000000${s}`)
        const users = (shard: number, from: number, n: number) => Array.from({ length: n }, (_, i) => hll.of(`u-${shard}-${from + i}`))
        yield* applyOk(store, shards.map((shard, s) => write(hll, r, shard, 1, users(s, 0, 50))))
        // Four consecutive shards, four sub-items; nothing on the plain item.
        const subs = shards.map((shard) => Store.subItemOf(r, 4, shard))
        expect(new Set(subs.map((sub) => sub.bucket))).toEqual(new Set(["2026-12-03~0", "2026-12-03~1", "2026-12-03~2", "2026-12-03~3"]))
        expect(yield* raw.getMany(hll, [r])).toEqual([Option.none()])
        const stored = yield* raw.getMany(hll, subs)
        stored.forEach((v, s) => expect(hll.equals(Option.getOrThrow(v), hll.combineAll(users(s, 0, 50)))).toBe(true))
        // Redelivered whole to each shard's sub-item: skipped; a redelivery with new records applies only those.
        expect(yield* store.apply(shards.map((shard, s) => write(hll, r, shard, 1, users(s, 0, 50))))).toEqual(shards.map(() => ({ _tag: "AlreadyApplied", watermark: at0(50) })))
        yield* applySkipping(store, write(hll, r, shards[2]!, 41, users(2, 40, 20)), at0(50))
        const all = hll.combineAll([...[0, 1, 3].flatMap((s) => users(s, 0, 50)), ...users(2, 0, 60)])
        const [merged, absent] = yield* store.getMany(hll, [r, ref("spread_hll", "none", "2026-12-03")])
        expect(hll.equals(Option.getOrThrow(merged!), all)).toBe(true)
        expect(absent).toEqual(Option.none())
      }))

    it("spread: a plain item written before spreading is merged in, and a store spread twice counts each sub-item once", () =>
      Effect.gen(function*() {
        const raw = yield* make()
        const top = Monoid.topK(5)
        const r = ref("spread_top")
        yield* applyOk(raw, [write(top, r, "shardId-000000000000", 1, [top.of("a", 3)])])
        const spreadOnce = Store.spread(raw, [{ name: "spread_top", subItemsPerKey: 2 }])
        const twice = Store.spread(spreadOnce, [{ name: "spread_top", subItemsPerKey: 2 }])
        yield* applyOk(twice, [
          write(top, r, "shardId-000000000000", 2, [top.of("a", 1), top.of("b", 2)]),
          write(top, r, "shardId-000000000001", 1, [top.of("b", 5)])
        ])
        expect(yield* raw.getMany(top, [Store.subItem(r, 0), Store.subItem(r, 1)]).pipe(Effect.map((vs) => vs.map(Option.isSome)))).toEqual([true, true])
        for (const reader of [spreadOnce, twice]) {
          const [merged] = yield* reader.getMany(top, [r])
          expect(new Map(Option.getOrThrow(merged!).counts)).toEqual(new Map([["a", 4], ["b", 7]]))
        }
        // A store that spreads no pipeline is the store itself.
        expect(Store.spread(raw, [{ name: "spread_top" }])).toBe(raw)
      }))

    it("a state that is not the reader's monoid is the deployment's error, not a wrong number", () =>
      Effect.gen(function*() {
        const store = yield* make()
        yield* applyOk(store, [write(Monoid.sum, ref("mismatch"), "shard-0", 1, [1])])
        const wrong = yield* Effect.flip(store.getMany(Monoid.hll(8), [ref("mismatch")]))
        expect(wrong).toMatchObject({ _tag: "StoreMisconfiguredError", code: "AggregateChanged" })
        expect(wrong.message).toMatch(/not a hll\(8\)/)
      }))
  })

/**
 * The "partitionKey" ordering's contract (see `Store.Ordering`) on `store`:
 * a later batch of a shard applied before an earlier one loses nothing, a
 * redelivery applies only the positions not claimed before and names those
 * it skipped, and writes of 150 positions (several DynamoDB transactions)
 * are applied whole, for a sum and a compare-and-set sketch.
 */
export const partitionKeyRedeliveries = (store: Store.Service, pipeline: string) =>
  Effect.gen(function*() {
    const unordered = (w: Store.DeltaWrite): Store.DeltaWrite => ({ ...w, ordering: "partitionKey" })
    const values = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)
    const sum = ref(`${pipeline}_sum`)
    const total = (from: number, n: number) => values(from, n).reduce((a, b) => a + b, 0)
    // A later batch of the shard first, then the earlier one: a watermark would skip the earlier.
    expect(yield* store.apply([unordered(write(Monoid.sum, sum, "s1", 200, values(200, 10)))])).toEqual([undefined])
    expect(yield* store.apply([unordered(write(Monoid.sum, sum, "s1", 0, values(0, 150)))])).toEqual([undefined])
    expect(yield* Store.get(Monoid.sum, sum).pipe(Effect.provideService(Store.Store, store))).toEqual(Option.some(total(0, 150) + total(200, 10)))
    // A redelivery overlapping both: only 150..199 are new.
    const [again] = yield* store.apply([unordered(write(Monoid.sum, sum, "s1", 100, values(100, 110)))])
    expect(again).toMatchObject({ _tag: "AlreadyApplied" })
    const skipped = (again as Store.AlreadyApplied).claimed!.map((p) => Number(p.sequenceNumber.slice(-7))).sort((a, b) => a - b)
    expect(skipped).toEqual([...values(100, 50), ...values(200, 10)])
    expect(yield* Store.get(Monoid.sum, sum).pipe(Effect.provideService(Store.Store, store))).toEqual(Option.some(total(0, 210)))
    // The same positions from another shard are other records.
    expect(yield* store.apply([unordered(write(Monoid.sum, sum, "s2", 0, [1000]))])).toEqual([undefined])
    expect(yield* Store.get(Monoid.sum, sum).pipe(Effect.provideService(Store.Store, store))).toEqual(Option.some(total(0, 210) + 1000))

    const top = Monoid.topK(3, { capacity: 10 })
    const sketch = ref(`${pipeline}_top`)
    const items = values(0, 120).map((i) => top.of(`item-${i % 4}`))
    expect(yield* store.apply([unordered(write(top, sketch, "s1", 0, items))])).toEqual([undefined])
    const [redelivered] = yield* store.apply([unordered(write(top, sketch, "s1", 0, items))])
    expect((redelivered as Store.AlreadyApplied).claimed).toHaveLength(120)
    const state = Option.getOrThrow(yield* Store.get(top, sketch).pipe(Effect.provideService(Store.Store, store)))
    expect(state.total).toBe(120)
    expect(new Map(state.counts)).toEqual(new Map(values(0, 4).map((i) => [`item-${i}`, 30])))
  })
