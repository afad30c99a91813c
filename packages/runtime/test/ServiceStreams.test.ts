/**
 * The service over several streams: services of two streams sharing one
 * DynamoDB lease table, one worker consuming two streams, a lease table of the
 * old single-stream format refused, and the checkpoint cadence (by records, by
 * time while idle, and on shutdown). Kinesis and DynamoDB are the in-process
 * emulators, through the real SDK clients.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Leases from "@eddy/core/Leases"
import * as LeaseTableMemory from "@eddy/core/LeaseTableMemory"
import { comparePosition, positionId } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as StreamId from "@eddy/kinesis/StreamId"
import { Kinesalite } from "@eddy/local"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { ConfigProvider, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import * as Service from "../src/Service"
import { encode, expectedItems, memoryServices, mismatches, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

const base = {
  pipelines,
  initialPosition: "TRIM_HORIZON" as const,
  port: 0,
  readLimit: 25,
  pollInterval: Duration.millis(10),
  discoveryInterval: Duration.millis(200),
  gracePeriod: Duration.seconds(10),
  checkpointInterval: Duration.millis(100),
  checkpointRecords: 10_000,
  read: { maxIdleInterval: Duration.millis(50), retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(50))) },
  rereadBackoff: Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(200)))
}

const products = "products"

const orders = (count: number, offset = 0) => sampleOrders(count, { offset, products: 20, customers: 50, intervalMillis: 60_000 })
const orderRecords = (count: number, offset = 0) => orders(count, offset).map((e) => ({ PartitionKey: e.order.id, Data: encode(e) }))

type DynamoState = Effect.Effect.Success<ReturnType<typeof F.dynamoState>>

/** Runs `body` against the emulators with the DynamoDB state built, and the Kinesis client it shares with the services. */
const onDynamo = <A, E>(body: (state: DynamoState & { readonly kinesis: Layer.Layer<Kinesis.Kinesis> }) => Effect.Effect<A, E, Kinesis.Kinesis | DynamoClient.DynamoClient | Scope.Scope>) =>
  F.onEmulators(() =>
    Effect.gen(function*() {
      const state = yield* F.dynamoState("3 seconds")
      return yield* body({ ...state, kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis) })
    })
  )

/** The orders stream and the products stream, with `count` events put on each. */
const twoStreams = (shards: { readonly orders: number; readonly products: number }, count: number) =>
  Effect.gen(function*() {
    yield* F.createStream(F.streamName, shards.orders)
    yield* F.createStream(products, shards.products)
    const a = F.traffic(count, { offset: 0 })
    const b = F.traffic(count, { offset: count })
    const tipsA = yield* F.put(F.streamName, a.records)
    const tipsB = yield* F.put(products, b.records)
    return {
      events: [...a.events, ...b.events],
      bothConsumed: Effect.zipWith(F.consumed(tipsA, F.streamName), F.consumed(tipsB, products), (x, y) => x && y)
    }
  })

describe("Service over several streams", () => {
  it.scopedLive("two streams' services sharing one lease table each read every shard of their own stream, and the aggregates are exact", () =>
    onDynamo(({ kinesis, layer, leases, store }) =>
      Effect.gen(function*() {
        // The same shard ids in both streams: only the stream in the key tells their leases apart.
        const { bothConsumed, events } = yield* twoStreams({ orders: 2, products: 2 }, 80)
        const shared = Layer.succeed(Leases.Leases, leases)
        const orders = yield* F.startService({ ...base, streams: [{ name: F.streamName }], workerId: "orders-1", layer, leases: shared, kinesis })
        const other = yield* F.startService({ ...base, streams: [{ name: products }], workerId: "products-1", layer, leases: shared, kinesis })
        yield* F.until(Effect.provideService(bothConsumed, Leases.Leases, leases), "both streams are checkpointed at their tips")

        const table = yield* leases.list
        expect(table.map((l) => l.leaseKey).sort()).toEqual(
          ["orders:shardId-000000000000", "orders:shardId-000000000001", "products:shardId-000000000000", "products:shardId-000000000001"]
        )
        for (const l of table) expect(l.leaseOwner).toBe(l.leaseKey.startsWith("orders:") ? "orders-1" : "products-1")
        expect((yield* orders.service.status).shards).toEqual(["orders:shardId-000000000000", "orders:shardId-000000000001"])
        expect((yield* other.service.status).shards).toEqual(["products:shardId-000000000000", "products:shardId-000000000001"])
        yield* orders.stop
        yield* other.stop
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
      })
    ))

  it.scopedLive("one worker consumes every stream it is configured for", () =>
    onDynamo(({ kinesis, layer, leases, store }) =>
      Effect.gen(function*() {
        const { bothConsumed, events } = yield* twoStreams({ orders: 2, products: 1 }, 60)
        const settings = yield* Service.settingsConfig({}).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EDDY_STREAMS", `${F.streamName}, ${products}`]])))
        )
        expect(settings.streams).toEqual([{ name: F.streamName }, { name: products }])
        const worker = yield* F.startService({
          ...base,
          streams: settings.streams,
          workerId: "both",
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis
        })
        yield* F.until(Effect.provideService(bothConsumed, Leases.Leases, leases), "both streams are checkpointed at their tips")
        expect((yield* worker.service.status).shards).toEqual([
          "orders:shardId-000000000000",
          "orders:shardId-000000000001",
          "products:shardId-000000000000"
        ])
        yield* worker.stop
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
        for (const l of yield* leases.list) expect(l.leaseOwner).toBeUndefined()
      })
    ))

  it.scopedLive("refuses a lease table in the single-stream format, naming the table and what to do", () =>
    onDynamo(({ kinesis, layer, leases }) =>
      Effect.gen(function*() {
        yield* F.createStream(F.streamName, 1)
        // As an earlier version wrote it: the bare shard id.
        yield* leases.createLeases([{ leaseKey: "shardId-000000000000", checkpoint: { sequenceNumber: "4959", subSequenceNumber: 0 } }])
        const error = yield* Effect.flip(F.startService({
          ...base,
          streams: [{ name: F.streamName }],
          workerId: "w1",
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis
        }))
        expect(error).toBeInstanceOf(StreamId.LegacyLeaseTableError)
        const refused = error as StreamId.LegacyLeaseTableError
        expect(refused.table).toBe(`DynamoDB table ${F.tables.leases}`)
        expect(refused.leaseKeys).toEqual(["shardId-000000000000"])
        expect(refused.message).toContain(`DynamoDB table ${F.tables.leases} holds 1 lease(s) keyed by bare shard ids (shardId-000000000000)`)
        expect(refused.message).toContain("point the service at a new, empty lease table")
        expect(refused.message).toContain(`rewrite each key as "orders:<shardId>"`)
        // Nothing was taken or created.
        expect((yield* leases.list).map((l) => [l.leaseKey, l.leaseOwner])).toEqual([["shardId-000000000000", undefined]])
      })
    ))
})

describe("Service checkpoint cadence", () => {
  const checkpoints = (journal: ReturnType<typeof F.journal>) => journal.events.filter((e) => e._tag === "Checkpoint")
  /** Records whose writes landed. */
  const applied = (journal: ReturnType<typeof F.journal>) =>
    new Set(journal.events.flatMap((e) => e._tag === "Applied" ? [positionId(e.shardId, e.position)] : [])).size

  /** A one-shard stream on kinesalite, and workers over in-memory state whose writes and checkpoints are journaled. */
  const journaled = Effect.gen(function*() {
    const { endpoint } = yield* Kinesalite.start()
    const kinesis = Kinesis.layer({ endpoint })
    yield* F.createStream(F.streamName, 1).pipe(Effect.provide(kinesis))
    const services = memoryServices()
    const journal = F.journal()
    const table = journal.table(yield* LeaseTableMemory.make)
    const leases = yield* Leases.make(table, { failoverTime: "10 seconds" })
    return {
      services,
      journal,
      table,
      put: (records: ReturnType<typeof orderRecords>, after?: Map<string, string>) => F.put(F.streamName, records, after).pipe(Effect.provide(kinesis)),
      consumed: (tips: Map<string, string>) => Effect.provideService(F.consumed(tips), Leases.Leases, leases),
      start: (
        workerId: string,
        cadence: Pick<Service.Settings, "checkpointRecords" | "checkpointInterval" | "flushRecords" | "flushInterval">,
        wrap: (store: Store.Store["Type"]) => Store.Store["Type"] = (store) => store
      ) =>
        F.startService({
          ...base,
          ...cadence,
          streams: [{ name: F.streamName }],
          workerId,
          layer: Layer.merge(Layer.succeed(Store.Store, wrap(journal.store(services.store))), services.rest),
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis
        })
    }
  })

  it.scopedLive("checkpoints once the record count is reached, never past what was written", () =>
    Effect.gen(function*() {
      const { consumed, journal, put, start } = yield* journaled
      const tips = yield* put(orderRecords(200))
      // A record count of two batches; the interval only so that the last records are checkpointed too.
      const worker = yield* start("w1", { checkpointRecords: 50, checkpointInterval: Duration.seconds(2) })
      yield* F.until(consumed(tips), "the shard is checkpointed at its tip")
      yield* worker.stop
      expect(F.violations(journal.events)).toEqual([])
      // 200 records in batches of at most 25: eight or more batches, at most four checkpoints of 50 records and the last ones.
      expect(applied(journal)).toBeGreaterThanOrEqual(200)
      expect(checkpoints(journal).length).toBeGreaterThanOrEqual(1)
      expect(checkpoints(journal).length).toBeLessThanOrEqual(5)
    }))

  it.scopedLive("folds several reads into one store write per item, checkpointing only what those writes landed", () =>
    Effect.gen(function*() {
      /** Per store call, the records it wrote for. */
      const calls: Array<number> = []
      const { consumed, journal, put, services, start } = yield* journaled
      const tips = yield* put(orderRecords(200))
      // Reads of at most 25 records, written together by the hundred; the interval only writes a remainder.
      const worker = yield* start("w1", { checkpointRecords: 10_000, checkpointInterval: Duration.millis(100), flushRecords: 100, flushInterval: Duration.seconds(3) }, (store) =>
        Store.Store.of({
          ...store,
          apply: (writes) =>
            Effect.zipRight(Effect.sync(() => calls.push(new Set(writes.flatMap((w) => w.contributions.map((c) => c.position.sequenceNumber))).size)), store.apply(writes))
        }))
      yield* F.until(consumed(tips), "the shard is checkpointed at its tip")
      yield* worker.stop
      expect(F.violations(journal.events)).toEqual([])
      // 200 records in eight or more reads, written in at most three store calls (two of 100 or more, and a remainder).
      expect(calls.length).toBeGreaterThanOrEqual(2)
      expect(calls.length).toBeLessThanOrEqual(3)
      expect(calls.some((records) => records > 25)).toBe(true)
      expect(yield* mismatches(services.store, expectedItems(orders(200)))).toEqual([])
    }))

  it.scopedLive("an idle shard's last records are checkpointed once the interval passed, and shutdown checkpoints what is written", () =>
    Effect.gen(function*() {
      const { consumed, journal, put, services, start, table } = yield* journaled
      const tips = yield* put(orderRecords(60))
      const idle = yield* start("w1", { checkpointRecords: 1_000_000, checkpointInterval: Duration.seconds(2) })
      // The records arrive in three batches and are written; the idle timer checkpoints them, not each batch.
      yield* F.until(Effect.sync(() => applied(journal) >= 60), "the records are written")
      yield* F.until(consumed(tips), "the idle shard is checkpointed at its tip")
      expect(checkpoints(journal).length).toBeLessThanOrEqual(2)
      yield* idle.stop

      // An interval longer than the test: only shutdown checkpoints.
      const more = yield* put(orderRecords(30, 60), tips)
      const before = applied(journal)
      const slow = yield* start("w2", { checkpointRecords: 1_000_000, checkpointInterval: Duration.hours(1) })
      yield* F.until(Effect.sync(() => applied(journal) >= before + 30), "the new records are written")
      const key = `${F.streamName}:shardId-000000000000`
      const written = (yield* table.get(key))!.checkpoint
      expect(comparePosition(written, { sequenceNumber: more.get("shardId-000000000000")!, subSequenceNumber: 0 })).toBeLessThan(0)
      yield* slow.stop
      const stored = (yield* table.get(key))!
      expect(stored.checkpoint).toEqual({ sequenceNumber: more.get("shardId-000000000000")!, subSequenceNumber: 0 })
      expect(stored.leaseOwner).toBeUndefined()
      expect(F.violations(journal.events)).toEqual([])
      expect(yield* mismatches(services.store, expectedItems([...orders(60), ...orders(30, 60)]))).toEqual([])
    }))
})
