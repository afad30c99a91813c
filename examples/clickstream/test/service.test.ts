/**
 * The service entry's pipelines under the service driver, in this process: a
 * worker polling a local Kinesis (kinesalite), leases and state in memory,
 * ends with the same aggregates as a fold by hand.
 */
import * as Monoid from "@eddy/core/Monoid"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as Service from "@eddy/runtime/Service"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { pipelines, uniqueUsers, users, viewsPerPage } from "../src/pipelines"
import { expected, pageViews, publish, streamName } from "./support"

describe("clickstream as a service", () => {
  it.scopedLive("a worker takes every shard and folds each view once", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { [streamName]: 2 })
      const views = pageViews(600, 7)
      yield* publish(views, 50).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      const state = Harness.memoryState()
      yield* Layer.build(Service.layer({ pipelines, layer: state.layer, ...Harness.inProcessWorker(kinesis, [streamName]) }))

      const hours = expected(views)
      const refs = Array.from(hours, ([bucket, hour]) => Array.from(hour.views, ([page, count]) => ({ ref: { pipeline: viewsPerPage.name, key: page, bucket }, count }))).flat()
      const folded = Effect.map(state.store.getMany(Monoid.count, refs.map((r) => r.ref)), (values) => values.every((v, i) => Option.contains(v, refs[i]!.count)) && state.deadLetters.length === 2)
      yield* Harness.until(folded, "the worker folded every view and dead-lettered the poison", { interval: "100 millis" })
      for (const [bucket, hour] of hours) {
        const [sketch] = yield* state.store.getMany(users, [{ pipeline: uniqueUsers.name, key: "all", bucket }])
        expect(Math.abs(Monoid.estimate(Option.getOrThrow(sketch!)) - hour.users.size) / hour.users.size).toBeLessThan(0.02)
      }
      expect(state.deadLetters.map((e) => e.error).sort()).toEqual(["InvalidEventError", "NotJsonError"])
    }))
})
