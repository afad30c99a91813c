/**
 * Producer throughput to an in-process kinesalite (4 shards): 100,000 records
 * of about 300 bytes, against a plain loop of one PutRecord per record and a
 * plain loop of 500-record PutRecords calls, each run against a fresh
 * kinesalite, interleaved, median of the runs.
 *
 * Kinesalite never throttles, so the producer's per-shard pacing (1,000
 * records/s per shard by default, which would cap it at 4,000 records/s
 * here) is lifted: this measures the client path, not Kinesis's limits. The
 * PutRecord loop runs a 10,000-record subset, as 100,000 single calls take
 * minutes; its rate is extrapolated to 100,000.
 *
 * The write-ahead log rows are the same producer appending every record to
 * a log in a fresh temporary directory first (fsync before `putAll` queues
 * them with `"put"`, never with `"none"`); "vs Producer" is their cost.
 */
import { Kinesalite } from "@eddy/local"
import { Kinesis, type KinesisApi, layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import * as Producer from "@eddy/kinesis/Producer"
import type * as WriteAheadLog from "@eddy/kinesis/WriteAheadLog"
import { Effect, Either, Layer, Schedule } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { median, table } from "./measure"

const RECORDS = 100_000
const SINGLE_SUBSET = 10_000
const RUNS = 3
const SHARDS = 4

/** ~300-byte JSON-ish payloads over 10,000 partition keys. */
const records = Array.from({ length: RECORDS }, (_, i) => {
  const key = `customer-${i % 10_000}`
  const body = JSON.stringify({ eventId: `evt-${i}`, key, n: i })
  return { partitionKey: key, data: new TextEncoder().encode(body.padEnd(300, " ")) }
})

interface Result {
  readonly millis: number
  readonly calls: number
  readonly records: number
}

/** Runs `body` against a fresh kinesalite stream, counting PutRecords and PutRecord calls. */
const measure = (body: (kinesis: KinesisApi) => Effect.Effect<number, unknown, Kinesis>) =>
  Effect.gen(function*() {
    const real = yield* Kinesis
    yield* real.createStream({ StreamName: "bench", ShardCount: SHARDS })
    yield* real.describeStreamSummary({ StreamName: "bench" }).pipe(
      Effect.repeat({ until: (o) => o.StreamDescriptionSummary?.StreamStatus === "ACTIVE", schedule: Schedule.spaced("5 millis") })
    )
    let calls = 0
    const counted: KinesisApi = {
      ...real,
      putRecords: (input) => Effect.suspend(() => (calls++, real.putRecords(input))),
      putRecord: (input) => Effect.suspend(() => (calls++, real.putRecord(input)))
    }
    const start = performance.now()
    const written = yield* Effect.provideService(body(counted), Kinesis, counted)
    return { millis: performance.now() - start, calls, records: written } satisfies Result
  }).pipe(
    Effect.provide(Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))),
    Effect.scoped
  )

const putRecordLoop = (kinesis: KinesisApi) =>
  Effect.gen(function*() {
    for (const r of records.slice(0, SINGLE_SUBSET)) {
      yield* kinesis.putRecord({ StreamName: "bench", PartitionKey: r.partitionKey, Data: r.data })
    }
    return SINGLE_SUBSET
  })

/** The obvious hand-written batching: 500 at a time, resending whatever a call rejected. */
const putRecordsLoop = (kinesis: KinesisApi) =>
  Effect.gen(function*() {
    for (let i = 0; i < RECORDS; i += 500) {
      let batch = records.slice(i, i + 500).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data }))
      while (batch.length > 0) {
        const out = yield* kinesis.putRecords({ StreamName: "bench", Records: batch })
        batch = batch.filter((_, j) => out.Records?.[j]?.ErrorCode !== undefined)
      }
    }
    return RECORDS
  })

const logDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "eddy-bench-wal-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const producer = (aggregate: boolean, fsync?: WriteAheadLog.Fsync) => (_: KinesisApi) =>
  Effect.scoped(
    Effect.gen(function*() {
      const directory = fsync === undefined ? undefined : yield* logDirectory
      const p = yield* Producer.make({
        streamName: "bench",
        aggregate,
        shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 },
        ...(directory !== undefined && { writeAheadLog: { directory, ...(fsync !== undefined && { fsync }) } })
      })
      const outcomes = yield* p.putAll(records)
      const failed = outcomes.filter(Either.isLeft).length
      if (failed > 0) return yield* Effect.die(new Error(`${failed} records failed`))
      return RECORDS
    })
  )

const variants = [
  { name: `PutRecord loop (${SINGLE_SUBSET.toLocaleString("en-US")} subset, extrapolated)`, body: putRecordLoop },
  { name: "PutRecords loop, 500 per call", body: putRecordsLoop },
  { name: "Producer", body: producer(false) },
  { name: "Producer, aggregate: true", body: producer(true) },
  { name: "Producer, write-ahead log (fsync: put)", body: producer(false, "put") },
  { name: "Producer, write-ahead log (fsync: none)", body: producer(false, "none") }
] as const

export async function run(): Promise<void> {
  const results = new Map<string, Array<Result>>(variants.map((v) => [v.name, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const v of variants) results.get(v.name)!.push(await Effect.runPromise(measure(v.body)))
  }
  const rate = (name: string) => median(results.get(name)!.map((r) => (r.records / r.millis) * 1000))
  const single = rate(variants[0].name)
  const batched = rate(variants[1].name)
  const inMemory = rate(variants[2].name)
  console.log(
    `${RECORDS.toLocaleString("en-US")} records of ~300 bytes to in-process kinesalite, ${SHARDS} shards; median of ${RUNS} runs, each on a fresh kinesalite`
  )
  table(variants.map((v) => {
    const r = rate(v.name)
    const runs = results.get(v.name)!
    const singleCalls = v.body === putRecordLoop
    return {
      variant: v.name,
      "records/s": Math.round(r),
      [`seconds for ${RECORDS.toLocaleString("en-US")}`]: RECORDS / r,
      "API calls": `${median(runs.map((x) => x.calls)).toLocaleString("en-US")} ${singleCalls ? "PutRecord" : "PutRecords"}`,
      "vs PutRecord loop": `${(r / single).toFixed(1)}x`,
      "vs PutRecords loop": `${(r / batched).toFixed(2)}x`,
      "vs Producer": `${(r / inMemory).toFixed(2)}x`
    }
  }))
}
