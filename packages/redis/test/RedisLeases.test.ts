import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { leasesSuite } from "@eddy/testing/LeasesSuite"
import * as RedisClient from "../src/RedisClient"
import * as RedisLeases from "../src/RedisLeases"
import * as Shared from "./support/Shared"

/** Leases on a Redis server of their own, in a fresh namespace. */
const leases = (options: Omit<RedisLeases.Options, "namespace">) =>
  Effect.gen(function*() {
    const client = yield* Shared.client
    return yield* Effect.flatMap(Shared.namespace("leases"), (namespace) => RedisLeases.make({ ...options, namespace })).pipe(
      Effect.provideService(RedisClient.RedisClient, client)
    )
  })

leasesSuite({
  name: "Redis",
  it: it.scopedLive,
  make: leases,
  elapse: Effect.sleep,
  failoverTime: "450 millis"
})

describe("RedisLeases", () => {
  it.scopedLive("keeps one hash per lease with KCL's field names under the namespace's hash tag", () =>
    Effect.gen(function*() {
      const redis = yield* Shared.client
      yield* Effect.gen(function*() {
        const namespace = yield* Shared.namespace("leases")
        const leases = yield* RedisLeases.make({ namespace })
        yield* leases.createLeases([{ leaseKey: "shardId-1" }, { leaseKey: "shardId-2", parentShardIds: ["shardId-1"] }])
        const w = yield* leases.worker("worker-1")
        const [held] = yield* w.round
        yield* w.checkpoint(held!, { sequenceNumber: "4959", subSequenceNumber: 2 })
        const prefix = RedisLeases.keyPrefix(namespace)
        expect(prefix).toBe(`eddy:leases:{${namespace}}`)
        expect((yield* Effect.promise(() => redis.smembers(`${prefix}:keys`))).sort()).toEqual(["shardId-1", "shardId-2"])
        expect(yield* Effect.promise(() => redis.hgetall(`${prefix}:lease:shardId-1`))).toEqual({
          leaseKey: "shardId-1",
          leaseOwner: "worker-1",
          leaseCounter: "2",
          checkpoint: "4959",
          checkpointSubSequenceNumber: "2",
          ownerSwitchesSinceCheckpoint: "0",
          parentShardId: "[]"
        })
        expect(yield* Effect.promise(() => redis.hget(`${prefix}:lease:shardId-2`, "parentShardId"))).toBe(`["shardId-1"]`)
      }).pipe(Effect.provideService(RedisClient.RedisClient, redis))
    }))
})
