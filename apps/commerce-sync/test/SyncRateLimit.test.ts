/**
 * CommerceSync's insert rate limit on the TestClock (the streams are real,
 * in a local Kinesis): `sync` waits for room, `trySync` refuses at once and
 * says when to retry. Kept apart from the live-clock tests of `Sync.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import * as RateLimit from "@eddy/kinesis/RateLimit"
import { Effect, Either, Fiber, Option, TestClock, TestServices } from "effect"
import * as Sync from "../src/Sync"
import { createStream, KinesisLocal, uniqueName, unpaced } from "./support/kinesis"

describe("the insert rate limit", () => {
  it.scoped("sync waits for room under it, trySync refuses at once saying when to retry", () =>
    Effect.gen(function*() {
      const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
      yield* Effect.gen(function*() {
        for (const name of Object.values(streams)) yield* createStream(name, 1)
      }).pipe(TestServices.provideLive)
      // Linger 0: batches leave at once, with no timer the TestClock would have to fire.
      const sync = yield* Sync.make({
        streams,
        rateLimit: Either.getOrThrow(RateLimit.parse("2/m")),
        producer: { ...unpaced, linger: 0 }
      })
      const [a, b, c, d] = sampleOrders(4, { seed: 5 })
      yield* sync.syncAll([a!, b!])

      const refused = yield* Effect.flip(sync.trySync(c!))
      // 2 per minute: the next token comes 30 s after the bucket emptied.
      expect(refused).toMatchObject({ _tag: "RateLimitedError", limit: "2/m", retryAfterMillis: 30_000 })

      const waiting = yield* Effect.fork(sync.sync(c!))
      yield* TestClock.adjust("29 seconds")
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(waiting)).eventId).toBe(c!.eventId)

      yield* TestClock.adjust("30 seconds")
      expect((yield* sync.trySync(d!)).eventId).toBe(d!.eventId)
    }).pipe(Effect.provide(KinesisLocal)))
})

