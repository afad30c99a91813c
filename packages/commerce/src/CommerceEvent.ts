/**
 * The commerce events: product and order changes, one UTF-8 JSON object per
 * Kinesis record. The schemas accept exactly the wire format; every rule an
 * event breaks is a decode error naming the field. Unknown extra fields are
 * ignored (and dropped), so producers can add fields before consumers know them.
 *
 * Two versions are read side by side. Version 2, the current type, replaces
 * an order's `giftVouchers` with `discounts`, each of a `kind` (gift
 * voucher, coupon, promotion); version 1 events are upcast to it, their
 * vouchers becoming discounts of kind `giftVoucher`. Product events are the
 * same in both.
 */
import { Either, Schema } from "effect"
import {
  type Decoder,
  type DecodeError,
  filter,
  InvalidEventError,
  UnknownEventError,
  upcast,
  validator,
  versioned
} from "@eddy/core/Decoder"

// Each leaf reports one rule whatever is wrong with it (`override`), so a
// string where a number belongs reads "must be an integer >= 1" rather than
// Effect's generic "Expected number".
const leaf = <A extends string | number>(
  from: Schema.Schema<A>,
  identifier: string,
  predicate: (a: A) => boolean,
  rule: string | ((actual: unknown) => string)
) =>
  from.pipe(
    filter(predicate, {
      identifier,
      message: (issue) => ({ message: typeof rule === "string" ? rule : rule(issue.actual), override: true })
    })
  )

const object = { message: () => "must be an object" }
const array = { message: () => "must be an array" }

/** A named struct that says "must be an object" when given anything else. */
const struct = <F extends Schema.Struct.Fields>(identifier: string, fields: F) => Schema.Struct(fields).annotations({ identifier, ...object })

const Text = Schema.String.annotations({ message: () => "must be a string" })

const NonEmptyString = leaf(Schema.String, "NonEmptyString", (s) => s.length > 0, "must be a non-empty string")

const integer = (min: 0 | 1) =>
  leaf(
    Schema.Number,
    `Int>=${min}`,
    (n) => Number.isSafeInteger(n) && n >= min,
    (actual) =>
      typeof actual === "number" && Number.isInteger(actual) && !Number.isSafeInteger(actual)
        ? "must be a safe integer (at most 2^53 - 1)"
        : `must be an integer >= ${min}`
  )

const NonNegativeInt = integer(0)
const PositiveInt = integer(1)

const isDigit = (c: number): boolean => c >= 48 && c <= 57

/** The number written by `length` ASCII digits at `at`, or -1 when one is not a digit. */
const digits = (s: string, at: number, length: number): number => {
  let n = 0
  for (let i = at; i < at + length; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) return -1
    n = n * 10 + c - 48
  }
  return n
}

const isLeapYear = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)

const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (isLeapYear(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468
}

/**
 * Epoch milliseconds of an ISO-8601 UTC timestamp `YYYY-MM-DDTHH:MM:SS[.f]Z`
 * (1 to 9 fraction digits, truncated to milliseconds), or `NaN` when the text
 * is not one or names no real instant. `Date.parse` is not used: it accepts
 * other shapes and rolls `02-30` over into March.
 */
export const timestampMillis = (s: string): number => {
  // Validation reads each event's timestamp, then its event time reads the same string again.
  if (s === lastTimestamp) return lastMillis
  lastMillis = parseTimestamp(s)
  lastTimestamp = s
  return lastMillis
}

let lastTimestamp = ""
let lastMillis = Number.NaN

const parseTimestamp = (s: string): number => {
  const n = s.length
  if (
    n < 20 || n > 30 || n === 21 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(n - 1) !== 90
  ) return NaN
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 2)
  const day = digits(s, 8, 2)
  const hour = digits(s, 11, 2)
  const minute = digits(s, 14, 2)
  const second = digits(s, 17, 2)
  if (
    year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 ||
    minute < 0 || minute > 59 || second < 0 || second > 59
  ) return NaN
  let millis = 0
  if (n > 20) {
    if (s.charCodeAt(19) !== 46) return NaN
    for (let i = 20, scale = 100; i < n - 1; i++, scale /= 10) {
      const c = s.charCodeAt(i)
      if (!isDigit(c)) return NaN
      if (scale >= 1) millis += (c - 48) * scale
    }
  }
  return (daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000 + millis
}

const timestampShape = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/

/** An ISO-8601 UTC timestamp with `Z`, e.g. `2026-11-21T10:15:30.123Z`, naming a real instant; kept as text. */
export const Timestamp = leaf(
  Schema.String,
  "Timestamp",
  (s) => !Number.isNaN(timestampMillis(s)),
  (actual) =>
    typeof actual === "string" && timestampShape.test(actual)
      ? "must be a real date and time"
      : "must be an ISO-8601 UTC timestamp with Z, e.g. 2026-11-21T10:15:30.123Z"
)

const currencyCode = /^[A-Z]{3}$/

/** An ISO-4217 code: three upper-case letters. */
export const Currency = leaf(
  Schema.String,
  "Currency",
  (s) => currencyCode.test(s),
  "must be an ISO-4217 currency code of three upper-case letters, e.g. EUR"
)

const Money_ = struct("Money", { amount: NonNegativeInt, currency: Currency })
/** An amount in minor units (cents) of `currency`. */
export interface Money extends Schema.Schema.Type<typeof Money_> {}
export const Money: Schema.Schema<Money> = Money_

const oneOf = <const L extends ReadonlyArray<string>>(identifier: string, literals: L) =>
  // `override`: a literal union otherwise reports its first member's mismatch.
  Schema.Literal(...literals).annotations({ identifier, message: () => ({ message: `must be one of ${literals.join(", ")}`, override: true }) })

// ----------------------------------------------------------------------------
// Envelope
// ----------------------------------------------------------------------------

/** Every commerce event type. */
export const commerceEventTypes = [
  "product.created",
  "product.updated",
  "order.created",
  "order.status_changed",
  "order.cancelled"
] as const

/** The schema of a commerce event type. */
export const CommerceEventType = oneOf("CommerceEventType", commerceEventTypes)
export type CommerceEventType = typeof CommerceEventType.Type

/** The current version, 2. */
export const SchemaVersion = Schema.Literal(2).annotations({ message: () => "must be the number 2" })

/** The wire format versions read: 1 is upcast to 2. */
export const schemaVersions = [1, 2] as const

/** 1 to 128 characters; the producer's idempotency key. */
export const EventId = leaf(
  Schema.String,
  "EventId",
  (s) => s.length >= 1 && s.length <= 128,
  "must be a string of 1 to 128 characters"
)

const envelopeOf = <V extends number>(schemaVersion: Schema.Schema<V>) => <T extends CommerceEventType>(type: T) => ({
  schemaVersion,
  type: Schema.Literal(type).annotations({ message: () => `must be "${type}"` }),
  eventId: EventId,
  occurredAt: Timestamp
})

const envelope = envelopeOf(SchemaVersion)
const envelopeV1 = envelopeOf(Schema.Literal(1).annotations({ message: () => "must be the number 1" }))

/** A current-version event of `type`: the envelope and `fields`. */
const event = <T extends CommerceEventType, F extends Schema.Struct.Fields>(identifier: string, type: T, fields: F) =>
  Schema.Struct({ ...envelope(type), ...fields }).annotations({ identifier })

// ----------------------------------------------------------------------------
// Products
// ----------------------------------------------------------------------------

/** The schema of a product's status: active, draft or archived. */
export const ProductStatus = oneOf("ProductStatus", ["active", "draft", "archived"])
export type ProductStatus = typeof ProductStatus.Type

const Category_ = struct("Category", {
  id: NonEmptyString,
  name: NonEmptyString,
  path: Schema.Array(Text).annotations(array)
})
/** A product category. */
export interface Category extends Schema.Schema.Type<typeof Category_> {}
export const Category: Schema.Schema<Category> = Category_

const Variant_ = struct("Variant", {
  id: NonEmptyString,
  sku: NonEmptyString,
  attributes: Schema.Record({ key: Schema.String, value: Text }).annotations({ message: () => "must be an object of string values" })
})
/** A product variant (a SKU). */
export interface Variant extends Schema.Schema.Type<typeof Variant_> {}
export const Variant: Schema.Schema<Variant> = Variant_

const StockLevel_ = struct("StockLevel", { locationId: NonEmptyString, quantity: NonNegativeInt })
/** Stock of a product at one location. */
export interface StockLevel extends Schema.Schema.Type<typeof StockLevel_> {}
export const StockLevel: Schema.Schema<StockLevel> = StockLevel_

const PricelistPrice_ = struct("PricelistPrice", { id: NonEmptyString, price: Money })
/** The product's price on one pricelist. */
export interface PricelistPrice extends Schema.Schema.Type<typeof PricelistPrice_> {}
export const PricelistPrice: Schema.Schema<PricelistPrice> = PricelistPrice_

const Product_ = struct("Product", {
  id: NonEmptyString,
  parentId: Schema.NullOr(Text).annotations({ message: () => "must be a string or null" }),
  sku: NonEmptyString,
  name: NonEmptyString,
  status: ProductStatus,
  price: Money,
  categories: Schema.Array(Category).annotations(array),
  tags: Schema.Array(Text).annotations(array),
  variants: Schema.Array(Variant).annotations(array),
  locations: Schema.Array(StockLevel).annotations(array),
  pricelists: Schema.Array(PricelistPrice).annotations(array),
  updatedAt: Timestamp
})
/** A product as its events carry it. */
export interface Product extends Schema.Schema.Type<typeof Product_> {}
export const Product: Schema.Schema<Product> = Product_

const ProductCreated_ = event("ProductCreated", "product.created", { product: Product })
/** A `product.created` event. */
export interface ProductCreated extends Schema.Schema.Type<typeof ProductCreated_> {}
export const ProductCreated: Schema.Schema<ProductCreated> = ProductCreated_

const ProductUpdated_ = event("ProductUpdated", "product.updated", { product: Product })
/** A `product.updated` event. */
export interface ProductUpdated extends Schema.Schema.Type<typeof ProductUpdated_> {}
export const ProductUpdated: Schema.Schema<ProductUpdated> = ProductUpdated_

// ----------------------------------------------------------------------------
// Orders
// ----------------------------------------------------------------------------

/** Every order status. */
export const orderStatuses = ["pending", "paid", "fulfilled", "shipped", "delivered", "cancelled", "refunded"] as const
/** The schema of an order status. */
export const OrderStatus = oneOf("OrderStatus", orderStatuses)
export type OrderStatus = typeof OrderStatus.Type

const LineItem_ = struct("LineItem", {
  productId: NonEmptyString,
  sku: NonEmptyString,
  name: Text,
  quantity: PositiveInt,
  /** Minor units of the order's currency. */
  unitPrice: NonNegativeInt
})
/** A line of an order. */
export interface LineItem extends Schema.Schema.Type<typeof LineItem_> {}
export const LineItem: Schema.Schema<LineItem> = LineItem_

const GiftVoucher_ = struct("GiftVoucher", { code: NonEmptyString, amount: PositiveInt })
/** A version 1 order's discount; version 2 has `Discount` of kind `giftVoucher` instead. */
export interface GiftVoucher extends Schema.Schema.Type<typeof GiftVoucher_> {}
export const GiftVoucher: Schema.Schema<GiftVoucher> = GiftVoucher_

/** Every kind of discount. */
export const discountKinds = ["giftVoucher", "coupon", "promotion"] as const
/** The schema of a discount kind. */
export const DiscountKind = oneOf("DiscountKind", discountKinds)
export type DiscountKind = typeof DiscountKind.Type

const Discount_ = struct("Discount", { kind: DiscountKind, code: NonEmptyString, amount: PositiveInt })
/** An amount off the order, in its currency: a gift voucher, a coupon or a promotion, named by its code. */
export interface Discount extends Schema.Schema.Type<typeof Discount_> {}
export const Discount: Schema.Schema<Discount> = Discount_

interface Sums {
  readonly lineItems: ReadonlyArray<LineItem>
  readonly subtotal: number
  readonly discountTotal: number
  readonly total: number
}

// Every product and partial sum is exact: operands are safe non-negative
// integers, so a float result is exact below 2^53 and otherwise at least 2^53,
// which no valid (safe) subtotal equals.
const checkSums = (field: "giftVouchers" | "discounts") => (order: Sums & { readonly [K in typeof field]?: ReadonlyArray<{ readonly amount: number }> }): Schema.FilterIssue | undefined => {
  let subtotal = 0
  for (const item of order.lineItems) subtotal += item.quantity * item.unitPrice
  if (order.subtotal !== subtotal) {
    return { path: ["subtotal"], message: `must equal the sum of quantity * unitPrice over lineItems (${subtotal})` }
  }
  let discountTotal = 0
  for (const discount of order[field]!) discountTotal += discount.amount
  if (order.discountTotal !== discountTotal) {
    return { path: ["discountTotal"], message: `must equal the sum of ${field} amounts (${discountTotal})` }
  }
  if (discountTotal > subtotal) {
    return { path: ["discountTotal"], message: `must not exceed subtotal (${subtotal})` }
  }
  const total = subtotal - discountTotal
  if (order.total !== total) {
    return { path: ["total"], message: `must equal subtotal - discountTotal (${total})` }
  }
  return undefined
}

// The fields before and after the discounts, which version 1 calls `giftVouchers`.
const orderHead = <S extends OrderStatus>(status: Schema.Schema<S>) => ({
  id: NonEmptyString,
  customerId: NonEmptyString,
  status,
  /** Every amount in the order is in this currency. */
  currency: Currency,
  lineItems: Schema.Array(LineItem).annotations(array).pipe(
    Schema.filter((items) => items.length > 0 || "must have at least one line item")
  )
})

const orderSums = {
  subtotal: NonNegativeInt,
  discountTotal: NonNegativeInt,
  total: NonNegativeInt,
  createdAt: Timestamp
}

const orderOf = <S extends OrderStatus>(status: Schema.Schema<S>) =>
  Schema.Struct({ ...orderHead(status), discounts: Schema.Array(Discount).annotations(array), ...orderSums })
    .annotations(object).pipe(Schema.filter(checkSums("discounts")))

const orderV1Of = <S extends OrderStatus>(status: Schema.Schema<S>) =>
  Schema.Struct({ ...orderHead(status), giftVouchers: Schema.Array(GiftVoucher).annotations(array), ...orderSums })
    .annotations(object).pipe(Schema.filter(checkSums("giftVouchers")))

const cancelled = Schema.Literal("cancelled").annotations({ message: () => "must be cancelled in an order.cancelled event" })

const Order_ = orderOf(OrderStatus).annotations({ identifier: "Order" })
/** An order whose sums add up: subtotal, discountTotal and total are checked on decode. */
export interface Order extends Schema.Schema.Type<typeof Order_> {}
export const Order: Schema.Schema<Order> = Order_

/**
 * A new order, `pending`, with its sums computed from its lines and discounts
 * as decoding checks them (the discounts must not exceed the lines).
 */
export const pendingOrder = (order: Omit<Order, "status" | "subtotal" | "discountTotal" | "total">): Order => {
  let subtotal = 0
  for (const item of order.lineItems) subtotal += item.quantity * item.unitPrice
  let discountTotal = 0
  for (const discount of order.discounts) discountTotal += discount.amount
  return {
    id: order.id,
    customerId: order.customerId,
    status: "pending",
    currency: order.currency,
    lineItems: order.lineItems,
    discounts: order.discounts,
    subtotal,
    discountTotal,
    total: subtotal - discountTotal,
    createdAt: order.createdAt
  }
}

const CancelledOrder_ = orderOf(cancelled).annotations({ identifier: "CancelledOrder" })
/** An order as an `order.cancelled` event carries it. */
export interface CancelledOrder extends Schema.Schema.Type<typeof CancelledOrder_> {}
export const CancelledOrder: Schema.Schema<CancelledOrder> = CancelledOrder_

const OrderCreated_ = event("OrderCreated", "order.created", { order: Order })
/** An `order.created` event. */
export interface OrderCreated extends Schema.Schema.Type<typeof OrderCreated_> {}
export const OrderCreated: Schema.Schema<OrderCreated> = OrderCreated_

const OrderStatusChanged_ = event("OrderStatusChanged", "order.status_changed", {
  /** The order as it is after the change. */
  order: Order,
  previousStatus: OrderStatus
})
/** An `order.status_changed` event. */
export interface OrderStatusChanged extends Schema.Schema.Type<typeof OrderStatusChanged_> {}
export const OrderStatusChanged: Schema.Schema<OrderStatusChanged> = OrderStatusChanged_

// What an `order.cancelled` event carries beside its envelope and order, in both versions.
const cancellation = { previousStatus: OrderStatus, reason: Schema.optionalWith(Text, { exact: true }) }

const OrderCancelled_ = event("OrderCancelled", "order.cancelled", { order: CancelledOrder, ...cancellation })
/** An `order.cancelled` event. */
export interface OrderCancelled extends Schema.Schema.Type<typeof OrderCancelled_> {}
export const OrderCancelled: Schema.Schema<OrderCancelled> = OrderCancelled_

// ----------------------------------------------------------------------------
// All events
// ----------------------------------------------------------------------------

/** A product event. */
export type ProductEvent = ProductCreated | ProductUpdated
/** An order event. */
export type OrderEvent = OrderCreated | OrderStatusChanged | OrderCancelled
export type CommerceEvent = ProductEvent | OrderEvent

/**
 * Any commerce event, as one schema. `decodeCommerceEvent` is the fast way to
 * decode records: it dispatches on `type` before validating.
 */
export const CommerceEvent: Schema.Schema<CommerceEvent> = Schema.Union(
  ProductCreated,
  ProductUpdated,
  OrderCreated,
  OrderStatusChanged,
  OrderCancelled
)

// ----------------------------------------------------------------------------
// Version 1, upcast to version 2
// ----------------------------------------------------------------------------

const OrderV1_ = orderV1Of(OrderStatus).annotations({ identifier: "OrderV1" })
/** A version 1 order: `giftVouchers` where version 2 has `discounts`. */
export interface OrderV1 extends Schema.Schema.Type<typeof OrderV1_> {}

const CancelledOrderV1_ = orderV1Of(cancelled).annotations({ identifier: "CancelledOrderV1" })

const ProductCreatedV1 = Schema.Struct({ ...envelopeV1("product.created"), product: Product })
const ProductUpdatedV1 = Schema.Struct({ ...envelopeV1("product.updated"), product: Product })
const OrderCreatedV1 = Schema.Struct({ ...envelopeV1("order.created"), order: OrderV1_ })
const OrderStatusChangedV1 = Schema.Struct({ ...envelopeV1("order.status_changed"), order: OrderV1_, previousStatus: OrderStatus })
const OrderCancelledV1 = Schema.Struct({ ...envelopeV1("order.cancelled"), order: CancelledOrderV1_, ...cancellation })

/** An event of wire format version 1, exactly as the version 1 contract has it. */
export type CommerceEventV1 =
  | typeof ProductCreatedV1.Type
  | typeof ProductUpdatedV1.Type
  | typeof OrderCreatedV1.Type
  | typeof OrderStatusChangedV1.Type
  | typeof OrderCancelledV1.Type

/** A version 1 order as version 2 has it: each gift voucher becomes a discount of kind `giftVoucher`. */
const upcastOrder = <O extends OrderV1>({ giftVouchers, ...order }: O) => ({
  ...order,
  discounts: giftVouchers.map((v): Discount => ({ kind: "giftVoucher", code: v.code, amount: v.amount }))
})

/** A version 1 event as the current type: the same event, as a version 2 producer would write it. */
export const upcastV1 = (event: CommerceEventV1): CommerceEvent =>
  "order" in event
    ? { ...event, schemaVersion: 2, order: upcastOrder(event.order) } as CommerceEvent
    : { ...event, schemaVersion: 2 }

type Validate = (input: Record<string, unknown>) => Either.Either<CommerceEvent, DecodeError>

const byType = (validators: ReadonlyMap<string, Validate>) => (event: Record<string, unknown>): Either.Either<CommerceEvent, DecodeError> => {
  const { schemaVersion, type } = event
  if (typeof type !== "string") {
    return Either.left(
      new InvalidEventError({ path: "type", rule: type === undefined ? "is missing" : "must be a string naming the event type" })
    )
  }
  const validate = validators.get(type)
  return validate === undefined
    ? Either.left(new UnknownEventError({ schemaVersion: schemaVersion as number, type, known: commerceEventTypes }))
    : validate(event)
}

const v1 = <A extends CommerceEventV1, I>(schema: Schema.Schema<A, I>): Validate => upcast(validator(schema), upcastV1)

// Each type's validator in version 1 (upcast) and version 2: `schemaVersion` and `type` are checked first with
// plain comparisons, then only that type's compiled schema runs.
const byVersion: ReadonlyArray<readonly [CommerceEventType, Validate, Validate]> = [
  ["product.created", v1(ProductCreatedV1), validator(ProductCreated)],
  ["product.updated", v1(ProductUpdatedV1), validator(ProductUpdated)],
  ["order.created", v1(OrderCreatedV1), validator(OrderCreated)],
  ["order.status_changed", v1(OrderStatusChangedV1), validator(OrderStatusChanged)],
  ["order.cancelled", v1(OrderCancelledV1), validator(OrderCancelled)]
]
const version1 = byType(new Map(byVersion.map(([type, old]) => [type, old])))
const version2 = byType(new Map(byVersion.map(([type, , current]) => [type, current])))

/**
 * Decodes the commerce events of either version, version 1 upcast to the
 * current type; another `schemaVersion` is an `UnknownSchemaVersionError`.
 */
export const commerceDecoder: Decoder<CommerceEvent> = versioned<CommerceEvent>({ 1: version1, 2: version2 })

/** Decodes one record into a commerce event (see `commerceDecoder`). */
export const decodeCommerceEvent = (bytes: Uint8Array): Either.Either<CommerceEvent, DecodeError> => commerceDecoder.decode(bytes)


const utf8 = new TextEncoder()

/** The event's wire form: UTF-8 JSON, no trailing newline. `decodeCommerceEvent` gives the event back. */
export const encodeCommerceEvent = (event: CommerceEvent): Uint8Array => utf8.encode(JSON.stringify(event))

/** A version 1 event's wire form, as producers not yet on version 2 write it. */
export const encodeCommerceEventV1 = (event: CommerceEventV1): Uint8Array => utf8.encode(JSON.stringify(event))

/** The event time (`occurredAt`) in epoch milliseconds; windows bucket by it. */
export const eventTimeMillis = (event: CommerceEvent): number => timestampMillis(event.occurredAt)
