/**
 * Reading pipelines' aggregates back from the store: a range of window
 * buckets, each key's value per bucket (buckets with nothing stored are left
 * out, not counted as zero) and their merge with the pipeline's monoid, in
 * one batched read. What the CLI, the commerce reports and the service's
 * query endpoint answer with; values as a person reads them by `readable`.
 */
import { Clock, Data, Effect, Option } from "effect"
import type { Json } from "./Json"
import * as Monoid from "./Monoid"
import type * as Pipeline from "./Pipeline"
import * as Store from "./Store"
import * as Window from "./Window"

/** Which buckets to read: the last `count` up to now, those covering `[from, to]` (epoch milliseconds), or named ones. */
export type Range =
  | { readonly _tag: "Last"; readonly count: number }
  | { readonly _tag: "Between"; readonly from: number; readonly to: number }
  | { readonly _tag: "Buckets"; readonly buckets: ReadonlyArray<string> }

/** The last `count` buckets up to now. */
export const last = (count: number): Range => ({ _tag: "Last", count })
/** The buckets covering `[from, to]`, in epoch milliseconds. */
export const between = (from: number, to: number): Range => ({ _tag: "Between", from, to })
/** The buckets named by their ids. */
export const buckets = (ids: ReadonlyArray<string>): Range => ({ _tag: "Buckets", buckets: ids })

/** Reads beyond this many buckets at once are refused rather than sent as thousands of requests. */
export const MAX_BUCKETS = 10_000

/** A range that cannot be read: backwards, empty or too long. Its message says how to fix it. */
export class InvalidRangeError extends Data.TaggedError("InvalidRangeError")<{ readonly message: string }> {}

/** What a read can fail with. */
export type QueryError = Store.StoreError | InvalidRangeError

/** The last buckets a person usually wants: a day of hours, a week of days, an hour of minutes. */
export const defaultRange = (window: Window.Window): Range =>
  last(window._tag === "Tumbling" ? { minute: 60, hour: 24, day: 7 }[window.unit] : 1)

const isoOrText = (millis: number): string => Number.isFinite(millis) ? new Date(millis).toISOString() : String(millis)

/** The bucket ids of `range` in `window`, oldest first; an unbounded window has the one bucket `all`. */
export const bucketsOf = (window: Window.Window, range: Range): Effect.Effect<ReadonlyArray<string>, InvalidRangeError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (window._tag === "Unbounded") return Effect.succeed(["all"])
    switch (range._tag) {
      case "Buckets":
        if (range.buckets.length > MAX_BUCKETS) return Effect.fail(new InvalidRangeError({ message: `give at most ${MAX_BUCKETS} buckets at once, got ${range.buckets.length}` }))
        return Effect.succeed(range.buckets)
      case "Last":
        if (!Number.isSafeInteger(range.count) || range.count < 1 || range.count > MAX_BUCKETS) {
          return Effect.fail(new InvalidRangeError({ message: `--last takes a whole number of buckets from 1 to ${MAX_BUCKETS}, got ${range.count}` }))
        }
        return Effect.succeed(Window.lastBuckets(window, now, range.count))
      case "Between": {
        const { from, to } = range
        if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) {
          return Effect.fail(new InvalidRangeError({ message: `the range must run forward in time (--from before --to), got ${isoOrText(from)} to ${isoOrText(to)}` }))
        }
        if ((to - from) / window.sizeMillis >= MAX_BUCKETS) {
          return Effect.fail(new InvalidRangeError({ message: `the range spans more than ${MAX_BUCKETS} ${window.unit} buckets; narrow it` }))
        }
        return Effect.succeed(Window.bucketsBetween(window, from, to))
      }
    }
  })

/** A stored value of one bucket. */
export interface Point<A> {
  readonly bucket: string
  readonly value: A
}

/**
 * Each key's stored values per bucket, oldest first; buckets without a value
 * are left out. One batched read; a spread pipeline's sub-items are merged
 * (`Store.spread`, a no-op on a store that spreads already).
 */
export const seriesOf = <A>(
  pipeline: Pipeline.Pipeline<any, A>,
  keys: ReadonlyArray<string>,
  bucketIds: ReadonlyArray<string>
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<Point<A>>>, Store.StoreError, Store.Store> =>
  Effect.gen(function*() {
    const store = Store.spread(yield* Store.Store, [pipeline])
    const refs = keys.flatMap((key) => bucketIds.map((bucket) => ({ pipeline: pipeline.name, key, bucket })))
    const values = refs.length === 0 ? [] : yield* store.getMany(pipeline.aggregate, refs)
    const out = new Map<string, Array<Point<A>>>(keys.map((key) => [key, []]))
    refs.forEach((ref, i) => {
      const value = values[i]!
      if (Option.isSome(value)) out.get(ref.key)!.push({ bucket: ref.bucket, value: value.value })
    })
    return out
  })

/** The monoid fold of the points; `None` when there are none. */
export const merged = <A>(monoid: Monoid.Monoid<A>, points: ReadonlyArray<Point<A>>): Option.Option<A> =>
  points.length === 0 ? Option.none() : Option.some(monoid.combineAll(points.map((p) => p.value)))

/** One pipeline's value for one key over a range. */
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
export const value = <A>(pipeline: Pipeline.Pipeline<any, A>, key: string, range: Range): Effect.Effect<Result<A>, QueryError, Store.Store> =>
  Effect.gen(function*() {
    const bucketIds = yield* bucketsOf(pipeline.window, range)
    const points = (yield* seriesOf(pipeline, [key], bucketIds)).get(key)!
    return { pipeline, key, buckets: bucketIds, points, total: merged(pipeline.aggregate, points) }
  })

/** A value as a person reads it: a count, a sketch's estimate, a ranking; anything else as its JSON. */
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
