/**
 * The service entry's pipelines under the service driver, in this process: a
 * worker polling a local Kinesis (kinesalite), leases and state in memory.
 */
import * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as Service from "@eddy/runtime/Service"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { pipelines } from "../src/pipelines"
import { summary } from "../src/summary"
import { expected, poison, publish, sampleReadings, streamName } from "./support"

describe("iot as a service", () => {
  it.scopedLive("a worker takes every shard and keeps each device's minute statistics", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint }, { [streamName]: 2 })
      const readings = sampleReadings(600, 9)
      yield* publish(readings, 40).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      const { deadLetters, layer, store } = Harness.memoryState()
      yield* Layer.build(Service.layer({ pipelines, layer, ...Harness.inProcessWorker(kinesis, [streamName]) }))

      const want = expected(readings)
      const summaries = Effect.forEach(want, (e) => summary(e.deviceId, e.bucket)).pipe(Effect.provideService(Store.Store, store))
      const tookAll = Effect.map(summaries, (all) => deadLetters.length === poison.length && all.every((s, i) => Option.isSome(s) && s.value.readings === want[i]!.readings))
      yield* Harness.until(tookAll, "the worker took every reading", { interval: "100 millis" })
      const got = yield* summaries
      expect(got.map(Option.getOrThrow)).toEqual(want.map((e) => ({ readings: e.readings, min: e.min / 10, max: e.max / 10, average: e.sum / e.readings / 10 })))
      expect(deadLetters.map((e) => e.error)).toEqual(["InvalidEventError", "InvalidEventError"])
    }))
})
