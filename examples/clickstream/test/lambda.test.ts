/**
 * The Lambda entry's pipelines behind a simulated event-source mapping on a
 * local Kinesis (kinesalite), state in memory: the stored aggregates equal a
 * fold by hand of the distinct views, and poison records are dead-lettered.
 */
import * as Monoid from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as Lambda from "@eddy/runtime/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { pages, pipelines, topPages, uniqueUsers, users, viewsPerPage } from "../src/pipelines"
import { expected, pageViews, poison, publish, streamName, topOf } from "./support"

describe("clickstream on Lambda", () => {
  it.scopedLive("counts views per page, distinct users and the top pages of each hour, each view once", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { [streamName]: 2 })
      const views = pageViews(1_500)
      yield* publish(views, 100).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      const state = Harness.memoryState()
      const handler = Lambda.handler({ pipelines, layer: state.layer })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const stats = yield* EventSourceMapping.run(handler, { streamName, batchSize: 100 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
      expect(state.deadLetters).toHaveLength(poison.length)

      const hours = expected(views)
      expect(hours.size).toBe(3)
      const read = <A>(monoid: Monoid.Monoid<A>, ref: Store.ItemRef) =>
        Effect.map(Store.get(monoid, ref), Option.getOrThrow).pipe(Effect.provideService(Store.Store, state.store))
      for (const [bucket, hour] of hours) {
        for (const [page, count] of hour.views) {
          expect(yield* read(viewsPerPage.aggregate, { pipeline: viewsPerPage.name, key: page, bucket })).toBe(count)
        }
        const sketch = yield* read(users, { pipeline: uniqueUsers.name, key: "all", bucket })
        expect(Math.abs(Monoid.estimate(sketch) - hour.users.size) / hour.users.size).toBeLessThan(0.02)
        // 30 pages fit the TopK's capacity, so its counts are exact.
        expect(pages.top(yield* read(pages, { pipeline: topPages.name, key: "all", bucket }))).toEqual(topOf(hour.views, 10))
      }

      // A range of buckets, merged with the monoid: the views of one page over the three hours.
      const buckets = Window.bucketsBetween(viewsPerPage.window, Date.UTC(2026, 10, 21, 9), Date.UTC(2026, 10, 21, 11))
      expect(buckets).toEqual(Array.from(hours.keys()).sort())
      const total = yield* Store.getRange(Monoid.count, viewsPerPage.name, "/page/0", buckets).pipe(Effect.provideService(Store.Store, state.store))
      expect(Option.getOrThrow(total)).toBe(views.filter((v) => v.page === "/page/0").length)
    }))
})
