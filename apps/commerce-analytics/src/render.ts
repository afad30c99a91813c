/**
 * Plain-text tables for people: aligned columns under a title, money in its
 * currency (`EUR 1,234.56`) or, where the currency is unknown, in labelled
 * minor units.
 */
import * as Monoid from "@eddy/core/Monoid"
import * as Window from "@eddy/core/Window"
import { Option } from "effect"
import * as Query from "./query"

export interface Column {
  readonly header: string
  /** Numbers read best right-aligned. Default left. */
  readonly align?: "left" | "right"
}

export interface Table {
  readonly title: string
  readonly columns: ReadonlyArray<Column>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
  /** A closing row under a rule, e.g. totals. */
  readonly footer?: ReadonlyArray<string>
  /** A line under the table, e.g. what the figures mean. */
  readonly note?: string
}

const width = (s: string): number => [...s].length

const pad = (s: string, n: number, align: Column["align"]): string =>
  align === "right" ? " ".repeat(n - width(s)) + s : s + " ".repeat(n - width(s))

export const render = (table: Table): string => {
  const { columns } = table
  const all = [columns.map((c) => c.header), ...table.rows, ...(table.footer ? [table.footer] : [])]
  const widths = columns.map((_, i) => Math.max(...all.map((row) => width(row[i] ?? ""))))
  const line = (row: ReadonlyArray<string>) => "  " + columns.map((c, i) => pad(row[i] ?? "", widths[i]!, c.align)).join("  ").trimEnd()
  const rule = "  " + widths.map((w) => "-".repeat(w)).join("  ")
  const lines = [table.title, line(columns.map((c) => c.header)), rule]
  if (table.rows.length === 0) lines.push("  (nothing stored for this range)")
  else for (const row of table.rows) lines.push(line(row))
  if (table.footer) lines.push(rule, line(table.footer))
  if (table.note) lines.push(`  ${table.note}`)
  return lines.join("\n") + "\n"
}

/** Thousands separated, e.g. `12,345`. */
export const integer = (n: number): string => Math.round(n).toLocaleString("en-US")

/** Digits after the decimal point of a currency's minor unit (2 for EUR, 0 for JPY, 3 for BHD). */
export const minorDigits = (currency: string): number => {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2
  } catch {
    return 2
  }
}

/**
 * An amount in minor units as money: `EUR 19.99` when the currency is known,
 * else `1,999 minor units`. Exact: integer arithmetic, no floating point.
 */
export const money = (minorUnits: number, currency: string | undefined): string => {
  if (currency === undefined) return `${integer(minorUnits)} minor units`
  const digits = minorDigits(currency)
  const sign = minorUnits < 0 ? "-" : ""
  const abs = Math.abs(minorUnits)
  const scale = 10 ** digits
  const whole = integer(Math.floor(abs / scale))
  return digits === 0 ? `${currency} ${sign}${whole}` : `${currency} ${sign}${whole}.${String(abs % scale).padStart(digits, "0")}`
}

// ---------------------------------------------------------------------------
// Values and reports
// ---------------------------------------------------------------------------

const span = (buckets: ReadonlyArray<string>): string =>
  buckets.length === 0 ? "no buckets" : buckets.length === 1 ? buckets[0]! : `${buckets[0]} to ${buckets[buckets.length - 1]}`

/**
 * One stored value as text, by its monoid: numbers (or money, for `money`
 * pipelines: `currency` labels sums; a map's keys are its currencies),
 * HyperLogLog estimates, the top of a TopK, a set's items, a first/last value.
 */
export const valueText = (monoid: Monoid.Monoid<any>, value: unknown, options: { readonly money?: boolean; readonly currency?: string } = {}): string => {
  switch (monoid.kind) {
    case "sum":
    case "count":
      return options.money ? money(value as number, options.currency) : integer(value as number)
    case "min":
    case "max":
      return String(value)
    case "hll":
      return `~${integer(Monoid.estimate(value as Monoid.HllState))}`
    case "topk": {
      const top = (monoid as Monoid.TopK).top(value as Monoid.TopKState)
      const shown = top.slice(0, 5).map((e) => `${e.item} (${integer(e.count)})`).join(", ")
      return top.length > 5 ? `${shown}, ... of ${integer((value as Monoid.TopKState).total)}` : shown
    }
    case "map": {
      const inner = (monoid as Monoid.MapMonoid<unknown>).inner
      return Array.from(value as ReadonlyMap<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, v]) => options.money ? valueText(inner, v, { money: true, currency: key }) : `${key}: ${valueText(inner, v)}`)
        .join("; ")
    }
    case "set": {
      const s = value as Monoid.SetState
      return s.items.join(", ") + (s.overflowed ? ", ..." : "")
    }
    case "first":
    case "last": {
      const t = value as Monoid.Timed | null
      return t === null ? "none" : `${JSON.stringify(t.value)} at ${new Date(t.at).toISOString()}`
    }
  }
}

/** One pipeline's value per bucket, and merged over the range. */
export const valueTable = (result: Query.Result, options: { readonly currency?: string } = {}): Table => {
  const { pipeline } = result
  const money = Query.moneyPipelines.has(pipeline.name)
  const text = (v: unknown) => valueText(pipeline.aggregate, v, { money, ...(options.currency !== undefined ? { currency: options.currency } : {}) })
  const missing = result.buckets.length - result.points.length
  return {
    title: `${pipeline.name} for ${JSON.stringify(result.key)}, ${span(result.buckets)} (${Window.describe(pipeline.window)})`,
    columns: [{ header: "bucket" }, { header: "value", align: "right" }],
    rows: result.points.map((p) => [p.bucket, text(p.value)]),
    footer: ["merged", Option.match(result.total, { onNone: () => "none", onSome: text })],
    ...(missing > 0 ? { note: `${missing} of ${result.buckets.length} buckets hold nothing and are left out` } : {})
  }
}

export const topProductsTable = (report: Query.TopProducts): Table => {
  const currency = Query.onlyCurrency(report.revenue)
  const notes = [
    ...(report.exact ? [] : ["more distinct products sold than the TopK capacity: units are lower bounds"]),
    ...(report.revenue.size > 1 ? [`orders were in ${[...report.revenue.keys()].join(", ")}: product revenue adds them up in minor units`] : [])
  ]
  return {
    title: `Top products by units sold, ${span(report.days)}`,
    columns: [{ header: "#", align: "right" }, { header: "product" }, { header: "units", align: "right" }, { header: "share", align: "right" }, {
      header: "revenue",
      align: "right"
    }],
    rows: report.products.map((p, i) => [
      String(i + 1),
      p.productId,
      integer(p.units),
      report.totalUnits === 0 ? "" : `${((100 * p.units) / report.totalUnits).toFixed(1)}%`,
      money(p.revenue, currency)
    ]),
    footer: ["", "all products", integer(report.totalUnits), "100%", currency === undefined ? moneyList(report.revenue) : money(report.revenue.get(currency)!, currency)],
    ...(notes.length > 0 ? { note: notes.join("; ") } : {})
  }
}

const moneyList = (amounts: Query.ByCurrency): string =>
  amounts.size === 0 ? money(0, undefined) : Array.from(amounts).sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => money(n, c)).join(" + ")

export const revenuePerHourTable = (report: Query.RevenuePerHour): Table => {
  const currencies = Array.from(report.total.keys()).sort()
  return {
    title: `Gross revenue per hour (order subtotals, before gift vouchers)${report.hours.length > 0 ? `, ${span(report.hours.map((h) => h.hour))}` : ""}`,
    columns: [{ header: "hour (UTC)" }, ...currencies.map((c) => ({ header: c, align: "right" as const }))],
    rows: report.hours.map((h) => [h.hour, ...currencies.map((c) => money(h.revenue.get(c) ?? 0, c))]),
    footer: ["total", ...currencies.map((c) => money(report.total.get(c)!, c))]
  }
}

export const uniqueCustomersTable = (report: Query.UniqueCustomers): Table => ({
  title: "Unique customers who ordered, per day",
  columns: [{ header: "day" }, { header: "customers", align: "right" }],
  rows: report.days.map((d) => [d.day, integer(d.customers)]),
  footer: ["all days", integer(report.total)],
  note: "HyperLogLog estimates (about 0.8% standard error); a customer ordering on two days counts once in the total"
})

export const statusTransitionsTable = (report: Query.StatusTransitions): Table => {
  const statuses = report.statuses.filter((s) => report.totals.has(s))
  return {
    title: "Orders entering each status, per day",
    columns: [{ header: "day" }, ...statuses.map((s) => ({ header: s, align: "right" as const }))],
    rows: report.days.map((d) => [d.day, ...statuses.map((s) => integer(d.counts.get(s) ?? 0))]),
    footer: ["total", ...statuses.map((s) => integer(report.totals.get(s)!))]
  }
}

export const productUpdatesTable = (report: Query.ProductUpdates, limit = 10): Table => ({
  title: `Most updated products (all time)`,
  columns: [{ header: "product" }, { header: "updates", align: "right" }],
  rows: report.products.slice(0, limit).map((p) => [p.productId, integer(p.updates)]),
  ...(report.products.length > limit ? { note: `${report.products.length - limit} more products were updated` } : {})
})
