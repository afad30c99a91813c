import { describe, expect, it } from "@effect/vitest"
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { applyOk, partitionKeyRedeliveries, ref, seq, storeSuite, write } from "@eddy/testing/StoreSuite"
import { Config, ConfigProvider, Effect, Option } from "effect"
import type { Redis } from "ioredis"
import * as RedisClient from "../src/RedisClient"
import * as RedisStore from "../src/RedisStore"
import { started } from "./support/Shared"

let suiteClient: Redis | undefined

storeSuite({
  name: "Redis",
  it: it.scopedLive,
  make: (options) =>
    Effect.flatMap(started, ({ client }) => {
      suiteClient = client
      return RedisStore.make({ namespace: "eddy:aggregates", ...options }).pipe(Effect.provideService(RedisClient.RedisClient, client))
    }),
  expiresAt: (_, r) =>
    Effect.promise(() => suiteClient!.expiretime(`eddy:aggregates:${r.pipeline}#${r.bucket}#${r.key}`)).pipe(
      Effect.map((t) => (t < 0 ? undefined : t))
    )
})

describe("RedisStore", () => {
  it.scopedLive("under partitionKey ordering claims each position with an expiry: out of order and redelivered, each applied once", () =>
    Effect.gen(function*() {
      const { client } = yield* started
      const store = yield* RedisStore.make({ namespace: "claims", claimRetention: "1 hour" }).pipe(Effect.provideService(RedisClient.RedisClient, client))
      yield* partitionKeyRedeliveries(store, "pk_order")
      const claims = yield* Effect.promise(() => client.keys("claims#c:pk_order_sum#all#k#s1#*"))
      expect(claims).toHaveLength(210)
      const expiry = yield* Effect.promise(() => client.expiretime(claims[0]!))
      expect(expiry).toBeGreaterThan(0)
    }))

  it.scopedLive("one hash per item: the value as JSON text, a version for compare-and-set states, a watermark per shard", () =>
    Effect.gen(function*() {
      const { client } = yield* started
      const store = yield* RedisStore.make({ namespace: "shop" }).pipe(Effect.provideService(RedisClient.RedisClient, client))
      const hll = Monoid.hll(8)
      yield* applyOk(store, [write(Monoid.sum, ref("revenue", "p:1", "2026-11-21T10:05Z"), "orders/shardId-0", 1, [10, 20]), write(hll, ref("buyers"), "orders/shardId-0", 4, [hll.of("u")])])
      expect(yield* Effect.promise(() => client.hgetall("shop:revenue#2026-11-21T10:05Z#p:1"))).toEqual({ v: "30", [`wm:orders/shardId-0`]: `056${seq(2)}0000000000` })
      const sketch = yield* Effect.promise(() => client.hgetall("shop:buyers#all#k"))
      expect(sketch.ver).toBe("1")
      expect(JSON.parse(sketch.v!)).toEqual(hll.encode(hll.of("u")))
    }))

  it.scopedLive("refuses what it cannot key; a server that is gone is retryable", () =>
    Effect.gen(function*() {
      const { client, server } = yield* started
      const store = yield* RedisStore.make({ namespace: "shop" }).pipe(Effect.provideService(RedisClient.RedisClient, client))
      const [hashed] = yield* store.apply([write(Monoid.sum, ref("p", "k", "a#b"), "s", 1, [1])])
      expect(hashed?._tag).toBe("StoreRejectedError")
      // A server that is gone is retryable.
      yield* server.kill
      const offline = store
      const [down] = yield* offline.apply([write(Monoid.sum, ref("p"), "s", 1, [1])])
      expect(down?._tag).toBe("StoreUnavailableError")
      expect((yield* Effect.flip(offline.getMany(Monoid.sum, [ref("p")])))._tag).toBe("StoreUnavailableError")
    }))

  it.scopedLive("layerConfig builds the store from the Config it is given; Store.as makes it a placement", () =>
    Effect.gen(function*() {
      const { client } = yield* started
      const env = ConfigProvider.fromMap(new Map([["AGGREGATE_NAMESPACE", "env"]]))
      const layer = RedisStore.layerConfig({ namespace: Config.string("AGGREGATE_NAMESPACE") }).pipe(Store.as(RedisStore.RedisStore))
      yield* Effect.gen(function*() {
        const store = yield* RedisStore.RedisStore
        yield* applyOk(store, [write(Monoid.count, ref("env"), "s", 1, [1, 1])])
        expect(yield* store.getMany(Monoid.count, [ref("env")])).toEqual([Option.some(2)])
      }).pipe(Effect.provide(layer), Effect.provideService(RedisClient.RedisClient, client), Effect.withConfigProvider(env))
      expect(yield* Effect.promise(() => client.hget("env:env#all#k", "v"))).toBe("2")
    }))
})
