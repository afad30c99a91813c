/**
 * Allowed lateness through the Lambda handler behind a simulated
 * event-source mapping on kinesalite, state in dynalite: kinesalite stamps
 * each record's arrival, so orders whose event time is three hours back
 * arrive after their hour closed (one hour of lateness), and recent ones in time.
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { encodeCommerceEvent, type OrderCreated } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import type * as Emf from "@eddy/runtime/Emf"
import { Writer } from "@eddy/runtime/Emf"
import * as Lambda from "@eddy/runtime/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { CommerceEvents } from "../apps/commerce-analytics/src/pipelines"

const revenueOf = (name: string, window: Window.Window) =>
  Pipeline.make({
    name,
    source: CommerceEvents,
    events: ["order.created"],
    emit: (e) => e.order.lineItems.map((line) => [line.productId, line.quantity * line.unitPrice] as const),
    aggregate: Monoid.sum,
    window
  })

const strict = revenueOf("revenue_hourly_strict", Window.hour({ retention: "1 day", allowedLateness: "1 hour" }))
const lenient = revenueOf("revenue_hourly_lenient", Window.hour({ retention: "1 day", allowedLateness: "1 hour", late: "apply" }))
const daily = revenueOf("revenue_daily", Window.day({ retention: "3 days" }))

/** Revenue per product per bucket of `window`, folded by hand. */
const fold = (orders: ReadonlyArray<OrderCreated>, window: Window.Window) => {
  const sums = new Map<string, { key: string; bucket: string; value: number }>()
  for (const o of orders) {
    const bucket = Window.bucketIdAt(window, Window.bucketStart(window, Date.parse(o.occurredAt)))
    for (const line of o.order.lineItems) {
      const id = `${line.productId}/${bucket}`
      const item = sums.get(id) ?? { key: line.productId, bucket, value: 0 }
      item.value += line.quantity * line.unitPrice
      sums.set(id, item)
    }
  }
  return Array.from(sums.values())
}

describe("lateness on Lambda", () => {
  it.scopedLive("late orders stay out of their closed hour and are dead-lettered once per pipeline, counted in EMF; on-time ones and other windows take everything, across redeliveries", () =>
    Effect.gen(function*() {
      const kinesalite = yield* Kinesalite.start()
      const dynalite = yield* Dynalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint: kinesalite.endpoint }, { orders: 2 })
      const dynamo = DynamoClient.layer({ endpoint: dynalite.endpoint, region: "us-east-1" })
      yield* Tables.ensure({ aggregate: "aggregates", dedup: "dedup" }).pipe(Effect.provide(dynamo))
      const store = yield* DynamoStore.make({ table: "aggregates" }).pipe(Effect.provide(dynamo))

      const now = Date.now()
      // Event times three hours back: their hour ended at least two hours ago and closed at least one ago.
      const late = sampleOrders(60, { seed: 1, products: 15, start: now - 3 * 3_600_000, intervalMillis: 1_000 })
      // Event times two minutes back: their hour (this one, or the last) is open for at least another hour.
      const onTime = sampleOrders(90, { seed: 2, offset: 1_000, products: 15, start: now - 120_000, intervalMillis: 500 })
      for (const o of [...late, ...onTime]) yield* kinesis.putRecord({ StreamName: "orders", PartitionKey: o.order.id, Data: encodeCommerceEvent(o) })

      const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
      const documents: Array<Emf.Document> = []
      const handler = Lambda.handler({
        pipelines: [strict, lenient, daily],
        layer: Layer.mergeAll(
          Layer.succeed(Store.Store, store),
          DynamoDeduper.layer({ table: "dedup", namespace: "orders" }),
          Layer.succeed(Writer, { write: (docs) => Effect.sync(() => void documents.push(...docs)) }),
          Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) })
        ).pipe(Layer.provide(dynamo)),
        chunkSize: 20
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      // Every fourth invocation fails after the handler ran: Lambda redelivers a batch already written.
      let invocations = 0
      const stats = yield* EventSourceMapping.run(async (event, context) => {
        const response = await handler(event, context)
        if (invocations++ % 4 === 1) throw new Error("injected function error after the batch was processed")
        return response
      }, { streamName: "orders", batchSize: 25 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
      expect(stats.functionErrors).toBeGreaterThan(0)

      const stored = (pipeline: Pipeline.Pipeline, items: ReadonlyArray<{ key: string; bucket: string }>) =>
        Effect.map(store.getMany(Monoid.sum, items.map((i) => ({ pipeline: pipeline.name, key: i.key, bucket: i.bucket }))), (values) => values.map(Option.getOrUndefined))
      const hourly = Window.hour({ retention: "1 day" })
      const expectStored = (pipeline: Pipeline.Pipeline, orders: ReadonlyArray<OrderCreated>, window: Window.Window) =>
        Effect.map(stored(pipeline, fold(orders, window)), (values) => expect(values).toEqual(fold(orders, window).map((i) => i.value)))
      // The closed hours hold nothing of the late orders; the lenient pipeline and the daily window took them.
      yield* expectStored(strict, onTime, hourly)
      expect((yield* stored(strict, fold(late, hourly))).every((v) => v === undefined)).toBe(true)
      yield* expectStored(lenient, [...late, ...onTime], hourly)
      yield* expectStored(daily, [...late, ...onTime], Window.day({ retention: "3 days" }))

      // One dead letter per late order, for the strict pipeline only (a redelivered batch may send its own again).
      expect(new Set(deadLetters.map((e) => e.error))).toEqual(new Set(["LateEvent"]))
      expect(new Set(deadLetters.map((e) => e.pipeline))).toEqual(new Set([strict.name]))
      const lateIds = new Set(late.map((o) => o.order.id))
      expect(new Set(deadLetters.map((e) => e.partitionKey))).toEqual(lateIds)
      // EMF: each late order counted by both hourly pipelines, once per delivery; the daily one never.
      const lateMetric = (pipeline: string) =>
        documents.filter((d) => d.dimensions.pipeline === pipeline).reduce((n, d) => n + d.metrics.find((m) => m.name === "LateEvents")!.value, 0)
      expect(lateMetric(strict.name)).toBe(deadLetters.length)
      expect(lateMetric(lenient.name)).toBe(deadLetters.length)
      expect(lateMetric(strict.name)).toBeGreaterThanOrEqual(late.length)
      expect(lateMetric(daily.name)).toBe(0)
    }))
})
