/**
 * Generated commerce events: fast-check arbitraries of valid events for
 * property tests, a corpus of invalid records covering every rule of the wire
 * format, and fast seeded generators for benchmarks and load.
 */
import { FastCheck as fc } from "effect"
import type {
  CancelledOrder,
  Category,
  CommerceEvent,
  CommerceEventType,
  CommerceEventV1,
  Discount,
  LineItem,
  Money,
  Order,
  OrderCancelled,
  OrderCreated,
  OrderStatus,
  OrderStatusChanged,
  PricelistPrice,
  Product,
  ProductCreated,
  ProductEvent,
  ProductStatus,
  ProductUpdated,
  StockLevel,
  Variant
} from "./CommerceEvent"
import { discountKinds, orderStatuses, pendingOrder } from "./CommerceEvent"
import type { DecodeError } from "@eddy/core/Decoder"
import { between, pick, seeded } from "@eddy/core/Random"

// ----------------------------------------------------------------------------
// Arbitraries of valid events
// ----------------------------------------------------------------------------

const idOf = (prefix: string, max: number) => fc.integer({ min: 1, max }).map((n) => `${prefix}-${n}`)

const productId = idOf("p", 99_999)
const sku = fc.stringMatching(/^[A-Z]{2,8}(-[A-Z0-9]{1,4}){0,3}$/)
// Any Unicode, so the UTF-8 and JSON escaping paths are exercised too.
const text = fc.string({ unit: "grapheme", maxLength: 24 })
const nonEmptyText = fc.string({ unit: "grapheme", minLength: 1, maxLength: 24 })
const currency = fc.constantFrom("EUR", "USD", "GBP", "SEK", "JPY", "CHF")
const amount = fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 1_000_000_000_000 }))

const minMillis = Date.UTC(2020, 0, 1)
const maxMillis = Date.UTC(2030, 11, 31, 23, 59, 59, 999)

/** UTC timestamps with 0, 3, 6 or 9 fraction digits. */
export const arbitraryTimestamp: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: minMillis, max: maxMillis }), fc.constantFrom(3, 0, 6, 9), fc.integer({ min: 0, max: 999_999 }))
  .map(([millis, fraction, finer]) => {
    const iso = new Date(millis).toISOString()
    if (fraction === 3) return iso
    if (fraction === 0) return `${iso.slice(0, 19)}Z`
    const extra = String(finer).padStart(6, "0").slice(0, fraction - 3)
    return `${iso.slice(0, 23)}${extra}Z`
  })

/** Event ids as producers make them: a prefix and a UUID. */
export const arbitraryEventId: fc.Arbitrary<string> = fc.uuid().map((uuid) => `evt-${uuid}`)

export const arbitraryMoney: fc.Arbitrary<Money> = fc.record({ amount, currency })

const category: fc.Arbitrary<Category> = fc.record({
  id: idOf("c", 999),
  name: nonEmptyText,
  path: fc.array(text, { maxLength: 3 })
})

const variant: fc.Arbitrary<Variant> = fc.record({
  id: productId,
  sku,
  attributes: fc
    .uniqueArray(fc.tuple(fc.constantFrom("size", "color", "material", "fit", "shoe size"), text), {
      selector: ([key]) => key,
      maxLength: 3
    })
    .map((entries) => Object.fromEntries(entries))
})

const stockLevel: fc.Arbitrary<StockLevel> = fc.record({
  locationId: fc.constantFrom("wh-berlin", "wh-paris", "store-17", "dc-east"),
  quantity: fc.integer({ min: 0, max: 10_000 })
})

const pricelistPrice: fc.Arbitrary<PricelistPrice> = fc.record({ id: idOf("pl", 99), price: arbitraryMoney })

export const arbitraryProduct: fc.Arbitrary<Product> = fc.record({
  id: productId,
  parentId: fc.option(productId, { nil: null }),
  sku,
  name: nonEmptyText,
  status: fc.constantFrom<ProductStatus>("active", "draft", "archived"),
  price: arbitraryMoney,
  categories: fc.array(category, { maxLength: 3 }),
  tags: fc.array(text, { maxLength: 4 }),
  variants: fc.array(variant, { maxLength: 3 }),
  locations: fc.array(stockLevel, { maxLength: 3 }),
  pricelists: fc.array(pricelistPrice, { maxLength: 2 }),
  updatedAt: arbitraryTimestamp
})

const envelope = <T extends CommerceEventType>(type: T) => ({
  schemaVersion: fc.constant(2 as const),
  type: fc.constant(type),
  eventId: arbitraryEventId,
  occurredAt: arbitraryTimestamp
})

export const arbitraryProductCreated: fc.Arbitrary<ProductCreated> = fc.record({
  ...envelope("product.created"),
  product: arbitraryProduct
})

export const arbitraryProductUpdated: fc.Arbitrary<ProductUpdated> = fc.record({
  ...envelope("product.updated"),
  product: arbitraryProduct
})

const orderStatus = fc.constantFrom(...orderStatuses)

const lineItem: fc.Arbitrary<LineItem> = fc.record({
  productId,
  sku,
  name: text,
  quantity: fc.integer({ min: 1, max: 20 }),
  unitPrice: amount
})

const discount: fc.Arbitrary<Discount> = fc.record({
  kind: fc.constantFrom(...discountKinds),
  code: fc.stringMatching(/^[A-Z]{2}-[A-Z0-9]{4,12}$/),
  amount: fc.integer({ min: 1, max: 10_000 })
})

/** An order whose sums add up; discounts that would exceed the subtotal are dropped, and a few orders are discounted to 0. */
const orderWith = <S extends OrderStatus>(status: fc.Arbitrary<S>) =>
  fc
    .record({
      id: idOf("o", 999_999),
      customerId: idOf("cu", 99_999),
      status,
      currency,
      lineItems: fc.array(lineItem, { minLength: 1, maxLength: 5 }),
      offers: fc.array(discount, { maxLength: 3 }),
      coverSubtotal: fc.nat({ max: 9 }).map((n) => n === 0),
      createdAt: arbitraryTimestamp
    })
    .map(({ coverSubtotal, createdAt, offers, ...order }) => {
      let subtotal = 0
      for (const item of order.lineItems) subtotal += item.quantity * item.unitPrice
      const discounts: Array<Discount> = []
      let discountTotal = 0
      for (const d of offers) {
        if (discountTotal + d.amount > subtotal) continue
        discounts.push(d)
        discountTotal += d.amount
      }
      if (coverSubtotal && discounts.length > 0 && discountTotal < subtotal) {
        discounts.push({ kind: "giftVoucher", code: "GV-REST", amount: subtotal - discountTotal })
        discountTotal = subtotal
      }
      return { ...order, discounts, subtotal, discountTotal, total: subtotal - discountTotal, createdAt }
    })

export const arbitraryOrder: fc.Arbitrary<Order> = orderWith(orderStatus)

export const arbitraryOrderCreated: fc.Arbitrary<OrderCreated> = fc.record({
  ...envelope("order.created"),
  order: arbitraryOrder
})

export const arbitraryOrderStatusChanged: fc.Arbitrary<OrderStatusChanged> = fc.record({
  ...envelope("order.status_changed"),
  order: arbitraryOrder,
  previousStatus: orderStatus
})

export const arbitraryOrderCancelled: fc.Arbitrary<OrderCancelled> = fc
  .record({
    ...envelope("order.cancelled"),
    order: orderWith(fc.constant("cancelled" as const)) satisfies fc.Arbitrary<CancelledOrder>,
    previousStatus: orderStatus,
    reason: fc.option(text, { nil: undefined })
  })
  .map(({ reason, ...event }) => (reason === undefined ? event : { ...event, reason }))

export const arbitraryCommerceEvent: fc.Arbitrary<CommerceEvent> = fc.oneof(
  arbitraryProductCreated,
  arbitraryProductUpdated,
  arbitraryOrderCreated,
  arbitraryOrderStatusChanged,
  arbitraryOrderCancelled
)

/**
 * The event as a version 1 producer writes it, or `undefined` when version 1
 * cannot say it (a coupon or a promotion: version 1 knows gift vouchers
 * only). Written out by hand, apart from the decoder's upcast, so tests can
 * check the one against the other.
 */
export const asVersion1 = (event: CommerceEvent): CommerceEventV1 | undefined => {
  if (!("order" in event)) return { ...event, schemaVersion: 1 }
  const { discounts, ...order } = event.order
  if (discounts.some((d) => d.kind !== "giftVoucher")) return undefined
  return { ...event, schemaVersion: 1, order: { ...order, giftVouchers: discounts.map((d) => ({ code: d.code, amount: d.amount })) } } as CommerceEventV1
}

/** Valid events that version 1 can say too: every discount a gift voucher. */
export const arbitraryVersion1Expressible: fc.Arbitrary<CommerceEvent> = arbitraryCommerceEvent.map((event) =>
  "order" in event ? { ...event, order: { ...event.order, discounts: event.order.discounts.map((d) => ({ ...d, kind: "giftVoucher" as const })) } } as CommerceEvent : event
)

// ----------------------------------------------------------------------------
// Invalid records
// ----------------------------------------------------------------------------

export interface InvalidRecord {
  readonly name: string
  readonly data: Uint8Array
  readonly expected: {
    readonly _tag: DecodeError["_tag"]
    /** For `InvalidEventError`: the field it must name. */
    readonly path?: string
  }
}

const validProduct = {
  schemaVersion: 1,
  type: "product.updated",
  eventId: "evt-7f3a2c",
  occurredAt: "2026-11-21T10:15:30.123Z",
  product: {
    id: "p-1002",
    parentId: "p-1000",
    sku: "TSHIRT-RED-M",
    name: "T-shirt, red, M",
    status: "active",
    price: { amount: 1999, currency: "EUR" },
    categories: [{ id: "c-7", name: "Shirts", path: ["Apparel", "Shirts"] }],
    tags: ["summer", "cotton"],
    variants: [{ id: "p-1003", sku: "TSHIRT-RED-L", attributes: { size: "L", color: "red" } }],
    locations: [{ locationId: "wh-berlin", quantity: 12 }],
    pricelists: [{ id: "pl-b2b", price: { amount: 1799, currency: "EUR" } }],
    updatedAt: "2026-11-21T10:15:30.000Z"
  }
}

const validOrder = {
  schemaVersion: 1,
  type: "order.created",
  eventId: "evt-91bd04",
  occurredAt: "2026-11-21T10:16:02.500Z",
  order: {
    id: "o-5001",
    customerId: "cu-77",
    status: "pending",
    currency: "EUR",
    lineItems: [{ productId: "p-1002", sku: "TSHIRT-RED-M", name: "T-shirt, red, M", quantity: 2, unitPrice: 1999 }],
    giftVouchers: [{ code: "GV-2026-XMAS", amount: 500 }],
    subtotal: 3998,
    discountTotal: 500,
    total: 3498,
    createdAt: "2026-11-21T10:16:02.000Z"
  }
}

/** The same order in version 2: its voucher is a discount of kind `giftVoucher`. */
const { giftVouchers: _vouchers, ...orderV2 } = validOrder.order
const validOrderV2 = {
  ...validOrder,
  schemaVersion: 2,
  order: { ...orderV2, discounts: [{ kind: "giftVoucher", code: "GV-2026-XMAS", amount: 500 }] }
}
const validOrderV2ForV1 = { ...validOrderV2, schemaVersion: 1 }

const validCancelled = {
  ...validOrder,
  type: "order.cancelled",
  order: { ...validOrder.order, status: "cancelled" },
  previousStatus: "paid",
  reason: "customer request"
}

const utf8 = new TextEncoder()
const bytes = (text: string): Uint8Array => utf8.encode(text)

const remove = Symbol("remove")

/** A deep copy of `base` with the value at `path` replaced, or removed. */
const edit = (base: object, path: ReadonlyArray<string | number>, value: unknown): unknown => {
  const copy = structuredClone(base) as Record<string | number, unknown>
  let at = copy
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>
  const last = path[path.length - 1]!
  if (value === remove) delete at[last]
  else at[last] = value
  return copy
}

type Edit = readonly [name: string, base: object, path: string, value: unknown]

/** `order.lineItems[0].quantity` -> `["order", "lineItems", 0, "quantity"]`. */
const keysOf = (path: string): Array<string | number> =>
  path.split(/\.|\[(\d+)\]/).flatMap((part, i) => (part === undefined || part === "" ? [] : [i % 2 === 1 ? Number(part) : part]))

const invalid = (name: string, base: object, path: string, value: unknown): InvalidRecord => ({
  name,
  data: bytes(JSON.stringify(edit(base, keysOf(path), value))),
  expected: { _tag: "InvalidEventError", path }
})

const edits: ReadonlyArray<Edit> = [
  // envelope
  ["schemaVersion missing", validOrder, "schemaVersion", remove],
  ["schemaVersion as a string", validOrder, "schemaVersion", "1"],
  ["type missing", validOrder, "type", remove],
  ["type not a string", validOrder, "type", 3],
  ["eventId missing", validOrder, "eventId", remove],
  ["eventId empty", validOrder, "eventId", ""],
  ["eventId over 128 characters", validOrder, "eventId", "e".repeat(129)],
  ["eventId a number", validOrder, "eventId", 42],
  ["occurredAt missing", validOrder, "occurredAt", remove],
  ["occurredAt without Z", validOrder, "occurredAt", "2026-11-21T10:16:02.500"],
  ["occurredAt with an offset", validOrder, "occurredAt", "2026-11-21T11:16:02.500+01:00"],
  ["occurredAt with lower-case z", validOrder, "occurredAt", "2026-11-21T10:16:02.500z"],
  ["occurredAt a date only", validOrder, "occurredAt", "2026-11-21"],
  ["occurredAt February 30", validOrder, "occurredAt", "2026-02-30T10:16:02Z"],
  ["occurredAt February 29 of a common year", validOrder, "occurredAt", "2026-02-29T10:16:02Z"],
  ["occurredAt hour 24", validOrder, "occurredAt", "2026-11-21T24:00:00Z"],
  ["occurredAt second 60", validOrder, "occurredAt", "2026-11-21T10:16:60Z"],
  ["occurredAt with ten fraction digits", validOrder, "occurredAt", "2026-11-21T10:16:02.1234567890Z"],
  ["occurredAt epoch millis", validOrder, "occurredAt", 1795256162500],
  // products
  ["product missing", validProduct, "product", remove],
  ["product not an object", validProduct, "product", "p-1002"],
  ["product id empty", validProduct, "product.id", ""],
  ["product id missing", validProduct, "product.id", remove],
  ["product parentId a number", validProduct, "product.parentId", 1000],
  ["product parentId missing", validProduct, "product.parentId", remove],
  ["product sku a number", validProduct, "product.sku", 1002],
  ["product name empty", validProduct, "product.name", ""],
  ["product status unknown", validProduct, "product.status", "deleted"],
  ["product price missing", validProduct, "product.price", remove],
  ["product price negative", validProduct, "product.price.amount", -1],
  ["product price fractional", validProduct, "product.price.amount", 19.99],
  ["product price unsafe integer", validProduct, "product.price.amount", 2 ** 53],
  ["product price amount a string", validProduct, "product.price.amount", "1999"],
  ["product currency lower-case", validProduct, "product.price.currency", "eur"],
  ["product currency four letters", validProduct, "product.price.currency", "EURO"],
  ["product categories not an array", validProduct, "product.categories", { id: "c-7" }],
  ["category id empty", validProduct, "product.categories[0].id", ""],
  ["category path not an array", validProduct, "product.categories[0].path", "Apparel/Shirts"],
  ["category path element a number", validProduct, "product.categories[0].path[1]", 7],
  ["tag a number", validProduct, "product.tags[0]", 1],
  ["variant sku empty", validProduct, "product.variants[0].sku", ""],
  ["variant attributes an array", validProduct, "product.variants[0].attributes", ["L", "red"]],
  ["variant attribute a number", validProduct, "product.variants[0].attributes.size", 42],
  ["variant attributes missing", validProduct, "product.variants[0].attributes", remove],
  ["location quantity negative", validProduct, "product.locations[0].quantity", -1],
  ["location id missing", validProduct, "product.locations[0].locationId", remove],
  ["pricelist currency lower-case", validProduct, "product.pricelists[0].price.currency", "eur"],
  ["product updatedAt not a date", validProduct, "product.updatedAt", "2026-13-01T00:00:00Z"],
  // orders
  ["order missing", validOrder, "order", remove],
  ["order id empty", validOrder, "order.id", ""],
  ["order customerId missing", validOrder, "order.customerId", remove],
  ["order status unknown", validOrder, "order.status", "lost"],
  ["order currency lower-case", validOrder, "order.currency", "eur"],
  ["lineItems empty", validOrder, "order.lineItems", []],
  ["lineItems not an array", validOrder, "order.lineItems", { productId: "p-1002" }],
  ["line item not an object", validOrder, "order.lineItems[0]", "p-1002"],
  ["line item productId empty", validOrder, "order.lineItems[0].productId", ""],
  ["line item sku missing", validOrder, "order.lineItems[0].sku", remove],
  ["line item name a number", validOrder, "order.lineItems[0].name", 7],
  ["quantity 0", validOrder, "order.lineItems[0].quantity", 0],
  ["quantity fractional", validOrder, "order.lineItems[0].quantity", 1.5],
  ["quantity a string", validOrder, "order.lineItems[0].quantity", "2"],
  ["unitPrice negative", validOrder, "order.lineItems[0].unitPrice", -1999],
  ["unitPrice unsafe integer", validOrder, "order.lineItems[0].unitPrice", 2 ** 60],
  ["giftVouchers missing", validOrder, "order.giftVouchers", remove],
  ["voucher code empty", validOrder, "order.giftVouchers[0].code", ""],
  ["voucher amount 0", validOrder, "order.giftVouchers[0].amount", 0],
  ["subtotal wrong", validOrder, "order.subtotal", 3997],
  ["subtotal null", validOrder, "order.subtotal", null],
  ["discountTotal wrong", validOrder, "order.discountTotal", 400],
  ["total wrong", validOrder, "order.total", 3998],
  ["total negative", validOrder, "order.total", -1],
  ["createdAt without Z", validOrder, "order.createdAt", "2026-11-21T10:16:02.000"],
  ["previousStatus unknown", { ...validOrder, type: "order.status_changed", previousStatus: "paid" }, "previousStatus", "lost"],
  ["previousStatus missing", validCancelled, "previousStatus", remove],
  ["cancelled order with status paid", validCancelled, "order.status", "paid"],
  ["cancellation reason a number", validCancelled, "reason", 17]
]

/** A discount larger than the subtotal whose other sums add up, so only that rule is broken. */
const discountOverSubtotal = {
  ...validOrder,
  order: { ...validOrder.order, giftVouchers: [{ code: "GV-BIG", amount: 5000 }], discountTotal: 5000, total: 0 }
}

const orderText = JSON.stringify(validOrder)

/** Records that must not decode, one per rule, each with the error it must produce. */
export const invalidCommerceRecords: ReadonlyArray<InvalidRecord> = [
  { name: "not UTF-8", data: Uint8Array.of(0x7b, 0xff, 0x7d), expected: { _tag: "NotUtf8Error" } },
  { name: "truncated UTF-8 sequence", data: Uint8Array.of(0x22, 0xe2, 0x82, 0x22), expected: { _tag: "NotUtf8Error" } },
  { name: "overlong UTF-8 encoding", data: Uint8Array.of(0x7b, 0xc0, 0xaf, 0x7d), expected: { _tag: "NotUtf8Error" } },
  { name: "UTF-16 encoded", data: Uint8Array.of(0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00), expected: { _tag: "NotUtf8Error" } },
  { name: "empty", data: new Uint8Array(0), expected: { _tag: "NotJsonError" } },
  { name: "whitespace only", data: bytes(" \n"), expected: { _tag: "NotJsonError" } },
  { name: "plain text", data: bytes("order o-5001 created"), expected: { _tag: "NotJsonError" } },
  { name: "truncated JSON", data: bytes(orderText.slice(0, -1)), expected: { _tag: "NotJsonError" } },
  { name: "two JSON objects", data: bytes(`${orderText}\n${orderText}`), expected: { _tag: "NotJsonError" } },
  { name: "JSON array", data: bytes(`[${orderText}]`), expected: { _tag: "NotJsonError" } },
  { name: "JSON number", data: bytes("42"), expected: { _tag: "NotJsonError" } },
  { name: "JSON string", data: bytes(JSON.stringify(orderText)), expected: { _tag: "NotJsonError" } },
  { name: "JSON null", data: bytes("null"), expected: { _tag: "NotJsonError" } },
  { name: "unknown type", data: bytes(JSON.stringify({ ...validOrder, type: "order.deleted" })), expected: { _tag: "UnknownEventError" } },
  { name: "type in other case", data: bytes(JSON.stringify({ ...validOrder, type: "Order.Created" })), expected: { _tag: "UnknownEventError" } },
  { name: "schemaVersion 3", data: bytes(JSON.stringify({ ...validOrder, schemaVersion: 3 })), expected: { _tag: "UnknownSchemaVersionError" } },
  { name: "schemaVersion 0", data: bytes(JSON.stringify({ ...validOrder, schemaVersion: 0 })), expected: { _tag: "UnknownSchemaVersionError" } },
  {
    name: "version 2 order with giftVouchers",
    data: bytes(JSON.stringify({ ...validOrder, schemaVersion: 2 })),
    expected: { _tag: "InvalidEventError", path: "order.discounts" }
  },
  {
    name: "version 1 order with discounts",
    data: bytes(JSON.stringify(validOrderV2ForV1)),
    expected: { _tag: "InvalidEventError", path: "order.giftVouchers" }
  },
  {
    name: "discount kind unknown",
    data: bytes(JSON.stringify({ ...validOrderV2, order: { ...validOrderV2.order, discounts: [{ kind: "cashback", code: "CB-1", amount: 500 }] } })),
    expected: { _tag: "InvalidEventError", path: "order.discounts[0].kind" }
  },
  ...edits.map(([name, base, path, value]) => invalid(name, base, path, value)),
  {
    name: "discountTotal over subtotal",
    data: bytes(JSON.stringify(discountOverSubtotal)),
    expected: { _tag: "InvalidEventError", path: "order.discountTotal" }
  }
]

// ----------------------------------------------------------------------------
// Seeded generators for benchmarks and load
// ----------------------------------------------------------------------------

export interface SampleOptions {
  /** Same seed, same events. Default 1. */
  readonly seed?: number
  /** Distinct product ids, `p-1` to `p-<products>`. Default 1,000. */
  readonly products?: number
  /** Distinct customer ids (orders only), `cu-1` to `cu-<customers>`. Default 10,000. */
  readonly customers?: number
  /** Numbering of order ids and event ids starts after this, so batches can continue each other. Default 0. */
  readonly offset?: number
  /** Event time of the first event, epoch ms. Default 2026-11-21T00:00:00Z. */
  readonly start?: number
  /** Event time between consecutive events. Default 100 ms. */
  readonly intervalMillis?: number
}

const defaults = (options: SampleOptions) => ({
  seed: options.seed ?? 1,
  products: options.products ?? 1_000,
  customers: options.customers ?? 10_000,
  offset: options.offset ?? 0,
  start: options.start ?? Date.UTC(2026, 10, 21),
  intervalMillis: options.intervalMillis ?? 100
})

/** The list price of sample product `k`, so orders and product events agree. */
const samplePrice = (k: number): number => 199 + ((k * 7_919) % 19_800)

/**
 * `count` valid `order.created` events of one to four line items over
 * `products` product ids, about 500 bytes each on the wire. Deterministic per
 * seed and much faster than sampling an arbitrary.
 */
export const sampleOrders = (count: number, options: SampleOptions = {}): Array<OrderCreated> => {
  const { customers, intervalMillis, offset, products, seed, start } = defaults(options)
  const next = seeded(seed)
  const oneTo = (n: number) => between(next, 1, n)
  const events: Array<OrderCreated> = []
  for (let i = 1; i <= count; i++) {
    const n = offset + i
    const at = new Date(start + (i - 1) * intervalMillis).toISOString()
    const lineItems: Array<LineItem> = []
    let subtotal = 0
    for (let items = oneTo(4); items > 0; items--) {
      const k = oneTo(products)
      const item = { productId: `p-${k}`, sku: `SKU-${k}`, name: `Product ${k}`, quantity: oneTo(5), unitPrice: samplePrice(k) }
      subtotal += item.quantity * item.unitPrice
      lineItems.push(item)
    }
    const discounts: Array<Discount> = next() < 0.2 ? [{ kind: "giftVoucher", code: `GV-${n}`, amount: Math.min(subtotal, 500) }] : []
    events.push({
      schemaVersion: 2,
      type: "order.created",
      eventId: `evt-${seed.toString(36)}-o${n.toString(36)}`,
      occurredAt: at,
      order: pendingOrder({ id: `o-${n}`, customerId: `cu-${oneTo(customers)}`, currency: "EUR", lineItems, discounts, createdAt: at })
    })
  }
  return events
}

const productStatuses: ReadonlyArray<ProductStatus> = ["active", "active", "active", "draft", "archived"]

/**
 * `count` valid product events over `products` product ids: the first event
 * of an id is `product.created`, later ones `product.updated`. Deterministic per seed.
 */
export const sampleProducts = (count: number, options: SampleOptions = {}): Array<ProductEvent> => {
  const { intervalMillis, offset, products, seed, start } = defaults(options)
  const next = seeded(seed)
  const oneTo = (n: number) => between(next, 1, n)
  const seen = new Set<number>()
  const events: Array<ProductEvent> = []
  for (let i = 1; i <= count; i++) {
    const k = oneTo(products)
    const at = new Date(start + (i - 1) * intervalMillis).toISOString()
    const type = seen.has(k) ? "product.updated" : "product.created"
    seen.add(k)
    const c = k % 20
    events.push({
      schemaVersion: 2,
      type,
      eventId: `evt-${seed.toString(36)}-p${(offset + i).toString(36)}`,
      occurredAt: at,
      product: {
        id: `p-${k}`,
        parentId: null,
        sku: `SKU-${k}`,
        name: `Product ${k}`,
        status: pick(next, productStatuses),
        price: { amount: samplePrice(k), currency: "EUR" },
        categories: [{ id: `c-${c}`, name: `Category ${c}`, path: ["Catalog", `Category ${c}`] }],
        tags: k % 3 === 0 ? ["sale"] : [],
        variants: [],
        locations: [{ locationId: "wh-berlin", quantity: Math.floor(next() * 100) }],
        pricelists: [],
        updatedAt: at
      }
    })
  }
  return events
}
