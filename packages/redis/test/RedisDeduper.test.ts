import { describe, expect, it } from "@effect/vitest"
import * as Deduper from "@eddy/core/Deduper"
import { type Duration, Effect } from "effect"
import * as RedisClient from "../src/RedisClient"
import * as RedisDeduper from "../src/RedisDeduper"
import * as RedisServer from "./support/RedisServer"
import * as Shared from "./support/Shared"

/** A deduper on a Redis server of its own, in a fresh namespace. */
const deduper = (retention?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const redis = yield* Shared.client
    const namespace = yield* Shared.namespace("dedup")
    const dedup = yield* RedisDeduper.make({ namespace, ...(retention === undefined ? {} : { retention }) }).pipe(
      Effect.provideService(RedisClient.RedisClient, redis)
    )
    return { dedup, redis, namespace }
  })

describe("RedisDeduper", () => {
  it.scopedLive("16 concurrent claims of one event id: exactly one wins, and only its owner may claim it again", () =>
    Effect.gen(function*() {
      const { dedup } = yield* deduper()
      const owners = Array.from({ length: 16 }, (_, i) => `shardId-1/${1000 + i}/0`)
      const results = yield* Effect.all(owners.map((owner) => dedup.claim([{ eventId: "order-1", owner }])), { concurrency: "unbounded" })
      const winners = owners.filter((_, i) => results[i]![0])
      expect(winners).toHaveLength(1)
      expect(yield* dedup.claim([{ eventId: "order-1", owner: winners[0]! }])).toEqual([true])
      const loser = owners.find((o) => o !== winners[0])!
      expect(yield* dedup.claim([{ eventId: "order-1", owner: loser }])).toEqual([false])
    }))

  it.scopedLive("a reused id with another payload is a conflict naming the holder's hash; a released claim is free again", () =>
    Effect.gen(function*() {
      const { dedup } = yield* deduper()
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/1/0", payloadHash: "aa" }])).toEqual([true])
      expect(yield* dedup.claim([
        { eventId: "e", owner: "s/2/0", payloadHash: "aa" },
        { eventId: "e", owner: "s/3/0", payloadHash: "bb" },
        { eventId: "e", owner: "s/1/0", payloadHash: "aa" }
      ])).toEqual([false, Deduper.conflict("aa"), true])
      // Only the holder's release frees it.
      yield* dedup.release([{ eventId: "e", owner: "s/2/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "aa" }])).toEqual([false])
      yield* dedup.release([{ eventId: "e", owner: "s/1/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0", payloadHash: "aa" }])).toEqual([true])
    }))

  it.scopedLive("a chunk larger than one script call: answers stay aligned, and the first claim of an id wins across calls", () =>
    Effect.gen(function*() {
      const { dedup } = yield* deduper()
      // 2,500 claims go out as three script calls; id 7 is claimed again in the third by another owner.
      const claims = Array.from({ length: 2_500 }, (_, i) => ({ eventId: `e-${i === 2_400 ? 7 : i}`, owner: `s/${i}/0`, payloadHash: "aa" }))
      const results = yield* dedup.claim(claims)
      expect(results).toHaveLength(2_500)
      expect(results.filter((r) => r !== true).length).toBe(1)
      expect(results[7]).toBe(true)
      expect(results[2_400]).toBe(false)
      // Released across calls too: every id is free again for a new owner.
      yield* dedup.release(claims)
      const again = yield* dedup.claim(claims.slice(0, 2_400).map((c) => ({ ...c, owner: "t/1/0" })))
      expect(again.every((r) => r === true)).toBe(true)
    }))

  it.scopedLive("a user the ACL does not allow to run the claim is the deployment's fault, not a retryable error", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ persist: false })
      const admin = yield* RedisClient.make({ url: server.url })
      yield* Effect.promise(() => admin.call("ACL", "SETUSER", "reader", "on", ">secret", "~*", "+@all", "-eval", "-evalsha"))
      const url = server.url.replace("redis://", "redis://reader:secret@")
      const dedup = yield* RedisDeduper.make({ namespace: "acl" }).pipe(Effect.provideServiceEffect(RedisClient.RedisClient, RedisClient.make({ url })))
      const error = yield* Effect.flip(dedup.claim([{ eventId: "e", owner: "s/1/0", payloadHash: "aa" }]))
      expect(error).toMatchObject({ _tag: "DeduperMisconfiguredError", code: "NOPERM" })
      expect(error.message).toMatch(/ACL/)
    }))

  it.scopedLive("answers a batch in order; within a batch the first claim of an id wins", () =>
    Effect.gen(function*() {
      const { dedup } = yield* deduper()
      expect(yield* dedup.claim([])).toEqual([])
      expect(
        yield* dedup.claim([
          { eventId: "a", owner: "s/1/0" },
          { eventId: "b", owner: "s/2/0" },
          { eventId: "a", owner: "s/3/0" },
          { eventId: "a", owner: "s/1/0" }
        ])
      ).toEqual([true, true, false, true])
    }))

  it.scopedLive("keeps claims for the retention, and namespaces do not see each other's claims", () =>
    Effect.gen(function*() {
      const first = yield* deduper("90 seconds")
      const second = yield* deduper()
      expect(yield* first.dedup.claim([{ eventId: "e", owner: "x" }])).toEqual([true])
      expect(yield* second.dedup.claim([{ eventId: "e", owner: "y" }])).toEqual([true])
      const ttl = yield* Effect.promise(() => first.redis.pttl(`${first.namespace}:e`))
      expect(ttl).toBeGreaterThan(80_000)
      expect(ttl).toBeLessThanOrEqual(90_000)
      expect(yield* Effect.promise(() => second.redis.pttl(`${second.namespace}:e`))).toBeGreaterThan(86_000_000)
    }))
})
