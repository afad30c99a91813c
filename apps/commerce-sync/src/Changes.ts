/**
 * Product and order changes as commerce events (wire format version 1). The
 * builders are pure: they take a `Stamp` (the event id and the event time),
 * which `stamp` makes fresh from a random UUID and the Effect `Clock`, and a
 * load generator makes deterministic instead.
 */
import type {
  CancelledOrder,
  Order,
  OrderCancelled,
  OrderCreated,
  OrderStatus,
  OrderStatusChanged,
  Product,
  ProductCreated,
  ProductUpdated,
  Variant
} from "@eddy/commerce/CommerceEvent"
import { Clock, Effect } from "effect"
import { randomUUID } from "node:crypto"

/** What makes one event unique and places it in time. */
export interface Stamp {
  /** The producer's idempotency key: consumers drop a second event with the same id. */
  readonly eventId: string
  /** ISO-8601 UTC, e.g. `2026-11-21T10:15:30.123Z`; windows bucket by it. */
  readonly occurredAt: string
}

/**
 * A fresh stamp: `eventId` is `evt-<uuid>` unless one is given (say, a
 * client's idempotency key, so a retried request yields the same event id),
 * `occurredAt` is the `Clock`'s time now.
 */
export const stamp = (eventId?: string): Effect.Effect<Stamp> =>
  Effect.map(Clock.currentTimeMillis, (now) => ({
    eventId: eventId ?? `evt-${randomUUID()}`,
    occurredAt: new Date(now).toISOString()
  }))

export const productCreated = (stamp: Stamp, product: Product): ProductCreated => ({
  schemaVersion: 2,
  type: "product.created",
  ...stamp,
  product
})

export const productUpdated = (stamp: Stamp, product: Product): ProductUpdated => ({
  schemaVersion: 2,
  type: "product.updated",
  ...stamp,
  product
})

/**
 * A variant of `parent` as a product of its own: it names its parent in
 * `parentId` and takes what it does not define itself (name, status, price,
 * categories, tags, pricelists) from the parent; its stock is its own.
 */
export const variantProduct = (
  parent: Product,
  variant: Variant,
  fields: { readonly locations: Product["locations"]; readonly updatedAt: string }
): Product => {
  const attributes = Object.values(variant.attributes)
  return {
    id: variant.id,
    parentId: parent.id,
    sku: variant.sku,
    name: attributes.length === 0 ? parent.name : `${parent.name}, ${attributes.join(", ")}`,
    status: parent.status,
    price: parent.price,
    categories: parent.categories,
    tags: parent.tags,
    variants: [],
    locations: fields.locations,
    pricelists: parent.pricelists,
    updatedAt: fields.updatedAt
  }
}

export const orderCreated = (stamp: Stamp, order: Order): OrderCreated => ({
  schemaVersion: 2,
  type: "order.created",
  ...stamp,
  order
})

/** A status other than `cancelled`, which `orderCancelled` records instead. */
export type ChangeableStatus = Exclude<OrderStatus, "cancelled">

/** `order` moved to `status`: the event carries the order after the change and its status before. */
export const orderStatusChanged = (stamp: Stamp, order: Order, status: ChangeableStatus): OrderStatusChanged => ({
  schemaVersion: 2,
  type: "order.status_changed",
  ...stamp,
  order: { ...order, status },
  previousStatus: order.status
})

/** `order` cancelled, optionally saying why: the event carries the cancelled order and its status before. */
export const orderCancelled = (stamp: Stamp, order: Order, reason?: string): OrderCancelled => {
  const cancelled: CancelledOrder = { ...order, status: "cancelled" }
  const event: OrderCancelled = {
    schemaVersion: 2,
    type: "order.cancelled",
    ...stamp,
    order: cancelled,
    previousStatus: order.status
  }
  return reason === undefined ? event : { ...event, reason }
}
