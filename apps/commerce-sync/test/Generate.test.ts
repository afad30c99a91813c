/**
 * The load generator: its plans are valid, causally ordered traffic whose
 * recorded totals equal a fold of the events (written here, independently of
 * the generator's model); sent to a local Kinesis, every record read back
 * decodes (but the invalid ones mixed in, which fail as the corpus says) and
 * folds to the same totals; pacing holds on the TestClock.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import {
  type CommerceEvent,
  decodeCommerceEvent,
  encodeCommerceEvent,
  type Order,
  type OrderStatus,
  type Product
} from "@eddy/commerce/CommerceEvent"
import * as OrderLifecycle from "@eddy/commerce/OrderLifecycle"
import { Clock, Effect, Either, FastCheck as fc, Fiber, Layer, TestClock } from "effect"
import * as Generate from "../src/Generate"
import * as Sync from "../src/Sync"
import { createStream, KinesisLocal, readBack, uniqueName, unpaced } from "./support/kinesis"

/** The totals of `events`, folded as the commerce pipelines define them. */
const fold = (events: Iterable<CommerceEvent>): Generate.Totals => {
  const revenue = new Map<string, Map<string, number>>()
  const units = new Map<string, Map<string, number>>()
  const customers = new Map<string, Set<string>>()
  const transitions = new Map<OrderStatus, Map<string, number>>()
  const updates = new Map<string, number>()
  const bump = <K>(m: Map<K, number>, k: K, n: number) => m.set(k, (m.get(k) ?? 0) + n)
  const at = <K, V>(m: Map<K, V>, k: K, v: () => V) => (m.has(k) ? m.get(k)! : m.set(k, v()).get(k)!)
  for (const e of events) {
    const hour = `${e.occurredAt.slice(0, 13)}Z`
    const day = e.occurredAt.slice(0, 10)
    if (e.type === "product.updated") bump(updates, e.product.id, 1)
    if (e.type === "order.created") {
      for (const line of e.order.lineItems) {
        bump(at(revenue, line.productId, () => new Map()), hour, line.quantity * line.unitPrice)
        bump(at(units, day, () => new Map()), line.productId, line.quantity)
      }
      at(customers, day, () => new Set<string>()).add(e.order.customerId)
    }
    if (e.type.startsWith("order.")) bump(at(transitions, (e as { order: Order }).order.status, () => new Map()), day, 1)
  }
  return {
    revenueByProductHourly: revenue,
    unitsByProductDaily: units,
    uniqueCustomersDaily: new Map([...customers].map(([day, ids]) => [day, ids.size])),
    orderStatusTransitionsDaily: transitions,
    productUpdates: updates
  }
}

const start = Date.UTC(2026, 10, 20)
const planOf = (seed: number, orders: number, products: number) =>
  Generate.plan({ seed, orders, products, start, spanMillis: 2 * 86_400_000 })

/** What each entity's events must respect: creation first, changes continue from the state before along the lifecycle. */
const checkCausality = (events: ReadonlyArray<CommerceEvent>) => {
  const products = new Map<string, Product>()
  const orders = new Map<string, Order>()
  let last = ""
  for (const e of events) {
    expect(e.occurredAt >= last).toBe(true)
    last = e.occurredAt
    switch (e.type) {
      case "product.created": {
        if (e.product.parentId !== null) {
          const parent = products.get(e.product.parentId)
          expect(parent?.variants.map((v) => v.id)).toContain(e.product.id)
        }
        products.set(e.product.id, e.product)
        break
      }
      case "product.updated":
        expect(products.has(e.product.id)).toBe(true)
        products.set(e.product.id, e.product)
        break
      case "order.created":
        expect(orders.has(e.order.id)).toBe(false)
        for (const line of e.order.lineItems) {
          const product = products.get(line.productId)!
          expect(product.status).toBe("active")
          expect(product.variants).toEqual([])
          // Sold at the product's price at that moment.
          expect(line.unitPrice).toBe(product.price.amount)
        }
        orders.set(e.order.id, e.order)
        break
      default: {
        const before = orders.get(e.order.id)!
        expect(e.previousStatus).toBe(before.status)
        // Every change is one the order lifecycle allows, so the HTTP API would accept it too.
        expect(OrderLifecycle.allowedFrom(before.status)).toContain(e.order.status)
        expect({ ...e.order, status: before.status }).toEqual(before)
        orders.set(e.order.id, e.order)
      }
    }
  }
}

describe("plan", () => {
  it.prop(
    "valid, causally ordered events whose recorded totals equal their fold",
    [fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 150 }), fc.integer({ min: 1, max: 40 })],
    ([seed, orders, products]) => {
      const { events, totals } = planOf(seed, orders, products)
      for (const e of events) expect(decodeCommerceEvent(encodeCommerceEvent(e))).toEqual(Either.right(e))
      expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length)
      expect(events.filter((e) => e.type === "product.created").length).toBe(products)
      expect(events.filter((e) => e.type === "order.created").length).toBe(orders)
      checkCausality(events)
      expect(totals).toEqual(fold(events))
    },
    { fastCheck: { numRuns: 40 } }
  )

  it("is realistic: variants, updates, every status, some cancellations with reasons", () => {
    const { events } = planOf(42, 600, 80)
    const types = new Map<string, number>()
    for (const e of events) types.set(e.type, (types.get(e.type) ?? 0) + 1)
    expect(types.get("product.updated")).toBeGreaterThan(0)
    expect(types.get("order.status_changed")).toBeGreaterThan(600)
    expect(types.get("order.cancelled")).toBeGreaterThan(0)
    expect(events.some((e) => e.type === "product.created" && e.product.parentId !== null)).toBe(true)
    const statuses = new Set(events.flatMap((e) => (e.type.startsWith("order.") ? [(e as { order: Order }).order.status] : [])))
    expect([...statuses].sort()).toEqual(["cancelled", "delivered", "fulfilled", "paid", "pending", "refunded", "shipped"])
    expect(events.some((e) => e.type === "order.cancelled" && e.reason !== undefined)).toBe(true)
  })

  it("is deterministic per seed, and different seeds never share an event id", () => {
    expect(planOf(7, 50, 10)).toEqual(planOf(7, 50, 10))
    const ids = new Set(planOf(7, 50, 10).events.map((e) => e.eventId))
    expect(planOf(8, 50, 10).events.some((e) => ids.has(e.eventId))).toBe(false)
  })
})

describe("generate", () => {
  it.effect("paces records to the rate on the clock", () =>
    Effect.gen(function*() {
      const calls: Array<{ readonly at: number; readonly before: number; readonly count: number }> = []
      let written = 0
      const fake: Sync.CommerceSyncApi = {
        streams: { product: "products", orders: "orders" },
        sync: () => Effect.die("unused"),
        trySync: () => Effect.die("unused"),
        putRaw: () => Effect.die("unused"),
        load: Effect.die("unused"),
        flush: Effect.void,
        syncAll: (events) =>
          Effect.map(Clock.currentTimeMillis, (at) => {
            calls.push({ at, before: written, count: events.length })
            written += events.length
            return events.map((e) =>
              Either.right({ eventId: e.eventId, type: e.type, stream: "s", partitionKey: "k", shardId: "shard", sequenceNumber: "1", attempts: 1 })
            )
          })
      }
      const rate = 20
      const fiber = yield* Generate.generate({ orders: 30, products: 5, seed: 1, rate, span: "1 hour" }).pipe(
        Effect.provide(Layer.succeed(Sync.CommerceSync, fake)),
        Effect.fork
      )
      yield* TestClock.adjust("1 hour")
      const { summary } = yield* Fiber.join(fiber)
      expect(summary.sent).toBe(written)
      expect(calls.length).toBeGreaterThan(3)
      // No chunk leaves before the rate allows the records sent ahead of it.
      for (const call of calls) expect(call.at).toBeGreaterThanOrEqual((call.before / rate) * 1_000)
      expect(Math.max(...calls.map((c) => c.count))).toBe(rate / 10)
    }))

  it.effect("refuses options that cannot make traffic", () =>
    Effect.gen(function*() {
      const fake = Layer.succeed(Sync.CommerceSync, {} as Sync.CommerceSyncApi)
      const error = yield* Effect.flip(Generate.generate({ orders: 5, products: 0 }).pipe(Effect.provide(fake)))
      expect(error).toMatchObject({ _tag: "GenerateOptionsError" })
      expect(error.message).toContain("products")
      const rate = yield* Effect.flip(Generate.generate({ orders: 5, products: 1, rate: 0 }).pipe(Effect.provide(fake)))
      expect(rate.message).toContain("rate")
    }))
})

layer(KinesisLocal, { excludeTestServices: true })("generate against a local Kinesis", (it) => {
  it.scoped("every record read back decodes, but the invalid ones, and the events fold to the recorded totals", () =>
    Effect.gen(function*() {
      const streams = { product: uniqueName("products"), orders: uniqueName("orders"), productUpdate: uniqueName("product-updates") }
      for (const name of Object.values(streams)) yield* createStream(name, 2)
      const progress: Array<Generate.Progress> = []
      const generated = yield* Generate.generate({
        orders: 400,
        products: 60,
        invalid: 15,
        seed: 99,
        onProgress: (p) => Effect.sync(() => progress.push(p))
      }).pipe(Effect.provide(Sync.layer({ streams, producer: unpaced })))

      const { events, invalid, summary, totals } = generated
      const records = events.length + invalid.length
      expect(summary).toMatchObject({ events: events.length, invalid: 15, total: records, sent: records, failed: 0 })
      expect(progress.at(-1)).toMatchObject({ total: records, sent: records })

      const perStream = new Map<string, number>()
      for (const e of events) {
        const { stream } = Sync.route(streams, e)
        perStream.set(stream, (perStream.get(stream) ?? 0) + 1)
      }
      perStream.set(streams.orders, perStream.get(streams.orders)! + invalid.length)

      const read: Array<CommerceEvent> = []
      const rejected = new Map<string, string>()
      for (const [stream, count] of perStream) {
        for (const record of yield* readBack(stream, count)) {
          const decoded = decodeCommerceEvent(record.data)
          if (Either.isRight(decoded)) read.push(decoded.right)
          else rejected.set(record.partitionKey, decoded.left._tag)
        }
      }
      expect(read.length).toBe(events.length)
      expect(new Set(read.map((e) => e.eventId))).toEqual(new Set(events.map((e) => e.eventId)))
      expect(fold(read)).toEqual(totals)
      // Each invalid record fails exactly as the corpus says it must.
      expect(rejected).toEqual(new Map(invalid.map((r) => [r.partitionKey, r.expected._tag])))
      expect(new Set(invalid.map((r) => r.name)).size).toBe(15)
    }))
})
