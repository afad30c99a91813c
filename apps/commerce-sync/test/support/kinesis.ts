/** A local Kinesis (kinesalite, in process, real SDK) and ways to read streams back. */
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Consumer from "@eddy/kinesis/Consumer"
import { Kinesis, layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as Harness from "@eddy/testing/Harness"
import { Chunk, Effect, Layer, Schedule, Stream } from "effect"

export const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

/** Kinesalite never throttles; lift the per-shard pacing so tests run at its speed. */
export const unpaced = { shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 } } as const

let streams = 0
/** A stream name unique in this process, so tests sharing one kinesalite never see each other's records. */
export const uniqueName = (prefix: string): string => `${prefix}-${++streams}`

/** Creates a stream (two shards unless told) and waits until it is ACTIVE. */
export const createStream = (name: string, shards = 2) => Harness.createStream(name, shards)

/** A new product stream and orders stream of `shards` shards each, created and active. */
export const freshStreams = (shards = 1) =>
  Effect.gen(function*() {
    const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
    for (const name of Object.values(streams)) yield* createStream(name, shards)
    return streams
  })

/** Short intervals keep reads quick; the consumer's pacing is tested in its own package. */
const fast: Consumer.AllOptions = { pollInterval: "10 millis", maxIdleInterval: "40 millis", discoveryInterval: "40 millis" }

/** Every record now on the stream, shard by shard, read directly to each shard's tip. */
export const readAll = (stream: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const out: Array<{ readonly partitionKey: string; readonly data: Uint8Array }> = []
    for (const shard of (yield* kinesis.listShards({ StreamName: stream })).Shards ?? []) {
      let iterator = (yield* kinesis.getShardIterator({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" }))
        .ShardIterator
      while (iterator) {
        const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
        for (const r of page.Records ?? []) out.push({ partitionKey: r.PartitionKey!, data: r.Data! })
        iterator = (page.Records ?? []).length === 0 && page.MillisBehindLatest === 0 ? undefined : page.NextShardIterator
      }
    }
    return out
  })

/**
 * Every record of the stream, read with the Consumer from the trim horizon
 * until `count` have come; fails loudly rather than hang if they never do,
 * and if the stream holds more than `count`.
 */
export const readBack = (stream: string, count: number): Effect.Effect<ReadonlyArray<SourceRecord>, unknown, Kinesis> =>
  Effect.gen(function*() {
    const records: Array<SourceRecord> = []
    if (count > 0) {
      yield* Consumer.all(stream, Consumer.StartPosition.TrimHorizon(), fast).pipe(
        Stream.tap((batch) => Effect.sync(() => records.push(...Chunk.toArray(batch.records)))),
        Stream.takeUntil(() => records.length >= count),
        Stream.runDrain,
        Effect.timeoutFail({
          duration: "60 seconds",
          onTimeout: () => new Error(`read ${records.length} of the ${count} records expected on ${stream}`)
        })
      )
    }
    const stored = (yield* readAll(stream)).length
    if (stored !== count) return yield* Effect.fail(new Error(`${stream} holds ${stored} records, expected ${count}`))
    return records
  })

/** The one record at a shard position, as Kinesis stored it. */
export const recordAt = (stream: string, shardId: string, sequenceNumber: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const { ShardIterator } = yield* kinesis.getShardIterator({
      StreamName: stream,
      ShardId: shardId,
      ShardIteratorType: "AT_SEQUENCE_NUMBER",
      StartingSequenceNumber: sequenceNumber
    })
    const { Records } = yield* kinesis.getRecords({ ShardIterator: ShardIterator!, Limit: 1 })
    return Records![0]!
  })

/** Waits for a condition another fiber makes true; fails loudly instead of hanging. */
export const until = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string) =>
  condition.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("2 millis") }),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out waiting until ${what}`) })
  )
