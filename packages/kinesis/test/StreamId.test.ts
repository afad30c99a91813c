/**
 * Streams named by name or ARN: parsing, lease keys per stream, and that a
 * stream given by ARN is named by `StreamARN` in every call the consumer makes
 * (a recording Kinesis API: kinesalite knows only stream names).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as Consumer from "../src/Consumer"
import { Kinesis, type KinesisApi } from "../src/Kinesis"
import * as Shards from "../src/Shards"
import * as StreamId from "../src/StreamId"

const arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"

describe("StreamId", () => {
  it("parses names and stream ARNs, and refuses anything else", () => {
    expect(StreamId.parse("orders")).toEqual(Either.right({ name: "orders" }))
    expect(StreamId.parse(` ${arn} `)).toEqual(Either.right({ name: "orders", arn, account: "123456789012", region: "eu-west-1" }))
    expect(StreamId.parse("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b-c_d")).toEqual(
      Either.right({ name: "a.b-c_d", arn: "arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b-c_d", account: "123456789012", region: "cn-north-1" })
    )
    const notStream = StreamId.parse("arn:aws:sqs:eu-west-1:123456789012:queue")
    expect(Either.isLeft(notStream) && notStream.left.message).toContain("is not a Kinesis stream ARN")
    expect(Either.isLeft(StreamId.parse("bad name"))).toBe(true)
    expect(StreamId.parseList(`orders, ${arn.replace("orders", "products")}`)).toEqual(
      Either.right([{ name: "orders" }, { name: "products", arn: arn.replace("orders", "products"), account: "123456789012", region: "eu-west-1" }])
    )
    const twice = StreamId.parseList("orders,orders")
    expect(Either.isLeft(twice) && twice.left.message).toBe("stream orders is listed twice")
    expect(Either.isLeft(StreamId.parseList(" , "))).toBe(true)
  })

  it("keys leases by stream and shard, and tells each stream's keys apart", () => {
    const orders = StreamId.of("orders")
    const byArn = Either.getOrThrow(StreamId.parse(arn))
    expect(StreamId.leaseKey(orders, "shardId-000000000001")).toBe("orders:shardId-000000000001")
    expect(StreamId.leaseKey(byArn, "shardId-000000000001")).toBe("123456789012:orders:shardId-000000000001")
    expect(StreamId.shardIdOf(orders, "orders:shardId-000000000001")).toBe("shardId-000000000001")
    expect(StreamId.shardIdOf(orders, "orders-eu:shardId-000000000001")).toBeUndefined()
    expect(StreamId.shardIdOf(orders, "123456789012:orders:shardId-000000000001")).toBeUndefined()
    expect(StreamId.shardIdOf(byArn, "123456789012:orders:shardId-000000000001")).toBe("shardId-000000000001")
    const accepts = Consumer.accepts(["orders", arn.replace("orders", "products")])
    expect(accepts("orders:shardId-000000000000")).toBe(true)
    expect(accepts("123456789012:products:shardId-000000000000")).toBe(true)
    expect(accepts("products:shardId-000000000000")).toBe(false)
    expect(StreamId.isLegacyKey("shardId-000000000000")).toBe(true)
    expect(StreamId.isLegacyKey("orders:shardId-000000000000")).toBe(false)
  })

  it.effect("names a stream given by ARN by StreamARN in ListShards, GetShardIterator and GetRecords", () =>
    Effect.gen(function*() {
      const calls: Array<readonly [string, Record<string, unknown>]> = []
      const record = (op: string, input: object) => void calls.push([op, input as Record<string, unknown>])
      const kinesis = {
        listShards: (input: object) =>
          Effect.sync(() => {
            record("listShards", input)
            return {
              Shards: [{
                ShardId: "shardId-000000000000",
                HashKeyRange: { StartingHashKey: "0", EndingHashKey: "1" },
                SequenceNumberRange: { StartingSequenceNumber: "1" }
              }]
            }
          }),
        getShardIterator: (input: object) => Effect.sync(() => (record("getShardIterator", input), { ShardIterator: "it" })),
        getRecords: (input: object) =>
          Effect.sync(() => {
            record("getRecords", input)
            return { MillisBehindLatest: 0, Records: [{ Data: new Uint8Array([1]), PartitionKey: "k", SequenceNumber: "5", ApproximateArrivalTimestamp: new Date(0) }] }
          })
      } as unknown as KinesisApi
      const id = Either.getOrThrow(StreamId.parse(arn))
      const shards = yield* Shards.list(id).pipe(Effect.provideService(Kinesis, kinesis))
      expect([...shards.keys()]).toEqual(["shardId-000000000000"])
      const batches = yield* Consumer.readShard(id, "shardId-000000000000", Consumer.StartPosition.TrimHorizon()).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.provideService(Kinesis, kinesis)
      )
      expect(Chunk.toArray(batches).map((b) => b.records.length)).toEqual([1])
      expect(calls).toEqual([
        ["listShards", { StreamARN: arn }],
        ["getShardIterator", { StreamARN: arn, ShardId: "shardId-000000000000", ShardIteratorType: "TRIM_HORIZON" }],
        ["getRecords", { ShardIterator: "it", Limit: 10_000, StreamARN: arn }]
      ])
    }))
})
