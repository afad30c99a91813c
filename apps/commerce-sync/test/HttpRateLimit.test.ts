/**
 * A burst beyond the insert rate limit, on the TestClock so the bucket never
 * refills by accident: the limit's worth of requests is accepted, the rest
 * get 429 with Retry-After at once (nothing queues up behind the limit), and
 * once the clock moves on requests are accepted again.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import * as RateLimit from "@eddy/kinesis/RateLimit"
import { Effect, Either, TestClock, TestServices } from "effect"
import * as Http from "../src/Http"
import * as Sync from "../src/Sync"
import { post } from "./support/http"
import { createStream, KinesisLocal, readAll, uniqueName, unpaced } from "./support/kinesis"

describe("HTTP API under the insert rate limit", () => {
  it.scoped("a burst beyond the limit gets 429 with Retry-After, with in-flight requests and the producer's queue bounded", () =>
    Effect.gen(function*() {
      const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
      yield* Effect.forEach(Object.values(streams), (name) => createStream(name, 1)).pipe(TestServices.provideLive)
      const maxInFlight = 8
      // Linger 0: batches leave at once, with no timer the TestClock would have to fire.
      const sync = yield* Sync.make({
        streams,
        rateLimit: Either.getOrThrow(RateLimit.parse("5/m")),
        maxInFlight,
        producer: { ...unpaced, linger: 0 }
      })
      const { url } = yield* Http.start().pipe(Effect.provideService(Sync.CommerceSync, sync))

      const burst = 40
      const orders = sampleOrders(burst + 1, { seed: 21 }).map((e) => e.order)
      const answers = yield* Effect.forEach(orders.slice(0, burst), (order) => post(url, "/orders", order), { concurrency: "unbounded" })
      const accepted = answers.filter((a) => a.status === 202)
      const limited = answers.filter((a) => a.status === 429)
      expect(accepted.length).toBe(5)
      expect(limited.length).toBe(burst - 5)
      for (const answer of limited) {
        expect(answer.headers.get("content-type")).toContain("application/problem+json")
        // 5 per minute: a token every 12 s.
        expect(answer.headers.get("retry-after")).toBe("12")
      }
      const load = yield* sync.load
      expect(load.peakInFlight).toBeLessThanOrEqual(maxInFlight)
      expect(load).toMatchObject({ inFlight: 0, queued: 0 })
      expect((yield* readAll(streams.orders)).length).toBe(5)

      yield* TestClock.adjust("12 seconds")
      expect((yield* post(url, "/orders", orders[burst]!)).status).toBe(202)
    }).pipe(Effect.provide(KinesisLocal)))
})
