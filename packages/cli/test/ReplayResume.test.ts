/**
 * A replay run again goes on from its checkpoint in the shadow table
 * (kinesalite and dynalite, in process): events put after a first run are in
 * the shadow after a second, which reads only them; a third reads nothing;
 * and a run without the checkpoint, reading everything again, finds every
 * record applied (the same watermarks) and changes nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Processor from "@eddy/core/Processor"
import * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as ReplayCheckpoint from "@eddy/dynamodb/ReplayCheckpoint"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as PayloadHash from "@eddy/runtime/PayloadHash"
import { Effect, Layer, Option, Redacted, Schedule } from "effect"
import * as Replay from "../src/Replay"
import { pipelines, type Reading, totalByDevice } from "./fixtures/pipelines"

const STREAM = "meters"
const credentials = { accessKeyId: "local", secretAccessKey: Redacted.make("local") }
const SHADOW = "shadow-aggregates"

// Every 25th reading is sent twice by its producer: the same id at a new sequence number.
const readings: ReadonlyArray<Reading> = Array.from({ length: 900 }, (_, i) => ({ type: "reading", id: `m-${i}`, device: `d${i % 6}`, value: (i % 13) - 2, at: Date.UTC(2026, 10, 21) }))
const sentOf = (batch: ReadonlyArray<Reading>) => batch.flatMap((r) => (Number(r.id.slice(2)) % 25 === 0 ? [r, r] : [r]))
const total = (batch: ReadonlyArray<Reading>, device: string) => batch.filter((r) => r.device === device).reduce((sum, r) => sum + r.value, 0)

const put = (batch: ReadonlyArray<Reading>) =>
  Effect.flatMap(Kinesis.Kinesis, (k) =>
    Effect.forEach(
      Array.from({ length: Math.ceil(batch.length / 500) }, (_, i) => batch.slice(i * 500, i * 500 + 500)),
      (records) => k.putRecords({ StreamName: STREAM, Records: records.map((r) => ({ PartitionKey: r.device, Data: new TextEncoder().encode(JSON.stringify(r)) })) }),
      { discard: true }
    ))

const active = Effect.flatMap(Kinesis.Kinesis, (k) => k.describeStreamSummary({ StreamName: STREAM })).pipe(
  Effect.filterOrFail((s) => s.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => new Error("stream not ACTIVE")),
  Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
)

/** The pipelines through the Processor into the shadow table, as `eddy replay run` wires them. */
const processor = Processor.layer({ pipelines: pipelines.map((p) => ({ ...p, store: Store.Store })), payloadHash: PayloadHash.sha256Hex }).pipe(
  Layer.provide(Layer.mergeAll(
    DynamoStore.layer({ table: SHADOW, followAlias: false }),
    DynamoDeduper.layer({ table: "dedup", namespace: SHADOW, retention: "30 days" }),
    DeadLetter.layerMemory
  ))
)

const replay = (resume: boolean) =>
  Effect.gen(function*() {
    const checkpoints = resume ? yield* Replay.checkpointsIn(SHADOW, STREAM) : undefined
    const until = Date.now()
    return yield* Replay.run({
      stream: STREAM,
      from: Replay.From.TrimHorizon(),
      until,
      read: { limit: 100 },
      onProgress: () => Effect.void,
      ...(checkpoints === undefined ? {} : { checkpoints })
    }).pipe(Effect.provide(processor))
  })

const shadowTotal = (device: string) =>
  Effect.flatMap(DynamoStore.make({ table: SHADOW, followAlias: false }), (store) =>
    Store.get(totalByDevice.aggregate, { pipeline: totalByDevice.name, key: device, bucket: "all" }).pipe(Effect.provideService(Store.Store, store)))

describe("eddy replay, run again", () => {
  it.scopedLive("goes on from its checkpoint: later events reach the shadow, each once, and nothing is read twice", () =>
    Effect.gen(function*() {
      const [k, d] = yield* Effect.all([Kinesalite.start(), Dynalite.start()])
      const clients = Layer.merge(
        Kinesis.layer({ region: "us-east-1", endpoint: k.endpoint, credentials }),
        DynamoClient.layer({ region: "us-east-1", endpoint: d.endpoint, credentials })
      )
      yield* Effect.gen(function*() {
        yield* Tables.ensure({ aggregate: SHADOW, dedup: "dedup" })
        yield* Effect.flatMap(Kinesis.Kinesis, (client) => client.createStream({ StreamName: STREAM, ShardCount: 2 }))
        yield* active
        const first = readings.slice(0, 600)
        const later = readings.slice(600)
        yield* put(sentOf(first))

        const one = yield* replay(true)
        expect(one.totals).toMatchObject({ read: sentOf(first).length, applied: first.length, duplicate: sentOf(first).length - first.length, failed: 0, finished: 2 })
        expect(one.shards.map((s) => s.resumed)).toEqual([false, false])
        const saved = yield* ReplayCheckpoint.load(SHADOW, STREAM)
        expect([...saved.keys()].sort()).toEqual(["shardId-000000000000", "shardId-000000000001"])

        // Events that arrive between the first run and the switch: the second run reads only them.
        yield* put(sentOf(later))
        const two = yield* replay(true)
        expect(two.totals).toMatchObject({ read: sentOf(later).length, applied: later.length, duplicate: sentOf(later).length - later.length, failed: 0, finished: 2 })
        expect(two.shards.map((s) => s.resumed)).toEqual([true, true])
        for (const device of ["d0", "d1", "d5"]) expect(yield* shadowTotal(device)).toEqual(Option.some(total(readings, device)))

        const three = yield* replay(true)
        expect(three.totals).toMatchObject({ read: 0, applied: 0, duplicate: 0, finished: 2 })

        // Without the checkpoint it reads everything again and finds it all applied: the watermarks, not the checkpoint, make it exactly once.
        const whole = yield* replay(false)
        expect(whole.totals).toMatchObject({ read: sentOf(readings).length, applied: 0, duplicate: sentOf(readings).length, failed: 0 })
        for (const device of ["d0", "d1", "d5"]) expect(yield* shadowTotal(device)).toEqual(Option.some(total(readings, device)))
      }).pipe(Effect.provide(clients))
    }), 120_000)
})
