/**
 * One reader of the service benchmark, in a process of its own so that its
 * CPU and resident memory are its alone: the raw consumer loop, or one
 * service worker. `service.bench.ts` starts it with its settings in the
 * environment and reads one JSON line of results from its stdout.
 *
 * - `EDDY_BENCH_READER`: `raw`, or `worker`.
 * - `EDDY_BENCH_ENDPOINT`, `EDDY_BENCH_STREAM`, `EDDY_BENCH_RECORDS`, `EDDY_BENCH_READ_LIMIT`.
 * - worker only: `EDDY_BENCH_DEDUP` (`memory` or `redis`), `EDDY_BENCH_PIPELINES`
 *   (`revenue`: the one pipeline the raw loop computes, or `commerce`: all of
 *   them), `EDDY_BENCH_SAMPLE_GC` (`1`: collect garbage at each memory sample;
 *   needs `--expose-gc`).
 */
import { timestampMillis } from "@eddy/commerce/CommerceEvent"
import { pipelines, revenueByProductHourly } from "@eddy/commerce-analytics/pipelines"
import * as Deduper from "@eddy/core/Deduper"
import * as Leases from "@eddy/core/Leases"
import * as Metrics from "@eddy/core/Metrics"
import * as Store from "@eddy/core/Store"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Kpl from "@eddy/kinesis/Kpl"
import * as RedisClient from "@eddy/redis/RedisClient"
import * as RedisDeduper from "@eddy/redis/RedisDeduper"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import * as Service from "@eddy/runtime/Service"
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, ListShardsCommand } from "@aws-sdk/client-kinesis"
import { Duration, Effect, Exit, Layer, Logger, LogLevel, Metric, Scope } from "effect"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set: this script is started by service.bench.ts`)
  return value
}

const endpoint = env("EDDY_BENCH_ENDPOINT")
const stream = env("EDDY_BENCH_STREAM")
const total = Number(env("EDDY_BENCH_RECORDS"))
const readLimit = Number(env("EDDY_BENCH_READ_LIMIT"))
const SAMPLE_EVERY = 100_000

/** Memory at a point of the run, in bytes. */
export interface Sample {
  readonly records: number
  readonly seconds: number
  readonly rss: number
  readonly heapUsed: number
  /** Memory outside the V8 heap that JavaScript objects hold: Buffers, mostly. */
  readonly external: number
  /** V8 heap reserved: used plus garbage and free space not yet returned. */
  readonly heapTotal: number
  readonly heapAfterGc: number | undefined
}

export interface Result {
  readonly rate: number
  readonly cpuSeconds: number
  readonly samples: ReadonlyArray<Sample>
  /** What the reader computed, to check that the readers agree: revenue summed over every product and hour. */
  readonly revenue: number
  /** GetRecords requests sent, those that returned nothing included. */
  readonly getRecordsCalls: number
}

let getRecordsCalls = 0

/** The SDK client both readers use, counting the GetRecords requests it sends. */
const countingClient = Effect.tap(Kinesis.makeClient({ endpoint }), (client) =>
  Effect.sync(() =>
    client.middlewareStack.add((next, context) => (args) => {
      if (context.commandName === "GetRecordsCommand") getRecordsCalls++
      return next(args)
    }, { step: "initialize", name: "countGetRecords" })
  ))

const gc = (globalThis as { gc?: () => void }).gc
const collect = process.env.EDDY_BENCH_SAMPLE_GC === "1"
if (collect && gc === undefined) throw new Error("EDDY_BENCH_SAMPLE_GC=1 needs node --expose-gc")

const sampler = () => {
  const started = performance.now()
  const samples: Array<Sample> = []
  let next = 0
  return {
    samples,
    started,
    /** Samples memory each time another `SAMPLE_EVERY` records are done. */
    at: (records: number) => {
      if (records < next) return
      const { external, heapTotal, heapUsed, rss } = process.memoryUsage()
      let heapAfterGc: number | undefined
      if (collect) {
        gc!()
        heapAfterGc = process.memoryUsage().heapUsed
      }
      samples.push({ records, seconds: (performance.now() - started) / 1000, rss, heapUsed, external, heapTotal, heapAfterGc })
      next = (Math.floor(records / SAMPLE_EVERY) + 1) * SAMPLE_EVERY
    }
  }
}

interface OrderEvent {
  readonly type: string
  readonly occurredAt: string
  readonly order: { readonly lineItems: ReadonlyArray<{ readonly productId: string; readonly quantity: number; readonly unitPrice: number }> }
}

/**
 * The raw consumer loop: what a hand-written consumer does with the same
 * stream, and no more: per shard, GetRecords from TRIM_HORIZON with the SDK
 * client, KPL aggregates unpacked, each user record parsed with JSON.parse and
 * its order lines summed into revenue per (product, hour) in a Map. No
 * validation, no dedup, no store, no checkpoints.
 */
const rawLoop = async (client: KinesisClient): Promise<Result> => {
  const decoder = new TextDecoder()
  const sums = new Map<string, number>()
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards!
  const memory = sampler()
  const cpu = process.cpuUsage()
  memory.at(0)
  let done = 0
  await Promise.all(shards.map(async ({ ShardId }) => {
    let iterator = (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator
    while (iterator !== undefined) {
      const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: readLimit }))
      for (const record of out.Records!) {
        const users = Kpl.deaggregate(record.Data!, record.PartitionKey!)
        if (users._tag === "Left") throw new Error(`an aggregate did not unpack: ${users.left.message}`)
        for (const user of users.right) {
          const event = JSON.parse(decoder.decode(user.data)) as OrderEvent
          if (event.type !== "order.created") continue
          const hour = Math.floor(timestampMillis(event.occurredAt) / 3_600_000)
          for (const line of event.order.lineItems) {
            const key = `${line.productId}|${hour}`
            sums.set(key, (sums.get(key) ?? 0) + line.quantity * line.unitPrice)
          }
        }
        done += users.right.length
      }
      memory.at(done)
      // An open shard never ends; the stream is fully written before the run, so an empty page is its end.
      iterator = out.Records!.length === 0 ? undefined : out.NextShardIterator
    }
  }))
  if (done !== total) throw new Error(`the raw loop read ${done} records, not ${total}`)
  const seconds = (performance.now() - memory.started) / 1000
  const used = process.cpuUsage(cpu)
  let revenue = 0
  for (const v of sums.values()) revenue += v
  return { rate: total / seconds, cpuSeconds: (used.user + used.system) / 1e6, samples: memory.samples, revenue, getRecordsCalls }
}

/**
 * Deletes a run's dedup claims, untimed: a run leaves hundreds of thousands
 * of keys, which would otherwise wait out their retention on the machine's server.
 */
const deleteClaims = (namespace: string) =>
  Effect.flatMap(RedisClient.RedisClient, (redis) =>
    Effect.promise(async () => {
      for await (const keys of redis.scanStream({ match: `${namespace}:*`, count: 10_000 })) {
        if (keys.length > 0) await redis.unlink(...keys)
      }
    }))

/** One service worker from TRIM_HORIZON until every record is processed, with fresh state. */
const worker = Effect.gen(function*() {
  const dedup = env("EDDY_BENCH_DEDUP")
  const which = env("EDDY_BENCH_PIPELINES")
  const namespace = `eddy:bench:service:${Date.now()}:${process.pid}`
  const redisClient = Layer.scoped(
    RedisClient.RedisClient,
    RedisClient.make().pipe(
      Effect.mapError((e) => new Error(`the Redis row keeps its dedup claims in Redis: ${e.message} (start redis-server on 127.0.0.1:6379)`))
    )
  )
  const deduper = dedup === "memory"
    ? Deduper.layerMemory()
    : dedup === "redis"
    ? RedisDeduper.layer({ namespace, retention: "15 minutes" }).pipe(Layer.provide(redisClient))
    : Layer.die(new Error(`EDDY_BENCH_DEDUP must be memory or redis, got ${dedup}`))
  const chosen = which === "revenue" ? [revenueByProductHourly] : which === "commerce" ? pipelines : undefined
  if (chosen === undefined) return yield* Effect.dieMessage(`EDDY_BENCH_PIPELINES must be revenue or commerce, got ${which}`)
  const memoryStore = yield* Store.makeMemory
  // Every revenue item written, to read the stored revenue back at the end.
  const revenueItems = new Map<string, Store.ItemRef>()
  const store = Store.Store.of({
    ...memoryStore,
    apply: (writes) => {
      for (const w of writes) if (w.pipeline === revenueByProductHourly.name) revenueItems.set(Store.itemId(w), { pipeline: w.pipeline, key: w.key, bucket: w.bucket })
      return memoryStore.apply(writes)
    }
  })
  const recordsIn = Effect.map(Metric.value(Metrics.recordsIn), (s) => s.count)
  const scope = yield* Scope.make()
  const memory = sampler()
  const cpu = process.cpuUsage()
  memory.at(0)
  yield* Layer.buildWithScope(
    Service.layer({
      pipelines: chosen,
      layer: Layer.mergeAll(Layer.succeed(Store.Store, store), DeadLetterSinks.layerStdout, deduper),
      kinesis: Layer.scoped(Kinesis.Kinesis, Effect.map(countingClient, Kinesis.fromClient)),
      leases: Leases.layerMemory(),
      streams: [{ name: stream }],
      workerId: `bench-${process.pid}`,
      port: 0,
      readLimit,
      pollInterval: Duration.zero,
      discoveryInterval: Duration.minutes(10)
    }),
    scope
  )
  while (true) {
    const done = yield* recordsIn
    memory.at(done)
    if (done >= total) break
    yield* Effect.sleep("20 millis")
  }
  const seconds = (performance.now() - memory.started) / 1000
  const used = process.cpuUsage(cpu)
  yield* Scope.close(scope, Exit.void)
  if (dedup === "redis") yield* deleteClaims(namespace).pipe(Effect.provide(redisClient))
  const stored = yield* store.getMany(revenueByProductHourly.aggregate, Array.from(revenueItems.values()))
  const revenue = stored.reduce((n, v) => n + (v._tag === "Some" ? v.value : 0), 0)
  return { rate: total / seconds, cpuSeconds: (used.user + used.system) / 1e6, samples: memory.samples, revenue, getRecordsCalls } satisfies Result
})

const main = env("EDDY_BENCH_READER") === "raw"
  ? Effect.flatMap(countingClient, (client) => Effect.promise(() => rawLoop(client)))
  : worker

Effect.runPromise(main.pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
