/** A test's view of a local stream: creating it, and reading back everything written to it. */
import { Effect, Either } from "effect"
import { Kinesis } from "../../src/Kinesis"
import * as Kpl from "../../src/Kpl"

export { awaitActive, createStream } from "@eddy/testing/Harness"

export interface Stored {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly data: Uint8Array
}

/** Every record of every shard, from TRIM_HORIZON; shards in ListShards order (parents before children), records in shard order. */
export const readAll = (name: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const shards = (yield* kinesis.listShards({ StreamName: name })).Shards ?? []
    const out: Array<Stored> = []
    for (const shard of shards) {
      let iterator = (yield* kinesis.getShardIterator({
        StreamName: name,
        ShardId: shard.ShardId!,
        ShardIteratorType: "TRIM_HORIZON"
      })).ShardIterator
      while (iterator) {
        const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
        const records = page.Records ?? []
        for (const r of records) {
          out.push({ shardId: shard.ShardId!, sequenceNumber: r.SequenceNumber!, partitionKey: r.PartitionKey!, data: r.Data! })
        }
        if (records.length === 0) break
        iterator = page.NextShardIterator
      }
    }
    return out
  })

/** The user records inside stored Kinesis records, aggregates unpacked. */
export const userRecords = (stored: ReadonlyArray<Stored>) =>
  stored.flatMap((r) => Either.getOrThrow(Kpl.deaggregate(r.data, r.partitionKey)).map((u) => ({ ...u, shardId: r.shardId })))
