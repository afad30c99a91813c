/**
 * Final values with several workers and across restarts, on kinesalite
 * through the real SDK client, with the store and the lease table on dynalite
 * or on a real Redis server: a bucket is reported
 * only once every shard of the stream, whichever worker holds it, is past its
 * close, by the clocks the workers publish in the lease table; and a worker
 * that takes over a shard reports the keys written before it took over, from
 * the keys recorded in the store before each checkpoint.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as FinalValue from "@eddy/core/FinalValue"
import * as Leases from "@eddy/core/Leases"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Kinesis, layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import * as RedisClient from "@eddy/redis/RedisClient"
import * as RedisDeduper from "@eddy/redis/RedisDeduper"
import * as RedisLeases from "@eddy/redis/RedisLeases"
import * as RedisStore from "@eddy/redis/RedisStore"
import { Effect, Layer, Schedule, type Scope } from "effect"
import { type Sale, Sales } from "../../core/test/fixtures"
import * as RedisServer from "../../redis/test/support/RedisServer"
import * as F from "./fixtures/ServiceFixtures"

const utf8 = new TextEncoder()
/** Shard 0 of a two-shard stream takes the lower half of the hash range, shard 1 the upper. */
const toShard = (shard: 0 | 1, s: Sale) => ({
  PartitionKey: s.item,
  ExplicitHashKey: shard === 0 ? "1" : (2n ** 127n + 1n).toString(),
  Data: utf8.encode(JSON.stringify(s))
})

/** A minute bucket two minutes back whose lateness ends `closesIn` from now, and a pipeline summing sales into it. */
const setup = (name: string, closesIn: number) => {
  const now = Date.now()
  const start = Window.bucketStart(Window.minute({ retention: "1 day" }), now - 120_000)
  const lateness = Math.ceil((now + closesIn - (start + 60_000)) / 1000)
  const window = Window.minute({ retention: "1 day", allowedLateness: `${lateness} seconds` })
  const pipeline = Pipeline.make({ name, source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => e.amount, aggregate: Monoid.sum, window })
  const sale = (eventId: string, item: string, amount: number): Sale => ({ type: "sale", eventId, item, amount, at: start + 1_000 })
  return { pipeline, sale, closesAt: Window.closesAt(window, start)!, bucket: Window.bucketIdAt(window, start) }
}

/** What the workers need, around the test's store: `hold` fails every write of the shard named while it is set. */
const cluster = (pipeline: Pipeline.Pipeline) =>
  Effect.gen(function*() {
    const received: Array<{ readonly final: FinalValue.FinalValue; readonly at: number }> = []
    const sink = FinalValue.callback((final) => Effect.sync(() => void received.push({ final, at: Date.now() })))
    const store = yield* Store.Store
    const held = { shard: undefined as string | undefined }
    const holding: Store.Service = {
      ...store,
      apply: (writes) =>
        held.shard !== undefined && writes.some((w) => w.shardId.endsWith(`/${held.shard}`))
          ? Effect.fail(new Store.StoreUnavailableError({ message: `writes of ${held.shard} held back by the test` }))
          : store.apply(writes)
    }
    const layer = Layer.mergeAll(
      Layer.succeed(Store.Store, holding),
      Layer.succeed(Deduper.Deduper, yield* Deduper.Deduper),
      Layer.succeed(DeadLetter.DeadLetter, yield* DeadLetter.DeadLetter)
    )
    const kinesis = Layer.succeed(Kinesis, yield* Kinesis)
    const leases = yield* Leases.Leases
    const worker = (workerId: string) =>
      F.startService({
        pipelines: [pipeline],
        layer,
        kinesis,
        leases: Layer.succeed(Leases.Leases, leases),
        finalValues: sink,
        ...F.finalValueWorker,
        workerId,
        retry: Schedule.recurs(1),
        rereadBackoff: Schedule.spaced("200 millis")
      })
    return { received, held, worker, leases }
  })

/** Where the store, deduper and lease table live. */
interface Backend {
  readonly name: string
  /** Kinesis, the store, the deduper and the leases (failover in 2 seconds), made ready for a test. */
  readonly state: (endpoints: F.Endpoints) => Effect.Effect<Layer.Layer<Kinesis | Store.Store | Deduper.Deduper | Leases.Leases>, unknown, Scope.Scope>
}

const backends: ReadonlyArray<Backend> = [
  {
    name: "DynamoDB",
    state: (endpoints) =>
      Effect.gen(function*() {
        const layer = F.durable(endpoints, { failoverTime: "2 seconds" })
        yield* F.ensureTables.pipe(Effect.provide(layer))
        return layer
      })
  },
  {
    name: "Redis",
    state: (endpoints) =>
      Effect.gen(function*() {
        const server = yield* RedisServer.start({ persist: false })
        const client = Layer.succeed(RedisClient.RedisClient, yield* RedisClient.make({ url: server.url }))
        return Layer.mergeAll(
          kinesisLayer({ endpoint: endpoints.kinesis }),
          RedisStore.layer({ namespace: "eddy:aggregates:finals" }),
          RedisDeduper.layer({ namespace: "eddy:dedup:finals" }),
          RedisLeases.layer({ namespace: "finals", failoverTime: "2 seconds" })
        ).pipe(Layer.provide(client))
      })
  }
]

const finals = (received: ReadonlyArray<{ readonly final: FinalValue.FinalValue }>) => received.map((r) => [r.final.key, r.final.readable]).sort()

describe.each(backends)("Service final values across workers and restarts ($name)", (backend) => {
  it.scopedLive("waits for a lagging shard held by another worker, then sends every key of the bucket once", () =>
    Effect.gen(function*() {
      const { bucket, closesAt, pipeline, sale } = setup("revenue_cluster", 6_000)
      const endpoints = yield* F.emulators
      const state = yield* backend.state(endpoints)
      yield* Effect.gen(function*() {
        yield* F.createStream(F.streamName, 2)
        const { held, leases, received, worker } = yield* cluster(pipeline)
        // Key c is written from both shards: its final value needs both.
        const tips = yield* F.put(F.streamName, [
          toShard(0, sale("s1", "a", 5)),
          toShard(0, sale("s2", "c", 1)),
          toShard(1, sale("s3", "b", 7)),
          toShard(1, sale("s4", "c", 2))
        ])
        expect(tips.size, "one record set per shard").toBe(2)
        held.shard = "shardId-000000000001"
        const one = yield* worker("worker-1")
        const two = yield* worker("worker-2")
        yield* F.until(
          Effect.map(Effect.all([one.service.status, two.service.status]), ([a, b]) => a.shards.length === 1 && b.shards.length === 1),
          "each worker holds one shard"
        )
        // Past the close, shard 0 is processed and idle; shard 1 cannot write, so it is not past the close.
        yield* Effect.sleep(Math.max(0, closesAt + 3_000 - Date.now()))
        // The test's own read of the lease table: an emulator's dropped connection is read again.
        const table = yield* Effect.retry(leases.list, Schedule.recurs(3))
        const clockOf = (shard: string) => table.find((l) => l.leaseKey.endsWith(shard))?.processedUpTo
        expect(clockOf("shardId-000000000000"), "the processed shard published a clock past the close").toBeGreaterThan(closesAt)
        expect(clockOf("shardId-000000000001"), "the lagging shard has none").toBeUndefined()
        expect(received, "nothing sent while a shard lags").toEqual([])

        held.shard = undefined
        yield* F.until(Effect.sync(() => received.length >= 3), "every key's final value arrived")
        // Several more checks by both workers: still once each.
        yield* Effect.sleep("1500 millis")
        expect(finals(received)).toEqual([["a", 5], ["b", 7], ["c", 3]])
        expect(received.map((r) => r.final.id).sort()).toEqual(["a", "b", "c"].map((k) => `${pipeline.name}/${k}/${bucket}`))
        yield* one.stop
        yield* two.stop
      }).pipe(Effect.provide(Layer.merge(state, DeadLetter.layerMemory)))
    }), { timeout: 120_000 })

  it.scopedLive("a worker that takes over a shard mid-bucket reports the keys written before it took over", () =>
    Effect.gen(function*() {
      const { bucket, closesAt, pipeline, sale } = setup("revenue_restart", 9_000)
      const endpoints = yield* F.emulators
      const state = yield* backend.state(endpoints)
      yield* Effect.gen(function*() {
        yield* F.createStream(F.streamName, 2)
        const { leases, received, worker } = yield* cluster(pipeline)
        const tips = yield* F.put(F.streamName, [
          toShard(0, sale("s1", "a", 5)),
          toShard(0, sale("s2", "c", 1)),
          toShard(1, sale("s3", "b", 7)),
          toShard(1, sale("s4", "c", 2))
        ])
        const first = yield* worker("worker-1")
        yield* F.until(F.consumed(tips), "the first worker has read both shards to their tips")
        yield* F.until(
          Effect.map(leases.list, (table) => table.length === 2 && table.every((l) => l.processedUpTo !== undefined)),
          "both shards' clocks are in the lease table"
        )
        // Stopped before the bucket closes: what it knew of the bucket's keys was in its memory only.
        yield* first.stop
        const stoppedAt = Date.now()
        expect(stoppedAt, "the bucket is still open").toBeLessThan(closesAt)
        expect(received).toEqual([])

        // The successor starts after the checkpoints: it reads no record of the bucket.
        const second = yield* worker("worker-2")
        yield* F.until(Effect.sync(() => received.length >= 3), "every key's final value arrived", "30 seconds")
        yield* Effect.sleep("1 second")
        expect(finals(received)).toEqual([["a", 5], ["b", 7], ["c", 3]])
        expect(received.every((r) => r.at > stoppedAt && r.at > closesAt), "all sent by the successor, after the close").toBe(true)
        expect(received.map((r) => r.final.id).sort()).toEqual(["a", "b", "c"].map((k) => `${pipeline.name}/${k}/${bucket}`))
        yield* second.stop
      }).pipe(Effect.provide(Layer.merge(state, DeadLetter.layerMemory)))
    }), { timeout: 120_000 })
})
