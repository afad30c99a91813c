import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import * as Faults from "@eddy/testing/Faults"
import { deliverAll } from "@eddy/testing/Redelivery"
import { Effect, FastCheck as fc, Layer, Option, Schedule } from "effect"
import type { Redis } from "ioredis"
import { revenueBy, Sales, salesCount, streamOf } from "../../core/test/fixtures"
import * as RedisClient from "../src/RedisClient"
import * as RedisDeduper from "../src/RedisDeduper"
import * as RedisStore from "../src/RedisStore"
import * as RedisServer from "./support/RedisServer"

const hll = Monoid.hll(10)
const top = Monoid.topK(2, { capacity: 8 })
const buyers = Pipeline.make({ name: "buyers_by_item", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => hll.of(e.user!), aggregate: hll })
const topItems = Pipeline.make({ name: "top_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item, e.amount + 1), aggregate: top })
// The fixtures' events are of November 2026: a retention of years keeps their buckets (Redis drops a key whose expiry has passed at once).
const revenue = revenueBy("revenue_by_item_hourly", Window.hour({ retention: "3650 days" }))
const pipelines = [revenue, salesCount, buyers, topItems]

const arbitraryStream = fc
  .record({
    sales: fc.array(
      fc.record({ item: fc.constantFrom("a", "b", "c"), user: fc.integer({ min: 0, max: 20 }), amount: fc.integer({ min: 0, max: 1000 }), minute: fc.integer({ min: 0, max: 179 }) }),
      { minLength: 1, maxLength: 40 }
    ),
    duplicates: fc.array(fc.nat(), { maxLength: 6 }),
    poison: fc.array(fc.nat(), { maxLength: 3 }),
    shards: fc.integer({ min: 1, max: 3 })
  })
  .map((shape) => streamOf(shape, (shard, n) => ({ shardId: `shardId-00${shard}`, sequenceNumber: String(1000 + n), subSequenceNumber: 0 })))

/** Waits for the client's automatic reconnection. */
const ready = (client: Redis) =>
  Effect.async<void>((resume) => {
    if (client.status === "ready") return resume(Effect.void)
    client.once("ready", () => resume(Effect.void))
  })

/**
 * A server restart at store calls: `before` kills the server before the call
 * (which then fails, the server away), `after` lets the call land and kills
 * the server before its reply is read (a lost acknowledgement). Either way the
 * server is started again before the call returns.
 */
type Restart = "before" | "after"

const restarting = (server: RedisServer.RedisServer, client: Redis, plan: ReadonlyArray<Restart | undefined>) =>
  Layer.effect(
    Store.Store,
    Effect.map(Store.Store, (inner) => {
      let calls = 0
      const restart = Effect.zipRight(server.restart, ready(client)).pipe(Effect.orDie)
      return Store.Store.of({
        getMany: inner.getMany,
        apply: (writes) =>
          Effect.suspend(() => {
            const when = plan[calls++]
            if (when === undefined) return inner.apply(writes)
            if (when === "before") return Effect.zipRight(server.kill, inner.apply(writes)).pipe(Effect.ensuring(restart))
            return inner.apply(writes).pipe(
              Effect.zipRight(server.kill),
              Effect.zipRight(restart),
              Effect.zipRight(Effect.fail(new Store.StoreUnavailableError({ message: "injected: the reply was lost in the restart" })))
            )
          })
      })
    })
  )

const arbitraryFault = fc.oneof(
  fc.constant({ _tag: "Fail" as const }),
  fc.nat({ max: 8 }).map((done) => ({ _tag: "FailAfter" as const, done })),
  fc.nat({ max: 8 }).map((done) => ({ _tag: "Crash" as const, done }))
)

let runs = 0

describe("exactly once on Redis", () => {
  it.scopedLive.prop(
    "stored aggregates equal the fold over distinct valid events, whatever fails, crashes, restarts the server or is redelivered",
    {
      stream: arbitraryStream,
      faults: fc.array(fc.option(arbitraryFault, { nil: undefined, freq: 2 }), { maxLength: 8 }),
      restarts: fc.array(fc.option(fc.constantFrom<Restart>("before", "after"), { nil: undefined, freq: 2 }), { minLength: 1, maxLength: 8 }),
      batchSize: fc.integer({ min: 1, max: 20 })
    },
    ({ batchSize, faults, restarts, stream }) =>
      Effect.gen(function*() {
        const server = yield* RedisServer.start({ persist: true })
        const client = yield* RedisClient.make({ url: server.url })
        const namespace = `run-${runs++}`
        const summary = yield* deliverAll(stream.records, { batchSize, maxDeliveries: 10_000 }).pipe(
          Effect.provide(
            Processor.layer({ pipelines, retry: Schedule.recurs(1) }).pipe(
              Layer.provideMerge(Faults.store((call) => faults[call])),
              Layer.provideMerge(restarting(server, client, restarts)),
              Layer.provideMerge(Layer.mergeAll(
                RedisStore.layer({ namespace: `${namespace}:aggregates`, conflictRetry: Schedule.recurs(5) }),
                RedisDeduper.layer({ namespace: `${namespace}:dedup` }),
                DeadLetter.layerMemory
              )),
              Layer.provide(Layer.succeed(RedisClient.RedisClient, client))
            )
          )
        )
        expect(summary.deliveries).toBeGreaterThan(0)
        const store = yield* RedisStore.make({ namespace: `${namespace}:aggregates` }).pipe(Effect.provideService(RedisClient.RedisClient, client))
        const read = <A>(monoid: Monoid.Monoid<A>, pipeline: string, key: string, bucket = "all") =>
          Effect.map(store.getMany(monoid, [{ pipeline, key, bucket }]), ([v]) => Option.getOrElse(v!, () => monoid.empty))
        for (const item of new Set(stream.events.map((e) => e.item))) {
          const mine = stream.events.filter((e) => e.item === item)
          expect(yield* read(Monoid.count, salesCount.name, item)).toBe(mine.length)
          expect(hll.equals(yield* read(hll, buyers.name, item), hll.combineAll(mine.map((e) => hll.of(e.user!))))).toBe(true)
          const byBucket = new Map<string, number>()
          for (const e of mine) {
            const bucket = Window.bucketIdAt(revenue.window, Window.bucketStart(revenue.window, e.at))
            byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + e.amount)
          }
          for (const [bucket, amount] of byBucket) expect(yield* read(Monoid.sum, revenue.name, item, bucket)).toBe(amount)
        }
        expect(top.equals(yield* read(top, topItems.name, "all"), top.combineAll(stream.events.map((e) => top.of(e.item, e.amount + 1))))).toBe(true)
        // Nothing else was written: poison records and duplicates left no items behind.
        const keys = yield* Effect.promise(() => client.keys(`${namespace}:aggregates:*`))
        const buckets = new Set(stream.events.map((e) => `${e.item}|${Window.bucketIdAt(revenue.window, Window.bucketStart(revenue.window, e.at))}`))
        expect(keys.length).toBe(buckets.size + 2 * new Set(stream.events.map((e) => e.item)).size + 1)
      }),
    { fastCheck: { numRuns: 25 } }
  )
})
