/**
 * Strict in-order processing on both drivers, against the emulators
 * (kinesalite, dynalite, real SDK clients): a pipeline that throws on one
 * event halts its shard there. Nothing after it is written or checkpointed,
 * nothing is dead-lettered, the halt is visible (the halted-shards gauge,
 * `/readyz`, the `ShardsHalted` EMF metric the alarm watches), and once the fault is removed the shard resumes and every
 * aggregate is exact.
 */
import { describe, expect, it } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import type { CommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as Leases from "@eddy/core/Leases"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { Duration, Effect, Layer, Metric, Option, Schedule } from "effect"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"
import * as Service from "../src/Service"
import { encode, eventOf, expectedItems, mismatches, pipelines, shardRecords } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

const orders = (count: number) => sampleOrders(count, { products: 20, customers: 50, intervalMillis: 60_000 })

/** The commerce pipelines and one more that throws on `poison` while `fault.on`: a bug, until it is fixed. */
const fragile = (poison: CommerceEvent, fault: { on: boolean }) => [
  ...pipelines,
  Pipeline.make({
    name: "orders_priced",
    source: pipelines[0]!.source as Pipeline.EventSource<CommerceEvent>,
    events: ["order.created"],
    key: (e) => {
      if (fault.on && e.eventId === poison.eventId) throw new Error("cannot price this order")
      return "all"
    },
    value: () => 1,
    aggregate: Monoid.sum
  })
]

/** How many orders `orders_priced` counted: its one item, or 0. */
const priced = (store: Store.Store["Type"]) =>
  Effect.map(store.getMany(Monoid.sum, [{ pipeline: "orders_priced", key: "all", bucket: "all" }]), ([v]) => Option.match(v!, { onNone: () => 0, onSome: (s) => s }))

/** The store, deduper and lease table on the local DynamoDB; dead letters in memory. */
const dynamoState = F.dynamoState("10 seconds")

const halted = Effect.map(Metric.value(Service.metrics.shardsHalted), (s) => s.value)
const rereads = Effect.map(Metric.value(Service.metrics.rereads), (s) => s.count)

/** The `ShardsHalted` values of the EMF lines written so far. */
const haltedValues = (lines: ReadonlyArray<string>) =>
  lines.map((l) => JSON.parse(l) as { ShardsHalted?: number }).flatMap((d) => d.ShardsHalted === undefined ? [] : [d.ShardsHalted])
/** `values` with each run of one value taken once. */
const runs = (values: ReadonlyArray<number>) => values.filter((v, i) => i === 0 || values[i - 1] !== v)

describe("strict order", () => {
  it.scopedLive("service: halts the shard at the event a pipeline throws on, writes and checkpoints nothing after it, alarms, and resumes once fixed", () =>
    Effect.gen(function*() {
      yield* F.onEmulators(() => Effect.gen(function*() {
        const { deadLettered, layer, leases, store } = yield* dynamoState
        yield* F.createStream(F.streamName, 1)
        const events = orders(12)
        const poison = events[5]!
        const fault = { on: true }
        const tips = yield* F.put(F.streamName, events.map((e) => ({ PartitionKey: e.order.id, Data: encode(e) })))
        const lease = `${F.streamName}:shardId-000000000000`
        const before = yield* rereads
        const emf: Array<string> = []
        const writer = Emf.Writer.of({ write: (documents) => Effect.sync(() => void emf.push(...documents.map(Emf.render))) })

        const worker = yield* Effect.provideService(F.startService({
          pipelines: fragile(poison, fault),
          streams: [{ name: F.streamName }],
          workerId: "strict-1",
          initialPosition: "TRIM_HORIZON",
          strictOrder: true,
          stuckAfter: Duration.millis(100),
          // One record per batch, so the records before the poison are checkpointed before it is reached.
          readLimit: 1,
          checkpointInterval: Duration.zero,
          checkpointRecords: 1,
          port: 0,
          pollInterval: Duration.millis(10),
          discoveryInterval: Duration.millis(200),
          gracePeriod: Duration.seconds(10),
          read: { maxIdleInterval: Duration.millis(50) },
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis),
          retry: Schedule.recurs(1),
          metricsNamespace: "eddy-test",
          // A minute in production: the alarm's period.
          haltedMetricInterval: Duration.millis(100)
        }), Emf.Writer, writer)
        // Halted: re-read at the poison twice (the strict backoff: about 1 s, then 2 s), and reported.
        yield* F.until(Effect.map(rereads, (n) => n >= before + 2), "the shard is re-read at the poison twice", "30 seconds")
        const status = yield* worker.service.status
        expect(status.ready).toBe(false)
        expect(status.problems).toContainEqual(expect.stringMatching(/^shard orders:shardId-000000000000 is stuck: .*PipelineFailure: pipeline orders_priced failed on this event: cannot price this order/))
        expect(yield* halted).toBe(1)
        // The alarm's metric: 1 for the stream, written again while the shard stays halted.
        yield* F.until(Effect.sync(() => haltedValues(emf).filter((v) => v === 1).length >= 2), "ShardsHalted 1 is written twice")
        expect(JSON.parse(emf.find((l) => l.includes(`"ShardsHalted":1`))!)).toMatchObject({
          stream: F.streamName,
          workerId: "strict-1",
          ShardsHalted: 1,
          _aws: { CloudWatchMetrics: [{ Namespace: "eddy-test", Dimensions: [["stream"]], Metrics: [{ Name: "ShardsHalted", Unit: "Count" }] }] }
        })
        // Everything before the poison applied, nothing after it: its watermarks and the count stop there.
        expect(yield* mismatches(store, expectedItems(events.slice(0, 5)))).toEqual([])
        expect(yield* priced(store)).toBe(5)
        expect(yield* deadLettered).toEqual([])
        // The checkpoint is the record before the poison, and the lease is still this worker's.
        const held = (yield* leases.list).find((l) => l.leaseKey === lease)!
        expect(held.leaseOwner).toBe("strict-1")
        expect(held.checkpoint.sequenceNumber).toBe((yield* sequenceOf(4)))

        // Fixed: the next re-read applies the poison and everything after it, exactly once.
        fault.on = false
        yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "the shard is checkpointed at its tip", "60 seconds")
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
        expect(yield* priced(store)).toBe(12)
        expect(yield* deadLettered).toEqual([])
        yield* F.until(Effect.map(worker.service.status, (s) => s.ready), "the worker is ready again")
        expect(yield* halted).toBe(0)
        yield* F.until(Effect.sync(() => haltedValues(emf).at(-1) === 0), "ShardsHalted 0 is written once the shard resumed")
        // 0 at start, 1 while halted, 0 once it resumed; a 0 is not repeated.
        expect(runs(haltedValues(emf))).toEqual([0, 1, 0])
        yield* worker.stop
      }))
    }))

  it.scopedLive("Lambda: blocks at the event a pipeline throws on, writes nothing after it in its chunk, and the fixed redelivery is exact", () =>
    Effect.gen(function*() {
      yield* F.onEmulators(() => Effect.gen(function*() {
        const { deadLettered, layer, store } = yield* dynamoState
        const events = orders(12)
        const fault = { on: true }
        const quiet = Layer.succeed(Emf.Writer, { write: () => Effect.void })
        // One chunk: the poison and the records after it are processed together.
        const handler = Lambda.handler({ pipelines: fragile(events[6]!, fault), layer: Layer.merge(layer, quiet), strictOrder: true, chunkSize: 100, retry: Schedule.recurs(1) })
        yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
        const records = shardRecords(events.map(encode))
        const first = yield* Effect.promise(() => handler(eventOf(records), EventSourceMapping.context()))
        expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: records[6]!.sequenceNumber }] })
        expect(yield* mismatches(store, expectedItems(events.slice(0, 6)))).toEqual([])
        expect(yield* priced(store)).toBe(6)
        // Redelivered while the bug is still there: blocked at the same record.
        const again = yield* Effect.promise(() => handler(eventOf(records.slice(6)), EventSourceMapping.context()))
        expect(again).toEqual({ batchItemFailures: [{ itemIdentifier: records[6]!.sequenceNumber }] })
        expect(yield* priced(store)).toBe(6)

        fault.on = false
        const fixed = yield* Effect.promise(() => handler(eventOf(records.slice(6)), EventSourceMapping.context()))
        expect(fixed).toEqual({ batchItemFailures: [] })
        expect(yield* mismatches(store, expectedItems(events))).toEqual([])
        expect(yield* priced(store)).toBe(12)
        expect(yield* deadLettered).toEqual([])
      }))
    }))
})

/** The sequence number of the n-th record of the test stream's only shard. */
const sequenceOf = (n: number) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const iterator = (yield* kinesis.getShardIterator({ StreamName: F.streamName, ShardId: "shardId-000000000000", ShardIteratorType: "TRIM_HORIZON" })).ShardIterator!
    const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: n + 1 })
    return page.Records![n]!.SequenceNumber!
  })
