/**
 * The producer against a local Kinesis (kinesalite, in process) through the
 * real SDK client, with faults injected by `KinesisFaults`; timing (retry
 * delays, linger, pacing, the close deadline) on the `TestClock` against an
 * in-memory Kinesis, so no test sleeps.
 */
import { describe, expect, it } from "@effect/vitest"
import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import { Kinesalite } from "@eddy/local"
import {
  Chunk,
  Config,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Ref,
  Schedule,
  Scope,
  TestClock
} from "effect"
import { Kinesis, type KinesisApi, KinesisRequestError, KinesisThrottledError, layer as kinesisLayer } from "../src/Kinesis"
import * as KinesisFaults from "@eddy/testing/KinesisFaults"
import * as Kpl from "../src/Kpl"
import * as Producer from "../src/Producer"
import type * as ProducerError from "../src/ProducerError"
import * as RateLimit from "../src/RateLimit"
import { awaitActive, createStream, readAll, userRecords } from "./support/Stream"

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (s: string) => encoder.encode(s)

/** Kinesalite never throttles; lift the per-shard pacing so these tests run at its speed (pacing is tested on the TestClock). */
const unpaced = { shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 } } as const
/** Quick retries: the delays' shape is tested on the TestClock. */
const quickRetry = Producer.retrySchedule({ base: "2 millis", cap: "20 millis", retries: 30 })

/** `key-k#n` records: `perKey` of each of `keys` keys, interleaved. */
const numbered = (keys: number, perKey: number, prefix = ""): Array<Producer.ProducerRecord> =>
  Array.from({ length: keys * perKey }, (_, i) => {
    const key = `key-${i % keys}`
    return { partitionKey: key, data: bytes(`${prefix}${key}#${Math.floor(i / keys)}`) }
  })

/** Checks that each `key-k#n` arrived exactly once and, per key, in the order n = 0, 1, 2, ... */
const expectExactlyOnceInOrder = (stored: ReadonlyArray<{ readonly data: Uint8Array }>, keys: number, perKey: number) => {
  const seen = new Map<string, Array<number>>()
  for (const r of stored) {
    const [key, n] = decoder.decode(r.data).split("#")
    const list = seen.get(key!) ?? []
    list.push(Number(n))
    seen.set(key!, list)
  }
  expect(seen.size).toBe(keys)
  const expected = Array.from({ length: perKey }, (_, i) => i)
  for (const list of seen.values()) expect(list).toEqual(expected)
}

/** A failure sink that keeps what it gets. */
const collectingSink = Effect.map(Ref.make<ReadonlyArray<ProducerError.FailedRecord>>([]), (ref) => ({
  failures: Ref.get(ref),
  sink: (failures: ReadonlyArray<ProducerError.FailedRecord>) => Ref.update(ref, (all) => [...all, ...failures])
}))

/** The real Kinesis of the context, wrapped with faults. */
const withFaults = (plan: KinesisFaults.Plan) => Effect.flatMap(Kinesis, (real) => KinesisFaults.make(real, plan))

const metric = (m: Metric.Metric.Counter<number>, stream: string) =>
  Effect.map(Metric.value(Metric.tagged(m, "stream", stream)), (state) => state.count)

/** Lets every other fiber run until it waits on something. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("Producer against kinesalite", () => {
  it.scopedLive("writes 100,000 records exactly once, in order per key, through throttling and partial failures", () =>
    Effect.gen(function*() {
      const keys = 2_000
      const perKey = 50
      const total = keys * perKey
      yield* createStream("bulk", 4)
      const { faults, kinesis } = yield* withFaults({
        seed: 7,
        throttle: { every: 7, operations: ["putRecords"] },
        rejectRecords: { probability: 0.02 }
      })
      const { failures, sink } = yield* collectingSink
      const records = numbered(keys, perKey)
      const outcomes = yield* Effect.scoped(
        Effect.flatMap(
          Producer.make({ streamName: "bulk", retry: quickRetry, failureSink: sink, ...unpaced }),
          (producer) => producer.putAll(records)
        )
      ).pipe(Effect.provideService(Kinesis, kinesis))

      expect(outcomes.filter(Either.isLeft)).toEqual([])
      expect(yield* failures).toEqual([])
      const counts = yield* faults.counts
      expect(counts.throttled).toBeGreaterThan(0)
      expect(counts.rejectedRecords).toBeGreaterThan(1_000)
      // A throttled call costs one more call, a rejected record at most one more.
      expect(counts.calls.putRecords).toBeLessThanOrEqual(Math.ceil(total / 500) + counts.throttled + counts.rejectedRecords)
      // Requeued: exactly the rejected records, plus the records of the throttled calls.
      const retried = yield* metric(Producer.metrics.recordsRetried, "bulk")
      expect(retried).toBeGreaterThan(counts.rejectedRecords + counts.throttled)
      expect(retried).toBeLessThanOrEqual(counts.rejectedRecords + 500 * counts.throttled)
      expect(yield* metric(Producer.metrics.recordsSent, "bulk")).toBe(total)

      const stored = yield* readAll("bulk")
      expect(stored.length).toBe(total)
      expectExactlyOnceInOrder(stored, keys, perKey)
      // Each acknowledgement names where the record really is.
      const where = new Map(stored.map((r) => [`${r.shardId}/${r.sequenceNumber}`, decoder.decode(r.data)]))
      outcomes.forEach((o, i) => {
        const ack = Either.getOrThrow(o)
        expect(where.get(`${ack.shardId}/${ack.sequenceNumber}`)).toBe(decoder.decode(records[i]!.data))
      })
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("requeues exactly the records rejected inside a successful PutRecords", () =>
    Effect.gen(function*() {
      yield* createStream("requeue", 2)
      const { faults, kinesis } = yield* withFaults({
        rejectRecords: { select: (_, { call, index }) => call === 1 && index % 3 === 0 }
      })
      // A linger well past the time putAll takes on a busy machine: all 300 records go in the first call.
      const producer = yield* Producer.make({ streamName: "requeue", retry: quickRetry, linger: "500 millis", ...unpaced }).pipe(
        Effect.provideService(Kinesis, kinesis)
      )
      const outcomes = yield* producer.putAll(numbered(300, 1))
      const rejected = yield* faults.rejected
      expect(rejected.length).toBe(100)
      expect(yield* metric(Producer.metrics.recordsRetried, "requeue")).toBe(100)
      // The rejected ones took a second call, the others one.
      const attempts = outcomes.map((o) => Either.getOrThrow(o).attempts)
      expect(attempts.filter((a) => a === 2).length).toBe(100)
      expect(attempts.filter((a) => a === 1).length).toBe(200)
      // One call for all 300, then the retry of the 100 (which a busy machine may split by their due times).
      expect((yield* faults.counts).calls.putRecords).toBeGreaterThanOrEqual(2)
      expectExactlyOnceInOrder(yield* readAll("requeue"), 300, 1)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("keeps per-key order when a third of the records are rejected", () =>
    Effect.gen(function*() {
      yield* createStream("order", 3)
      const { faults, kinesis } = yield* withFaults({ seed: 3, rejectRecords: { probability: 0.3 } })
      yield* Effect.scoped(
        Effect.flatMap(
          Producer.make({ streamName: "order", retry: quickRetry, linger: "1 millis", ...unpaced }),
          (producer) => producer.putAll(numbered(5, 200))
        )
      ).pipe(Effect.provideService(Kinesis, kinesis))
      expect((yield* faults.counts).rejectedRecords).toBeGreaterThan(100)
      expectExactlyOnceInOrder(yield* readAll("order"), 5, 200)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("refuses oversized records and bad keys (too long, empty, missing, lone surrogates) at put, and sends nothing of a refused putAll", () =>
    Effect.gen(function*() {
      yield* createStream("refuse", 1)
      const { faults, kinesis } = yield* withFaults({})
      const producer = yield* Producer.make({ streamName: "refuse", linger: 0, ...unpaced }).pipe(
        Effect.provideService(Kinesis, kinesis)
      )
      const limit = 1024 * 1024
      const tooLarge = yield* Effect.flip(producer.put({ partitionKey: "k", data: new Uint8Array(limit) }))
      expect(tooLarge).toMatchObject({ _tag: "RecordTooLargeError", size: limit + 1, limit })
      const longKey = yield* Effect.flip(producer.put({ partitionKey: "x".repeat(257), data: bytes("a") }))
      expect(longKey).toMatchObject({ _tag: "InvalidPartitionKeyError", reason: "TooLong" })
      const empty = yield* Effect.flip(producer.put({ partitionKey: "", data: bytes("a") }))
      expect(empty).toMatchObject({ _tag: "InvalidPartitionKeyError", reason: "Empty" })
      const missing = yield* Effect.flip(producer.put({ data: bytes("a") }))
      expect(missing).toMatchObject({ _tag: "InvalidPartitionKeyError", reason: "Missing" })
      const hashKey = yield* Effect.flip(producer.put({ partitionKey: "k", explicitHashKey: String(1n << 128n), data: bytes("a") }))
      expect(hashKey._tag).toBe("InvalidExplicitHashKeyError")
      // Kinesis keys are UTF-8, which has no encoding for half a surrogate pair (Node would send U+FFFD instead).
      for (const key of ["order-\uD83D", "\uDE00order", "o\uDE00\uD83Dk"]) {
        const lone = yield* Effect.flip(producer.put({ partitionKey: key, data: bytes("a") }))
        expect(lone).toMatchObject({ _tag: "InvalidPartitionKeyError", reason: "LoneSurrogate", partitionKey: key })
        expect(lone.message).toContain("lone UTF-16 surrogate")
      }
      const batch = yield* Effect.flip(producer.putAll([
        { partitionKey: "a", data: bytes("fine") },
        { partitionKey: "b", data: new Uint8Array(limit) }
      ]))
      expect(batch).toMatchObject({ _tag: "RecordTooLargeError", index: 1 })
      expect(yield* producer.depth).toBe(0)
      expect((yield* faults.counts).calls.putRecords).toBe(0)

      // Kinesis counts UTF-16 code units: 129 emoji (258 units) are too many, 128 just fit.
      const emojis = yield* Effect.flip(producer.put({ partitionKey: "😀".repeat(129), data: bytes("a") }))
      expect(emojis).toMatchObject({ _tag: "InvalidPartitionKeyError", reason: "TooLong" })
      // At the limits exactly, records are accepted and written.
      const emojiKey = "😀".repeat(128)
      yield* producer.put({ partitionKey: emojiKey, data: bytes("smile") })
      yield* producer.put({ partitionKey: "k", data: new Uint8Array(limit - 1) })
      const stored = yield* readAll("refuse")
      expect(stored.map((r) => [r.partitionKey, r.data.length])).toEqual([[emojiKey, 5], ["k", limit - 1]])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("derives missing partition keys with the partitionKey option and places explicit hash keys", () =>
    Effect.gen(function*() {
      yield* createStream("derive", 2)
      const shards = (yield* Effect.flatMap(Kinesis, (k) => k.listShards({ StreamName: "derive" }))).Shards!
      const upper = shards.find((s) => s.HashKeyRange!.StartingHashKey !== "0")!
      const producer = yield* Producer.make({
        streamName: "derive",
        partitionKey: (record) => `derived-${decoder.decode(record.data)}`,
        ...unpaced
      })
      const derived = yield* producer.put({ data: bytes("x") })
      const placed = yield* producer.put({
        partitionKey: "any",
        explicitHashKey: upper.HashKeyRange!.StartingHashKey!,
        data: bytes("y")
      })
      expect(placed.shardId).toBe(upper.ShardId)
      const stored = yield* readAll("derive")
      expect(stored.find((r) => r.sequenceNumber === derived.sequenceNumber)?.partitionKey).toBe("derived-x")
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("makes put wait while the buffer is full, and never holds more than its bound", () =>
    Effect.gen(function*() {
      yield* createStream("pressure", 2)
      const { faults, kinesis } = yield* withFaults({})
      const producer = yield* Producer.make({ streamName: "pressure", bufferRecords: 100, linger: 0, ...unpaced }).pipe(
        Effect.provideService(Kinesis, kinesis)
      )
      yield* faults.block("putRecords")
      const offering = yield* Effect.fork(producer.offerAll(numbered(10, 100)))
      yield* settle
      expect(yield* producer.depth).toBe(100)
      expect(Option.isNone(yield* Fiber.poll(offering))).toBe(true)

      let highest = 0
      const watching = yield* Effect.fork(
        Effect.sync(() => producer.depth).pipe(
          Effect.flatten,
          Effect.tap((depth) => Effect.sync(() => highest = Math.max(highest, depth))),
          Effect.zipRight(Effect.yieldNow()),
          Effect.forever
        )
      )
      yield* faults.unblock("putRecords")
      yield* Fiber.join(offering)
      yield* producer.flush
      yield* Fiber.interrupt(watching)
      expect(highest).toBeGreaterThan(0)
      expect(highest).toBeLessThanOrEqual(100)
      expectExactlyOnceInOrder(yield* readAll("pressure"), 10, 100)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("gives records that fail for good to the failure sink, and a slow sink slows put", () =>
    Effect.gen(function*() {
      yield* createStream("sink", 1)
      const { kinesis } = yield* withFaults({
        fail: { operations: ["putRecords"], every: 1, error: () => new KinesisRequestError({ operation: "putRecords", message: "denied" }) }
      })
      const gate = yield* Effect.makeLatch(false)
      const { failures, sink } = yield* collectingSink
      const producer = yield* Producer.make({
        streamName: "sink",
        bufferRecords: 10,
        linger: 0,
        failureSink: (f) => Effect.zipRight(gate.await, sink(f)),
        ...unpaced
      }).pipe(Effect.provideService(Kinesis, kinesis))
      const offering = yield* Effect.fork(producer.offerAll(numbered(50, 1)))
      yield* settle
      expect(yield* producer.depth).toBe(10)
      expect(Option.isNone(yield* Fiber.poll(offering))).toBe(true)
      yield* gate.open
      yield* Fiber.join(offering)
      yield* producer.flush
      const failed = yield* failures
      expect(failed.length).toBe(50)
      for (const f of failed) {
        expect(f.error).toMatchObject({ _tag: "PutRecordsFailedError", attempts: 1, cause: { _tag: "KinesisRequestError" } })
      }
      expect(yield* metric(Producer.metrics.recordsFailed, "sink")).toBe(50)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("fails a record that exhausts its retries, with its error, and writes the others", () =>
    Effect.gen(function*() {
      yield* createStream("exhaust", 1)
      const { kinesis } = yield* withFaults({
        rejectRecords: { select: (r) => r.PartitionKey === "doomed", errorCodes: ["InternalFailure"] }
      })
      const { failures, sink } = yield* collectingSink
      const producer = yield* Producer.make({
        streamName: "exhaust",
        retry: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
        failureSink: sink,
        ...unpaced
      }).pipe(Effect.provideService(Kinesis, kinesis))
      const [doomed, fine] = yield* Effect.all(
        [producer.put({ partitionKey: "doomed", data: bytes("no") }), producer.put({ partitionKey: "fine", data: bytes("yes") })],
        { concurrency: 2, mode: "either" }
      )
      expect(Either.getLeft(doomed!)).toEqual(Option.some(expect.objectContaining({
        _tag: "RecordRejectedError",
        errorCode: "InternalFailure",
        attempts: 3
      })))
      expect(Either.isRight(fine!)).toBe(true)
      const failed = yield* failures
      expect(failed.map((f) => [f.partitionKey, decoder.decode(f.data), f.error._tag])).toEqual([["doomed", "no", "RecordRejectedError"]])
      expect((yield* readAll("exhaust")).map((r) => r.partitionKey)).toEqual(["fine"])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("closing the scope sends everything still held", () =>
    Effect.gen(function*() {
      yield* createStream("close", 2)
      yield* Effect.scoped(
        Effect.flatMap(
          Producer.make({ streamName: "close", linger: "1 hour", ...unpaced }),
          (producer) => producer.offerAll(numbered(30, 40))
        )
      )
      expectExactlyOnceInOrder(yield* readAll("close"), 30, 40)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("aggregates per shard: no aggregate mixes shards, every user record arrives once, in order", () =>
    Effect.gen(function*() {
      yield* createStream("agg", 4)
      // The first call is throttled whole; in the second, its first aggregate is rejected.
      const { faults, kinesis } = yield* withFaults({
        throttle: { calls: [1], operations: ["putRecords"] },
        rejectRecords: { select: (_, { call, index }) => call === 2 && index === 0 }
      })
      const keys = 500
      const perKey = 40
      yield* Effect.scoped(
        Effect.flatMap(
          Producer.make({ streamName: "agg", aggregate: true, retry: quickRetry, linger: "5 millis", ...unpaced }),
          (producer) => producer.putAll(numbered(keys, perKey))
        )
      ).pipe(Effect.provideService(Kinesis, kinesis))
      const counts = yield* faults.counts
      expect([counts.throttled, counts.rejectedRecords]).toEqual([1, 1])
      expect(counts.calls.putRecords).toBeLessThan((keys * perKey) / 500)

      const stored = yield* readAll("agg")
      const ranges = new Map(
        ((yield* Effect.flatMap(Kinesis, (k) => k.listShards({ StreamName: "agg" }))).Shards ?? []).map((s) => [
          s.ShardId!,
          [BigInt(s.HashKeyRange!.StartingHashKey!), BigInt(s.HashKeyRange!.EndingHashKey!)] as const
        ])
      )
      expect(stored.filter((r) => Kpl.isAggregated(r.data)).length).toBeGreaterThan(0)
      const users = userRecords(stored)
      for (const u of users) {
        const [start, end] = ranges.get(u.shardId)!
        const hash = Kpl.hashKeyOf(u.partitionKey)
        expect(hash >= start && hash <= end).toBe(true)
      }
      expectExactlyOnceInOrder(users, keys, perKey)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scopedLive("adopts the new shard map after a reshard, so later aggregates match the children", () =>
    Effect.gen(function*() {
      yield* createStream("reshard", 2)
      const kinesis = yield* Kinesis
      const producer = yield* Producer.make({ streamName: "reshard", aggregate: true, linger: "1 millis", ...unpaced })
      yield* producer.putAll(numbered(200, 5, "A:"))
      const first = (yield* kinesis.listShards({ StreamName: "reshard" })).Shards![0]!
      const range = first.HashKeyRange!
      const middle = (BigInt(range.StartingHashKey!) + BigInt(range.EndingHashKey!)) / 2n
      yield* kinesis.splitShard({ StreamName: "reshard", ShardToSplit: first.ShardId!, NewStartingHashKey: String(middle) })
      yield* awaitActive("reshard")
      // The first batch after the split still uses the old map; its answer names the children and triggers a refresh.
      yield* producer.putAll(numbered(200, 5, "B:"))
      yield* producer.putAll(numbered(200, 5, "C:"))

      const shards = (yield* kinesis.listShards({ StreamName: "reshard" })).Shards!
      expect(shards.length).toBe(4)
      const ranges = new Map(shards.map((s) => [s.ShardId!, [BigInt(s.HashKeyRange!.StartingHashKey!), BigInt(s.HashKeyRange!.EndingHashKey!)] as const]))
      const users = userRecords(yield* readAll("reshard"))
      const late = users.filter((u) => decoder.decode(u.data).startsWith("C:"))
      expect(late.length).toBe(1_000)
      for (const u of late) {
        const [start, end] = ranges.get(u.shardId)!
        const hash = Kpl.hashKeyOf(u.partitionKey)
        expect(hash >= start && hash <= end).toBe(true)
      }
      // Across the split, each key's records come out of parent then child in the order they were put.
      const perKey = new Map<string, Array<string>>()
      for (const u of users) perKey.set(u.partitionKey, [...(perKey.get(u.partitionKey) ?? []), decoder.decode(u.data)])
      for (const [key, seen] of perKey) {
        expect(seen).toEqual(["A", "B", "C"].flatMap((p) => [0, 1, 2, 3, 4].map((n) => `${p}:${key}#${n}`)))
      }
    }).pipe(Effect.provide(KinesisLocal)))
})

// ---------------------------------------------------------------------------
// Timing, on the TestClock
// ---------------------------------------------------------------------------

/** An in-memory Kinesis with `shardCount` even shards: ListShards and PutRecords only, placing records by MD5 like Kinesis. */
const memoryKinesis = (shardCount: number) => {
  const step = (1n << 128n) / BigInt(shardCount)
  const shards = Array.from({ length: shardCount }, (_, i) => ({
    ShardId: `shardId-${i}`,
    HashKeyRange: {
      StartingHashKey: String(step * BigInt(i)),
      EndingHashKey: String(i === shardCount - 1 ? (1n << 128n) - 1n : step * BigInt(i + 1) - 1n)
    },
    SequenceNumberRange: { StartingSequenceNumber: "0" }
  }))
  const written: Array<PutRecordsRequestEntry> = []
  const calls: Array<number> = []
  const api = {
    listShards: () => Effect.succeed({ Shards: shards }),
    putRecords: (input: { readonly Records: ReadonlyArray<PutRecordsRequestEntry> | undefined }) =>
      Effect.sync(() => {
        const records = input.Records ?? []
        calls.push(records.length)
        return {
          FailedRecordCount: 0,
          Records: records.map((r) => {
            written.push(r)
            const hash = r.ExplicitHashKey !== undefined ? BigInt(r.ExplicitHashKey) : Kpl.hashKeyOf(r.PartitionKey!)
            const shard = Math.min(shardCount - 1, Number(hash / step))
            return { ShardId: `shardId-${shard}`, SequenceNumber: String(written.length) }
          })
        }
      })
  }
  return { kinesis: api as unknown as KinesisApi, written, calls }
}

/**
 * A producer on the in-memory Kinesis. It closes without waiting, as the
 * TestClock would not move during its close; the close test sets its own.
 */
const timedProducer = (options: Omit<Producer.Options, "streamName">, kinesis: KinesisApi) =>
  Producer.make({ streamName: "s", closeTimeout: 0, ...options }).pipe(Effect.provideService(Kinesis, kinesis))

/** After each step of the test clock, how many records the in-memory Kinesis holds. */
const writtenAfter = (memory: ReturnType<typeof memoryKinesis>, steps: ReadonlyArray<readonly [Duration.DurationInput, number]>) =>
  Effect.forEach(steps, ([step, count]) => Effect.map(TestClock.adjust(step), () => expect(memory.written.length).toBe(count)), { discard: true })

describe("Producer timing on the TestClock", () => {
  it.scoped("sends a partial batch after the linger, a full one at once", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const producer = yield* timedProducer({ linger: "100 millis" }, memory.kinesis)
      yield* producer.offerAll(numbered(10, 1))
      yield* settle
      expect(memory.calls).toEqual([])
      yield* TestClock.adjust("99 millis")
      expect(memory.calls).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(memory.calls).toEqual([10])
      yield* producer.offerAll(numbered(500, 1))
      yield* settle
      expect(memory.calls).toEqual([10, 500])
    }))

  it.scoped("retries a rejected record when its schedule says, and no sooner", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const { faults, kinesis } = yield* KinesisFaults.make(memory.kinesis, {
        rejectRecords: { select: (_, { call }) => call <= 2 }
      })
      const producer = yield* timedProducer({
        linger: 0,
        retry: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(5)))
      }, kinesis)
      const put = yield* Effect.fork(producer.put({ partitionKey: "k", data: bytes("v") }))
      const calls = Effect.map(faults.counts, (c) => c.calls.putRecords)
      yield* settle
      expect(yield* calls).toBe(1)
      yield* TestClock.adjust("999 millis")
      expect(yield* calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust("1999 millis")
      expect(yield* calls).toBe(2)
      yield* TestClock.adjust("1 millis")
      expect(yield* calls).toBe(3)
      const ack = yield* Fiber.join(put)
      expect(ack).toMatchObject({ shardId: "shardId-0", attempts: 3 })
      expect(memory.written.length).toBe(1)
    }))

  it.scoped("retries a throttled call's records together, after the backoff", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(2)
      const { kinesis } = yield* KinesisFaults.make(memory.kinesis, { throttle: { calls: [1], operations: ["putRecords"] } })
      const producer = yield* timedProducer({
        linger: "10 millis",
        retry: Schedule.spaced("500 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
      }, kinesis)
      const putting = yield* Effect.fork(producer.putAll(numbered(40, 1)))
      yield* TestClock.adjust("10 millis")
      expect(memory.calls).toEqual([])
      yield* TestClock.adjust("499 millis")
      expect(memory.calls).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(memory.calls).toEqual([40])
      expect((yield* Fiber.join(putting)).every((o) => Either.isRight(o) && o.right.attempts === 2)).toBe(true)
    }))

  it.effect("full jitter: each delay is drawn from zero to the capped exponential, and retries are bounded", () =>
    Effect.gen(function*() {
      const schedule = Producer.retrySchedule({ base: "100 millis", cap: "1 second", retries: 6 })
      const throttled = new KinesisThrottledError({ operation: "putRecords", message: "slow down" })
      const runs = yield* Effect.forEach(Array.from({ length: 50 }), () =>
        Effect.map(Schedule.run(Schedule.delays(schedule), 0, Array.from({ length: 20 }, () => throttled)), Chunk.toArray))
      for (const delays of runs) {
        expect(delays.length).toBe(7) // six retries, then the final decision to stop
        delays.slice(0, 6).forEach((d, n) => {
          expect(Duration.toMillis(d)).toBeGreaterThanOrEqual(0)
          expect(Duration.toMillis(d)).toBeLessThanOrEqual(Math.min(1_000, 100 * 2 ** n))
        })
      }
      // Jitter spreads them: the first delays are not all alike.
      expect(new Set(runs.map((d) => Duration.toMillis(d[0]!))).size).toBeGreaterThan(10)
    }))

  it.scoped("paces each shard at its records-per-second limit", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const producer = yield* timedProducer({
        linger: "100 millis",
        shardLimit: { recordsPerSecond: 100 }
      }, memory.kinesis)
      yield* Effect.fork(producer.offerAll(numbered(300, 1)))
      yield* settle
      // A full second's worth, sent after the linger, then at most 10 per 100 ms.
      expect(memory.written.length).toBe(0)
      for (let t = 100; t <= 2_000; t += 100) {
        yield* TestClock.adjust("100 millis")
        // The last up to 10 wait in the open batch for the linger.
        expect(memory.written.length).toBeLessThanOrEqual(100 + t / 10)
        expect(memory.written.length).toBeGreaterThanOrEqual(100 + t / 10 - 10)
      }
      yield* TestClock.adjust("100 millis")
      expect(memory.written.length).toBe(300)
    }))

  it.scoped("paces by bytes per shard too", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const producer = yield* timedProducer({
        linger: 0,
        shardLimit: { bytesPerSecond: 10_000 }
      }, memory.kinesis)
      // 20 records of 1,000 bytes (999 data + a 1-byte key): 10 per second.
      yield* Effect.fork(producer.offerAll(Array.from({ length: 20 }, (_, i) => ({ partitionKey: String.fromCharCode(97 + i), data: new Uint8Array(999) }))))
      yield* settle
      expect(memory.written.length).toBe(10)
      yield* writtenAfter(memory, [["500 millis", 15], ["500 millis", 20]])
    }))

  it.scoped("keeps to an overall rate limit such as 60/m", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(4)
      const producer = yield* timedProducer({
        linger: 0,
        rateLimit: Either.getOrThrow(RateLimit.parse("60/m"))
      }, memory.kinesis)
      yield* Effect.fork(producer.offerAll(numbered(200, 1)))
      yield* settle
      expect(memory.written.length).toBe(60)
      yield* writtenAfter(memory, [["999 millis", 60], ["1 millis", 61], ["59 seconds", 120], ["80 seconds", 200]])
    }))

  it.scoped("on close, gives what is not written by the deadline to the failure sink", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const { faults, kinesis } = yield* KinesisFaults.make(memory.kinesis, {})
      const { failures, sink } = yield* collectingSink
      const scope = yield* Scope.make()
      const producer = yield* timedProducer({ linger: 0, closeTimeout: "5 seconds", failureSink: sink }, kinesis).pipe(
        Scope.extend(scope)
      )
      yield* faults.block("putRecords")
      const put = yield* Effect.fork(producer.put({ partitionKey: "k", data: bytes("late") }))
      yield* settle
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* settle
      expect(yield* failures).toEqual([])
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(closing)
      const failed = yield* failures
      expect(failed.map((f) => [f.partitionKey, f.error._tag, f.error.attempts])).toEqual([["k", "ProducerClosedError", 1]])
      expect(yield* Effect.flip(Fiber.join(put))).toMatchObject({ _tag: "ProducerClosedError", attempts: 1 })
      expect(memory.written).toEqual([])
      // Closed means closed.
      expect(yield* Effect.flip(producer.offer({ partitionKey: "k", data: bytes("after") }))).toMatchObject({ _tag: "ProducerClosedError" })
    }))

  it.effect("layerConfig reads the options it is given and refuses a malformed rate limit", () =>
    Effect.gen(function*() {
      const memory = memoryKinesis(1)
      const config = {
        streamName: Config.string("KINESIS_ORDERS_STREAM"),
        rateLimit: Config.option(RateLimit.config("KINESIS_INSERT_RATE_LIMIT")).pipe(Config.map(Option.getOrUndefined))
      }
      const build = (env: Record<string, string>) =>
        Effect.scoped(Layer.build(Producer.layerConfig(config))).pipe(
          Effect.provideService(Kinesis, memory.kinesis),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      yield* build({ KINESIS_ORDERS_STREAM: "orders", KINESIS_INSERT_RATE_LIMIT: "100/m" })
      const error = yield* Effect.flip(build({ KINESIS_ORDERS_STREAM: "orders", KINESIS_INSERT_RATE_LIMIT: "fast" }))
      expect(String(error)).toContain("KINESIS_INSERT_RATE_LIMIT")
      expect(String(error)).toContain("<records>/<s|m|h>")
    }))
})
