/**
 * Enhanced fan-out beside polling, in the same run: one service worker on a
 * local 2-shard stream, reading with `readMode: "poll"` (GetRecords every
 * `pollInterval`, default 200 ms) and with `readMode: "efo"` (a stream
 * consumer of its own, SubscribeToShard over HTTP/2), beside the baseline: a
 * raw SubscribeToShard loop on the same client that only notes arrivals.
 *
 * - Kinesis: kinesis-local (kinesis-mock), the stand-in that serves
 *   SubscribeToShard, through the real SDK clients.
 * - Latency: with the worker at the tip, events are put one at a time at a
 *   steady rate; each one's latency runs from its PutRecords answer to the
 *   store write that holds it. The flush interval is 20 ms in both modes, so
 *   what differs is how records reach the worker.
 * - Catch-up: a backlog read from TRIM_HORIZON by a new worker, records/s.
 *
 * The worker's state is in memory, so the rows measure the read path. The
 * stand-in bounds every row: kinesis-local pushes a subscription's events
 * about once a second, which the baseline shows. On AWS, enhanced fan-out's
 * documented propagation delay is about 70 ms, and polling's about 200 ms
 * with one consumer on the stream.
 */
import * as Decoder from "@eddy/core/Decoder"
import * as Deduper from "@eddy/core/Deduper"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Leases from "@eddy/core/Leases"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as FanOut from "@eddy/kinesis/FanOut"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { KinesisLocal } from "@eddy/local"
import * as Service from "@eddy/runtime/Service"
import * as Harness from "@eddy/testing/Harness"
import { Duration, Effect, Layer, Logger, LogLevel, Schema, Stream } from "effect"
import { median, table } from "./measure"

const SHARDS = 2
const TICKS = Number(process.env.EDDY_BENCH_EFO_EVENTS ?? 300)
const TICK = Duration.millis(20)
const BACKLOG = Number(process.env.EDDY_BENCH_EFO_BACKLOG ?? 20_000)

const Ping = Schema.Struct({ type: Schema.Literal("ping"), id: Schema.String, at: Schema.Number })
const Pings: Pipeline.EventSource<typeof Ping.Type> = { name: "pings", decoder: Decoder.json(Ping), eventId: (e) => e.id, eventTime: (e) => e.at }
/** One item per event, so the first write of a key is the moment its event reached the store. */
const seen = Pipeline.make({ name: "seen", source: Pings, events: ["ping"], key: (e) => e.id, value: () => 1, aggregate: Monoid.count })

const encoder = new TextEncoder()
const ping = (id: string) => ({ PartitionKey: id, Data: encoder.encode(JSON.stringify({ type: "ping", id, at: Date.now() })) })

/** An in-memory store that notes when each key is first written. */
const timedStore = Effect.map(Store.makeMemory, (inner) => {
  const firstWrite = new Map<string, number>()
  const store = Store.Store.of({
    getMany: inner.getMany,
    apply: (writes) =>
      Effect.tap(inner.apply(writes), () =>
        Effect.sync(() => {
          const now = performance.now()
          for (const w of writes) if (!firstWrite.has(w.key)) firstWrite.set(w.key, now)
        }))
  })
  return { store, firstWrite }
})

interface Mode {
  readonly label: string
  readonly readMode: "poll" | "efo" | "raw"
}

const modes: ReadonlyArray<Mode> = [
  { label: "raw SubscribeToShard loop (baseline): the SDK's events, no processing", readMode: "raw" },
  { label: "eddy worker, poll: GetRecords every 200 ms (the default)", readMode: "poll" },
  { label: "eddy worker, efo: SubscribeToShard (enhanced fan-out)", readMode: "efo" }
]

/**
 * The baseline: per shard, one SubscribeToShard from TRIM_HORIZON through the
 * same HTTP/2 client, each record's id noted as it arrives. No decoding,
 * dedup, store or checkpoints; no renewal, as a run is shorter than a
 * subscription's 5 minutes.
 */
const rawSubscriber = (stream: string, kinesis: Kinesis.KinesisApi, fanOut: Layer.Layer<FanOut.FanOut>) =>
  Effect.gen(function*() {
    const arrived = new Map<string, number>()
    const client = yield* FanOut.FanOut
    const consumer = yield* FanOut.register(stream, "raw")
    const shards = (yield* kinesis.listShards({ StreamName: stream })).Shards ?? []
    const decoder = new TextDecoder()
    yield* Effect.forEach(shards, (shard) =>
      client.subscribeToShard({ ConsumerARN: consumer.consumerArn, ShardId: shard.ShardId!, StartingPosition: { Type: "TRIM_HORIZON" } }).pipe(
        Stream.runForEach((event) =>
          Effect.sync(() => {
            const now = performance.now()
            for (const r of event.Records ?? []) arrived.set((JSON.parse(decoder.decode(r.Data)) as { id: string }).id, now)
          })),
        Effect.forkScoped
      ), { discard: true })
    return arrived
  }).pipe(Effect.provide(fanOut), Effect.provideService(Kinesis.Kinesis, kinesis))

/** A reader of `mode` on `stream`, in this process, for the scope; when each event id first reached it (the store, for a worker). */
const reader = (mode: Mode, stream: string, kinesis: Kinesis.KinesisApi, fanOut: Layer.Layer<FanOut.FanOut>) =>
  mode.readMode === "raw" ? rawSubscriber(stream, kinesis, fanOut) : worker(mode.readMode, stream, kinesis, fanOut)

/** A worker reading with `readMode` on `stream`, in this process, for the scope; its store's first-write times. */
const worker = (readMode: "poll" | "efo", stream: string, kinesis: Kinesis.KinesisApi, fanOut: Layer.Layer<FanOut.FanOut>) =>
  Effect.gen(function*() {
    const { firstWrite, store } = yield* timedStore
    const layer = Layer.mergeAll(
      Layer.succeed(Store.Store, store),
      Deduper.layerMemory(),
      Layer.succeed(DeadLetter.DeadLetter, { send: () => Effect.void })
    )
    yield* Layer.build(Service.layer({
      pipelines: [seen],
      layer,
      ...Harness.inProcessWorker(kinesis, [stream]),
      leases: Leases.layerMemory(),
      pollInterval: Duration.millis(200),
      flushInterval: Duration.millis(20),
      readMode,
      consumerName: "bench",
      fanOut
    }))
    return firstWrite
  })

const percentile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!

/** Puts `TICKS` events one at a time, `TICK` apart; each one's latency to its arrival. */
const latencies = (stream: string, arrived: ReadonlyMap<string, number>, prefix: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const putAt = new Map<string, number>()
    for (let i = 0; i < TICKS; i++) {
      const id = `${prefix}-${i}`
      yield* kinesis.putRecords({ StreamName: stream, Records: [ping(id)] })
      putAt.set(id, performance.now())
      yield* Effect.sleep(TICK)
    }
    yield* Harness.until(Effect.sync(() => Array.from(putAt.keys()).every((id) => arrived.has(id))), "every event arrived", { timeout: "60 seconds" })
    return Array.from(putAt, ([id, at]) => arrived.get(id)! - at)
  })

/** A backlog of `BACKLOG` events read by a new worker from TRIM_HORIZON: records/s. */
const catchUp = (mode: Mode, kinesis: Kinesis.KinesisApi, fanOut: Layer.Layer<FanOut.FanOut>) =>
  Effect.scoped(Effect.gen(function*() {
    const stream = `backlog-${mode.readMode}`
    yield* Harness.createStream(stream, SHARDS)
    yield* Harness.putAll(stream, Array.from({ length: BACKLOG }, (_, i) => ping(`b-${i}`)))
    const started = performance.now()
    const firstWrite = yield* reader(mode, stream, kinesis, fanOut)
    yield* Harness.until(Effect.sync(() => firstWrite.size === BACKLOG), "the whole backlog arrived", { timeout: "300 seconds", interval: "20 millis" })
    return BACKLOG / ((performance.now() - started) / 1000)
  }))

const bench = (endpoint: string, kinesis: Kinesis.KinesisApi) => Effect.gen(function*() {
  const fanOut = Layer.succeedContext(yield* Layer.build(FanOut.layer({ endpoint, requestHandler: KinesisLocal.http2Handler() })))
  const rows: Array<Record<string, string | number>> = []
  for (const mode of modes) {
    const ms = yield* Effect.scoped(Effect.gen(function*() {
      const stream = `tip-${mode.readMode}`
      yield* Harness.createStream(stream, SHARDS)
      const firstWrite = yield* reader(mode, stream, kinesis, fanOut)
      // The first events wait for the worker's leases and subscriptions; the timed ones find it at the tip.
      yield* latencies(stream, firstWrite, "warmup")
      return yield* latencies(stream, firstWrite, "tick")
    }))
    const rate = yield* catchUp(mode, kinesis, fanOut)
    rows.push({
      mode: mode.label,
      "latency p50 ms": Math.round(median(ms)),
      "p90 ms": Math.round(percentile(ms, 0.9)),
      "p99 ms": Math.round(percentile(ms, 0.99)),
      [`catch-up of ${BACKLOG.toLocaleString("en-US")}, records/s`]: Math.round(rate)
    })
  }
  const rawP50 = Number(rows[0]!["latency p50 ms"])
  for (const row of rows) row["p50 vs baseline"] = (Number(row["latency p50 ms"]) / rawP50).toFixed(2)
  console.log(`${TICKS} events put one at a time, ${Duration.toMillis(TICK)} ms apart, on ${SHARDS} shards; flush interval 20 ms\n`)
  table(rows)
})

export async function run(): Promise<void> {
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const local = yield* KinesisLocal.start()
    const kinesis = yield* Harness.kinesisWith({ endpoint: local.endpoint }, {})
    yield* bench(local.endpoint, kinesis).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
  })).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
}
