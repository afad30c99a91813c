/**
 * The service entry's pipelines under the service driver, in this process: a
 * worker polling a local Kinesis (kinesalite), leases and state in memory.
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Leases from "@eddy/core/Leases"
import * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as StreamId from "@eddy/kinesis/StreamId"
import { Kinesalite } from "@eddy/local"
import * as Service from "@eddy/runtime/Service"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Schedule } from "effect"
import { pipelines } from "../src/pipelines"
import { summary } from "../src/summary"
import { expected, poison, publish, sampleReadings, streamName } from "./support"

describe("iot as a service", () => {
  it.scopedLive("a worker takes every shard and keeps each device's minute statistics", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Kinesalite.start()
      const kinesis = yield* Kinesis.make({ endpoint })
      yield* kinesis.createStream({ StreamName: streamName, ShardCount: 2 })
      const readings = sampleReadings(600, 9)
      yield* publish(readings, 40).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      const store = yield* Store.makeMemory
      const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
      yield* Layer.build(Service.layer({
        pipelines,
        layer: Layer.mergeAll(
          Layer.succeed(Store.Store, store),
          Deduper.layerMemory(),
          Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) })
        ),
        leases: Leases.layerMemory(),
        kinesis: Layer.succeed(Kinesis.Kinesis, kinesis),
        streams: [StreamId.of(streamName)],
        workerId: "worker-1",
        port: 0,
        pollInterval: Duration.millis(20),
        discoveryInterval: Duration.millis(500)
      }))

      const want = expected(readings)
      const summaries = Effect.forEach(want, (e) => summary(e.deviceId, e.bucket)).pipe(Effect.provideService(Store.Store, store))
      yield* summaries.pipe(
        Effect.repeat({
          until: (all) => deadLetters.length === poison.length && all.every((s, i) => Option.isSome(s) && s.value.readings === want[i]!.readings),
          schedule: Schedule.spaced("100 millis")
        }),
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("the worker did not take every reading") })
      )
      const got = yield* summaries
      expect(got.map(Option.getOrThrow)).toEqual(want.map((e) => ({ readings: e.readings, min: e.min / 10, max: e.max / 10, average: e.sum / e.readings / 10 })))
      expect(deadLetters.map((e) => e.error)).toEqual(["InvalidEventError", "InvalidEventError"])
    }))
})
