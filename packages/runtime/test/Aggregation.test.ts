/**
 * NDJSON and MessagePack aggregates through both drivers, against the
 * emulators (kinesalite, dynalite, real SDK clients): every user record is
 * applied exactly once, a bad one is dead-lettered at its own sub-sequence
 * position, and re-reads and redeliveries that start inside an aggregate (a
 * failed store call) skip exactly what was applied.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { CommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as Leases from "@eddy/core/Leases"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Msgpack from "@eddy/kinesis/Msgpack"
import * as Netstring from "@eddy/kinesis/Netstring"
import * as Producer from "@eddy/kinesis/Producer"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import * as Faults from "@eddy/testing/Faults"
import { Duration, Effect, Either, Layer, Metric, Schedule } from "effect"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"
import * as Service from "../src/Service"
import { encode, eventOf, expectedItems, mismatches, pipelines, positionOf, shardRecords } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

const orders = (count: number) => sampleOrders(count, { products: 20, customers: 50, intervalMillis: 60_000 })
const utf8 = new TextEncoder()

/** The store (behind `faults`), deduper and lease table on the local DynamoDB; dead letters in memory. */
const dynamoState = (faults: Faults.FaultPlan) => F.dynamoState("10 seconds", (store) => Faults.store(faults).pipe(Layer.provide(store)))


describe("aggregation through the drivers", () => {
  it.scopedLive("service: NDJSON aggregates from the producer are applied exactly, a bad line dead-lettered at its position, re-reads inside aggregates exact", () =>
    Effect.gen(function*() {
      yield* F.onEmulators(() => Effect.gen(function*() {
        // Every third store call fails: shards are re-read from checkpoints inside aggregates.
        const { deadLettered, layer, leases, store } = yield* dynamoState((call) => (call % 3 === 1 ? { _tag: "Fail" } : undefined))
        yield* F.createStream(F.streamName, 2)
        const events = orders(120)
        // Six keys, so each key's records share aggregates; a bad line every 25 events, under its neighbour's key.
        const records = events.flatMap((e, i) => {
          const good = { partitionKey: `k${i % 6}`, data: encode(e) }
          return i % 25 === 7 ? [good, { partitionKey: good.partitionKey, data: utf8.encode(`{ "not": json ${i} }`) }] : [good]
        })
        const acks = (yield* Effect.scoped(Effect.flatMap(
          Producer.make({ streamName: F.streamName, aggregation: "ndjson", linger: "20 millis", shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 } }),
          (producer) => producer.putAll(records)
        ))).map((a) => Either.getOrThrow(a))
        const tips: F.Tips = new Map()
        for (const a of acks) if (BigInt(a.sequenceNumber) > BigInt(tips.get(a.shardId) ?? "0")) tips.set(a.shardId, a.sequenceNumber)
        expect(new Set(acks.map((a) => a.sequenceNumber)).size).toBeLessThan(records.length / 4)
        const badAt = acks.filter((_, i) => records[i]!.data[2] === 0x22 && records[i]!.data[3] === 0x6e).map((a) => positionOf({ ...a, subSequenceNumber: a.subSequenceNumber! }))
        expect(badAt).toHaveLength(5)

        const rereads = (yield* Metric.value(Service.metrics.rereads)).count
        const worker = yield* F.startService({
          pipelines,
          streams: [{ name: F.streamName }],
          workerId: "ndjson-1",
          initialPosition: "TRIM_HORIZON",
          aggregation: "ndjson",
          checkpointInterval: Duration.zero,
          checkpointRecords: 1,
          port: 0,
          readLimit: 3,
          pollInterval: Duration.millis(10),
          discoveryInterval: Duration.millis(200),
          gracePeriod: Duration.seconds(10),
          read: { maxIdleInterval: Duration.millis(50) },
          rereadBackoff: Schedule.spaced("20 millis"),
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis),
          retry: Schedule.recurs(0)
        })
        yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "every shard is checkpointed at its tip", "90 seconds")
        yield* worker.stop
        // Failed store calls made the shards be re-read, from checkpoints inside aggregates among others.
        expect((yield* Metric.value(Service.metrics.rereads)).count).toBeGreaterThan(rereads)
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
        const dead = yield* deadLettered
        expect(dead.map((d) => positionOf(d)).sort()).toEqual([...badAt].sort())
        expect(dead.every((d) => d.error === "NotJsonError")).toBe(true)
      }))
    }))

  it.scopedLive("Lambda: MessagePack netstring aggregates decoded with Msgpack.decoder, a bad value dead-lettered at its position, a redelivery inside an aggregate exact", () =>
    Effect.gen(function*() {
      yield* F.onEmulators(() => Effect.gen(function*() {
        // The third store call fails once: the aggregate it falls in is redelivered.
        const { deadLettered, layer, store } = yield* dynamoState((call) => (call === 2 ? { _tag: "Fail" } : undefined))
        const source: Pipeline.EventSource<CommerceEvent> = { ...(pipelines[0]!.source as Pipeline.EventSource<CommerceEvent>), decoder: Msgpack.decoder(CommerceEvent) }
        const msgpackPipelines = pipelines.map((p): Pipeline.Pipeline => ({ ...p, source }))
        const quiet = Layer.succeed(Emf.Writer, { write: () => Effect.void })
        const handler = Lambda.handler({ pipelines: msgpackPipelines, layer: Layer.merge(layer, quiet), aggregation: "msgpack", chunkSize: 6, retry: Schedule.recurs(0) })
        yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))

        const events = orders(40)
        const values = events.map((e) => Msgpack.encode(e))
        // An array where an event map belongs, as the fourth value of the third aggregate.
        values.splice(11, 0, Msgpack.encode(["not", "an", "event"]))
        const aggregates = Array.from({ length: Math.ceil(values.length / 4) }, (_, i) => Netstring.aggregate(values.slice(4 * i, 4 * i + 4)))
        const records = shardRecords(aggregates)
        const first = yield* Effect.promise(() => handler(eventOf(records), EventSourceMapping.context()))
        // Chunks of six user records: the third chunk (user records 12..17, aggregates 3 and 4) fails.
        expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: records[3]!.sequenceNumber }] })
        const dead = yield* deadLettered
        expect(dead.map((d) => [d.error, positionOf(d)])).toEqual([["NotMsgpackError", `shardId-000000000000/${records[2]!.sequenceNumber}/3`]])

        // Lambda resends from the aggregate: what of it was applied is skipped, the rest applied once.
        const again = yield* Effect.promise(() => handler(eventOf(records.slice(3)), EventSourceMapping.context()))
        expect(again).toEqual({ batchItemFailures: [] })
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
        expect(yield* deadLettered).toHaveLength(1)
      }))
    }))
})
