import { commerceDecoder, type CommerceEvent, timestampMillis } from "@eddy/commerce/CommerceEvent"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Window from "@eddy/core/Window"

/** Commerce events as the pipelines read them: decoded and validated per the wire contract. */
export const CommerceEvents: Pipeline.EventSource<CommerceEvent> = {
  name: "commerce",
  decoder: commerceDecoder,
  eventId: (event) => event.eventId,
  eventTime: (event) => timestampMillis(event.occurredAt)
}

/** Aggregates that are one value per bucket rather than per entity use this key. */
export const ALL = "all"

/** Revenue in minor units per product per hour, from each order line. */
export const revenueByProductHourly = Pipeline.make({
  name: "revenue_by_product_hourly",
  source: CommerceEvents,
  events: ["order.created"],
  emit: (e) => e.order.lineItems.map((line) => [line.productId, line.quantity * line.unitPrice] as const),
  aggregate: Monoid.sum,
  window: Window.hour({ retention: "90 days" })
})

export const topProducts = Monoid.topK(100)

/** The 100 best-selling products of each day, by units sold; one hot item per day, spread over four so shards seldom conflict on it. */
export const topProductsDaily = Pipeline.make({
  name: "top_products_daily",
  source: CommerceEvents,
  events: ["order.created"],
  emit: (e) => e.order.lineItems.map((line) => [ALL, topProducts.of(line.productId, line.quantity)] as const),
  aggregate: topProducts,
  window: Window.day({ retention: "400 days" }),
  subItemsPerKey: 4
})

export const customers = Monoid.hll(14)

/** Distinct customers who ordered, per day (HyperLogLog, about 0.8% error); spread over four items as the top products are. */
export const uniqueCustomersDaily = Pipeline.make({
  name: "unique_customers_daily",
  source: CommerceEvents,
  events: ["order.created"],
  key: () => ALL,
  value: (e) => customers.of(e.order.customerId),
  aggregate: customers,
  window: Window.day({ retention: "400 days" }),
  subItemsPerKey: 4
})

/** Orders entering each status per day: a new order counts its status, a change or cancellation the new one. */
export const orderStatusTransitionsDaily = Pipeline.make({
  name: "order_status_transitions_daily",
  source: CommerceEvents,
  events: ["order.created", "order.status_changed", "order.cancelled"],
  key: (e) => e.order.status,
  value: () => 1,
  aggregate: Monoid.count,
  window: Window.day({ retention: "400 days" })
})

/** How often each product was updated, all time. */
export const productUpdates = Pipeline.make({
  name: "product_updates",
  source: CommerceEvents,
  events: ["product.updated"],
  key: (e) => e.product.id,
  value: () => 1,
  aggregate: Monoid.count
})

export const revenueByCurrency = Monoid.map(Monoid.sum)

/**
 * Gross revenue (order subtotals, before gift vouchers) in minor units per
 * currency per hour, one item per hour: the per-product revenue above cannot
 * say which currency it is in, nor be summed without knowing every product.
 */
export const revenueHourly = Pipeline.make({
  name: "revenue_hourly",
  source: CommerceEvents,
  events: ["order.created"],
  key: () => ALL,
  value: (e) => revenueByCurrency.of(e.order.currency, e.order.subtotal),
  aggregate: revenueByCurrency,
  window: Window.hour({ retention: "90 days" })
})

/** Every commerce pipeline: the one definition both the Lambda handler and the ECS service run. */
export const pipelines = [
  revenueByProductHourly,
  topProductsDaily,
  uniqueCustomersDaily,
  orderStatusTransitionsDaily,
  productUpdates,
  revenueHourly
] as const
