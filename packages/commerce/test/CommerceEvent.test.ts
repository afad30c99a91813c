import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import {
  arbitraryCommerceEvent,
  arbitraryOrderCancelled,
  arbitraryOrderCreated,
  arbitraryProductUpdated,
  arbitraryVersion1Expressible,
  asVersion1,
  invalidCommerceRecords,
  sampleOrders,
  sampleProducts
} from "../src/CommerceArbitrary"
import {
  type CommerceEvent,
  CommerceEvent as CommerceEventSchema,
  commerceDecoder,
  decodeCommerceEvent,
  encodeCommerceEvent,
  encodeCommerceEventV1,
  eventTimeMillis,
  timestampMillis
} from "../src/CommerceEvent"
import type { DecodeError } from "@eddy/core/Decoder"

const utf8 = new TextEncoder()
const bytes = (text: string) => utf8.encode(text)

const decodeOk = (data: Uint8Array): CommerceEvent => {
  const result = decodeCommerceEvent(data)
  if (Either.isLeft(result)) throw new Error(`expected an event, got ${result.left._tag}: ${result.left.message}`)
  return result.right
}

const decodeErr = (data: Uint8Array): DecodeError => {
  const result = decodeCommerceEvent(data)
  if (Either.isRight(result)) throw new Error(`expected a decode error, got ${JSON.stringify(result.right)}`)
  return result.left
}

// Verbatim from the wire-format contract.
const contractProductUpdated = `{
  "schemaVersion": 1,
  "type": "product.updated",
  "eventId": "evt-7f3a2c",
  "occurredAt": "2026-11-21T10:15:30.123Z",
  "product": {
    "id": "p-1002",
    "parentId": "p-1000",
    "sku": "TSHIRT-RED-M",
    "name": "T-shirt, red, M",
    "status": "active",
    "price": { "amount": 1999, "currency": "EUR" },
    "categories": [{ "id": "c-7", "name": "Shirts", "path": ["Apparel", "Shirts"] }],
    "tags": ["summer", "cotton"],
    "variants": [{ "id": "p-1003", "sku": "TSHIRT-RED-L", "attributes": { "size": "L", "color": "red" } }],
    "locations": [{ "locationId": "wh-berlin", "quantity": 12 }],
    "pricelists": [{ "id": "pl-b2b", "price": { "amount": 1799, "currency": "EUR" } }],
    "updatedAt": "2026-11-21T10:15:30.000Z"
  }
}`

const contractOrderCreated = `{
  "schemaVersion": 1,
  "type": "order.created",
  "eventId": "evt-91bd04",
  "occurredAt": "2026-11-21T10:16:02.500Z",
  "order": {
    "id": "o-5001",
    "customerId": "cu-77",
    "status": "pending",
    "currency": "EUR",
    "lineItems": [
      { "productId": "p-1002", "sku": "TSHIRT-RED-M", "name": "T-shirt, red, M", "quantity": 2, "unitPrice": 1999 }
    ],
    "giftVouchers": [{ "code": "GV-2026-XMAS", "amount": 500 }],
    "subtotal": 3998,
    "discountTotal": 500,
    "total": 3498,
    "createdAt": "2026-11-21T10:16:02.000Z"
  }
}`

/** The contract's order example with one field changed (dotted path, array indexes as numbers). */
const orderWith = (path: ReadonlyArray<string | number>, value: unknown): Uint8Array => {
  const event = JSON.parse(contractOrderCreated)
  let at = event
  for (const key of path.slice(0, -1)) at = at[key]
  at[path[path.length - 1]!] = value
  return bytes(JSON.stringify(event))
}

describe("CommerceEvent", () => {
  it("decodes the contract's version 1 examples, upcast to version 2", () => {
    expect(decodeOk(bytes(contractProductUpdated))).toStrictEqual({ ...JSON.parse(contractProductUpdated), schemaVersion: 2 })
    const order = decodeOk(bytes(contractOrderCreated))
    const { giftVouchers: _, ...v1Order } = JSON.parse(contractOrderCreated).order
    expect(order).toStrictEqual({
      ...JSON.parse(contractOrderCreated),
      schemaVersion: 2,
      order: { ...v1Order, discounts: [{ kind: "giftVoucher", code: "GV-2026-XMAS", amount: 500 }] }
    })
    expect(eventTimeMillis(order)).toBe(Date.UTC(2026, 10, 21, 10, 16, 2, 500))
  })

  it.prop("a version 1 event decodes to the same value as the same event in version 2", [arbitraryVersion1Expressible], ([event]) => {
    const v1 = asVersion1(event)!
    expect(v1.schemaVersion).toBe(1)
    expect(decodeOk(encodeCommerceEventV1(v1))).toStrictEqual(event)
    expect(decodeOk(encodeCommerceEvent(event))).toStrictEqual(event)
  }, { fastCheck: { numRuns: 300 } })

  it.prop("version 1 cannot carry coupons or promotions, and version 2 no giftVouchers", [arbitraryOrderCreated], ([event]) => {
    const kinds = new Set(event.order.discounts.map((d) => d.kind))
    expect(asVersion1(event) === undefined).toBe(kinds.has("coupon") || kinds.has("promotion"))
    if (event.order.discounts.length > 0) {
      const { discounts, ...order } = event.order
      const mixed = { ...event, order: { ...order, giftVouchers: discounts.map(({ amount, code }) => ({ amount, code })) } }
      expect(decodeErr(bytes(JSON.stringify(mixed)))).toMatchObject({ _tag: "InvalidEventError", path: "order.discounts" })
    }
  })

  it.prop("every generated event decodes and round-trips", [arbitraryCommerceEvent], ([event]) => {
    const data = encodeCommerceEvent(event)
    expect(data[data.length - 1]).toBe(0x7d) // `}`: no trailing newline
    expect(decodeOk(data)).toStrictEqual(event)
  }, { fastCheck: { numRuns: 300 } })

  it.prop("the union schema agrees with the dispatching decoder", [arbitraryCommerceEvent], ([event]) => {
    const viaUnion = Schema.decodeUnknownEither(CommerceEventSchema)(JSON.parse(JSON.stringify(event)))
    expect(viaUnion).toStrictEqual(Either.right(event))
    expect(commerceDecoder.decode(encodeCommerceEvent(event))).toStrictEqual(Either.right(event))
  })

  it.prop(
    "ignores unknown fields at every level",
    [arbitraryOrderCreated, arbitraryProductUpdated, fc.dictionary(fc.string().map((k) => `x-${k}`), fc.jsonValue(), { minKeys: 1, maxKeys: 3 })],
    ([order, product, extra]) => {
      const withOrderExtras = {
        ...extra,
        ...order,
        order: { ...extra, ...order.order, lineItems: order.order.lineItems.map((item) => ({ ...extra, ...item })) }
      }
      expect(decodeOk(bytes(JSON.stringify(withOrderExtras)))).toStrictEqual(order)
      const withProductExtras = {
        ...extra,
        ...product,
        product: { ...extra, ...product.product, price: { ...extra, ...product.product.price } }
      }
      expect(decodeOk(bytes(JSON.stringify(withProductExtras)))).toStrictEqual(product)
    }
  )

  it.prop("an order.cancelled event keeps or omits its reason", [arbitraryOrderCancelled], ([event]) => {
    const decoded = decodeOk(encodeCommerceEvent(event))
    expect("reason" in decoded).toBe("reason" in event)
  })

  describe("every invalid record fails with the error it must", () => {
    it.each(invalidCommerceRecords)("$name", ({ data, expected }) => {
      const error = decodeErr(data)
      expect(error._tag).toBe(expected._tag)
      if (error._tag === "InvalidEventError") expect(error.path).toBe(expected.path)
      expect(error.message.length).toBeGreaterThan(0)
      expect(error.reason.length).toBeGreaterThan(0)
    })
  })

  it("the invalid corpus covers every rule family", () => {
    const tags = new Set(invalidCommerceRecords.map((r) => r.expected._tag))
    expect([...tags].sort()).toStrictEqual(["InvalidEventError", "NotJsonError", "NotUtf8Error", "UnknownEventError", "UnknownSchemaVersionError"])
    const paths = new Set(invalidCommerceRecords.flatMap((r) => (r.expected.path === undefined ? [] : [r.expected.path])))
    for (const path of ["schemaVersion", "type", "eventId", "occurredAt", "order.subtotal", "order.discountTotal", "order.total", "order.status", "order.discounts", "order.giftVouchers", "product.variants[0].attributes.size"]) {
      expect(paths).toContain(path)
    }
  })

  describe("error messages name the field and the rule", () => {
    const cases: ReadonlyArray<readonly [string, Uint8Array, string]> = [
      ["quantity 0", orderWith(["order", "lineItems", 0, "quantity"], 0), "order.lineItems[0].quantity must be an integer >= 1"],
      ["quantity a string", orderWith(["order", "lineItems", 0, "quantity"], "2"), "order.lineItems[0].quantity must be an integer >= 1"],
      ["unsafe amount", orderWith(["order", "lineItems", 0, "unitPrice"], 2 ** 53), "order.lineItems[0].unitPrice must be a safe integer (at most 2^53 - 1)"],
      ["wrong total", orderWith(["order", "total"], 3998), "order.total must equal subtotal - discountTotal (3498)"],
      ["wrong subtotal", orderWith(["order", "subtotal"], 4000), "order.subtotal must equal the sum of quantity * unitPrice over lineItems (3998)"],
      ["wrong discount", orderWith(["order", "discountTotal"], 400), "order.discountTotal must equal the sum of giftVouchers amounts (500)"],
      ["no line items", orderWith(["order", "lineItems"], []), "order.lineItems must have at least one line item"],
      ["missing customer", orderWith(["order", "customerId"], undefined), "order.customerId is missing"],
      ["lower-case currency", orderWith(["order", "currency"], "eur"), "order.currency must be an ISO-4217 currency code of three upper-case letters, e.g. EUR"],
      ["status", orderWith(["order", "status"], "lost"), "order.status must be one of pending, paid, fulfilled, shipped, delivered, cancelled, refunded"],
      ["no Z", orderWith(["occurredAt"], "2026-11-21T10:16:02.500"), "occurredAt must be an ISO-8601 UTC timestamp with Z, e.g. 2026-11-21T10:15:30.123Z"],
      ["not a date", orderWith(["order", "createdAt"], "2026-02-29T10:16:02Z"), "order.createdAt must be a real date and time"],
      ["order not an object", orderWith(["order"], 5001), "order must be an object"],
      ["schemaVersion as a string", orderWith(["schemaVersion"], "1"), "schemaVersion must be one of the numbers 1, 2"],
      ["schemaVersion missing", orderWith(["schemaVersion"], undefined), "schemaVersion is missing"],
      ["unknown type", orderWith(["type"], "order.deleted"), `type "order.deleted" is not a known event type; expected one of product.created, product.updated, order.created, order.status_changed, order.cancelled`],
      [
        "schemaVersion 3",
        orderWith(["schemaVersion"], 3),
        "schemaVersion is 3, but this consumer reads only version 1, 2; deploy a consumer that knows version 3 (then redrive what was dead-lettered) before producers send it"
      ],
      ["a JSON array", bytes("[]"), "record data must be one JSON object (an event), found a JSON array"],
      ["empty", new Uint8Array(0), "record data must be one JSON object (an event), found empty data"],
      ["not UTF-8", Uint8Array.of(0xc3, 0x28), "record data is not valid UTF-8; events must be UTF-8 encoded JSON objects"]
    ]
    it.each(cases)("%s", (_, data, message) => {
      expect(decodeErr(data).message).toBe(message)
    })

    it("cancelled orders must say so", () => {
      const event = { ...JSON.parse(contractOrderCreated), type: "order.cancelled", previousStatus: "paid" }
      expect(decodeErr(bytes(JSON.stringify(event))).message).toBe("order.status must be cancelled in an order.cancelled event")
    })

    it("a discount larger than the subtotal", () => {
      const event = JSON.parse(contractOrderCreated)
      event.order.giftVouchers = [{ code: "GV-BIG", amount: 5000 }]
      event.order.discountTotal = 5000
      event.order.total = 0
      expect(decodeErr(bytes(JSON.stringify(event))).message).toBe("order.discountTotal must not exceed subtotal (3998)")
    })

    it("keys that are not identifiers are quoted", () => {
      const event = JSON.parse(contractProductUpdated)
      event.product.variants[0].attributes["shoe size"] = 42
      const error = decodeErr(bytes(JSON.stringify(event)))
      expect(error.message).toBe(`product.variants[0].attributes["shoe size"] must be a string`)
    })

    it("unknown events carry what they saw", () => {
      const newer = decodeErr(orderWith(["schemaVersion"], 3))
      expect(newer).toMatchObject({ _tag: "UnknownSchemaVersionError", schemaVersion: 3, known: [1, 2], reason: "unknown schemaVersion 3" })
      const unknown = decodeErr(orderWith(["type"], "order.deleted"))
      expect(unknown).toMatchObject({ _tag: "UnknownEventError", schemaVersion: 1, type: "order.deleted", reason: `unknown event type "order.deleted"` })
    })
  })

  describe("timestamps", () => {
    it.prop(
      "agree with Date for every instant of years 0000 to 9999",
      [fc.integer({ min: Date.parse("0000-01-01T00:00:00.000Z"), max: Date.parse("9999-12-31T23:59:59.999Z") })],
      ([millis]) => {
        const iso = new Date(millis).toISOString()
        expect(timestampMillis(iso)).toBe(millis)
        expect(timestampMillis(`${iso.slice(0, 19)}Z`)).toBe(millis - (millis % 1000 + 1000) % 1000)
        expect(timestampMillis(`${iso.slice(0, 23)}987654Z`)).toBe(millis)
      }
    )

    it("rejects what is not an ISO-8601 UTC instant", () => {
      for (
        const text of [
          "2026-11-21T10:15:30.123",
          "2026-11-21T10:15:30.123+00:00",
          "2026-11-21 10:15:30Z",
          "2026-11-21T10:15Z",
          "2026-11-21T10:15:30.Z",
          "2026-11-21T10:15:30.1234567890Z",
          "2026-00-10T00:00:00Z",
          "2026-04-31T00:00:00Z",
          "2100-02-29T00:00:00Z",
          "2026-11-21T10:60:00Z",
          "+02026-11-21T10:15:30Z",
          "2026-1-21T10:15:30Z",
          ""
        ]
      ) expect(timestampMillis(text)).toBeNaN()
      expect(timestampMillis("2000-02-29T23:59:59.999999999Z")).toBe(Date.UTC(2000, 1, 29, 23, 59, 59, 999))
    })
  })

  describe("sample generators", () => {
    it("sampleOrders makes valid, deterministic orders over the given products", () => {
      const orders = sampleOrders(500, { seed: 42, products: 25 })
      expect(orders).toHaveLength(500)
      expect(sampleOrders(500, { seed: 42, products: 25 })).toStrictEqual(orders)
      expect(sampleOrders(500, { seed: 43, products: 25 })).not.toStrictEqual(orders)
      const productIds = new Set<string>()
      let size = 0
      for (const order of orders) {
        const data = encodeCommerceEvent(order)
        size += data.length
        expect(decodeOk(data)).toStrictEqual(order)
        for (const item of order.order.lineItems) productIds.add(item.productId)
        expect(order.order.lineItems.length).toBeLessThanOrEqual(4)
      }
      expect([...productIds].every((id) => /^p-([1-9]|1\d|2[0-5])$/.test(id))).toBe(true)
      expect(productIds.size).toBe(25)
      expect(new Set(orders.map((o) => o.eventId)).size).toBe(500)
      expect(size / orders.length).toBeGreaterThan(300)
      expect(size / orders.length).toBeLessThan(800)
    })

    it("sampleProducts creates each product once and updates it after", () => {
      const events = sampleProducts(300, { seed: 7, products: 40 })
      const seen = new Set<string>()
      for (const event of events) {
        expect(decodeOk(encodeCommerceEvent(event))).toStrictEqual(event)
        expect(event.type).toBe(seen.has(event.product.id) ? "product.updated" : "product.created")
        seen.add(event.product.id)
      }
      expect(seen.size).toBe(40)
    })
  })
})
