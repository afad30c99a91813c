import { invalidCommerceRecords, sampleOrders, sampleProducts } from "@eddy/commerce/CommerceArbitrary"
import * as Random from "@eddy/core/Random"
import type { CommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as Faults from "@eddy/testing/Faults"
import * as Monoid from "@eddy/core/Monoid"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Kpl from "@eddy/kinesis/Kpl"
import { Kinesalite } from "@eddy/local"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { cancelled, encode, expectedItems, memoryServices, mismatches, pipelines, positionOf, statusChanged } from "./LambdaFixtures"

const quietMetrics = Layer.succeed(Emf.Writer, { write: () => Effect.void })

/** One Kinesis record to put; `poison` when it must end in the dead-letter sink. */
interface Put {
  readonly partitionKey: string
  readonly data: Uint8Array
  readonly poison?: string
}

const byName = (name: string) => invalidCommerceRecords.find((r) => r.name === name)!.data

/** Puts in order, a PutRecords call per run of small records; returns `shardId/sequenceNumber` per put. */
const putAll = (kinesis: Kinesis.KinesisApi, streamName: string, puts: ReadonlyArray<Put>) =>
  Effect.gen(function*() {
    const positions: Array<{ shardId: string; sequenceNumber: string }> = []
    let i = 0
    while (i < puts.length) {
      const batch: Array<Put> = []
      let bytes = 0
      while (i < puts.length && batch.length < 100 && (batch.length === 0 || bytes + puts[i]!.data.length < 4_000_000)) {
        bytes += puts[i]!.data.length
        batch.push(puts[i++]!)
      }
      const out = yield* kinesis.putRecords({ StreamName: streamName, Records: batch.map((p) => ({ PartitionKey: p.partitionKey, Data: p.data })) })
      expect(out.FailedRecordCount ?? 0).toBe(0)
      for (const r of out.Records!) positions.push({ shardId: r.ShardId!, sequenceNumber: r.SequenceNumber! })
    }
    return positions
  })

describe("Lambda behind a simulated event-source mapping", () => {
  it.scopedLive(
    "ends with the store equal to the fold of the distinct valid events, every poison record dead-lettered once, and no shard blocked",
    () =>
      Effect.gen(function*() {
        const { endpoint } = yield* Kinesalite.start()
        const kinesis = yield* Kinesis.make({ endpoint })
        yield* kinesis.createStream({ StreamName: "commerce", ShardCount: 4 })
        const next = Random.seeded(7)

        // Valid events: orders over three days, status changes and cancellations, product updates.
        const created = sampleOrders(480, { products: 120, customers: 400, intervalMillis: 9 * 60_000 })
        const changes = created.filter((_, i) => i % 4 === 0).map((o, i) => (i % 3 === 0 ? cancelled(o, `evt-x-${i}`, 30) : statusChanged(o, `evt-s-${i}`, "paid", 10)))
        const products = sampleProducts(150, { products: 120 })
        const valid: Array<CommerceEvent> = [...created, ...changes, ...products]
        const keyOf = (e: CommerceEvent) => ("order" in e ? e.order.id : e.product.id)
        const puts: Array<Put> = valid.filter((e) => e.type !== "product.updated").map((e) => ({ partitionKey: keyOf(e), data: encode(e) }))
        // Product updates travel KPL-aggregated, three to a record.
        const updates = products.filter((e) => e.type === "product.updated")
        for (let i = 0; i < updates.length; i += 3) {
          const users = updates.slice(i, i + 3).map((e) => ({ partitionKey: keyOf(e), data: encode(e) }))
          puts.push({ partitionKey: users[0]!.partitionKey, data: Kpl.aggregate(users) })
        }
        // Producer retries: the same event again, later in the stream.
        for (let i = 0; i < 60; i++) {
          const e = valid[Math.floor(next() * valid.length)]!
          if (e.type !== "product.updated") puts.push({ partitionKey: keyOf(e), data: encode(e) })
        }
        // Poison: invalid JSON, not UTF-8, wrong sums, unknown type, oversized, a corrupt aggregate.
        const corrupt = Kpl.aggregate(updates.slice(0, 2).map((e) => ({ partitionKey: keyOf(e), data: encode(e) })))
        corrupt[10]! ^= 0x55
        const poison: Array<[string, Uint8Array]> = [
          ...["truncated JSON", "plain text", "JSON array", "not UTF-8", "UTF-16 encoded", "subtotal wrong", "total wrong", "discountTotal over subtotal", "unknown type", "schemaVersion 3", "lineItems empty", "quantity 0"]
            .map((name): [string, Uint8Array] => [name, byName(name)]),
          ["oversized", new TextEncoder().encode("x".repeat(900_000))],
          ["corrupt aggregate", corrupt]
        ]
        for (const [name, data] of [...poison, ...poison.slice(0, 6)]) puts.push({ partitionKey: `poison-${Math.floor(next() * 1e9)}`, data, poison: name })
        // Shuffle: order within a key does not matter to commutative aggregates.
        for (let i = puts.length - 1; i > 0; i--) {
          const j = Math.floor(next() * (i + 1))
          ;[puts[i], puts[j]] = [puts[j]!, puts[i]!]
        }
        const positions = yield* putAll(kinesis, "commerce", puts)
        const poisonPositions = puts.flatMap((p, i) => (p.poison === undefined ? [] : [`${positions[i]!.shardId}/${positions[i]!.sequenceNumber}/0`]))

        // Store and dedup calls fail at random (retried once by the processor, then redelivered); some invocations throw.
        const services = memoryServices()
        const faultAt = Random.seeded(11)
        const storeFaults = Faults.store((call): Faults.Fault | undefined => {
          const x = faultAt()
          if (call > 400 || x > 0.3) return undefined
          return x < 0.1 ? { _tag: "Fail" } : x < 0.2 ? { _tag: "FailAfter", done: 1 } : { _tag: "Reject", rejected: [0, 2] }
        })
        const deduperFaults = Faults.deduper((call): Faults.Fault | undefined => {
          const x = faultAt()
          return call > 400 || x > 0.1 ? undefined : x < 0.05 ? { _tag: "Fail" } : { _tag: "FailAfter", done: 3 }
        })
        const handler = Lambda.handler({
          pipelines,
          layer: Layer.mergeAll(
            storeFaults.pipe(Layer.provide(services.storeLayer)),
            deduperFaults.pipe(Layer.provide(services.deduperLayer)),
            services.deadLetterLayer,
            quietMetrics
          ),
          retry: Schedule.recurs(1),
          chunkSize: 10
        })
        yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
        let invocations = 0
        const crashing: EventSourceMapping.Handler = (event, context) =>
          invocations++ % 9 === 4 ? Promise.reject(new Error("injected function error")) : handler(event, context)

        const stats = yield* EventSourceMapping.run(crashing, {
          streamName: "commerce",
          batchSize: 25,
          bisectBatchOnFunctionError: true,
          maxInvocations: 3_000
        }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

        // No shard was blocked: every checkpoint reached its shard's last record, nothing was given up.
        expect(stats.shards).toHaveLength(4)
        for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
        expect(stats.shards.reduce((n, s) => n + s.records, 0)).toBe(puts.length)
        expect(stats.onFailure).toEqual([])
        // The faults were real: batches were redelivered and bisected.
        expect(stats.retries).toBeGreaterThan(0)
        expect(stats.bisects).toBeGreaterThan(0)

        // The store holds exactly the fold of the distinct valid events.
        expect(yield* mismatches(services.store, expectedItems(valid))).toEqual([])
        // ...and nothing of the poison orders, whose product p-1002 no valid event has.
        const [poisoned] = yield* services.store.getMany(Monoid.sum, [{ pipeline: "revenue_by_product_hourly", key: "p-1002", bucket: "2026-11-21T10Z" }])
        expect(Option.isNone(poisoned!)).toBe(true)

        // Every poison record is in the sink exactly once, with its payload and source.
        const sent = services.deadLetters.map(positionOf)
        expect([...sent].sort()).toEqual([...poisonPositions].sort())
        expect(new Set(sent).size).toBe(sent.length)
        const oversized = services.deadLetters.find((e) => e.payload.length === 900_000)
        expect(oversized?.error).toBe("NotJsonError")
        expect(services.deadLetters.every((e) => e.source?.endsWith(":stream/commerce"))).toBe(true)
      })
  )

  it.scopedLive("in strict-order mode holds a shard at its poison record until MaximumRetryAttempts give the batch to the on-failure destination", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Kinesis.make({ endpoint })
      yield* kinesis.createStream({ StreamName: "strict", ShardCount: 1 })
      const events = sampleOrders(20, { products: 10 })
      const datas = events.map(encode)
      datas.splice(8, 0, byName("total wrong"))
      const positions = yield* putAll(kinesis, "strict", datas.map((data, i) => ({ partitionKey: `k-${i}`, data })))

      const services = memoryServices()
      const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics), strictOrder: true })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const stats = yield* EventSourceMapping.run(handler, { streamName: "strict", batchSize: 5, maximumRetryAttempts: 2 }).pipe(
        Effect.provideService(Kinesis.Kinesis, kinesis)
      )
      // Batches [0..4], then [5..9] fails at the poison (8); [8..12] fails twice more, and is given up.
      expect(stats.onFailure).toHaveLength(1)
      expect(stats.onFailure[0]!.KinesisBatchInfo).toMatchObject({
        startSequenceNumber: positions[8]!.sequenceNumber,
        endSequenceNumber: positions[12]!.sequenceNumber,
        batchSize: 5
      })
      expect(stats.onFailure[0]!.approximateInvokeCount).toBe(3)
      expect(stats.shards[0]!.checkpoint).toBe(positions[20]!.sequenceNumber)
      expect(services.deadLetters).toEqual([])
      // Lost with the given-up batch: the poison and events 8 to 11. Everything else is applied once.
      expect(yield* mismatches(services.store, expectedItems(events.filter((_, i) => i < 8 || i > 11)))).toEqual([])
    }))
})
