/**
 * The service reading with enhanced fan-out (`EDDY_READ_MODE=efo`) against
 * kinesis-local (kinesis-mock, which serves SubscribeToShard), DynamoDB on
 * dynalite, through the real SDK clients: two workers one after the other,
 * and the aggregates are exact.
 */
import { expect, it } from "@effect/vitest"
import * as Leases from "@eddy/core/Leases"
import * as FanOut from "@eddy/kinesis/FanOut"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, KinesisLocal } from "@eddy/local"
import { ConfigProvider, Duration, Effect, Layer, Schedule } from "effect"
import * as Service from "../src/Service"
import { expectedItems, mismatches, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

it.scopedLive("reads every shard through its stream consumer, worker after worker, and the aggregates are exact", () =>
  Effect.gen(function*() {
    const kinesisLocal = yield* KinesisLocal.start()
    const dynamo = yield* Dynalite.start()
    const fanOut = yield* Layer.build(FanOut.layer({ endpoint: kinesisLocal.endpoint, requestHandler: KinesisLocal.http2Handler() }))
    const clients = F.clients({ kinesis: kinesisLocal.endpoint, dynamo: dynamo.endpoint })
    yield* Effect.gen(function*() {
      const { layer, leases, store } = yield* F.dynamoState("3 seconds")
      yield* F.createStream(F.streamName, 2)
      const settings = yield* Service.settingsConfig({}).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EDDY_STREAM_NAME", F.streamName], ["EDDY_READ_MODE", "efo"], ["EDDY_CONSUMER_NAME", "analytics"]])))
      )
      expect(settings.readMode).toBe("efo")
      const run = (workerId: string, tips: F.Tips) =>
        Effect.gen(function*() {
          const worker = yield* F.startService({
            ...settings,
            pipelines,
            workerId,
            port: 0,
            gracePeriod: Duration.seconds(10),
            checkpointInterval: Duration.millis(200),
            rereadBackoff: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(100))),
            layer,
            leases: Layer.succeed(Leases.Leases, leases),
            kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis),
            fanOut: Layer.succeedContext(fanOut)
          })
          yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "the shards are checkpointed at their tips", "90 seconds")
          yield* worker.stop
        })
      const first = F.traffic(40, { offset: 0 })
      yield* run("w1", yield* F.put(F.streamName, first.records))
      const second = F.traffic(40, { offset: 40 })
      yield* run("w2", yield* F.put(F.streamName, second.records))
      expect(yield* mismatches(store, expectedItems([...first.events, ...second.events]))).toEqual([])
      const consumer = yield* FanOut.register(F.streamName, "analytics").pipe(Effect.provide(fanOut))
      expect(consumer.consumerArn).toContain("/consumer/analytics:")
    }).pipe(Effect.provide(clients))
  }), 240_000)
