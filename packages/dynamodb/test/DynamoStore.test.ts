import { BatchGetItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import { describe, expect, it, layer } from "@effect/vitest"
import * as Deduper from "@eddy/core/Deduper"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { Dynalite } from "@eddy/local"
import { Clock, Config, ConfigProvider, Effect, Layer, Logger, LogLevel, Option, Schedule } from "effect"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoDeduper from "../src/DynamoDeduper"
import * as DynamoStore from "../src/DynamoStore"
import * as Harness from "@eddy/testing/Harness"
import { applyOk, hllRedelivery, ref, seq, storeSuite, sumRedeliveries, write } from "@eddy/testing/StoreSuite"
import { advanceUntilDone } from "./support/Clock"
import * as Local from "./support/Local"

const table = "aggregates"
const Env = Layer.effectDiscard(Local.ensure({ aggregate: table })).pipe(Layer.provideMerge(Local.layer))

const rawItem = (ref: Store.ItemRef) =>
  Effect.flatMap(DynamoClient.DynamoClient, (client) =>
    Effect.promise(() =>
      client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `${ref.pipeline}#${ref.key}` }, sk: { S: ref.bucket } }, ConsistentRead: true }))
    )).pipe(Effect.map((out) => out.Item))




/** The client of the last store the suite made: each test gets its own dynalite. */
let suiteClient: DynamoClient.DynamoClient["Type"] | undefined

storeSuite({
  name: "DynamoDB on dynalite",
  it: it.scoped,
  make: (options) =>
    Effect.gen(function*() {
      const client = yield* Local.raw
      suiteClient = client
      yield* Local.ensure({ aggregate: table }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      return yield* DynamoStore.make({ table, ...options }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
    }),
  expiresAt: (_, r) =>
    Effect.map(rawItem(r).pipe(Effect.provideService(DynamoClient.DynamoClient, suiteClient!)), (item) =>
      item?.expiresAt?.N === undefined ? undefined : Number(item.expiresAt.N))
})

layer(Env)("DynamoStore", (it) => {
  it.effect("sum: keeps each shard's watermark on the item, and no expiry", () =>
    Effect.gen(function*() {
      const r = ref("revenue")
      yield* sumRedeliveries(yield* DynamoStore.make({ table }), r)
      const item = yield* rawItem(r)
      expect(item?.["wm:shard-0"]?.S).toBe(`056${seq(4)}0000000000`)
      expect(item?.["wm:shard-1"]?.S).toBe(`056${seq(1)}0000000000`)
      expect(item?.expiresAt).toBeUndefined()
    }))

  it.effect("hll: a redelivery writes nothing: two compare-and-set writes, version 2", () =>
    Effect.gen(function*() {
      const r = ref("buyers")
      yield* hllRedelivery(yield* DynamoStore.make({ table }), r)
      const item = yield* rawItem(r)
      expect(item?.ver?.N).toBe("2")
    }))

  it.effect("a state over 400 KB is rejected before it is written", () =>
    Effect.gen(function*() {
      const store = yield* DynamoStore.make({ table })
      const set = Monoid.set(1000)
      const r = ref("big")
      const long = (i: number) => `${i}`.padStart(10_000, "x")
      const [result] = yield* store.apply([write(set, r, "shard-0", 1, Array.from({ length: 45 }, (_, i) => set.of(long(i))))])
      expect(result?._tag).toBe("StoreRejectedError")
      expect((result as { message?: string } | undefined)?.message).toMatch(/over DynamoDB's 409600/)
      expect(yield* store.getMany(set, [r])).toEqual([Option.none()])
      // A smaller state in the same chunk still fits.
      const [ok] = yield* store.apply([write(set, r, "shard-0", 1, Array.from({ length: 30 }, (_, i) => set.of(long(i))))])
      expect(ok).toBeUndefined()
    }))

  it.effect("an item too large because of the shards' watermarks, not of its state, is the deployment's fault", () =>
    Effect.gen(function*() {
      const store = yield* DynamoStore.make({ table })
      const set = Monoid.set(1000)
      const r = ref("crowded")
      // 4,700 shards have written this item before: their watermarks alone take about 385 KB.
      const watermarks = Object.fromEntries(Array.from({ length: 4_700 }, (_, i) => [`wm:shard-${String(i).padStart(4, "0")}`, { S: "9".repeat(69) }]))
      const client = yield* DynamoClient.DynamoClient
      yield* Effect.promise(() =>
        client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `${r.pipeline}#${r.key}` }, sk: { S: r.bucket }, v: { S: JSON.stringify(set.encode(set.of("a"))) }, ver: { N: "1" }, ...watermarks } }))
      )
      const long = (i: number) => `${i}`.padStart(10_000, "x")
      const [result] = yield* store.apply([write(set, r, "shard-new", 1, [0, 1, 2].map((i) => set.of(long(i))))])
      expect(result).toMatchObject({ _tag: "StoreMisconfiguredError", code: "ItemTooLarge" })
      expect((result as { message?: string } | undefined)?.message).toMatch(/watermarks of the shards/)
    }))

  it.effect("retries UnprocessedKeys until every key is read", () =>
    Effect.gen(function*() {
      let throttled = 0
      // Like a throttled table: each call answers only the first key and leaves the rest unprocessed.
      const { client } = yield* Local.interceptEach(BatchGetItemCommand, (command, next) => {
        const [tableName, request] = Object.entries(command.input.RequestItems!)[0]!
        const keys = request.Keys!
        if (keys.length === 1) return next(command)
        throttled++
        return next(new BatchGetItemCommand({ RequestItems: { [tableName]: { ...request, Keys: keys.slice(0, 1) } } })).then((out) => ({
          ...(out as object),
          UnprocessedKeys: { [tableName]: { ...request, Keys: keys.slice(1) } }
        }))
      })
      const store = yield* DynamoStore.make({ table, readRetry: Schedule.recurs(5) }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const refs = ["a", "b", "c"].map((k) => ref("unprocessed", k))
      yield* applyOk(store, refs.map((r, i) => write(Monoid.sum, r, "shard-0", 1, [i + 1])))
      expect(yield* store.getMany(Monoid.sum, refs)).toEqual([1, 2, 3].map(Option.some))
      expect(throttled).toBeGreaterThanOrEqual(2)
    }))

  it.effect("gives up on unprocessed keys after the default schedule, as StoreUnavailableError", () =>
    Effect.gen(function*() {
      const { calls, client } = yield* Local.interceptEach(BatchGetItemCommand, (command) => Promise.resolve({ Responses: {}, UnprocessedKeys: command.input.RequestItems }))
      const store = yield* DynamoStore.make({ table }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const error = yield* advanceUntilDone(Effect.flip(store.getMany(Monoid.sum, [ref("throttled")])), "100 millis")
      expect(error._tag).toBe("StoreUnavailableError")
      expect(Store.isRetryable(error)).toBe(true)
      expect(calls()).toBe(9)
    }))

  it.effect("a compare-and-set that keeps losing gives up after the default schedule, retryable", () =>
    Effect.gen(function*() {
      // Another writer bumps the version before each of ours.
      const { calls: updates, client } = yield* Local.interceptEach(
        UpdateItemCommand,
        () => Promise.reject(Object.assign(new Error("The conditional request failed"), { name: "ConditionalCheckFailedException", $metadata: { httpStatusCode: 400 } }))
      )
      const store = yield* DynamoStore.make({ table }).pipe(Effect.provideService(DynamoClient.DynamoClient, client))
      const top = Monoid.topK(2)
      const [result] = yield* advanceUntilDone(store.apply([write(top, ref("contended"), "shard-0", 1, [top.of("a")])]), "10 millis")
      expect(result?._tag).toBe("StoreUnavailableError")
      expect(updates()).toBe(9)
    }))

  it.effect("maps failures to typed errors: a missing table or denied access is the deployment's fault, bad names are rejected, throttling and faults are retryable", () =>
    Effect.gen(function*() {
      const missing = yield* DynamoStore.make({ table: "no-such-table" })
      const [noTable] = yield* missing.apply([write(Monoid.sum, ref("x"), "shard-0", 1, [1])])
      expect(noTable).toMatchObject({ _tag: "StoreMisconfiguredError", code: "ResourceNotFoundException" })
      expect((noTable as { message?: string } | undefined)?.message).toMatch(/does not exist: create it with Tables.ensure/)

      const store = yield* DynamoStore.make({ table })
      const [badName] = yield* store.apply([write(Monoid.sum, ref("a#b"), "shard-0", 1, [1])])
      expect(badName?._tag).toBe("StoreRejectedError")
      expect((yield* Effect.flip(store.getMany(Monoid.sum, [ref("a#b")])))._tag).toBe("StoreRejectedError")

      const real = yield* DynamoClient.DynamoClient
      const failing = (error: object) =>
        DynamoStore.make({ table }).pipe(
          Effect.provideService(DynamoClient.DynamoClient, Local.intercept(real, () => Promise.reject(Object.assign(new Error("injected"), error))))
        )
      const throttled = yield* failing({ name: "ProvisionedThroughputExceededException", $metadata: { httpStatusCode: 400 } })
      const [slow] = yield* throttled.apply([write(Monoid.sum, ref("x"), "shard-0", 1, [1])])
      expect(slow?._tag).toBe("StoreUnavailableError")
      for (const name of ["AccessDeniedException", "UnrecognizedClientException", "ValidationException"]) {
        const refused = yield* failing({ name, $metadata: { httpStatusCode: 400 } })
        const [error] = yield* refused.apply([write(Monoid.sum, ref("x"), "shard-0", 1, [1])])
        expect(error).toMatchObject({ _tag: "StoreMisconfiguredError", code: name })
      }
      const [denied] = yield* (yield* failing({ name: "AccessDeniedException", $metadata: { httpStatusCode: 400 } })).apply([write(Monoid.sum, ref("x"), "shard-0", 1, [1])])
      expect((denied as { message?: string } | undefined)?.message).toMatch(new RegExp(`grant dynamodb:UpdateItem, PutItem, GetItem and BatchGetItem on table ${table}`))
      // A number DynamoDB cannot hold is the record's doing: rejected before it is sent.
      const [huge] = yield* store.apply([write(Monoid.sum, ref("huge"), "shard-0", 1, [1e200])])
      expect(huge?._tag).toBe("StoreRejectedError")
      const down = yield* failing({ name: "Error", code: "ECONNREFUSED" })
      expect((yield* Effect.flip(down.getMany(Monoid.sum, [ref("x")])))._tag).toBe("StoreUnavailableError")

      // A state that is not the reader's monoid is an error, not a wrong number.
      yield* applyOk(store, [write(Monoid.sum, ref("mismatch"), "shard-0", 1, [1])])
      const wrong = yield* Effect.flip(store.getMany(Monoid.hll(8), [ref("mismatch")]))
      expect(wrong._tag).toBe("StoreMisconfiguredError")
      expect(wrong.message).toMatch(/not a hll\(8\)/)
    }))
})

describe("layerConfig", () => {
  it.scoped("builds the Store and the Deduper from the Config they are given, the client from the AWS SDK's names", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const env = ConfigProvider.fromMap(
        new Map([
          ["EDDY_AGGREGATE_TABLE", "env-aggregates"],
          ["EDDY_DEDUP_TABLE", "env-dedup"],
          ["EDDY_DEDUP_NAMESPACE", "shop"],
          ["EDDY_DEDUP_RETENTION", "2 hours"]
        ])
      )
      // Region and endpoint are the SDK's to resolve, from the process environment as it reads it.
      yield* Harness.withEnv({ AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL_DYNAMODB: endpoint, AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local" })
      const backends = Layer.mergeAll(
        DynamoStore.layerConfig({ table: Config.string("EDDY_AGGREGATE_TABLE") }),
        DynamoDeduper.layerConfig({
          table: Config.string("EDDY_DEDUP_TABLE"),
          namespace: Config.string("EDDY_DEDUP_NAMESPACE"),
          retention: Config.duration("EDDY_DEDUP_RETENTION")
        })
      ).pipe(Layer.provideMerge(DynamoClient.layerConfig()))
      yield* Effect.gen(function*() {
        yield* Local.ensure({ aggregate: "env-aggregates", dedup: "env-dedup" })
        const store = yield* Store.Store
        expect(yield* store.apply([write(Monoid.sum, ref("env"), "shard-0", 1, [2, 3])])).toEqual([undefined])
        expect(yield* Store.get(Monoid.sum, ref("env"))).toEqual(Option.some(5))
        const deduper = yield* Deduper.Deduper
        const now = yield* Clock.currentTimeMillis
        expect(yield* deduper.claim([{ eventId: "e", owner: "a" }])).toEqual([true])
        const claim = yield* Effect.flatMap(DynamoClient.DynamoClient, (client) =>
          Effect.promise(() => client.send(new GetItemCommand({ TableName: "env-dedup", Key: { id: { S: "shop#e" } } }))))
        expect(claim.Item?.expiresAt).toEqual({ N: String(Math.ceil((now + 7_200_000) / 1000)) })
      }).pipe(Effect.provide(backends), Effect.withConfigProvider(env), Logger.withMinimumLogLevel(LogLevel.Error))
    }))
})
