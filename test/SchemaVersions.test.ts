/**
 * Commerce events of schema versions 1 and 2 side by side: version 1 upcast
 * aggregates exactly as the same events written natively in version 2, and
 * an unknown version follows the chosen policy, through the Lambda handler
 * behind a simulated event-source mapping on kinesalite, state in dynalite.
 */
import { arbitraryVersion1Expressible, asVersion1, sampleOrders, sampleProducts } from "@eddy/commerce/CommerceArbitrary"
import { type CommerceEvent, encodeCommerceEvent, encodeCommerceEventV1 } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import * as Random from "@eddy/core/Random"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as Emf from "@eddy/runtime/Emf"
import * as Lambda from "@eddy/runtime/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer, Option } from "effect"
import { CommerceEvents } from "../apps/commerce-analytics/src/pipelines"
import { cancelled, expectedItems, mismatches, pipelines, statusChanged } from "../packages/runtime/test/LambdaFixtures"

/** Discounts per kind per day: the one aggregate that reads what version 2 changed. */
const discountsByKindDaily = Pipeline.make({
  name: "discounts_by_kind_daily",
  source: CommerceEvents,
  events: ["order.created"],
  emit: (e) => e.order.discounts.map((d) => [d.kind, d.amount] as const),
  aggregate: Monoid.sum,
  window: Window.day({ retention: "30 days" })
})

const all = [...pipelines, discountsByKindDaily]

/** The wire form of `event` in version 1 when `old`, else in version 2. */
const wire = (event: CommerceEvent, old: boolean): Uint8Array => old ? encodeCommerceEventV1(asVersion1(event)!) : encodeCommerceEvent(event)

const recordsOf = (datas: ReadonlyArray<Uint8Array>): Array<SourceRecord> =>
  datas.map((data, i) => ({ data, partitionKey: "k", shardId: "shardId-000000000000", sequenceNumber: String(1000 + i), subSequenceNumber: 0, arrivalTime: 0 }))

/** Every item of every pipeline the events touch, as stored after processing `datas`. */
const storedAfter = (datas: ReadonlyArray<Uint8Array>, events: ReadonlyArray<CommerceEvent>) =>
  Effect.gen(function*() {
    const processor = yield* Processor.Processor
    const result = yield* processor.process(recordsOf(datas))
    expect(result.counts.applied + result.counts.duplicate).toBe(datas.length)
    // Through the spreading every reader uses: the memory store holds the hot keys as sub-items.
    const store = Store.spread(yield* Store.Store, all)
    const refs = events.flatMap((e) =>
      all.flatMap((p) => {
        if (!p.events.has(e.type)) return []
        const keys: Array<string> = []
        p.run(e, (key) => keys.push(key))
        const bucket = Window.bucketIdAt(p.window, Window.bucketStart(p.window, p.source.eventTime(e)))
        return keys.map((key) => ({ pipeline: p.name, key, bucket, monoid: p.aggregate as Monoid.Monoid<unknown> }))
      })
    )
    const values = yield* Effect.forEach(refs, (ref) =>
      Effect.map(store.getMany(ref.monoid, [ref]), ([v]) => [Store.itemId(ref), Option.match(v!, { onNone: () => null, onSome: (a) => ref.monoid.encode(a) })] as const))
    return new Map(values)
  }).pipe(Effect.provide(Processor.layer({ pipelines: all }).pipe(Layer.provideMerge(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory)))))

describe("schema versions 1 and 2", () => {
  it.effect.prop(
    "upcast version 1 events aggregate exactly as the same events in version 2, in any mix",
    // Distinct event ids: two events sharing one are an id conflict (dead-lettered), not what this compares; a shrunk counterexample would end there.
    [fc.uniqueArray(fc.tuple(arbitraryVersion1Expressible, fc.boolean()), { minLength: 1, maxLength: 40, selector: ([e]) => e.eventId })],
    ([events]) =>
      Effect.gen(function*() {
        const native = yield* storedAfter(events.map(([e]) => wire(e, false)), events.map(([e]) => e))
        const mixed = yield* storedAfter(events.map(([e, old]) => wire(e, old)), events.map(([e]) => e))
        const upcast = yield* storedAfter(events.map(([e]) => wire(e, true)), events.map(([e]) => e))
        expect(mixed).toStrictEqual(native)
        expect(upcast).toStrictEqual(native)
        expect(Array.from(native.values()).every((v) => v !== null)).toBe(true)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  const quietMetrics = Layer.succeed(Emf.Writer, { write: () => Effect.void })

  /** Orders, their status changes and product events, each written in version 1 or 2 at random. */
  const history = (seed: number) => {
    const created = sampleOrders(160, { seed, products: 40, customers: 100, intervalMillis: 7 * 60_000 })
    const changes = created.filter((_, i) => i % 3 === 0).map((o, i) => (i % 2 === 0 ? cancelled(o, `evt-x-${seed}-${i}`, 30) : statusChanged(o, `evt-s-${seed}-${i}`, "paid", 10)))
    const products = sampleProducts(60, { seed, products: 40 })
    const events: Array<CommerceEvent> = [...created, ...changes, ...products]
    const next = Random.seeded(seed)
    return events.map((event) => ({ event, data: wire(event, next() < 0.5), key: "order" in event ? event.order.id : event.product.id }))
  }
  const v3 = (eventId: string) => new TextEncoder().encode(JSON.stringify({ schemaVersion: 3, type: "order.created", eventId, occurredAt: "2026-11-21T10:00:00Z", order: {} }))

  /** kinesalite, dynalite with the aggregate and dedup tables, and the Lambda handler over them. */
  const setup = (streamName: string, shards: number, options: Pick<Lambda.Options, "unknownVersion" | "strictOrder">) =>
    Effect.gen(function*() {
      const kinesalite = yield* Kinesalite.start()
      const dynalite = yield* Dynalite.start()
      const kinesis = yield* Kinesis.make({ endpoint: kinesalite.endpoint })
      yield* kinesis.createStream({ StreamName: streamName, ShardCount: shards })
      const dynamo = DynamoClient.layer({ endpoint: dynalite.endpoint, region: "us-east-1" })
      yield* Tables.ensure({ aggregate: "aggregates", dedup: "dedup" }).pipe(Effect.provide(dynamo))
      const store = yield* DynamoStore.make({ table: "aggregates" }).pipe(Effect.provide(dynamo))
      const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
      const handler = Lambda.handler({
        pipelines,
        layer: Layer.mergeAll(
          Layer.succeed(Store.Store, store),
          DynamoDeduper.layer({ table: "dedup", namespace: "commerce" }),
          Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) }),
          quietMetrics
        ).pipe(Layer.provide(dynamo)),
        chunkSize: 50,
        ...options
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const put = (records: ReadonlyArray<{ readonly key: string; readonly data: Uint8Array }>) =>
        Effect.forEach(records, (r) => Effect.map(kinesis.putRecord({ StreamName: streamName, PartitionKey: r.key, Data: r.data }), (out) => out.SequenceNumber!))
      const mapping = (options: Omit<EventSourceMapping.Options, "streamName">) =>
        EventSourceMapping.run(handler, { streamName, ...options }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      return { put, mapping, store, deadLetters }
    })

  it.scopedLive("on Lambda, both versions aggregate in DynamoDB as their fold, and an unknown version is dead-lettered with what to do", () =>
    Effect.gen(function*() {
      const { deadLetters, mapping, put, store } = yield* setup("commerce", 2, {})
      const records = history(3)
      // Two records of a version 3 producer that rolled out first, in the middle of the stream.
      const unknown = [{ key: "o-new-1", data: v3("evt-v3-1") }, { key: "o-new-2", data: v3("evt-v3-2") }]
      yield* put([...records.slice(0, 100), ...unknown, ...records.slice(100)])
      const stats = yield* mapping({ batchSize: 40 })
      for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
      expect(yield* mismatches(store, expectedItems(records.map((r) => r.event)))).toEqual([])
      expect(deadLetters.map((e) => [e.error, e.partitionKey])).toEqual(expect.arrayContaining([["UnknownSchemaVersionError", "o-new-1"], ["UnknownSchemaVersionError", "o-new-2"]]))
      expect(deadLetters).toHaveLength(2)
      expect(deadLetters[0]!.reason).toMatch(/^schemaVersion is 3, but this consumer reads only version 1, 2; deploy a consumer that knows version 3/)
    }))

  it.scopedLive("on Lambda with EDDY_UNKNOWN_VERSION=block, the shard holds at the unknown version: nothing after it is written, nothing dead-lettered", () =>
    Effect.gen(function*() {
      const { deadLetters, mapping, put, store } = yield* setup("commerce", 1, { unknownVersion: "block" })
      const records = history(5)
      const before = records.slice(0, 120)
      // Fewer than a batch after it: the batch that starts at the unknown record holds all of them.
      const after = records.slice(120, 160)
      const sequenceNumbers = yield* put([...before, { key: "o-new", data: v3("evt-v3") }, ...after])
      const stats = yield* mapping({ batchSize: 50, maximumRetryAttempts: 2 })
      // Lambda redelivered from the unknown record until its attempts ran out, then gave that batch up.
      expect(stats.onFailure).toHaveLength(1)
      expect(stats.onFailure[0]!.KinesisBatchInfo.startSequenceNumber).toBe(sequenceNumbers[120])
      expect(stats.onFailure[0]!.KinesisBatchInfo.batchSize).toBe(1 + after.length)
      expect(stats.retries).toBe(2)
      expect(deadLetters).toEqual([])
      // Exactly the events before it are aggregated; none after it.
      expect(yield* mismatches(store, expectedItems(before.map((r) => r.event)))).toEqual([])
      const touchedBefore = new Set(expectedItems(before.map((r) => r.event)).map((b) => Store.itemId(b.ref)))
      const afterOnly = expectedItems(after.map((r) => r.event)).filter((item) => !touchedBefore.has(Store.itemId(item.ref)))
      expect(afterOnly.length).toBeGreaterThan(0)
      expect((yield* mismatches(store, afterOnly)).every((m) => m.endsWith("missing"))).toBe(true)
    }))
})
