/**
 * The demo's checks: two stores must hold the same items with equal values,
 * and those must be what the load generator recorded it sent, from its own
 * model of the traffic rather than from the events the pipelines read.
 */
import type { CommerceEvent } from "@eddy/commerce/CommerceEvent"
import { timestampMillis } from "@eddy/commerce/CommerceEvent"
import * as Monoid from "@eddy/core/Monoid"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import type { Totals } from "@eddy/commerce-sync/Generate"
import {
  ALL,
  customers,
  orderStatusTransitionsDaily,
  pipelines,
  productUpdates,
  revenueByProductHourly,
  revenueHourly,
  topProducts,
  topProductsDaily,
  uniqueCustomersDaily
} from "../pipelines"
import type { Item, Items } from "./storedItems"

const describe = (ref: Store.ItemRef): string => `${ref.pipeline}/${ref.key}/${ref.bucket}`

const pipelineOf = (name: string): Pipeline.Pipeline => pipelines.find((p) => p.name === name)!

const text = (ref: Store.ItemRef, value: unknown): string => JSON.stringify(pipelineOf(ref.pipeline).aggregate.encode(value)).slice(0, 160)

/** Where `a` and `b` differ: items only one holds, and items whose values are not equal under their monoid. */
export const compareStores = (a: { readonly name: string; readonly items: Items }, b: { readonly name: string; readonly items: Items }): Array<string> => {
  const out: Array<string> = []
  for (const [id, x] of a.items) {
    const y = b.items.get(id)
    if (y === undefined) out.push(`${describe(x.ref)}: only the ${a.name} has it (${text(x.ref, x.value)})`)
    else if (!pipelineOf(x.ref.pipeline).aggregate.equals(x.value, y.value)) {
      out.push(`${describe(x.ref)}: the ${a.name} has ${text(x.ref, x.value)}, the ${b.name} ${text(y.ref, y.value)}`)
    }
  }
  for (const [id, y] of b.items) if (!a.items.has(id)) out.push(`${describe(y.ref)}: only the ${b.name} has it (${text(y.ref, y.value)})`)
  return out
}

/** How far a HyperLogLog estimate may be from the exact count: about 2.5 standard errors of precision 14, at least 1. */
export const estimateTolerance = (exact: number): number => Math.max(1, Math.ceil(exact * 0.02))

interface Expected {
  readonly ref: Store.ItemRef
  /** What is wrong with the stored value, or `undefined` when it is right. */
  readonly check: (stored: unknown) => string | undefined
}

const exactly = <A>(monoid: Monoid.Monoid<A>, ref: Store.ItemRef, value: A): Expected => ({
  ref,
  check: (stored) => monoid.equals(stored as A, value) ? undefined : `expected ${text(ref, value)}`
})

const dayOf = (millis: number) => Window.bucketIdAt(uniqueCustomersDaily.window, Window.bucketStart(uniqueCustomersDaily.window, millis))

/**
 * The items the generator's totals say the pipelines must hold. Unique
 * customers are held two ways: the sketch must equal the fold of the
 * customers' sketches over the generated orders, and its estimate must be
 * within `estimateTolerance` of the generator's exact count. Gross revenue per
 * hour must equal the generator's per-product revenue of the hour, summed.
 */
export const expectedItems = (totals: Totals, events: ReadonlyArray<CommerceEvent>): ReadonlyMap<string, Expected> => {
  const expected = new Map<string, Expected>()
  const add = (e: Expected) => expected.set(Store.itemId(e.ref), e)
  const hourly = new Map<string, number>()
  for (const [productId, hours] of totals.revenueByProductHourly) {
    for (const [hour, amount] of hours) {
      add(exactly(revenueByProductHourly.aggregate, { pipeline: revenueByProductHourly.name, key: productId, bucket: hour }, amount))
      hourly.set(hour, (hourly.get(hour) ?? 0) + amount)
    }
  }
  for (const [hour, amount] of hourly) {
    const ref = { pipeline: revenueHourly.name, key: ALL, bucket: hour }
    add({
      ref,
      check: (stored) => {
        let sum = 0
        for (const v of (stored as ReadonlyMap<string, number>).values()) sum += v
        return sum === amount ? undefined : `expected ${amount} in all currencies together`
      }
    })
  }
  for (const [day, units] of totals.unitsByProductDaily) {
    let total = 0
    for (const n of units.values()) total += n
    add(exactly(topProducts, { pipeline: topProductsDaily.name, key: ALL, bucket: day }, { total, counts: units }))
  }
  const sketches = new Map<string, Array<Monoid.HllState>>()
  for (const e of events) {
    if (e.type !== "order.created") continue
    const day = dayOf(timestampMillis(e.occurredAt))
    let list = sketches.get(day)
    if (list === undefined) sketches.set(day, list = [])
    list.push(customers.of(e.order.customerId))
  }
  for (const [day, exact] of totals.uniqueCustomersDaily) {
    const fold = customers.combineAll(sketches.get(day) ?? [])
    add({
      ref: { pipeline: uniqueCustomersDaily.name, key: ALL, bucket: day },
      check: (stored) => {
        const estimate = Monoid.estimate(stored as Monoid.HllState)
        if (!customers.equals(stored as Monoid.HllState, fold)) return "the sketch differs from the fold of the orders' customers"
        return Math.abs(estimate - exact) <= estimateTolerance(exact) ? undefined : `estimate ${estimate.toFixed(0)} is not within ${estimateTolerance(exact)} of ${exact}`
      }
    })
  }
  for (const [status, days] of totals.orderStatusTransitionsDaily) {
    for (const [day, count] of days) add(exactly(orderStatusTransitionsDaily.aggregate, { pipeline: orderStatusTransitionsDaily.name, key: status, bucket: day }, count))
  }
  for (const [productId, count] of totals.productUpdates) add(exactly(productUpdates.aggregate, { pipeline: productUpdates.name, key: productId, bucket: "all" }, count))
  return expected
}

/** Where `items` differ from what the totals expect: missing, extra or wrong items. */
export const compareWithTotals = (name: string, items: Items, expected: ReadonlyMap<string, Expected>): Array<string> => {
  const out: Array<string> = []
  for (const [id, e] of expected) {
    const item: Item | undefined = items.get(id)
    if (item === undefined) out.push(`${describe(e.ref)}: missing from the ${name}`)
    else {
      const wrong = e.check(item.value)
      if (wrong !== undefined) out.push(`${describe(e.ref)}: the ${name} has ${text(item.ref, item.value)}, ${wrong}`)
    }
  }
  for (const [id, item] of items) if (!expected.has(id)) out.push(`${describe(item.ref)}: the ${name} has it, the generator recorded nothing there`)
  return out
}

/** Items per pipeline, in pipeline order. */
export const countByPipeline = (items: Items): ReadonlyMap<string, number> => {
  const counts = new Map<string, number>(pipelines.map((p) => [p.name, 0]))
  for (const item of items.values()) counts.set(item.ref.pipeline, (counts.get(item.ref.pipeline) ?? 0) + 1)
  return counts
}
