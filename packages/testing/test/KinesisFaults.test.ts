/**
 * The fault-injecting Kinesis layer, wrapped around a local Kinesis
 * (kinesalite, in process): each fault hits exactly the calls or records its
 * plan picks, rejected records are not written, and a seed replays the same
 * faults.
 */
import { describe, expect, it } from "@effect/vitest"
import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import { Kinesalite } from "@eddy/local"
import { Effect, Fiber, Layer, Option } from "effect"
import { Kinesis, KinesisNotFoundError, layer as kinesisLayer } from "@eddy/kinesis/Kinesis"
import * as Harness from "../src/Harness"
import * as KinesisFaults from "../src/KinesisFaults"

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const createStream = (name: string) => Harness.createStream(name, 1)

const records = (n: number): Array<PutRecordsRequestEntry> =>
  Array.from({ length: n }, (_, i) => ({ PartitionKey: `k${i}`, Data: encoder.encode(`r${i}`) }))

/** The data of every record in the stream's only shard. */
const stored = (name: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const shard = (yield* kinesis.listShards({ StreamName: name })).Shards![0]!
    const iterator = (yield* kinesis.getShardIterator({
      StreamName: name,
      ShardId: shard.ShardId!,
      ShardIteratorType: "TRIM_HORIZON"
    })).ShardIterator
    const page = yield* kinesis.getRecords({ ShardIterator: iterator! })
    return (page.Records ?? []).map((r) => decoder.decode(r.Data!))
  })

const wrapped = (plan: KinesisFaults.Plan) => Effect.flatMap(Kinesis, (real) => KinesisFaults.make(real, plan))

describe("KinesisFaults", () => {
  it.scopedLive("throttles every nth call of the chosen operations, and counts every call", () =>
    Effect.gen(function*() {
      yield* createStream("throttle")
      const { faults, kinesis } = yield* wrapped({ throttle: { every: 3, operations: ["putRecords"] } })
      const results = yield* Effect.forEach(
        [1, 2, 3, 4, 5, 6, 7],
        () => Effect.either(kinesis.putRecords({ StreamName: "throttle", Records: records(1) }))
      )
      expect(results.map((r) => r._tag === "Left" ? r.left._tag : "ok")).toEqual([
        "ok",
        "ok",
        "KinesisThrottledError",
        "ok",
        "ok",
        "KinesisThrottledError",
        "ok"
      ])
      yield* kinesis.listShards({ StreamName: "throttle" })
      const counts = yield* faults.counts
      expect(counts.calls.putRecords).toBe(7)
      expect(counts.calls.listShards).toBe(1)
      expect(counts.throttled).toBe(2)
      // Throttled calls never reached Kinesis.
      expect((yield* stored("throttle")).length).toBe(5)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("rejects the chosen records inside a successful PutRecords, writes only the others, and keeps the result order", () =>
    Effect.gen(function*() {
      yield* createStream("reject")
      const { faults, kinesis } = yield* wrapped({
        rejectRecords: { select: (_, { index }) => index % 4 === 1, errorCodes: ["InternalFailure"] }
      })
      const out = yield* kinesis.putRecords({ StreamName: "reject", Records: records(10) })
      expect(out.FailedRecordCount).toBe(3)
      const rejected = [1, 5, 9]
      out.Records!.forEach((r, i) => {
        if (rejected.includes(i)) {
          expect(r.ErrorCode).toBe("InternalFailure")
          expect(r.SequenceNumber).toBeUndefined()
        } else {
          expect(r.ErrorCode).toBeUndefined()
          expect(r.SequenceNumber).toBeDefined()
        }
      })
      expect(yield* stored("reject")).toEqual(["r0", "r2", "r3", "r4", "r6", "r7", "r8"])
      expect((yield* faults.rejected).map((r) => [r.call, r.index, r.errorCode])).toEqual(
        rejected.map((i) => [1, i, "InternalFailure"])
      )
      // The sequence numbers of the accepted ones increase in request order.
      const sequence = out.Records!.flatMap((r) => r.SequenceNumber ? [BigInt(r.SequenceNumber)] : [])
      expect([...sequence].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequence)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("answers a PutRecords whose records are all rejected without calling Kinesis", () =>
    Effect.gen(function*() {
      yield* createStream("all")
      const { kinesis } = yield* wrapped({ rejectRecords: { probability: 1 } })
      const out = yield* kinesis.putRecords({ StreamName: "all", Records: records(4) })
      expect(out.FailedRecordCount).toBe(4)
      expect(out.Records!.every((r) => r.ErrorCode !== undefined)).toBe(true)
      expect(yield* stored("all")).toEqual([])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("replays the same random faults from the same seed, and others from another", () =>
    Effect.gen(function*() {
      yield* createStream("seed")
      const run = (seed: number) =>
        Effect.gen(function*() {
          const { faults, kinesis } = yield* wrapped({ seed, rejectRecords: { probability: 0.3 }, throttle: { probability: 0.3 } })
          const calls = yield* Effect.forEach(
            [1, 2, 3, 4, 5, 6],
            () => Effect.either(kinesis.putRecords({ StreamName: "seed", Records: records(100) }))
          )
          return {
            throttled: calls.map((c) => c._tag === "Left"),
            rejected: (yield* faults.rejected).map((r) => `${r.call}/${r.index}/${r.errorCode}`)
          }
        })
      const first = yield* run(42)
      expect(first.rejected.length).toBeGreaterThan(0)
      expect(yield* run(42)).toEqual(first)
      expect(yield* run(43)).not.toEqual(first)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("fails the chosen calls with the chosen error", () =>
    Effect.gen(function*() {
      yield* createStream("fail")
      const { faults, kinesis } = yield* wrapped({
        fail: {
          operations: ["listShards"],
          calls: [2],
          error: (operation) => new KinesisNotFoundError({ operation, message: "gone" })
        }
      })
      yield* kinesis.listShards({ StreamName: "fail" })
      const error = yield* Effect.flip(kinesis.listShards({ StreamName: "fail" }))
      expect(error).toMatchObject({ _tag: "KinesisNotFoundError", operation: "listShards" })
      yield* kinesis.listShards({ StreamName: "fail" })
      // The default error is a retryable outage.
      const { kinesis: other } = yield* wrapped({ fail: { every: 1 } })
      expect((yield* Effect.flip(other.describeStreamSummary({ StreamName: "fail" })))._tag).toBe("KinesisUnavailableError")
      expect((yield* faults.counts).failed).toBe(1)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("expires the iterator of the chosen GetRecords calls", () =>
    Effect.gen(function*() {
      yield* createStream("expire")
      const { faults, kinesis } = yield* wrapped({ expireIterators: { calls: [2] } })
      const shard = (yield* kinesis.listShards({ StreamName: "expire" })).Shards![0]!
      const iterator = (yield* kinesis.getShardIterator({
        StreamName: "expire",
        ShardId: shard.ShardId!,
        ShardIteratorType: "TRIM_HORIZON"
      })).ShardIterator!
      yield* kinesis.getRecords({ ShardIterator: iterator })
      const error = yield* Effect.flip(kinesis.getRecords({ ShardIterator: iterator }))
      expect(error._tag).toBe("KinesisExpiredIteratorError")
      yield* kinesis.getRecords({ ShardIterator: iterator })
      expect((yield* faults.counts).expiredIterators).toBe(1)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("holds blocked calls, counted, until unblocked", () =>
    Effect.gen(function*() {
      yield* createStream("block")
      const { faults, kinesis } = yield* wrapped({})
      yield* faults.block("putRecords")
      const call = yield* Effect.fork(kinesis.putRecords({ StreamName: "block", Records: records(2) }))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      expect(Option.isNone(yield* Fiber.poll(call))).toBe(true)
      expect((yield* faults.counts).calls.putRecords).toBe(1)
      // Other operations still pass.
      yield* kinesis.listShards({ StreamName: "block" })
      expect(yield* stored("block")).toEqual([])
      yield* faults.unblock("putRecords")
      yield* Fiber.join(call)
      expect(yield* stored("block")).toEqual(["r0", "r1"])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("as a layer, replaces the Kinesis service and provides KinesisFaults", () =>
    Effect.gen(function*() {
      yield* createStream("layer")
      const { kinesis, faults } = yield* Effect.all({ kinesis: Kinesis, faults: KinesisFaults.KinesisFaults }).pipe(
        Effect.provide(KinesisFaults.layer({ throttle: { every: 1, operations: ["putRecords"] } })),
      )
      expect((yield* Effect.flip(kinesis.putRecords({ StreamName: "layer", Records: records(1) })))._tag).toBe(
        "KinesisThrottledError"
      )
      expect((yield* faults.counts).throttled).toBe(1)
    }).pipe(Effect.provide(KinesisLocal)))
})
