/**
 * Reading one pipeline's value for a key back from the store: per bucket of a
 * range (buckets with nothing stored are left out) and merged with the
 * pipeline's monoid. Values are shown as a person reads them: sketches as
 * their estimate, top-k as its ranking.
 */
import type { Json } from "@eddy/core/Json"
import * as Monoid from "@eddy/core/Monoid"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Clock, Data, Effect, Option } from "effect"
import * as Table from "./internal/table"

/** Which buckets to read: the last `count` up to now, those covering `[from, to]` (epoch milliseconds), or named ones. */
export type Range =
  | { readonly _tag: "Last"; readonly count: number }
  | { readonly _tag: "Between"; readonly from: number; readonly to: number }
  | { readonly _tag: "Buckets"; readonly buckets: ReadonlyArray<string> }

/** Reads beyond this many buckets at once are refused rather than sent as thousands of requests. */
export const MAX_BUCKETS = 10_000

export class InvalidRangeError extends Data.TaggedError("InvalidRangeError")<{ readonly message: string }> {}

/** What `--last` means when no range is given: a day of hours, a week of days, an hour of minutes. */
export const defaultRange = (window: Window.Window): Range =>
  ({ _tag: "Last", count: window._tag === "Tumbling" ? { minute: 60, hour: 24, day: 7 }[window.unit] : 1 })

/** The bucket ids of `range` in `window`, oldest first; an unbounded window has the one bucket `all`. */
export const bucketsOf = (window: Window.Window, range: Range): Effect.Effect<ReadonlyArray<string>, InvalidRangeError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (window._tag === "Unbounded") return Effect.succeed(["all"])
    switch (range._tag) {
      case "Buckets":
        return Effect.succeed(range.buckets)
      case "Last":
        if (!Number.isSafeInteger(range.count) || range.count < 1 || range.count > MAX_BUCKETS) {
          return Effect.fail(new InvalidRangeError({ message: `--last takes a whole number of buckets from 1 to ${MAX_BUCKETS}, got ${range.count}` }))
        }
        return Effect.succeed(Window.lastBuckets(window, now, range.count))
      case "Between":
        if (!(range.from <= range.to)) return Effect.fail(new InvalidRangeError({ message: "the range must run forward in time: --from before --to" }))
        if ((range.to - range.from) / window.sizeMillis >= MAX_BUCKETS) {
          return Effect.fail(new InvalidRangeError({ message: `the range spans more than ${MAX_BUCKETS} ${window.unit} buckets; narrow it` }))
        }
        return Effect.succeed(Window.bucketsBetween(window, range.from, range.to))
    }
  })

export interface Point<A> {
  readonly bucket: string
  readonly value: A
}

export interface Result<A = unknown> {
  readonly pipeline: Pipeline.Pipeline<any, A>
  readonly key: string
  /** Every bucket read, oldest first. */
  readonly buckets: ReadonlyArray<string>
  /** The buckets holding a value. */
  readonly points: ReadonlyArray<Point<A>>
  /** All points merged with the pipeline's monoid. */
  readonly total: Option.Option<A>
}

/** One pipeline's value for one key per bucket of `range`, and merged. One batched read. */
export const value = <A>(pipeline: Pipeline.Pipeline<any, A>, key: string, range: Range): Effect.Effect<Result<A>, Store.StoreError | InvalidRangeError, Store.Store> =>
  Effect.gen(function*() {
    const buckets = yield* bucketsOf(pipeline.window, range)
    const store = yield* Store.Store
    const values = yield* store.getMany(pipeline.aggregate, buckets.map((bucket) => ({ pipeline: pipeline.name, key, bucket })))
    const points = buckets.flatMap((bucket, i) => Option.match(values[i]!, { onNone: () => [], onSome: (value) => [{ bucket, value }] }))
    const total = points.length === 0 ? Option.none() : Option.some(pipeline.aggregate.combineAll(points.map((p) => p.value)))
    return { pipeline, key, buckets, points, total }
  })

/** A value as a person reads it: a count, an estimate, a ranking; anything else as its JSON. */
export const readable = <A>(monoid: Monoid.Monoid<A>, value: A): Json => {
  switch (monoid.kind) {
    case "hll":
      return { estimate: Math.round(Monoid.estimate(value as Monoid.HllState)) }
    case "topk": {
      const topK = monoid as unknown as Monoid.TopK
      return topK.top(value as Monoid.TopKState).map((e) => ({ item: e.item, count: e.count }))
    }
    case "map": {
      const inner = (monoid as unknown as Monoid.MapMonoid<unknown>).inner
      return Object.fromEntries(Array.from(value as ReadonlyMap<string, unknown>, ([k, v]) => [k, readable(inner, v)]))
    }
    default:
      return monoid.encode(value)
  }
}

/** The result as JSON: per bucket and merged, each value `readable`. */
export const toJson = <A>(result: Result<A>): Json => ({
  pipeline: result.pipeline.name,
  key: result.key,
  aggregate: result.pipeline.aggregate.name,
  buckets: result.points.map((p) => ({ bucket: p.bucket, value: readable(result.pipeline.aggregate, p.value) })),
  total: Option.match(result.total, { onNone: () => null, onSome: (v) => readable(result.pipeline.aggregate, v) })
})

const cell = (json: Json): string => (typeof json === "number" || typeof json === "string" ? String(json) : JSON.stringify(json))

/** The result as a table: one row per bucket holding a value, then the merged total. */
export const toTable = <A>(result: Result<A>): string => {
  const read = (v: A) => cell(readable(result.pipeline.aggregate, v))
  const title = `${result.pipeline.name} for ${JSON.stringify(result.key)} (${result.pipeline.aggregate.name}, ${Window.describe(result.pipeline.window)})`
  if (result.points.length === 0) return `${title}\n\nno values in the ${result.buckets.length} bucket(s) read\n`
  return Table.render({
    title,
    columns: [{ header: "bucket" }, { header: "value", align: "right" }],
    rows: [...result.points.map((p) => [p.bucket, read(p.value)]), ["total", Option.match(result.total, { onNone: () => "", onSome: read })]]
  })
}
