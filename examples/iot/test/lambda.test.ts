/**
 * The Lambda entry itself (`src/lambda.ts`, configured from the environment
 * as when deployed) behind a simulated event-source mapping on a local
 * Kinesis (kinesalite), state in a local DynamoDB (dynalite): every device's
 * minute holds the min, max and average a fold by hand gives.
 */
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Harness from "@eddy/testing/Harness"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { summary } from "../src/summary"
import { expected, poison, publish, sampleReadings, streamName } from "./support"

describe("iot on Lambda", () => {
  it.scopedLive("keeps min, max, sum and count per device per minute in DynamoDB, each reading once", () =>
    Effect.gen(function*() {
      const kinesalite = yield* Kinesalite.start()
      const dynalite = yield* Dynalite.start()
      const kinesis = yield* Harness.kinesisWith({ endpoint: kinesalite.endpoint }, { [streamName]: 2, "iot-dead-letters": 1 })
      const dynamo = DynamoClient.layer({ endpoint: dynalite.endpoint, region: "us-east-1" })
      yield* Tables.ensure({ aggregate: "iot-aggregates", dedup: "iot-dedup" }).pipe(Effect.provide(dynamo))
      const readings = sampleReadings(300)
      yield* publish(readings, 60).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      // The entry reads its tables and endpoint from the environment, as deployed.
      yield* Harness.withEnv({
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
        AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
        EDDY_AGGREGATE_TABLE: "iot-aggregates",
        EDDY_DEDUP_TABLE: "iot-dedup",
        EDDY_DEAD_LETTER: "kinesis:iot-dead-letters"
      })
      const { handler } = yield* Effect.promise(() => import("../src/lambda"))
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const invoked: Array<number> = []
      const stats = yield* EventSourceMapping.run(async (event, context) => {
        invoked.push(event.Records.length)
        return handler(event, context)
      }, { streamName, batchSize: 100 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
      expect(invoked.reduce((a, b) => a + b, 0)).toBe(readings.length + 60 + poison.length)

      // The broken readings went to the dead-letter stream, with the reason.
      const iterator = yield* kinesis.getShardIterator({ StreamName: "iot-dead-letters", ShardId: "shardId-000000000000", ShardIteratorType: "TRIM_HORIZON" })
      const sent = yield* kinesis.getRecords({ ShardIterator: iterator.ShardIterator! })
      const reasons = sent.Records!.map((r) => JSON.parse(new TextDecoder().decode(r.Data!)).error as string)
      expect(reasons).toEqual(["InvalidEventError", "InvalidEventError"])

      const store = Layer.provide(DynamoStore.layer({ table: "iot-aggregates" }), dynamo)
      const wrong: Array<string> = []
      for (const e of expected(readings)) {
        const got = Option.getOrUndefined(yield* summary(e.deviceId, e.bucket).pipe(Effect.provide(store)))
        const want = { readings: e.readings, min: e.min / 10, max: e.max / 10, average: e.sum / e.readings / 10 }
        if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${e.deviceId} ${e.bucket}: ${JSON.stringify(got)}`)
      }
      expect(wrong).toEqual([])
      expect(Option.isNone(yield* summary("device-1", "2026-11-21T08:59Z").pipe(Effect.provide(store)))).toBe(true)
    }))
})
