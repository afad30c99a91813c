import * as Store from "@eddy/core/Store"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { estimateTolerance } from "../src/internal/verify"
import { ALL, revenueByProductHourly, topProducts, topProductsDaily } from "../src/pipelines"
import * as Query from "../src/query"
import { END, plan, storeOf } from "./support"

const traffic = plan()
const whole = Query.between(END - 2 * 86_400_000, END)
const provided = <A, E>(effect: Effect.Effect<A, E, Store.Store>) =>
  Effect.flatMap(storeOf(traffic), (store) => Effect.provideService(effect, Store.Store, store))

describe("reports over the pipelines' aggregates", () => {
  it.effect("top products: units and revenue per product as the generator recorded them, best first", () =>
    provided(Effect.gen(function*() {
      const report = yield* Query.topProductsReport(whole, 5)
      const units = new Map<string, number>()
      for (const day of traffic.totals.unitsByProductDaily.values()) for (const [p, n] of day) units.set(p, (units.get(p) ?? 0) + n)
      const best = Array.from(units).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5)
      expect(report.products.map((p) => [p.productId, p.units])).toEqual(best)
      for (const p of report.products) {
        const revenue = Array.from(traffic.totals.revenueByProductHourly.get(p.productId)!.values()).reduce((a, b) => a + b, 0)
        expect(p.revenue).toBe(revenue)
      }
      expect(report.totalUnits).toBe(Array.from(units.values()).reduce((a, b) => a + b, 0))
      expect(report.exact).toBe(true)
      expect([...report.revenue.keys()]).toEqual(["EUR"])
    })))

  it.effect("revenue per hour: each hour's sum of the per-product revenue, in the orders' currency", () =>
    provided(Effect.gen(function*() {
      const report = yield* Query.revenuePerHourReport(whole)
      const hourly = new Map<string, number>()
      for (const hours of traffic.totals.revenueByProductHourly.values()) for (const [h, n] of hours) hourly.set(h, (hourly.get(h) ?? 0) + n)
      expect(report.hours.map((h) => [h.hour, h.revenue.get("EUR")])).toEqual(Array.from(hourly).sort(([a], [b]) => (a < b ? -1 : 1)))
    })))

  it.effect("unique customers and status transitions per day", () =>
    provided(Effect.gen(function*() {
      const customers = yield* Query.uniqueCustomersReport(whole)
      expect(customers.days.map((d) => d.day)).toEqual(Array.from(traffic.totals.uniqueCustomersDaily.keys()).sort())
      for (const d of customers.days) {
        const exact = traffic.totals.uniqueCustomersDaily.get(d.day)!
        expect(Math.abs(d.customers - exact)).toBeLessThanOrEqual(estimateTolerance(exact))
      }
      const statuses = yield* Query.statusTransitionsReport(whole)
      for (const [status, days] of traffic.totals.orderStatusTransitionsDaily) {
        for (const [day, n] of days) expect(statuses.days.find((d) => d.day === day)?.counts.get(status)).toBe(n)
        expect(statuses.totals.get(status)).toBe(Array.from(days.values()).reduce((a, b) => a + b, 0))
      }
    })))

  it.effect("product updates: all-time counts, most updated first, products without updates left out", () =>
    provided(Effect.gen(function*() {
      const report = yield* Query.productUpdatesReport(["p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7", "p-8", "nope"])
      const expected = ["p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7", "p-8"].flatMap((p) => {
        const n = traffic.totals.productUpdates.get(p)
        return n === undefined ? [] : [[p, n] as const]
      })
      expect(report.products.map((p) => [p.productId, p.updates]).sort()).toEqual(expected.map((e) => [...e]).sort())
      expect(report.products.map((p) => p.updates)).toEqual([...report.products.map((p) => p.updates)].sort((a, b) => b - a))
    })))
})

describe("reading a pipeline for a key", () => {
  it.effect("skips buckets with nothing stored and merges the rest with the monoid", () =>
    provided(Effect.gen(function*() {
      const [productId, hours] = Array.from(traffic.totals.revenueByProductHourly)[0]!
      const result = yield* Query.value(revenueByProductHourly, productId, whole)
      expect(result.buckets.length).toBe(49)
      expect(result.points).toEqual(Array.from(hours, ([bucket, value]) => ({ bucket, value })).sort((a, b) => (a.bucket < b.bucket ? -1 : 1)))
      expect(result.total).toEqual(Option.some(Array.from(hours.values()).reduce((a, b) => a + b, 0)))
    })))

  it.effect("--last counts buckets back from the clock's now", () =>
    provided(Effect.gen(function*() {
      yield* TestClock.setTime(END - 1)
      const days = yield* Query.value(topProductsDaily, ALL, Query.last(2))
      expect(days.buckets).toEqual(["2026-11-20", "2026-11-21"])
      const units = (day: string) => Array.from(traffic.totals.unitsByProductDaily.get(day)?.values() ?? []).reduce((a, b) => a + b, 0)
      const total = Option.getOrThrow(days.total)
      expect(total.total).toBe(units("2026-11-20") + units("2026-11-21"))
      expect(topProducts.maxError(total)).toBe(0)
    })))

  it.effect("refuses ranges that run backwards or are too long, and names the pipelines when one is unknown", () =>
    Effect.gen(function*() {
      const backwards = yield* Effect.flip(Query.value(revenueByProductHourly, "p-1", Query.between(END, END - 1)).pipe(Effect.provideService(Store.Store, yield* Store.makeMemory)))
      expect(backwards._tag).toBe("InvalidRangeError")
      const long = yield* Effect.flip(Query.value(revenueByProductHourly, "p-1", Query.last(Query.MAX_BUCKETS + 1)).pipe(Effect.provideService(Store.Store, yield* Store.makeMemory)))
      expect(long.message).toContain("--last")
      const unknown = Query.pipelineNamed("revenue")
      expect(unknown._tag === "Left" && unknown.left.message).toContain("revenue_by_product_hourly")
    }))
})
