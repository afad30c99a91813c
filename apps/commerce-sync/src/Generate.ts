/**
 * A load generator of realistic commerce traffic: a catalog of products (some
 * with variants that name their parent) created first, some of them updated
 * later, and orders over the products on sale, each moving through its life
 * (paid, fulfilled, shipped, delivered, sometimes cancelled or refunded).
 *
 * `plan` is pure and deterministic per seed: the events in event-time order
 * plus the aggregates they must add up to, recorded from the generator's own
 * model as it decides each change (not by reading the events back), so a
 * consumer's results can be checked against them. `generate` sends a plan
 * through `CommerceSync`, paced, optionally with invalid records mixed in.
 */
import { invalidCommerceRecords, type InvalidRecord } from "@eddy/commerce/CommerceArbitrary"
import {
  type CommerceEvent,
  type Discount,
  type LineItem,
  type Order,
  type OrderStatus,
  pendingOrder,
  type Product,
  type ProductStatus
} from "@eddy/commerce/CommerceEvent"
import type { InvalidEventError } from "@eddy/core/Decoder"
import { between, pick, seeded } from "@eddy/core/Random"
import { Clock, Data, Duration, Effect, Either } from "effect"
import * as Changes from "./Changes"
import { CommerceSync, type EventTooLargeError, type StreamRole } from "./Sync"

// ---------------------------------------------------------------------------
// Expected aggregates
// ---------------------------------------------------------------------------

/**
 * What the generated events add up to, per commerce pipeline. Buckets are
 * named as the pipelines' windows name them: hours `2026-11-21T10Z`, days
 * `2026-11-21` (UTC, by `occurredAt`).
 */
export interface Totals {
  /** Revenue in minor units (EUR cents) by product id, then hour: each `order.created` line's quantity * unitPrice. */
  readonly revenueByProductHourly: ReadonlyMap<string, ReadonlyMap<string, number>>
  /** Units sold by day, then product id, from `order.created` lines. */
  readonly unitsByProductDaily: ReadonlyMap<string, ReadonlyMap<string, number>>
  /** Distinct customers who placed an order, by day. */
  readonly uniqueCustomersDaily: ReadonlyMap<string, number>
  /** Orders entering a status by status, then day: a new order counts its status, a change or cancellation the new one. */
  readonly orderStatusTransitionsDaily: ReadonlyMap<OrderStatus, ReadonlyMap<string, number>>
  /** `product.updated` events by product id. */
  readonly productUpdates: ReadonlyMap<string, number>
}

const hourOf = (millis: number): string => `${new Date(millis - (millis % 3_600_000)).toISOString().slice(0, 13)}Z`
const dayOf = (millis: number): string => new Date(millis).toISOString().slice(0, 10)

const add = <K>(map: Map<K, number>, key: K, n: number) => map.set(key, (map.get(key) ?? 0) + n)
const inner = <K, V>(map: Map<K, V>, key: K, empty: () => V): V => {
  let value = map.get(key)
  if (value === undefined) map.set(key, value = empty())
  return value
}

class TotalsBuilder {
  readonly revenueByProductHourly = new Map<string, Map<string, number>>()
  readonly unitsByProductDaily = new Map<string, Map<string, number>>()
  readonly customers = new Map<string, Set<string>>()
  readonly orderStatusTransitionsDaily = new Map<OrderStatus, Map<string, number>>()
  readonly productUpdates = new Map<string, number>()

  sold(at: number, customerId: string, productId: string, quantity: number, unitPrice: number) {
    add(inner(this.revenueByProductHourly, productId, () => new Map()), hourOf(at), quantity * unitPrice)
    add(inner(this.unitsByProductDaily, dayOf(at), () => new Map()), productId, quantity)
    inner(this.customers, dayOf(at), () => new Set()).add(customerId)
  }

  entered(at: number, status: OrderStatus) {
    add(inner(this.orderStatusTransitionsDaily, status, () => new Map()), dayOf(at), 1)
  }

  updated(productId: string) {
    add(this.productUpdates, productId, 1)
  }

  build(): Totals {
    const uniqueCustomersDaily = new Map<string, number>()
    for (const [day, ids] of this.customers) uniqueCustomersDaily.set(day, ids.size)
    return {
      revenueByProductHourly: this.revenueByProductHourly,
      unitsByProductDaily: this.unitsByProductDaily,
      uniqueCustomersDaily,
      orderStatusTransitionsDaily: this.orderStatusTransitionsDaily,
      productUpdates: this.productUpdates
    }
  }
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

export interface PlanOptions {
  /** Orders created. */
  readonly orders: number
  /** Products created, variants included. */
  readonly products: number
  /** Same seed (and start), same traffic; event ids include it, so runs with different seeds never share one. */
  readonly seed: number
  /** Event time of the first event, epoch milliseconds. */
  readonly start: number
  /** Event time the traffic covers from `start`. */
  readonly spanMillis: number
  /** Distinct customers. Default: about one per two orders. */
  readonly customers?: number
}

export interface Plan {
  /** Valid events in event-time order (the order they are sent in). */
  readonly events: ReadonlyArray<CommerceEvent>
  readonly totals: Totals
}

type Intent =
  | { readonly kind: "product"; readonly at: number; readonly product: Product }
  | { readonly kind: "update"; readonly at: number; readonly productId: string; readonly seed: number }
  | { readonly kind: "order"; readonly at: number; readonly orderId: string; readonly seed: number }
  | { readonly kind: "status"; readonly at: number; readonly orderId: string; readonly status: Changes.ChangeableStatus }
  | { readonly kind: "cancel"; readonly at: number; readonly orderId: string; readonly seed: number }

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

const catalog = [
  ["T-shirt", "Apparel", "Shirts"],
  ["Hoodie", "Apparel", "Sweaters"],
  ["Scarf", "Apparel", "Accessories"],
  ["Sneaker", "Shoes", "Sneakers"],
  ["Boot", "Shoes", "Boots"],
  ["Backpack", "Bags", "Backpacks"],
  ["Mug", "Home", "Kitchen"],
  ["Lamp", "Home", "Lighting"],
  ["Notebook", "Office", "Paper"],
  ["Headphones", "Electronics", "Audio"],
  ["Water bottle", "Outdoor", "Hydration"],
  ["Tent", "Outdoor", "Camping"]
] as const
const adjectives = ["Classic", "Organic", "Slim", "Vintage", "Everyday", "Premium", "Light", "Recycled", "Waterproof", "Cozy"]
const sizes = ["S", "M", "L", "XL"]
const colors = ["black", "white", "red", "blue", "green"]
const warehouses = ["wh-berlin", "wh-paris", "store-17"]
const cancelReasons = ["customer request", "payment failed", "out of stock", "duplicate order"]

/** A list price ending in 99 cents, 4.99 to 199.99. */
const listPrice = (next: () => number) => between(next, 5, 200) * 100 - 1

const stock = (next: () => number): Product["locations"] =>
  warehouses.slice(0, between(next, 1, warehouses.length)).map((locationId) => ({ locationId, quantity: between(next, 0, 250) }))

/** The catalog: parents first, each followed by its variants (a parent with variants is not sold itself). */
const planProducts = (next: () => number, count: number, start: number, window: number): Array<Intent> => {
  const intents: Array<Intent> = []
  let n = 0
  while (n < count) {
    const id = `p-${++n}`
    const at = start + Math.floor(next() * window)
    const [noun, department, category] = pick(next, catalog)
    const name = `${pick(next, adjectives)} ${noun.toLowerCase()}`
    const sku = `${noun.replace(/[^A-Za-z]/g, "").slice(0, 4).toUpperCase()}-${n}`
    // The first product is always on sale, so orders always have something to buy.
    const status: ProductStatus = n === 1 ? "active" : pick(next, ["active", "active", "active", "active", "active", "active", "active", "active", "draft", "archived"])
    const room = count - n
    const variantCount = n > 1 && room >= 2 && next() < 0.3 ? Math.min(room, between(next, 2, 4)) : 0
    const color = pick(next, colors)
    const variants = Array.from({ length: variantCount }, (_, k) => ({
      id: `p-${n + k + 1}`,
      sku: `${sku}-${sizes[k]}`,
      attributes: { size: sizes[k]!, color }
    }))
    const price = listPrice(next)
    const parent: Product = {
      id,
      parentId: null,
      sku,
      name,
      status,
      price: { amount: price, currency: "EUR" },
      categories: [{ id: `c-${catalog.findIndex(([x]) => x === noun) + 1}`, name: category, path: [department, category] }],
      tags: next() < 0.3 ? ["new"] : [],
      variants,
      // A parent with variants holds no stock itself: its variants do.
      locations: variantCount > 0 ? [] : stock(next),
      pricelists: next() < 0.2 ? [{ id: "pl-b2b", price: { amount: Math.round(price * 0.9), currency: "EUR" } }] : [],
      updatedAt: new Date(at).toISOString()
    }
    intents.push({ kind: "product", at, product: parent })
    variants.forEach((variant, k) => {
      const vat = at + k + 1
      intents.push({
        kind: "product",
        at: vat,
        product: Changes.variantProduct(parent, variant, { locations: stock(next), updatedAt: new Date(vat).toISOString() })
      })
    })
    n += variantCount
  }
  return intents
}

/** An order's life after it is placed, as status changes at increasing times; those after `end` do not happen (yet). */
const planLifecycle = (next: () => number, orderId: string, placed: number, end: number): Array<Intent> => {
  const intents: Array<Intent> = []
  let at = placed
  const step = (min: number, max: number) => (at += between(next, min, max))
  const status = (s: Changes.ChangeableStatus) => intents.push({ kind: "status", at, orderId, status: s })
  const cancel = () => intents.push({ kind: "cancel", at, orderId, seed: between(next, 0, 2 ** 31) })
  if (next() < 0.08) {
    step(5 * MINUTE, 2 * HOUR)
    cancel()
  } else {
    step(2 * MINUTE, HOUR)
    status("paid")
    if (next() < 0.05) {
      step(HOUR, DAY)
      cancel()
    } else {
      step(30 * MINUTE, 6 * HOUR)
      status("fulfilled")
      step(HOUR, 12 * HOUR)
      status("shipped")
      step(3 * HOUR, 36 * HOUR)
      status("delivered")
      if (next() < 0.08) {
        step(HOUR, DAY)
        status("refunded")
      }
    }
  }
  return intents.filter((i) => i.at < end)
}

/** Traffic of `options.orders` orders over `options.products` products, with the totals it adds up to. */
export const plan = (options: PlanOptions): Plan => {
  const next = seeded(options.seed)
  const end = options.start + options.spanMillis
  // Products appear in the first tenth of the span; orders and updates come after.
  const window = Math.max(1, Math.floor(options.spanMillis / 10))
  const intents = planProducts(next, options.products, options.start, window)
  const created = new Map<string, number>()
  for (const i of intents) if (i.kind === "product") created.set(i.product.id, i.at)
  const productIds = [...created.keys()]
  for (let u = Math.round(options.products * 0.6); u > 0; u--) {
    const productId = pick(next, productIds)
    const from = created.get(productId)! + 1
    intents.push({ kind: "update", at: from + Math.floor(next() * Math.max(1, end - from)), productId, seed: between(next, 0, 2 ** 31) })
  }
  for (let o = 1; o <= options.orders; o++) {
    const orderId = `o-${o}`
    const at = options.start + window + Math.floor(next() * Math.max(1, options.spanMillis - window))
    intents.push({ kind: "order", at, orderId, seed: between(next, 0, 2 ** 31) })
    for (const i of planLifecycle(next, orderId, at, end)) intents.push(i)
  }
  // Stable: a product's variants and updates, and an order's changes, keep their order on equal times.
  intents.sort((a, b) => a.at - b.at)
  return materialize(intents, options)
}

/** Turns the timeline into events, tracking products and orders as they are now, and the totals as each change happens. */
const materialize = (intents: ReadonlyArray<Intent>, options: PlanOptions): Plan => {
  const customers = options.customers ?? Math.max(1, Math.ceil(options.orders / 2))
  const products = new Map<string, Product>()
  const orders = new Map<string, Order>()
  const onSale: Array<string> = []
  const totals = new TotalsBuilder()
  const events: Array<CommerceEvent> = []
  const run = options.seed.toString(36)
  const stampAt = (at: number): Changes.Stamp => ({
    eventId: `evt-${run}-${events.length.toString(36)}`,
    occurredAt: new Date(at).toISOString()
  })

  for (const intent of intents) {
    const stamp = stampAt(intent.at)
    switch (intent.kind) {
      case "product": {
        const { product } = intent
        products.set(product.id, product)
        if (product.status === "active" && product.variants.length === 0) onSale.push(product.id)
        events.push(Changes.productCreated(stamp, product))
        break
      }
      case "update": {
        const next = seeded(intent.seed)
        const current = products.get(intent.productId)!
        const roll = next()
        const changed: Product = roll < 0.5
          ? { ...current, price: { ...current.price, amount: Math.max(99, Math.round(current.price.amount * (0.85 + next() * 0.3))) } }
          : roll < 0.85
          ? { ...current, locations: stock(next) }
          : { ...current, tags: current.tags.includes("sale") ? current.tags.filter((t) => t !== "sale") : [...current.tags, "sale"] }
        const product = { ...changed, updatedAt: stamp.occurredAt }
        products.set(product.id, product)
        totals.updated(product.id)
        events.push(Changes.productUpdated(stamp, product))
        break
      }
      case "order": {
        const next = seeded(intent.seed)
        const customerId = `cu-${1 + Math.floor(customers * next() ** 1.5)}`
        const lineItems: Array<LineItem> = []
        for (let lines = 1 + Math.floor(next() ** 2 * 4); lines > 0; lines--) {
          // Squaring skews sales toward the first products, as real catalogs have best sellers.
          const productId = onSale[Math.floor(onSale.length * next() ** 2)]!
          if (lineItems.some((l) => l.productId === productId)) continue
          const product = products.get(productId)!
          const quantity = 1 + Math.floor(next() ** 3 * 5)
          lineItems.push({ productId, sku: product.sku, name: product.name, quantity, unitPrice: product.price.amount })
          totals.sold(intent.at, customerId, productId, quantity, product.price.amount)
        }
        const subtotal = lineItems.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0)
        const discounts: Array<Discount> = next() < 0.15
          ? [{ kind: "giftVoucher", code: `GV-${intent.orderId.toUpperCase()}`, amount: Math.min(subtotal, pick(next, [500, 1000, 1500])) }]
          : []
        const order = pendingOrder({ id: intent.orderId, customerId, currency: "EUR", lineItems, discounts, createdAt: stamp.occurredAt })
        orders.set(order.id, order)
        totals.entered(intent.at, order.status)
        events.push(Changes.orderCreated(stamp, order))
        break
      }
      case "status": {
        const event = Changes.orderStatusChanged(stamp, orders.get(intent.orderId)!, intent.status)
        orders.set(intent.orderId, event.order)
        totals.entered(intent.at, intent.status)
        events.push(event)
        break
      }
      case "cancel": {
        const next = seeded(intent.seed)
        const event = Changes.orderCancelled(stamp, orders.get(intent.orderId)!, next() < 0.8 ? pick(next, cancelReasons) : undefined)
        orders.set(intent.orderId, event.order)
        totals.entered(intent.at, "cancelled")
        events.push(event)
        break
      }
    }
  }
  return { events, totals: totals.build() }
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

/** How far `generate` is; handed to `onProgress` after every chunk. */
export interface Progress {
  /** Records to send: events plus invalid records. */
  readonly total: number
  /** Records Kinesis acknowledged. */
  readonly sent: number
  /** Records the producer gave up on. */
  readonly failed: number
  /** Records that took more than one PutRecords attempt. */
  readonly retried: number
  readonly elapsedMillis: number
}

export interface Summary extends Progress {
  readonly events: number
  readonly invalid: number
  readonly recordsPerSecond: number
}

/** An invalid record written as is, with the decode error consumers must give it. */
export interface InvalidWrite {
  readonly name: string
  readonly expected: InvalidRecord["expected"]
  readonly stream: string
  readonly partitionKey: string
  readonly data: Uint8Array
}

export interface Generated extends Plan {
  readonly invalid: ReadonlyArray<InvalidWrite>
  readonly summary: Summary
}

export interface GenerateOptions {
  readonly orders: number
  readonly products: number
  /** Records per second. Default: as fast as the producers take them. */
  readonly rate?: number
  /** Invalid records to mix in, written raw to the orders stream (for dead-letter displays). Default 0. */
  readonly invalid?: number
  /** Default: a random one. */
  readonly seed?: number
  /** Event time the traffic covers, ending now (or starting at `start`). Default 2 days. */
  readonly span?: Duration.DurationInput
  /** Event time of the first event, epoch ms. Default: `span` before now. */
  readonly start?: number
  readonly customers?: number
  readonly onProgress?: (progress: Progress) => Effect.Effect<void>
}

/** The options cannot make traffic: e.g. orders with no product to order. */
export class GenerateOptionsError extends Data.TaggedError("GenerateOptionsError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/** Records per chunk when unpaced: enough to fill PutRecords batches, few enough to report progress often. */
const CHUNK = 1_000

/** `count` records of the invalid corpus: its first kinds, or, when `count` exceeds it, every kind about equally often. */
export const invalidRecords = (count: number): ReadonlyArray<InvalidRecord> => {
  const kinds = invalidCommerceRecords.length
  return Array.from({ length: count }, (_, i) => invalidCommerceRecords[Math.floor((i * kinds) / Math.max(count, kinds))]!)
}

const validate = (options: GenerateOptions): Either.Either<void, GenerateOptionsError> => {
  const counts = [["orders", options.orders], ["products", options.products], ["invalid", options.invalid ?? 0]] as const
  for (const [name, value] of counts) {
    if (!Number.isSafeInteger(value) || value < 0) return Either.left(new GenerateOptionsError({ reason: `${name} must be a whole number >= 0, got ${value}` }))
  }
  if (options.orders > 0 && options.products === 0) return Either.left(new GenerateOptionsError({ reason: "orders need products: set products to at least 1" }))
  if (options.rate !== undefined && !(options.rate > 0)) return Either.left(new GenerateOptionsError({ reason: `rate must be a number of records per second > 0, got ${options.rate}` }))
  return Either.void
}

/**
 * Plans traffic and sends it through `CommerceSync` in event-time order,
 * chunk by chunk (each chunk acknowledged before the next, so every entity's
 * events stay in order), paced to `rate`, with `invalid` raw records spread
 * among them. Fails only on bad options or an event the contract refuses
 * (a bug); records Kinesis did not take are counted in `summary.failed`, and
 * then `totals` count events that are not on the stream.
 */
export const generate = (
  options: GenerateOptions
): Effect.Effect<Generated, GenerateOptionsError | InvalidEventError | EventTooLargeError, CommerceSync> =>
  Effect.gen(function*() {
    yield* validate(options)
    const sync = yield* CommerceSync
    const began = yield* Clock.currentTimeMillis
    const spanMillis = Duration.toMillis(options.span ?? "2 days")
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
    const { events, totals } = plan({
      orders: options.orders,
      products: options.products,
      seed,
      start: options.start ?? began - spanMillis,
      spanMillis,
      ...(options.customers !== undefined ? { customers: options.customers } : {})
    })
    const role: StreamRole = "orders"
    const invalid: Array<InvalidWrite> = invalidRecords(options.invalid ?? 0).map((r, i) => ({
      name: r.name,
      expected: r.expected,
      stream: sync.streams[role],
      partitionKey: `invalid-${seed.toString(36)}-${i + 1}`,
      data: r.data
    }))
    const total = events.length + invalid.length
    const chunk = options.rate === undefined ? CHUNK : Math.max(1, Math.min(CHUNK, Math.ceil(options.rate / 10)))
    let sent = 0
    let failed = 0
    let retried = 0
    let done = 0
    let nextInvalid = 0

    const progress = (now: number): Progress => ({ total, sent, failed, retried, elapsedMillis: now - began })
    const count = (outcomes: ReadonlyArray<Either.Either<{ readonly attempts: number }, { readonly attempts: number }>>) => {
      for (const o of outcomes) {
        const attempts = Either.isRight(o) ? o.right.attempts : o.left.attempts
        if (Either.isRight(o)) sent++
        else failed++
        if (attempts > 1) retried++
      }
      done += outcomes.length
    }

    for (let from = 0; from < events.length || nextInvalid < invalid.length; from += chunk) {
      if (options.rate !== undefined) {
        const due = began + (done / options.rate) * 1_000
        const now = yield* Clock.currentTimeMillis
        if (due > now) yield* Effect.sleep(due - now)
      }
      const to = Math.min(events.length, from + chunk)
      if (from < to) {
        const outcomes = yield* sync.syncAll(events.slice(from, to))
        count(outcomes.map((o) => Either.mapLeft(o, (e) => e.cause)))
      }
      // Invalid records go out spread evenly among the events.
      const dueInvalid = to >= events.length ? invalid.length : Math.floor((to / events.length) * invalid.length)
      if (dueInvalid > nextInvalid) {
        // The corpus holds no record Kinesis refuses outright (too large, bad partition key).
        count(yield* Effect.orDie(sync.putRaw(role, invalid.slice(nextInvalid, dueInvalid))))
        nextInvalid = dueInvalid
      }
      if (options.onProgress) yield* options.onProgress(progress(yield* Clock.currentTimeMillis))
    }
    const last = progress(yield* Clock.currentTimeMillis)
    const summary: Summary = {
      ...last,
      events: events.length,
      invalid: invalid.length,
      recordsPerSecond: last.elapsedMillis > 0 ? (sent * 1_000) / last.elapsedMillis : sent
    }
    return { events, totals, invalid, summary }
  })
