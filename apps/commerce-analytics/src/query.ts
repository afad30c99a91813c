/**
 * Reading the commerce aggregates back: the reports a person asks for (top
 * products, revenue per hour, unique customers, order status transitions,
 * product updates) over `@eddy/core/Query`, which reads any pipeline's value
 * for a key over a range of buckets. Everything returns data; `render.ts`
 * turns it into tables.
 */
import { orderStatuses } from "@eddy/commerce/CommerceEvent"
import * as Monoid from "@eddy/core/Monoid"
import type * as Pipeline from "@eddy/core/Pipeline"
import { bucketsOf, merged, type QueryError, type Range, seriesOf, value } from "@eddy/core/Query"
import type * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Data, Effect, Either, Option } from "effect"
import {
  ALL,
  customers,
  orderStatusTransitionsDaily,
  pipelines,
  productUpdates,
  revenueByCurrency,
  revenueByProductHourly,
  revenueHourly,
  topProducts,
  topProductsDaily,
  uniqueCustomersDaily
} from "./pipelines"

export { between, last, MAX_BUCKETS, type InvalidRangeError, type QueryError, type Range, type Result, value } from "@eddy/core/Query"

export class UnknownPipelineError extends Data.TaggedError("UnknownPipelineError")<{ readonly name: string }> {
  override get message(): string {
    return `there is no pipeline ${JSON.stringify(this.name)}; the pipelines are ${pipelines.map((p) => p.name).join(", ")}`
  }
}

export const pipelineNamed = (name: string): Either.Either<Pipeline.Pipeline, UnknownPipelineError> => {
  const found = pipelines.find((p) => p.name === name)
  return found === undefined ? Either.left(new UnknownPipelineError({ name })) : Either.right(found)
}

/** When a bucket starts, from its id (see `Window`): `2026-11-21`, `2026-11-21T10Z`, `2026-11-21T10:15Z`. */
export const bucketStartMillis = (bucket: string): number => {
  if (bucket.length === 10) return Date.parse(`${bucket}T00:00:00Z`)
  if (bucket.length === 14) return Date.parse(`${bucket.slice(0, 13)}:00:00Z`)
  return Date.parse(`${bucket.slice(0, 16)}:00Z`)
}

/** The hours of the days `days` (day bucket ids, ascending), as hour bucket ids. */
const hoursOf = (days: ReadonlyArray<string>): ReadonlyArray<string> =>
  days.length === 0 ? [] : Window.bucketsBetween(revenueHourly.window, bucketStartMillis(days[0]!), bucketStartMillis(days[days.length - 1]!) + 86_400_000 - 1)

/** Pipelines whose values are amounts of money in minor units. */
export const moneyPipelines: ReadonlySet<string> = new Set([revenueByProductHourly.name, revenueHourly.name])

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/** Amounts per currency, in minor units. */
export type ByCurrency = ReadonlyMap<string, number>

/** The one currency of `amounts`, when there is exactly one. */
export const onlyCurrency = (amounts: ByCurrency): string | undefined => amounts.size === 1 ? amounts.keys().next().value : undefined

export interface TopProducts {
  /** The day buckets read. */
  readonly days: ReadonlyArray<string>
  readonly products: ReadonlyArray<{ readonly productId: string; readonly units: number; readonly revenue: number }>
  /** Units sold of all products. */
  readonly totalUnits: number
  /** Whether the counts are exact: they are while the range sold no more distinct products than the TopK capacity. */
  readonly exact: boolean
  /** Gross revenue of the same days per currency; per-product revenue is in the currency when there is one. */
  readonly revenue: ByCurrency
}

/** The best-selling products over the days of `range`, by units, with their revenue. */
export const topProductsReport = (range: Range, limit = 10): Effect.Effect<TopProducts, QueryError, Store.Store> =>
  Effect.gen(function*() {
    const { buckets: days, total } = yield* value(topProductsDaily, ALL, range)
    const state = Option.getOrElse(total, () => topProducts.empty)
    const best = topProducts.top(state).slice(0, limit)
    const hours = hoursOf(days)
    const revenue = yield* seriesOf(revenueByProductHourly, best.map((e) => e.item), hours)
    const byCurrency = (yield* seriesOf(revenueHourly, [ALL], hours)).get(ALL)!
    return {
      days,
      products: best.map((e) => ({
        productId: e.item,
        units: e.count,
        revenue: revenue.get(e.item)!.reduce((sum, p) => sum + p.value, 0)
      })),
      totalUnits: state.total,
      exact: topProducts.maxError(state) === 0,
      revenue: Option.getOrElse(merged(revenueByCurrency, byCurrency), () => new Map())
    }
  })

export interface RevenuePerHour {
  readonly hours: ReadonlyArray<{ readonly hour: string; readonly revenue: ByCurrency }>
  readonly total: ByCurrency
}

/** Gross revenue per currency of each hour of `range` that had orders. */
export const revenuePerHourReport = (range: Range): Effect.Effect<RevenuePerHour, QueryError, Store.Store> =>
  Effect.gen(function*() {
    const { points } = yield* value(revenueHourly, ALL, range)
    return {
      hours: points.map((p) => ({ hour: p.bucket, revenue: p.value })),
      total: Option.getOrElse(merged(revenueByCurrency, points), () => new Map())
    }
  })

export interface UniqueCustomers {
  readonly days: ReadonlyArray<{ readonly day: string; readonly customers: number }>
  /** Distinct customers over the whole range: the days' sketches merged, not their estimates added. */
  readonly total: number
}

/** Estimated distinct customers who ordered, per day of `range` and over all of it. */
export const uniqueCustomersReport = (range: Range): Effect.Effect<UniqueCustomers, QueryError, Store.Store> =>
  Effect.gen(function*() {
    const { points } = yield* value(uniqueCustomersDaily, ALL, range)
    return {
      days: points.map((p) => ({ day: p.bucket, customers: Monoid.estimate(p.value) })),
      total: Option.match(merged(customers, points), { onNone: () => 0, onSome: Monoid.estimate })
    }
  })

export interface StatusTransitions {
  readonly statuses: ReadonlyArray<string>
  /** Days with any transition; counts by status. */
  readonly days: ReadonlyArray<{ readonly day: string; readonly counts: ReadonlyMap<string, number> }>
  readonly totals: ReadonlyMap<string, number>
}

/** Orders entering each status per day of `range`. */
export const statusTransitionsReport = (range: Range): Effect.Effect<StatusTransitions, QueryError, Store.Store> =>
  Effect.gen(function*() {
    const buckets = yield* bucketsOf(orderStatusTransitionsDaily.window, range)
    const series = yield* seriesOf(orderStatusTransitionsDaily, orderStatuses, buckets)
    const byDay = new Map<string, Map<string, number>>()
    const totals = new Map<string, number>()
    for (const [status, points] of series) {
      for (const p of points) {
        let counts = byDay.get(p.bucket)
        if (counts === undefined) byDay.set(p.bucket, counts = new Map())
        counts.set(status, p.value)
        totals.set(status, (totals.get(status) ?? 0) + p.value)
      }
    }
    return {
      statuses: orderStatuses,
      days: buckets.filter((b) => byDay.has(b)).map((day) => ({ day, counts: byDay.get(day)! })),
      totals
    }
  })

export interface ProductUpdates {
  /** The products with updates, most updated first. */
  readonly products: ReadonlyArray<{ readonly productId: string; readonly updates: number }>
}

/** All-time update counts of `productIds`. */
export const productUpdatesReport = (productIds: ReadonlyArray<string>): Effect.Effect<ProductUpdates, Store.StoreError, Store.Store> =>
  Effect.map(seriesOf(productUpdates, productIds, ["all"]), (series) => ({
    products: Array.from(series, ([productId, points]) => ({ productId, updates: points[0]?.value ?? 0 }))
      .filter((p) => p.updates > 0)
      .sort((a, b) => b.updates - a.updates || (a.productId < b.productId ? -1 : 1))
  }))
