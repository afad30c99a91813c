/**
 * CommerceSync against a local Kinesis through the real SDK: routing (with and
 * without a separate product-update stream) checked by reading the streams
 * back with the Consumer, validation before anything is written, flushing on
 * close, configuration and metrics. The rate limit is in `SyncRateLimit.test.ts`.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { sampleOrders, sampleProducts } from "@eddy/commerce/CommerceArbitrary"
import { type CommerceEvent, decodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import { ConfigProvider, Context, Effect, Either, Exit, Fiber, Layer, Metric, Option, Scope, TestServices } from "effect"
import { Kinesis, type KinesisApi, KinesisUnavailableError } from "@eddy/kinesis/Kinesis"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Changes from "../src/Changes"
import * as Sync from "../src/Sync"
import { createStream, freshStreams, KinesisLocal, readBack, uniqueName, unpaced, until } from "./support/kinesis"

const stamped = Changes.stamp()

/** Products created then updated, orders created, changed and cancelled: every event type. */
const someEvents = Effect.gen(function*() {
  const products = sampleProducts(24, { products: 8, seed: 7 })
  const created = sampleOrders(6, { products: 8, seed: 7 })
  const changed: Array<CommerceEvent> = []
  for (const { order } of created.slice(0, 3)) changed.push(Changes.orderStatusChanged(yield* stamped, order, "paid"))
  for (const { order } of created.slice(3)) changed.push(Changes.orderCancelled(yield* stamped, order, "customer request"))
  return [...products, ...created, ...changed]
})

const decodeAll = (records: ReadonlyArray<{ readonly data: Uint8Array }>) =>
  records.map((r) => Either.getOrThrow(decodeCommerceEvent(r.data)))

const entityId = (e: CommerceEvent) => (e.type.startsWith("product.") ? (e as { product: { id: string } }).product.id : (e as { order: { id: string } }).order.id)

describe("route", () => {
  it.effect("sends products to the product stream, updates to the update stream when there is one, orders to the orders stream", () =>
    Effect.gen(function*() {
      const [created, updated] = [
        sampleProducts(1)[0]!,
        Changes.productUpdated(yield* stamped, sampleProducts(1)[0]!.product)
      ]
      const order = sampleOrders(1)[0]!
      const shared: Sync.Streams = { product: "p", orders: "o" }
      const separate: Sync.Streams = { product: "p", orders: "o", productUpdate: "u" }
      expect(Sync.route(shared, created)).toEqual({ stream: "p", partitionKey: created.product.id })
      expect(Sync.route(shared, updated)).toEqual({ stream: "p", partitionKey: updated.product.id })
      expect(Sync.route(separate, created)).toEqual({ stream: "p", partitionKey: created.product.id })
      expect(Sync.route(separate, updated)).toEqual({ stream: "u", partitionKey: updated.product.id })
      expect(Sync.route(separate, order)).toEqual({ stream: "o", partitionKey: order.order.id })
    }))
})

layer(KinesisLocal, { excludeTestServices: true })("CommerceSync against a local Kinesis", (it) => {
  for (const separate of [false, true]) {
    it.scoped(`every event lands on its stream keyed by its entity id (SEPARATE_SKU_CREATE_UPDATE_STREAM=${separate})`, () =>
      Effect.gen(function*() {
        const streams: Sync.Streams = {
          product: uniqueName("products"),
          orders: uniqueName("orders"),
          ...(separate ? { productUpdate: uniqueName("product-updates") } : {})
        }
        for (const name of Object.values(streams)) yield* createStream(name)
        const sync = yield* Sync.make({ streams, producer: unpaced })
        const events = yield* someEvents
        const outcomes = yield* sync.syncAll(events)

        const expected = new Map<string, Array<CommerceEvent>>()
        events.forEach((event, i) => {
          const synced = Either.getOrThrow(outcomes[i]!)
          const stream = event.type === "product.updated" && separate
            ? streams.productUpdate!
            : event.type.startsWith("product.") ? streams.product : streams.orders
          expect(synced).toMatchObject({ eventId: event.eventId, type: event.type, stream, partitionKey: entityId(event) })
          expected.set(stream, [...(expected.get(stream) ?? []), event])
        })
        expect([...expected.keys()].sort()).toEqual(Object.values(streams).sort())

        for (const [stream, sent] of expected) {
          const records = yield* readBack(stream, sent.length)
          const read = decodeAll(records)
          expect(read.map((e) => e.eventId).sort()).toEqual(sent.map((e) => e.eventId).sort())
          for (let i = 0; i < records.length; i++) expect(records[i]!.partitionKey).toBe(entityId(read[i]!))
          // The events come back as they were sent: the wire format round-trips.
          const byId = new Map(sent.map((e) => [e.eventId, e]))
          for (const e of read) expect(e).toEqual(byId.get(e.eventId))
        }
        if (separate) {
          expect(decodeAll(yield* readBack(streams.productUpdate!, expected.get(streams.productUpdate!)!.length)).every((e) => e.type === "product.updated")).toBe(true)
          expect(decodeAll(yield* readBack(streams.product, expected.get(streams.product)!.length)).every((e) => e.type === "product.created")).toBe(true)
        }
      }))
  }

  it.scoped("refuses an event that breaks the contract before writing any of the call's events", () =>
    Effect.gen(function*() {
      const streams = yield* freshStreams()
      const sync = yield* Sync.make({ streams, producer: unpaced })
      const [good, bad] = sampleOrders(2, { seed: 3 })
      const wrongSum = { ...bad!, order: { ...bad!.order, subtotal: bad!.order.subtotal + 1 } }

      const refused = yield* Effect.flip(sync.syncAll([good!, wrongSum]))
      expect(refused).toMatchObject({ _tag: "InvalidEventError", path: "order.subtotal" })
      const badCurrency = yield* Effect.flip(sync.sync({ ...good!, order: { ...good!.order, currency: "eur" } }))
      expect(badCurrency).toMatchObject({ _tag: "InvalidEventError", path: "order.currency" })
      const longId = "o".repeat(300)
      const unkeyable = yield* Effect.flip(sync.sync({ ...good!, order: { ...good!.order, id: longId } }))
      expect(unkeyable).toMatchObject({ _tag: "InvalidEventError", path: "order.id" })
      // Kinesis counts UTF-16 code units, as the Producer does: 200 emoji are 400 of them.
      const astral = yield* Effect.flip(sync.sync({ ...good!, order: { ...good!.order, id: "\u{1F600}".repeat(200) } }))
      expect(astral).toMatchObject({ _tag: "InvalidEventError", path: "order.id" })

      // Only the event written afterwards is on the stream.
      const after = sampleOrders(1, { seed: 4 })[0]!
      yield* sync.sync(after)
      const records = yield* readBack(streams.orders, 1)
      expect(decodeAll(records).map((e) => e.eventId)).toEqual([after.eventId])
    }))

  it.scoped("closing the scope writes what the producers still hold, and the waiting sync succeeds", () =>
    Effect.gen(function*() {
      const streams = yield* freshStreams()
      const scope = yield* Scope.make()
      // A batch would wait an hour to fill: only the close sends it.
      const sync = yield* Sync.make({ streams, producer: { ...unpaced, linger: "1 hour" } }).pipe(Scope.extend(scope))
      const event = sampleOrders(1, { seed: 9 })[0]!
      const waiting = yield* Effect.fork(sync.sync(event))
      yield* until(Effect.map(sync.load, (l) => l.queued === 1), "the producer holds the event")
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)

      yield* Scope.close(scope, Exit.void)
      const synced = yield* Fiber.join(waiting)
      expect(synced.eventId).toBe(event.eventId)
      expect(decodeAll(yield* readBack(streams.orders, 1))[0]!.eventId).toBe(event.eventId)
    }))

  it.scoped("counts synced events by type and records the write lag", () =>
    Effect.gen(function*() {
      const streams = yield* freshStreams()
      const sync = yield* Sync.make({ streams, producer: unpaced })
      const synced = Metric.tagged(Sync.metrics.eventsSynced, "type", "order.created")
      const lag = Metric.tagged(Sync.metrics.writeLag, "stream", streams.orders)
      const before = (yield* Metric.value(synced)).count
      yield* sync.syncAll(sampleOrders(5, { seed: 11 }))
      expect((yield* Metric.value(synced)).count - before).toBe(5)
      const histogram = yield* Metric.value(lag)
      expect(histogram.count).toBe(5)
      // Sample orders happened in 2026-11-21, so each lag is the time since then: positive.
      expect(histogram.min).toBeGreaterThan(0)
    }))
})

describe("config", () => {
  const read = (env: Record<string, string>) =>
    Effect.either(Effect.withConfigProvider(Sync.config, ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.effect("reads the streams and the rate limit from the environment", () =>
    Effect.gen(function*() {
      const base = { KINESIS_PRODUCT_STREAM: "products", KINESIS_ORDERS_STREAM: "orders" }
      expect(yield* read(base)).toEqual(Either.right({ streams: { product: "products", orders: "orders" } }))
      expect(yield* read({ ...base, KINESIS_PRODUCT_UPDATE_STREAM: "updates" })).toEqual(
        Either.right({ streams: { product: "products", orders: "orders" } })
      )
      expect(
        yield* read({ ...base, SEPARATE_SKU_CREATE_UPDATE_STREAM: "true", KINESIS_PRODUCT_UPDATE_STREAM: "updates", KINESIS_INSERT_RATE_LIMIT: "50/s" })
      ).toEqual(Either.right({ streams: { product: "products", orders: "orders", productUpdate: "updates" }, rateLimit: { records: 50, per: "s" } }))
    }))

  it.effect("names the variable that is missing or wrong", () =>
    Effect.gen(function*() {
      const base = { KINESIS_PRODUCT_STREAM: "products", KINESIS_ORDERS_STREAM: "orders" }
      const missingUpdate = yield* read({ ...base, SEPARATE_SKU_CREATE_UPDATE_STREAM: "true" })
      expect(String(Either.getLeft(missingUpdate).pipe(Option.getOrThrow))).toContain("KINESIS_PRODUCT_UPDATE_STREAM")
      const badLimit = yield* read({ ...base, KINESIS_INSERT_RATE_LIMIT: "fast" })
      expect(String(Either.getLeft(badLimit).pipe(Option.getOrThrow))).toContain("KINESIS_INSERT_RATE_LIMIT")
      const noOrders = yield* read({ KINESIS_PRODUCT_STREAM: "products" })
      expect(String(Either.getLeft(noOrders).pipe(Option.getOrThrow))).toContain("KINESIS_ORDERS_STREAM")
    }))

  it.scoped("layerConfig builds the service from the environment", () =>
    Effect.gen(function*() {
      const { orders, product } = yield* freshStreams()
      const env = ConfigProvider.fromMap(new Map([["KINESIS_PRODUCT_STREAM", product], ["KINESIS_ORDERS_STREAM", orders]]))
      const sync = yield* Effect.provide(Sync.CommerceSync, Sync.layerConfig({ producer: unpaced }).pipe(Layer.provide(Layer.setConfigProvider(env))))
      expect(sync.streams).toEqual({ product, orders })
    }).pipe(Effect.provide(KinesisLocal), TestServices.provideLive))

  it.scoped("with COMMERCE_SYNC_WAL_DIR, an event taken but not yet written when the service stopped is sent by its next start", () =>
    Effect.gen(function*() {
      const { orders, product } = yield* freshStreams()
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "commerce-sync-wal-"))),
        (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
      )
      const env = ConfigProvider.fromMap(
        new Map([["KINESIS_PRODUCT_STREAM", product], ["KINESIS_ORDERS_STREAM", orders], ["COMMERCE_SYNC_WAL_DIR", dir]])
      )
      const real = yield* Kinesis
      const down: KinesisApi = {
        ...real,
        putRecords: () => Effect.fail(new KinesisUnavailableError({ operation: "PutRecords", message: "Kinesis is down (injected)" }))
      }
      const event = sampleOrders(1, { seed: 11 })[0]!
      const service = (kinesis: KinesisApi) =>
        Sync.layerConfig({ producer: { ...unpaced, closeTimeout: 0 } }).pipe(
          Layer.provide(Layer.setConfigProvider(env)),
          Layer.provide(Layer.succeed(Kinesis, kinesis))
        )

      const scope = yield* Scope.make()
      const first = Context.get(yield* Layer.build(service(down)).pipe(Scope.extend(scope)), Sync.CommerceSync)
      const waiting = yield* Effect.fork(first.sync(event))
      yield* until(Effect.map(first.load, (l) => l.queued === 1), "the producer holds the event")
      yield* Scope.close(scope, Exit.void)
      const failed = yield* Effect.flip(Fiber.join(waiting))
      expect(failed._tag).toBe("WriteFailedError")
      // A log per stream; only the orders stream's holds a record.
      expect(fs.readdirSync(dir).sort()).toEqual([orders, product].sort())
      expect(fs.readdirSync(path.join(dir, orders)).filter((f) => f.endsWith(".wal")).length).toBe(1)
      expect(fs.readdirSync(path.join(dir, product)).filter((f) => f.endsWith(".wal"))).toEqual([])

      const second = Context.get(yield* Layer.build(service(real)), Sync.CommerceSync)
      yield* second.flush
      const sent = decodeAll(yield* readBack(orders, 1))
      expect(sent.map((e) => e.eventId)).toEqual([event.eventId])
    }).pipe(Effect.provide(KinesisLocal), TestServices.provideLive))
})
