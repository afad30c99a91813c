/**
 * The service driver's sustained throughput and memory: one worker (the
 * commerce pipelines, in this process) reads a local 4-shard stream from its
 * start, beside a bare GetRecords loop over the same shards in the same run.
 *
 * - Kinesis: kinesalite in a child process, so that this process' CPU and
 *   memory are the worker's alone. The records are order events written as KPL
 *   aggregates of 100 (about 50 KB each; the worker deaggregates them), which
 *   is what lets a million records fit the emulator in a few minutes.
 * - State: the in-memory store (bounded: every wave of orders covers the same
 *   hours, so the number of aggregates stays the same), the Redis deduper on
 *   127.0.0.1:6379 (so a million claims do not pile up in this process), and
 *   in-memory leases.
 * - Reads: 100 aggregates (10,000 records) per GetRecords, no pause between
 *   calls: the local ceiling, not Kinesis' 2 MB/s per shard.
 *
 * Memory is sampled every 100,000 records: resident set and V8 heap as they
 * are, and the heap after a full collection (what the worker really holds).
 * `EDDY_BENCH_SERVICE_RECORDS` sets how many records (default 1,000,000).
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import * as Leases from "@eddy/core/Leases"
import * as Metrics from "@eddy/core/Metrics"
import * as Store from "@eddy/core/Store"
import { pipelines } from "@eddy/commerce-analytics/pipelines"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Kpl from "@eddy/kinesis/Kpl"
import * as RedisClient from "@eddy/redis/RedisClient"
import * as RedisDeduper from "@eddy/redis/RedisDeduper"
import * as Service from "@eddy/runtime/Service"
import { Duration, Effect, Exit, Layer, Logger, LogLevel, Metric, Scope } from "effect"
import { spawn } from "node:child_process"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { median, table } from "./measure"

const TOTAL = Number(process.env.EDDY_BENCH_SERVICE_RECORDS ?? 1_000_000)
const SHARDS = 4
const PER_AGGREGATE = 100
const READ_LIMIT = 100
const WAVE = 10_000
const SAMPLE_EVERY = 100_000
const BASELINE_RUNS = 3
const SERVICE_RUNS = 3
const STREAM = "bench-orders"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10

/** kinesalite in a child process; its endpoint, and a way to stop it. */
const kinesalite = Effect.acquireRelease(
  Effect.async<{ readonly endpoint: string; readonly stop: () => void }, Error>((resume) => {
    const code = `
      import { Effect } from "effect"
      import { Kinesalite } from "@eddy/local"
      Effect.runFork(Effect.scoped(Effect.flatMap(Kinesalite.start(), ({ endpoint }) => Effect.zipRight(Effect.sync(() => console.log(endpoint)), Effect.never))))`
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout.once("data", (b: Buffer) => resume(Effect.succeed({ endpoint: b.toString().trim(), stop: () => void child.kill("SIGKILL") })))
    child.once("exit", (code) => resume(Effect.fail(new Error(`kinesalite exited with ${code} before it listened`))))
  }),
  ({ stop }) => Effect.sync(stop)
)

/** Writes `TOTAL` order events as aggregates of `PER_AGGREGATE`; returns the Kinesis records per shard. */
const load = Effect.gen(function*() {
  const kinesis = yield* Kinesis.Kinesis
  yield* kinesis.createStream({ StreamName: STREAM, ShardCount: SHARDS })
  const perShard = new Map<string, number>()
  for (let offset = 0; offset < TOTAL; offset += WAVE) {
    // Same event times every wave: the store holds the same aggregates throughout.
    const events = sampleOrders(Math.min(WAVE, TOTAL - offset), { offset, customers: 50_000 })
    const aggregates: Array<{ PartitionKey: string; Data: Uint8Array }> = []
    for (let i = 0; i < events.length; i += PER_AGGREGATE) {
      const users = events.slice(i, i + PER_AGGREGATE).map((e) => ({ partitionKey: e.order.id, data: encodeCommerceEvent(e) }))
      aggregates.push({ PartitionKey: users[0]!.partitionKey, Data: Kpl.aggregate(users) })
    }
    const requests: Array<typeof aggregates> = []
    for (let i = 0; i < aggregates.length; i += 40) requests.push(aggregates.slice(i, i + 40))
    yield* Effect.forEach(requests, (Records) =>
      Effect.flatMap(kinesis.putRecords({ StreamName: STREAM, Records }), (out) => {
        if ((out.FailedRecordCount ?? 0) > 0) return Effect.dieMessage(`kinesalite refused ${out.FailedRecordCount} records`)
        for (const r of out.Records!) perShard.set(r.ShardId!, (perShard.get(r.ShardId!) ?? 0) + 1)
        return Effect.void
      }), { concurrency: 4, discard: true })
  }
  return perShard
})

/** The baseline: GetRecords on every shard from its start until all its records are read, nothing done with them. */
const bareLoop = (perShard: ReadonlyMap<string, number>) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const started = performance.now()
    yield* Effect.forEach(perShard, ([ShardId, expected]) =>
      Effect.gen(function*() {
        let iterator = (yield* kinesis.getShardIterator({ StreamName: STREAM, ShardId, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
        let read = 0
        while (read < expected) {
          const out = yield* kinesis.getRecords({ ShardIterator: iterator!, Limit: READ_LIMIT })
          read += out.Records!.length
          iterator = out.NextShardIterator
        }
      }), { concurrency: "unbounded", discard: true })
    return (TOTAL / (performance.now() - started)) * 1000
  })

interface Sample {
  readonly records: number
  readonly seconds: number
  readonly rss: number
  readonly heapUsed: number
  readonly heapAfterGc: number | undefined
}

/** One worker from TRIM_HORIZON to the last record, with fresh state; samples memory every `SAMPLE_EVERY` records. */
const serviceRun = (endpoint: string, redis: Layer.Layer<RedisClient.RedisClient>, run: number, collect: boolean) =>
  Effect.gen(function*() {
    const recordsIn = () => Effect.map(Metric.value(Metrics.recordsIn), (s) => s.count)
    const before = yield* recordsIn()
    const scope = yield* Scope.make()
    const state = Layer.mergeAll(
      Store.layerMemory,
      DeadLetterSinks.layerStdout,
      // A namespace per run: each run claims every event afresh. Claims expire soon after the bench.
      RedisDeduper.layer({ namespace: `eddy:bench:service:${Date.now()}:${run}`, retention: "15 minutes" }).pipe(Layer.provide(redis))
    )
    const samples: Array<Sample> = []
    const sample = (records: number, seconds: number) => {
      const { heapUsed, rss } = process.memoryUsage()
      let heapAfterGc: number | undefined
      if (collect) {
        gc()
        heapAfterGc = process.memoryUsage().heapUsed
      }
      samples.push({ records, seconds, rss, heapUsed, heapAfterGc })
    }
    const started = performance.now()
    sample(0, 0)
    yield* Layer.buildWithScope(
      Service.layer({
        pipelines,
        layer: state,
        kinesis: Kinesis.layer({ endpoint }),
        leases: Leases.layerMemory(),
        streams: [{ name: STREAM }],
        workerId: `bench-${run}`,
        port: 0,
        readLimit: READ_LIMIT,
        pollInterval: Duration.zero,
        discoveryInterval: Duration.minutes(10)
      }),
      scope
    )
    let next = SAMPLE_EVERY
    while (true) {
      const done = (yield* recordsIn()) - before
      if (done >= next) {
        sample(done, (performance.now() - started) / 1000)
        next += SAMPLE_EVERY
      }
      if (done >= TOTAL) break
      yield* Effect.sleep("20 millis")
    }
    const seconds = (performance.now() - started) / 1000
    yield* Scope.close(scope, Exit.void)
    return { rate: TOTAL / seconds, samples }
  })

export async function run(): Promise<void> {
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const redisClient = yield* RedisClient.make().pipe(
      Effect.mapError((e) => new Error(`the service benchmark keeps its dedup claims in Redis: ${e.message} (start redis-server, as .ci/run does)`))
    )
    const redis = Layer.succeed(RedisClient.RedisClient, redisClient)
    const { endpoint } = yield* kinesalite
    const program = Effect.gen(function*() {
      const loadStarted = performance.now()
      const perShard = yield* load
      console.log(
        `${TOTAL.toLocaleString("en-US")} order events in ${(TOTAL / PER_AGGREGATE).toLocaleString("en-US")} KPL aggregates over ${SHARDS} shards ` +
          `(${Array.from(perShard.values()).join("/")}), written in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s\n`
      )
      const baseline: Array<number> = []
      for (let i = 0; i < BASELINE_RUNS; i++) baseline.push(yield* bareLoop(perShard))
      const service: Array<{ rate: number; samples: ReadonlyArray<Sample> }> = []
      // The first run collects garbage at each sample to show the live heap; the others are timed undisturbed.
      for (let i = 0; i < SERVICE_RUNS; i++) service.push(yield* serviceRun(endpoint, redis, i, i === 0))
      const timed = service.slice(1).map((s) => s.rate)
      const baselineRate = median(baseline)
      const serviceRate = median(timed)
      table([
        { reader: "bare GetRecords loop (baseline)", "records/s": Math.round(baselineRate), runs: baseline.map((r) => Math.round(r)).join(", "), "vs baseline": "1.00" },
        {
          reader: "service worker (decode, dedup, fold, store, checkpoint)",
          "records/s": Math.round(serviceRate),
          runs: timed.map((r) => Math.round(r)).join(", "),
          "vs baseline": (serviceRate / baselineRate).toFixed(2)
        }
      ])
      console.log(
        `\nMemory of the worker process across ${TOTAL.toLocaleString("en-US")} records (first service run, ${Math.round(service[0]!.rate)} records/s ` +
          `with its forced collections; the resident set at 0 already holds what writing the stream and the baseline left to the allocator):\n`
      )
      table(service[0]!.samples.map((s) => ({
        records: s.records,
        "at s": s.seconds.toFixed(1),
        "RSS MB": mb(s.rss),
        "heap used MB": mb(s.heapUsed),
        "heap after GC MB": s.heapAfterGc === undefined ? "-" : mb(s.heapAfterGc)
      })))
      if (TOTAL < 1_000_000) console.log(`\n(${TOTAL.toLocaleString("en-US")} records, set by EDDY_BENCH_SERVICE_RECORDS; the default is 1,000,000)`)
    })
    // Warnings and errors only: the worker's lease and shard logs would drown the tables.
    yield* program.pipe(Effect.provide(Kinesis.layer({ endpoint })), Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  })))
}
