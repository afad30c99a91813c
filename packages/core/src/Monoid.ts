import type { Json } from "./Json"

/**
 * The structural kind of a monoid. Stores dispatch on it: `sum` and `count`
 * become atomic adds, `min`/`max` conditional sets, everything else a
 * versioned compare-and-set of the encoded state.
 */
export type MonoidKind = "sum" | "count" | "min" | "max" | "first" | "last" | "set" | "hll" | "topk" | "map"

/**
 * A commutative monoid over `A` with a JSON form for storage. Every instance is
 * commutative (order inside a chunk never matters) and associative; `idempotent`
 * is true when `combine(a, a) = a`, which the law tests then check too.
 */
export interface Monoid<A> {
  readonly kind: MonoidKind
  /** Human-readable description including parameters, e.g. `topk(100)`. */
  readonly name: string
  readonly empty: A
  readonly combine: (x: A, y: A) => A
  readonly idempotent: boolean
  readonly encode: (a: A) => Json
  /** Throws `MonoidDecodeError` when the stored JSON is not a state of this monoid. */
  readonly decode: (json: Json) => A
  /** Structural equality of states (used by tests and by compare-and-set stores). */
  readonly equals: (x: A, y: A) => boolean
}

export class MonoidDecodeError extends Error {
  override readonly name = "MonoidDecodeError"
  constructor(readonly monoid: string, readonly reason: string) {
    super(`cannot decode a stored ${monoid} state: ${reason}`)
  }
}

/** Folds many values with one monoid, synchronously. */
export const fold = <A>(monoid: Monoid<A>, values: Iterable<A>): A => {
  let acc = monoid.empty
  for (const v of values) acc = monoid.combine(acc, v)
  return acc
}

const number = (monoid: string) => (json: Json): number => {
  if (typeof json !== "number" || !Number.isFinite(json)) throw new MonoidDecodeError(monoid, `expected a number, got ${JSON.stringify(json)}`)
  return json
}

/** Sum of safe integers (money in minor units, quantities). */
export const sum: Monoid<number> = {
  kind: "sum",
  name: "sum",
  empty: 0,
  combine: (x, y) => x + y,
  idempotent: false,
  encode: (a) => a,
  decode: number("sum"),
  equals: (x, y) => x === y
}

/** Count of events; a pipeline with this aggregate contributes 1 per emitted key unless it says otherwise. */
export const count: Monoid<number> = { ...sum, kind: "count", name: "count", decode: number("count") }
