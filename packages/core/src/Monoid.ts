import { canonicalJson } from "./internal/canonicalJson"
import * as Hll from "./internal/hyperLogLog"
import * as MisraGries from "./internal/misraGries"
import type { Json } from "./Json"

/**
 * The structural kind of a monoid. Stores dispatch on it: `sum` and `count`
 * become atomic adds, `min`/`max` conditional sets, everything else a
 * versioned compare-and-set of the encoded state.
 */
export type MonoidKind = "sum" | "count" | "min" | "max" | "first" | "last" | "set" | "hll" | "topk" | "map"

/**
 * A commutative monoid over `A` with a JSON form for storage. Every instance is
 * commutative (order inside a chunk never matters) and associative (TopK beyond
 * its capacity: up to its documented error bound); `idempotent` is true when
 * `combine(a, a) = a`, which the law tests then check too.
 *
 * States are immutable: no operation mutates a state it is given or returned.
 */
export interface Monoid<A, K extends MonoidKind = MonoidKind> {
  /** The structural kind; a pipeline's store must hold it (see `Store.Tag`). */
  readonly kind: K
  /** Human-readable description including parameters, e.g. `topk(10,100)`. */
  readonly name: string
  readonly empty: A
  readonly combine: (x: A, y: A) => A
  /**
   * Folds `values` from `empty`: equal to `values.reduce(combine, empty)`, but
   * sketches accumulate into one private working state instead of copying a
   * state per value, which is what makes folding thousands of single-record
   * states per chunk cheap.
   */
  readonly combineAll: (values: ReadonlyArray<A>) => A
  readonly idempotent: boolean
  readonly encode: (a: A) => Json
  /** Throws `MonoidDecodeError` when the stored JSON is not a state of this monoid. */
  readonly decode: (json: Json) => A
  /** Structural equality of states (used by tests and by compare-and-set stores). */
  readonly equals: (x: A, y: A) => boolean
}

/** A stored value the monoid cannot read back. */
export class MonoidDecodeError extends Error {
  override readonly name = "MonoidDecodeError"
  constructor(readonly monoid: string, readonly reason: string) {
    super(`cannot decode a stored ${monoid} state: ${reason}`)
  }
}

/** Folds many values with one monoid, synchronously. */
export const fold = <A>(monoid: Monoid<A>, values: Iterable<A>): A =>
  monoid.combineAll(Array.isArray(values) ? values : Array.from(values))

const isObject = (json: Json): json is { readonly [key: string]: Json } =>
  typeof json === "object" && json !== null && !Array.isArray(json)

const isInteger = (n: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean =>
  Number.isSafeInteger(n) && n >= min && n <= max

/** The start of a stored value, for error messages. */
const preview = (json: Json): string => String(JSON.stringify(json)).slice(0, 200)

const number = (monoid: string) => (json: Json): number => {
  if (typeof json !== "number" || !Number.isFinite(json)) throw new MonoidDecodeError(monoid, `expected a number, got ${preview(json)}`)
  return json
}

const foldNumbers = (combine: (x: number, y: number) => number, empty: number) => (values: ReadonlyArray<number>): number => {
  let acc = empty
  for (let i = 0; i < values.length; i++) acc = combine(acc, values[i]!)
  return acc
}

const add = (x: number, y: number): number => x + y

/**
 * Sum of safe integers (money in minor units, quantities). State and JSON: the
 * number. Associative and commutative, not idempotent.
 */
export const sum: Monoid<number, "sum"> = {
  kind: "sum",
  name: "sum",
  empty: 0,
  combine: add,
  combineAll: foldNumbers(add, 0),
  idempotent: false,
  encode: (a) => a,
  decode: number("sum"),
  equals: (x, y) => x === y
}

/** Count of events: a sum under its own name. The pipeline says what each event adds (`value: () => 1` to count them). */
export const count: Monoid<number, "count"> = { ...sum, kind: "count", name: "count", decode: number("count") }

const extremum = <K extends "min" | "max">(kind: K, combine: (x: number, y: number) => number, empty: number): Monoid<number, K> => {
  const decodeNumber = number(kind)
  return {
    kind,
    name: kind,
    empty,
    combine,
    combineAll: foldNumbers(combine, empty),
    idempotent: true,
    encode: (a) => {
      if (a === empty) return null
      if (!Number.isFinite(a)) throw new RangeError(`a ${kind} state must be a finite number, got ${a}: filter such values out in the pipeline`)
      return a
    },
    decode: (json) => json === null ? empty : decodeNumber(json),
    equals: (x, y) => x === y
  }
}

/**
 * Smallest of finite numbers. The state is the number; the identity is
 * `Infinity`, which JSON cannot hold, so it is stored as `null` (a store's
 * conditional set treats `null` or absence as "no value yet"). Associative,
 * commutative, idempotent.
 */
export const min: Monoid<number, "min"> = extremum("min", (x, y) => Math.min(x, y), Infinity)

/** Largest of finite numbers; as `min`, with identity `-Infinity` stored as `null`. */
export const max: Monoid<number, "max"> = extremum("max", (x, y) => Math.max(x, y), -Infinity)

/** A value stamped with its event time; the state of `first` and `last`. */
export interface Timed {
  /** Event time, epoch milliseconds. */
  readonly at: number
  readonly value: Json
}

/** The `first`/`last` state of one event's value at its event time (epoch milliseconds). */
export const timed = (at: number, value: Json): Timed => {
  if (!Number.isFinite(at)) throw new RangeError(`an event time must be finite epoch milliseconds, got ${at}`)
  return { at, value }
}

/** Orders timed values by event time, then by the canonical JSON of the value. */
const compareTimed = (x: Timed, y: Timed): number => {
  if (x.at !== y.at) return x.at < y.at ? -1 : 1
  if (x.value === y.value) return 0
  const a = canonicalJson(x.value)
  const b = canonicalJson(y.value)
  return a < b ? -1 : a > b ? 1 : 0
}

const byEventTime = <K extends "first" | "last">(kind: K, keep: 1 | -1): Monoid<Timed | null, K> => {
  const combine = (x: Timed | null, y: Timed | null): Timed | null =>
    x === null ? y : y === null ? x : compareTimed(y, x) * keep > 0 ? y : x
  return {
    kind,
    name: kind,
    empty: null,
    combine,
    combineAll: (values) => {
      let acc: Timed | null = null
      for (let i = 0; i < values.length; i++) acc = combine(acc, values[i]!)
      return acc
    },
    idempotent: true,
    encode: (a) => a === null ? null : { at: a.at, value: a.value },
    decode: (json) => {
      if (json === null) return null
      if (!isObject(json) || typeof json.at !== "number" || !Number.isFinite(json.at) || !("value" in json)) {
        throw new MonoidDecodeError(kind, `expected null or { at: epochMillis, value }, got ${preview(json)}`)
      }
      return { at: json.at, value: json.value }
    },
    equals: (x, y) => x === null || y === null ? x === y : compareTimed(x, y) === 0
  }
}

/**
 * The value with the earliest event time. State: `Timed` or `null` when
 * empty; JSON the same (`{ at, value }` or `null`). Equal times are broken by
 * the smaller canonical JSON (sorted keys) of the value, so the choice depends
 * on the set of inputs only: associative, commutative, idempotent. Build
 * states with `timed(at, value)`.
 */
export const first: Monoid<Timed | null, "first"> = byEventTime("first", -1)

/** The value with the latest event time; as `first`, ties going to the larger canonical JSON. */
export const last: Monoid<Timed | null, "last"> = byEventTime("last", 1)

/** State of a bounded set: at most `capacity` items, ascending, and whether others were dropped. */
export interface SetState {
  /** Distinct, ascending by UTF-16 code units. */
  readonly items: ReadonlyArray<string>
  /** True when the union had more than `capacity` distinct items. */
  readonly overflowed: boolean
}

/** The monoid of `set(capacity)`. */
export interface BoundedSet extends Monoid<SetState, "set"> {
  readonly capacity: number
  /** The state of one item. */
  readonly of: (item: string) => SetState
}

/**
 * A set of strings holding the `capacity` smallest items (UTF-16 code unit
 * order) of the union of its inputs, and whether that union had more.
 *
 * Keeping the smallest rather than, say, the first seen makes the state a
 * function of the union alone, so the monoid is exactly associative,
 * commutative and idempotent: "the n smallest of a union" is the same however
 * the union is grouped. `overflowed` is exact too: it is set iff the union of
 * all inputs has more than `capacity` distinct items.
 *
 * JSON: `{ items: [ascending strings], overflowed: boolean }`. Decoding a
 * state stored with a larger capacity keeps its `capacity` smallest items and
 * sets `overflowed`, exactly what this capacity would have stored.
 */
export const set = (capacity: number): BoundedSet => {
  if (!isInteger(capacity, 1)) throw new RangeError(`set capacity must be a positive integer, got ${capacity}`)
  const name = `set(${capacity})`
  const empty: SetState = { items: [], overflowed: false }
  const combine = (x: SetState, y: SetState): SetState => {
    if (y.items.length === 0 && (x.overflowed || !y.overflowed)) return x
    if (x.items.length === 0 && (y.overflowed || !x.overflowed)) return y
    const a = x.items
    const b = y.items
    const items: Array<string> = []
    let i = 0
    let j = 0
    while (items.length < capacity && (i < a.length || j < b.length)) {
      if (j === b.length || (i < a.length && a[i]! < b[j]!)) items.push(a[i++]!)
      else if (i === a.length || b[j]! < a[i]!) items.push(b[j++]!)
      else {
        items.push(a[i++]!)
        j++
      }
    }
    // Inputs are strictly ascending, so anything left over is a new distinct item.
    return { items, overflowed: x.overflowed || y.overflowed || i < a.length || j < b.length }
  }
  return {
    kind: "set",
    name,
    capacity,
    empty,
    of: (item) => ({ items: [item], overflowed: false }),
    combine,
    combineAll: (values) => {
      const union = new Set<string>()
      let overflowed = false
      for (const v of values) {
        overflowed ||= v.overflowed
        for (const item of v.items) union.add(item)
      }
      const items = Array.from(union).sort()
      return { items: items.length > capacity ? items.slice(0, capacity) : items, overflowed: overflowed || items.length > capacity }
    },
    idempotent: true,
    encode: (a) => ({ items: a.items, overflowed: a.overflowed }),
    decode: (json) => {
      if (!isObject(json) || !Array.isArray(json.items) || typeof json.overflowed !== "boolean") {
        throw new MonoidDecodeError(name, `expected { items: string[], overflowed: boolean }, got ${preview(json)}`)
      }
      const items = json.items as ReadonlyArray<Json>
      for (let i = 0; i < items.length; i++) {
        const item = items[i]
        if (typeof item !== "string") throw new MonoidDecodeError(name, `item ${i} is not a string`)
        if (i > 0 && !((items[i - 1] as string) < item)) throw new MonoidDecodeError(name, "items must be distinct and ascending")
      }
      const strings = items as ReadonlyArray<string>
      return strings.length > capacity
        ? { items: strings.slice(0, capacity), overflowed: true }
        : { items: strings, overflowed: json.overflowed }
    },
    equals: (x, y) =>
      x.overflowed === y.overflowed && x.items.length === y.items.length && x.items.every((item, i) => item === y.items[i])
  }
}

export type { HllState } from "./internal/hyperLogLog"

/** The monoid of `hll(precision)`: build values with `of`, read counts with `estimate`. */
export interface HyperLogLog extends Monoid<Hll.HllState, "hll"> {
  readonly precision: number
  /** The sketch of one string. */
  readonly of: (item: string) => Hll.HllState
}

/**
 * HyperLogLog distinct count of strings with `2^precision` registers
 * (precision 4..18, default 14: 16,384 registers, about 0.8% standard error).
 * Strings are hashed to 64 bits (two seeded MurmurHash3 x86_32 runs over
 * their UTF-8 bytes). Read the count with `estimate(state)`.
 *
 * The state is sparse (the non-zero registers) while at most a quarter of the
 * registers are set, dense beyond; the representation depends only on the
 * register values. JSON: `{ p, sparse: base64 }` with four base64 digits per
 * set register (index in three, rank in one), or `{ p, dense: base64 }` with
 * one digit per register (exactly `2^p` characters).
 *
 * Combining takes the register-wise maximum: associative, commutative,
 * idempotent (re-adding an item changes nothing).
 */
export const hll = (precision = 14): HyperLogLog => {
  if (!isInteger(precision, Hll.MIN_PRECISION, Hll.MAX_PRECISION)) {
    throw new RangeError(`hll precision must be an integer from ${Hll.MIN_PRECISION} to ${Hll.MAX_PRECISION}, got ${precision}`)
  }
  const name = `hll(${precision})`
  return {
    kind: "hll",
    name,
    precision,
    empty: Hll.empty(precision),
    of: (item) => Hll.singleton(precision, item),
    combine: Hll.merge,
    combineAll: (values) => Hll.mergeAll(precision, values),
    idempotent: true,
    encode: (a) => "sparse" in a ? { p: a.precision, sparse: Hll.encodeSparse(a.sparse) } : { p: a.precision, dense: Hll.encodeDense(a.dense) },
    decode: (json) => {
      if (!isObject(json) || typeof json.p !== "number" || (typeof json.sparse !== "string" && typeof json.dense !== "string")) {
        throw new MonoidDecodeError(name, `expected { p, sparse } or { p, dense } with base64 registers, got ${preview(json)}`)
      }
      if (json.p !== precision) {
        throw new MonoidDecodeError(name, `the stored sketch has precision ${json.p}; read it with hll(${json.p}) or rebuild the aggregate`)
      }
      const state = typeof json.sparse === "string" ? Hll.decodeSparse(precision, json.sparse) : Hll.decodeDense(precision, json.dense as string)
      if (typeof state === "string") throw new MonoidDecodeError(name, state)
      return state
    },
    equals: Hll.equals
  }
}

/** The estimated number of distinct strings in a HyperLogLog state. */
export const estimate: (state: Hll.HllState) => number = Hll.estimate

/** Heavy-hitter counters: item to (estimated) count, and the total weight added. */
export interface TopKState {
  /** Total weight of all items ever added, counted or not. */
  readonly total: number
  /** At most `capacity` items with positive integer counts. */
  readonly counts: ReadonlyMap<string, number>
}

/** An item of a TopK state with its count. */
export interface TopKEntry {
  readonly item: string
  readonly count: number
}

/** The monoid of `topK(k)`: build values with `of`, read the best with `top`. */
export interface TopK extends Monoid<TopKState, "topk"> {
  readonly k: number
  readonly capacity: number
  /** The state of one item seen `count` times (a positive safe integer, default 1). */
  readonly of: (item: string, count?: number) => TopKState
  /** The `k` best items by count descending, then item ascending. */
  readonly top: (state: TopKState) => ReadonlyArray<TopKEntry>
  /**
   * How far below its true count any item's count may be: 0 while the state
   * is exact, otherwise `(total - sum of counts) / (capacity + 1)`, at most
   * `total / (capacity + 1)`. Assumes the state was built with this capacity.
   */
  readonly maxError: (state: TopKState) => number
}

/**
 * The state of one item, as `of` makes it for every emitted value: its map
 * is built only when read, since `combineAll` adds the item directly.
 */
class TopKSingleton implements TopKState {
  #counts: ReadonlyMap<string, number> | undefined
  constructor(readonly item: string, readonly total: number) {}
  get counts(): ReadonlyMap<string, number> {
    return this.#counts ??= new Map([[this.item, this.total]])
  }
}

/**
 * Heavy hitters with counts, for the `k` best of many items.
 *
 * The state counts at most `capacity` items (default `10 * k`). While the
 * inputs hold at most `capacity` distinct items it is a plain count map:
 * exact, and combining is exactly associative and commutative. Beyond that
 * it is a Misra-Gries mergeable summary (Agarwal et al., "Mergeable
 * Summaries", 2012): combining adds the counters, subtracts the
 * (capacity + 1)-th largest from all and drops those at zero or below. Then,
 * for any grouping and order of combines, every item's count satisfies
 * `0 <= true count - count <= N / (capacity + 1)` (`N` = `total`), and every
 * item whose true count exceeds `N / (capacity + 1)` is present. Combining is
 * always exactly commutative; beyond capacity, different groupings may give
 * different counts, each within that bound. Not idempotent.
 *
 * JSON: `{ total, counts: [[item, count], ...] }`, counts by count descending
 * then item. Decoding a state stored with a larger capacity prunes it to this
 * one, which keeps the bound.
 */
export const topK = (k: number, options: { readonly capacity?: number } = {}): TopK => {
  const capacity = options.capacity ?? 10 * k
  if (!isInteger(k, 1)) throw new RangeError(`topK k must be a positive integer, got ${k}`)
  if (!isInteger(capacity, k)) throw new RangeError(`topK capacity must be an integer of at least k = ${k}, got ${capacity}`)
  const name = `topk(${k},${capacity})`
  const empty: TopKState = { total: 0, counts: new Map() }
  const sorted = (state: TopKState) => Array.from(state.counts).sort(MisraGries.byCountThenItem)
  return {
    kind: "topk",
    name,
    k,
    capacity,
    empty,
    of: (item, count = 1) => {
      if (!isInteger(count, 1)) throw new RangeError(`a topK count must be a positive safe integer, got ${count}`)
      return new TopKSingleton(item, count)
    },
    top: (state) => sorted(state).slice(0, k).map(([item, count]) => ({ item, count })),
    maxError: (state) => {
      let counted = 0
      for (const c of state.counts.values()) counted += c
      return (state.total - counted) / (capacity + 1)
    },
    combine: (x, y) => {
      if (y.total === 0) return x
      if (x.total === 0) return y
      const counts = new Map(x.counts)
      MisraGries.addInto(counts, y.counts)
      MisraGries.prune(counts, capacity)
      return { total: x.total + y.total, counts }
    },
    combineAll: (values) => {
      // The left fold, pruning after each value as `combine` does, but into one map.
      const counts = new Map<string, number>()
      let total = 0
      for (const v of values) {
        total += v.total
        if (v instanceof TopKSingleton) MisraGries.addOne(counts, v.item, v.total)
        else MisraGries.addInto(counts, v.counts)
        MisraGries.prune(counts, capacity)
      }
      return { total, counts }
    },
    idempotent: false,
    encode: (a) => ({ total: a.total, counts: sorted(a) }),
    decode: (json) => {
      if (!isObject(json) || typeof json.total !== "number" || !Array.isArray(json.counts)) {
        throw new MonoidDecodeError(name, `expected { total, counts: [[item, count], ...] }, got ${preview(json)}`)
      }
      const counts = new Map<string, number>()
      let counted = 0
      for (const entry of json.counts as ReadonlyArray<Json>) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "string" || typeof entry[1] !== "number" || !isInteger(entry[1], 1)) {
          throw new MonoidDecodeError(name, `a counter must be [item, positive integer], got ${preview(entry)}`)
        }
        if (counts.has(entry[0])) throw new MonoidDecodeError(name, `item ${JSON.stringify(entry[0])} is counted twice`)
        counts.set(entry[0], entry[1])
        counted += entry[1]
      }
      if (!isInteger(json.total, 0)) throw new MonoidDecodeError(name, `total must be a non-negative integer, got ${json.total}`)
      if (json.total < counted) throw new MonoidDecodeError(name, `total ${json.total} is below the sum of the counts ${counted}`)
      MisraGries.prune(counts, capacity)
      return { total: json.total, counts }
    },
    equals: (x, y) => {
      if (x.total !== y.total || x.counts.size !== y.counts.size) return false
      for (const [item, c] of x.counts) if (y.counts.get(item) !== c) return false
      return true
    }
  }
}

/** The monoid of `map(inner)`: values are maps folded key by key with `inner`. */
export interface MapMonoid<A> extends Monoid<ReadonlyMap<string, A>, "map"> {
  readonly inner: Monoid<A>
  /** The state of one key holding one value. */
  readonly of: (key: string, value: A) => ReadonlyMap<string, A>
}

/**
 * Key-wise merge of string-keyed maps with an inner monoid: keys present on
 * one side are kept, keys on both are combined. Associative and commutative
 * as the inner monoid is; idempotent iff the inner monoid is.
 *
 * JSON: an object from key to the inner monoid's JSON, keys sorted.
 */
export const map = <A>(inner: Monoid<A>): MapMonoid<A> => {
  const name = `map(${inner.name})`
  return {
    kind: "map",
    name,
    inner,
    empty: new Map(),
    of: (key, value) => new Map([[key, value]]),
    combine: (x, y) => {
      if (y.size === 0) return x
      if (x.size === 0) return y
      const out = new Map(x)
      for (const [key, value] of y) {
        out.set(key, out.has(key) ? inner.combine(out.get(key)!, value) : value)
      }
      return out
    },
    combineAll: (values) => {
      const byKey = new Map<string, Array<A>>()
      for (const v of values) {
        for (const [key, value] of v) {
          const group = byKey.get(key)
          if (group === undefined) byKey.set(key, [value])
          else group.push(value)
        }
      }
      const out = new Map<string, A>()
      for (const [key, group] of byKey) out.set(key, group.length === 1 ? group[0]! : inner.combineAll(group))
      return out
    },
    idempotent: inner.idempotent,
    encode: (a) => Object.fromEntries(Array.from(a.keys()).sort().map((key) => [key, inner.encode(a.get(key)!)])),
    decode: (json) => {
      if (!isObject(json)) throw new MonoidDecodeError(name, `expected an object of key to ${inner.name} state, got ${preview(json)}`)
      const out = new Map<string, A>()
      for (const [key, value] of Object.entries(json)) {
        try {
          out.set(key, inner.decode(value))
        } catch (e) {
          if (e instanceof MonoidDecodeError) throw new MonoidDecodeError(name, `at key ${JSON.stringify(key)}: ${e.reason}`)
          throw e
        }
      }
      return out
    },
    equals: (x, y) => {
      if (x.size !== y.size) return false
      for (const [key, value] of x) if (!y.has(key) || !inner.equals(value, y.get(key)!)) return false
      return true
    }
  }
}
