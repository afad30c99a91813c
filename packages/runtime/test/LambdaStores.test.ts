import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as RedisClient from "@eddy/redis/RedisClient"
import * as RedisStore from "@eddy/redis/RedisStore"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import { type Sale, Sales } from "../../core/test/fixtures"
import * as RedisServer from "../../redis/test/support/RedisServer"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"

const hll = Monoid.hll(10)
// Revenue in DynamoDB, distinct buyers in Redis: one Lambda, one chunk, two stores.
const revenue = Pipeline.make({ name: "revenue_by_item", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => e.amount, aggregate: Monoid.sum, store: DynamoStore.DynamoStore })
const buyers = Pipeline.make({ name: "buyers_by_item", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => hll.of(e.user!), aggregate: hll, store: RedisStore.RedisStore })

describe("Lambda with pipelines in different stores", () => {
  it.scopedLive("writes each pipeline's aggregates to its own store, DynamoDB and Redis, from the same chunks", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { sales: 2 })
      const sales: Array<Sale> = Array.from({ length: 300 }, (_, i) => ({ type: "sale", eventId: `e-${i}`, at: Date.UTC(2026, 10, 21), item: `item-${i % 7}`, user: `u-${i % 41}`, amount: i }))
      const records = sales.map((s) => ({ PartitionKey: s.eventId, Data: new TextEncoder().encode(JSON.stringify(s)) }))
      yield* Harness.putAll("sales", records, 100).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      const dynamo = yield* Effect.flatMap(Dynalite.start(), (d) => DynamoClient.make({ endpoint: d.endpoint }))
      yield* Tables.ensure({ aggregate: "aggregates" }, { activeSchedule: Schedule.recurs(100) }).pipe(Effect.provideService(DynamoClient.DynamoClient, dynamo))
      const server = yield* RedisServer.start({ persist: false })
      const redis = yield* RedisClient.make({ url: server.url })
      const handler = Lambda.handler({
        pipelines: [revenue, buyers],
        // The type asks for both placements: leaving one out does not compile.
        layer: Layer.mergeAll(
          DynamoStore.layer({ table: "aggregates" }).pipe(Store.as(DynamoStore.DynamoStore), Layer.provide(Layer.succeed(DynamoClient.DynamoClient, dynamo))),
          RedisStore.layer({ namespace: "sales" }).pipe(Store.as(RedisStore.RedisStore), Layer.provide(Layer.succeed(RedisClient.RedisClient, redis))),
          Deduper.layerMemory(),
          DeadLetter.layerMemory,
          Layer.succeed(Emf.Writer, { write: () => Effect.void })
        ),
        chunkSize: 50
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const stats = yield* EventSourceMapping.run(handler, { streamName: "sales", batchSize: 100 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)

      const inDynamo = yield* DynamoStore.make({ table: "aggregates" }).pipe(Effect.provideService(DynamoClient.DynamoClient, dynamo))
      const inRedis = yield* RedisStore.make({ namespace: "sales" }).pipe(Effect.provideService(RedisClient.RedisClient, redis))
      const items = Array.from({ length: 7 }, (_, i) => `item-${i}`)
      const refs = (pipeline: string) => items.map((key) => ({ pipeline, key, bucket: "all" }))
      const expectedRevenue = items.map((item) => sales.filter((s) => s.item === item).reduce((n, s) => n + s.amount, 0))
      expect(yield* inDynamo.getMany(Monoid.sum, refs(revenue.name))).toEqual(expectedRevenue.map(Option.some))
      const sketches = yield* inRedis.getMany(hll, refs(buyers.name))
      sketches.forEach((s, i) => expect(hll.equals(Option.getOrThrow(s), hll.combineAll(sales.filter((x) => x.item === items[i]).map((x) => hll.of(x.user!))))).toBe(true))
      // Each store holds only its own pipeline's aggregates.
      expect(yield* inDynamo.getMany(hll, refs(buyers.name))).toEqual(items.map(() => Option.none()))
      expect(yield* inRedis.getMany(Monoid.sum, refs(revenue.name))).toEqual(items.map(() => Option.none()))
    }))
})
