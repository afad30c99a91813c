/**
 * Pacing, idle backoff, retries and iterator expiry of the shard reader,
 * on the TestClock against an in-memory shard: no real time passes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Metric, Option, Schedule, Stream, TestClock } from "effect"
import type { GetRecordsInput, GetShardIteratorInput } from "@aws-sdk/client-kinesis"
import * as Consumer from "../src/Consumer"
import {
  Kinesis,
  type KinesisApi,
  type KinesisError,
  KinesisExpiredIteratorError,
  KinesisNotFoundError,
  KinesisThrottledError
} from "../src/Kinesis"

const SHARD = "shardId-000000000000"
const EXPIRY_MS = 5 * 60_000

interface Call {
  readonly op: "getShardIterator" | "getRecords"
  readonly at: number
  readonly input: GetShardIteratorInput | GetRecordsInput
}

/**
 * One shard in memory, with the GetShardIterator/GetRecords semantics the
 * reader depends on: iterators expire after five minutes of TestClock time,
 * a closed shard's last call has no next iterator, and `fault` can fail any
 * call by its number.
 */
const fakeShard = (options: {
  readonly fault?: (op: Call["op"], n: number) => KinesisError | "hang" | undefined
  readonly behind?: (next: number, length: number) => number
} = {}) => {
  const records: Array<{ readonly seq: string; readonly data: Uint8Array; readonly arrival: number }> = []
  const calls: Array<Call> = []
  let closed = false
  // Same-length decimal strings, so they order like Kinesis sequence numbers.
  const seqOf = (i: number) => String(1_000_000 + i)
  const indexOf = (seq: string) => Number(seq) - 1_000_000

  const call = <A>(op: Call["op"], input: Call["input"], f: (now: number) => A) =>
    Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
      Effect.flatMap((now) => {
        calls.push({ op, at: now, input })
        const fault = options.fault?.(op, calls.filter((c) => c.op === op).length)
        return fault === "hang" ? Effect.never : fault ? Effect.fail(fault) : Effect.sync(() => f(now))
      })
    )

  const unused = new Proxy({}, { get: (_, op) => () => Effect.dieMessage(`${String(op)} is not faked`) })
  const api = {
    ...(unused as KinesisApi),
    getShardIterator: (input: GetShardIteratorInput) =>
      call("getShardIterator", input, (now) => {
        const start = input.ShardIteratorType === "TRIM_HORIZON"
          ? 0
          : input.ShardIteratorType === "LATEST"
          ? records.length
          : input.ShardIteratorType === "AT_SEQUENCE_NUMBER"
          ? indexOf(input.StartingSequenceNumber!)
          : input.ShardIteratorType === "AFTER_SEQUENCE_NUMBER"
          ? indexOf(input.StartingSequenceNumber!) + 1
          : records.findIndex((r) => r.arrival >= input.Timestamp!.getTime())
        return { ShardIterator: `${start === -1 ? records.length : start}/${now}` }
      }),
    getRecords: (input: GetRecordsInput) =>
      Effect.flatMap(
        call("getRecords", input, (now) => {
          const [from, issued] = input.ShardIterator!.split("/").map(Number) as [number, number]
          if (now - issued > EXPIRY_MS) return undefined
          const page = records.slice(from, from + (input.Limit ?? 10_000))
          const next = from + page.length
          return {
            Records: page.map((r) => ({
              SequenceNumber: r.seq,
              PartitionKey: "k",
              Data: r.data,
              ApproximateArrivalTimestamp: new Date(r.arrival)
            })),
            MillisBehindLatest: options.behind?.(next, records.length) ?? 0,
            ...(closed && page.length === 0 ? {} : { NextShardIterator: `${next}/${now}` })
          }
        }),
        (out) =>
          out === undefined
            ? Effect.fail(new KinesisExpiredIteratorError({ operation: "getRecords", message: "Iterator expired" }))
            : Effect.succeed(out)
      )
  } as KinesisApi
  const append = (n: number) =>
    Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
      Effect.map((now) => {
        for (let i = 0; i < n; i++) records.push({ seq: seqOf(records.length), data: Uint8Array.of(records.length % 256), arrival: now })
      })
    )
  return { api, calls, append, close: () => (closed = true), seqOf }
}

const times = (calls: ReadonlyArray<Call>, op: Call["op"] = "getRecords") => calls.filter((c) => c.op === op).map((c) => c.at)
const gaps = (ts: ReadonlyArray<number>) => ts.slice(1).map((t, i) => t - ts[i]!)
const throttled = () => new KinesisThrottledError({ operation: "getRecords", message: "Rate exceeded for shard" })
const iterators = (calls: ReadonlyArray<Call>) =>
  calls.filter((c) => c.op === "getShardIterator").map((c) => c.input as GetShardIteratorInput)
const seqs = (batches: Iterable<Consumer.ShardBatch>) => [...batches].flatMap((b) => Chunk.toArray(b.records).map((r) => r.sequenceNumber))

describe("shard reader timing", () => {
  it.effect("paces GetRecords at the poll interval: 5 calls/s by default", () =>
    Effect.gen(function*() {
      const shard = fakeShard()
      yield* shard.append(10)
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), { limit: 1 }).pipe(
        Stream.take(10),
        Stream.runCollect,
        Effect.provideService(Kinesis, shard.api),
        Effect.fork
      )
      yield* TestClock.adjust("199 millis")
      expect(times(shard.calls)).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(times(shard.calls)).toEqual([0, 200])
      yield* TestClock.adjust("2 seconds")
      const batches = yield* Fiber.join(fiber)
      expect(times(shard.calls)).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800])
      expect(seqs(batches)).toEqual(Array.from({ length: 10 }, (_, i) => shard.seqOf(i)))
    }))

  it.effect("backs off while the shard is idle, up to the idle cap, and speeds up when records come", () =>
    Effect.gen(function*() {
      const shard = fakeShard()
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), {
        limit: 1,
        pollInterval: "100 millis",
        maxIdleInterval: "1 second"
      }).pipe(Stream.take(2), Stream.runCollect, Effect.provideService(Kinesis, shard.api), Effect.fork)
      yield* TestClock.adjust("3 seconds")
      // Empty results double the wait from 2 x 100 ms up to the 1 s cap.
      expect(times(shard.calls)).toEqual([0, 200, 600, 1400, 2400])
      yield* shard.append(2)
      yield* TestClock.adjust("1 second")
      const batches = yield* Fiber.join(fiber)
      // The first record is found at 3400; the next call is back at the poll interval.
      expect(times(shard.calls).slice(5)).toEqual([3400, 3500])
      expect(seqs(batches)).toEqual([shard.seqOf(0), shard.seqOf(1)])
    }))

  it.effect("backs off while the shard is idle even with a poll interval of 0, from 100 ms", () =>
    Effect.gen(function*() {
      const shard = fakeShard()
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), {
        limit: 1,
        pollInterval: Duration.zero,
        maxIdleInterval: "1 second"
      }).pipe(Stream.take(1), Stream.runCollect, Effect.provideService(Kinesis, shard.api), Effect.fork)
      yield* TestClock.adjust("3 seconds")
      expect(times(shard.calls)).toEqual([0, 100, 300, 700, 1500, 2500])
      yield* shard.append(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
    }))

  it.effect("does not back off on an empty result while behind the tip", () =>
    Effect.gen(function*() {
      // An empty page with MillisBehindLatest > 0 is a gap in the shard, not idleness.
      const shard = fakeShard({ behind: () => 60_000 })
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon()).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, shard.api),
        Effect.fork
      )
      yield* TestClock.adjust("1 second")
      expect(gaps(times(shard.calls))).toEqual([200, 200, 200, 200, 200])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("retries throttling with the default schedule: exponential from 100 ms, jittered", () =>
    Effect.gen(function*() {
      const shard = fakeShard({ fault: (op, n) => (op === "getRecords" && n <= 4 ? throttled() : undefined) })
      yield* shard.append(1)
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon()).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.provideService(Kinesis, shard.api),
        Effect.fork
      )
      yield* TestClock.adjust("2 seconds")
      const batches = yield* Fiber.join(fiber)
      expect(seqs(batches)).toEqual([shard.seqOf(0)])
      const delays = gaps(times(shard.calls))
      expect(delays).toHaveLength(4)
      // Jitter scales each delay by 0.8..1.2.
      ;[100, 200, 400, 800].forEach((d, i) => {
        expect(delays[i]).toBeGreaterThanOrEqual(0.8 * d)
        expect(delays[i]).toBeLessThanOrEqual(1.2 * d)
      })
    }))

  it.effect("gives up after 10 retries with delays capped at 5 s, and fails with the throttling error", () =>
    Effect.gen(function*() {
      const shard = fakeShard({ fault: (op) => (op === "getRecords" ? throttled() : undefined) })
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon()).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, shard.api),
        Effect.fork
      )
      yield* TestClock.adjust("2 minutes")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("KinesisThrottledError")
      const delays = gaps(times(shard.calls))
      expect(delays).toHaveLength(10)
      // Up to the 6th retry the delay doubles from 100 ms; from the 7th (6.4 s and more) it is capped at 5 s.
      delays.forEach((d, i) => {
        const base = Math.min(100 * 2 ** i, 5_000)
        expect(d).toBeGreaterThanOrEqual(0.8 * base)
        expect(d).toBeLessThanOrEqual(1.2 * base)
      })
    }))

  it.effect("fails at once on an error retrying cannot fix", () =>
    Effect.gen(function*() {
      const shard = fakeShard({
        fault: (op) => (op === "getShardIterator" ? new KinesisNotFoundError({ operation: op, message: "no such shard" }) : undefined)
      })
      const error = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon()).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, shard.api),
        Effect.flip
      )
      expect(error._tag).toBe("KinesisNotFoundError")
      expect(shard.calls).toHaveLength(1)
    }))

  it.effect("follows a custom retry schedule", () =>
    Effect.gen(function*() {
      const shard = fakeShard({ fault: (op, n) => (op === "getRecords" && n <= 2 ? throttled() : undefined) })
      yield* shard.append(1)
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), {
        retry: Schedule.spaced("3 seconds")
      }).pipe(Stream.take(1), Stream.runCollect, Effect.provideService(Kinesis, shard.api), Effect.fork)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(times(shard.calls)).toEqual([0, 3000, 6000])
    }))

  it.effect("abandons a call that gets no answer and retries it", () =>
    Effect.gen(function*() {
      const shard = fakeShard({ fault: (op, n) => (op === "getRecords" && n === 1 ? "hang" : undefined) })
      yield* shard.append(1)
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), {
        requestTimeout: "10 seconds",
        retry: Schedule.spaced("1 second")
      }).pipe(Stream.take(1), Stream.runCollect, Effect.provideService(Kinesis, shard.api), Effect.fork)
      yield* TestClock.adjust("10 seconds")
      expect(times(shard.calls)).toEqual([0])
      yield* TestClock.adjust("1 second")
      const batches = yield* Fiber.join(fiber)
      expect(times(shard.calls)).toEqual([0, 11_000])
      expect(seqs(batches)).toEqual([shard.seqOf(0)])
    }))

  it.scoped("recovers from an iterator that expired while the consumer was busy, without skipping or repeating", () => {
    const shard = fakeShard()
    return Effect.gen(function*() {
      yield* shard.append(6)
      const pull = yield* Stream.toPull(Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), { limit: 3 }))
      const first = yield* pull
      // The consumer takes six minutes over the first batch: the iterator the reader holds is stale.
      yield* TestClock.adjust("6 minutes")
      const fiber = yield* Effect.fork(pull)
      // The call that finds the iterator expired counts against the shard's rate: the retry waits its turn.
      yield* TestClock.adjust("200 millis")
      const second = yield* Fiber.join(fiber)
      expect(seqs(first)).toEqual([0, 1, 2].map(shard.seqOf))
      expect(seqs(second)).toEqual([3, 4, 5].map(shard.seqOf))
      expect(times(shard.calls)).toEqual([0, 360_000, 360_200])
      expect(iterators(shard.calls).map((i) => [i.ShardIteratorType, i.StartingSequenceNumber])).toEqual([
        ["TRIM_HORIZON", undefined],
        ["AFTER_SEQUENCE_NUMBER", shard.seqOf(2)]
      ])
    }).pipe(Effect.provideService(Kinesis, shard.api))
  })

  it.scoped("pins a LATEST start to its time, so an expiry before the first record loses nothing", () => {
    const expired = new KinesisExpiredIteratorError({ operation: "getRecords", message: "Iterator expired" })
    const shard = fakeShard({ fault: (op, n) => (op === "getRecords" && n === 2 ? expired : undefined) })
    return Effect.gen(function*() {
      yield* shard.append(2)
      yield* TestClock.adjust("1 second")
      const fiber = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.Latest()).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.fork
      )
      yield* TestClock.adjust("100 millis")
      // Written after the LATEST iterator was taken; the next call finds that iterator expired.
      yield* shard.append(1)
      yield* TestClock.adjust("2 seconds")
      const batches = yield* Fiber.join(fiber)
      expect(seqs(batches)).toEqual([shard.seqOf(2)])
      const its = iterators(shard.calls)
      expect(its.map((i) => i.ShardIteratorType)).toEqual(["LATEST", "AT_TIMESTAMP"])
      expect(its[1]!.Timestamp!.getTime()).toBe(1000)
    }).pipe(Effect.provideService(Kinesis, shard.api))
  })

  it.scoped("reports MillisBehindLatest on each batch and as a gauge per shard", () => {
    const shard = fakeShard({ behind: (next, length) => (length - next) * 1000 + 7 })
    const gauge = Consumer.millisBehindLatest.pipe(Metric.tagged("stream", "lagging"), Metric.tagged("shard", SHARD))
    return Effect.gen(function*() {
      yield* shard.append(3)
      shard.close()
      const pull = yield* Stream.toPull(Consumer.readShard("lagging", SHARD, Consumer.StartPosition.TrimHorizon(), { limit: 1 }))
      const seen: Array<[number, number, boolean, number]> = []
      for (let i = 0; i < 4; i++) {
        const fiber = yield* Effect.fork(pull)
        yield* TestClock.adjust("1 second")
        for (const b of yield* Fiber.join(fiber)) {
          seen.push([b.records.length, b.millisBehindLatest, b.shardEnded, (yield* Metric.value(gauge)).value])
        }
      }
      expect(seen).toEqual([
        [1, 2007, false, 2007],
        [1, 1007, false, 1007],
        [1, 7, false, 7],
        [0, 7, true, 7]
      ])
      // The shard has ended: the stream is done.
      expect(Option.isNone(yield* Effect.flip(pull))).toBe(true)
    }).pipe(Effect.provideService(Kinesis, shard.api))
  })

  it.effect("refuses a GetRecords limit Kinesis would refuse", () =>
    Effect.gen(function*() {
      const defect = yield* Consumer.readShard("s", SHARD, Consumer.StartPosition.TrimHorizon(), { limit: 10_001 }).pipe(
        Stream.runDrain,
        Effect.provideService(Kinesis, fakeShard().api),
        Effect.catchAllDefect((d) => Effect.succeed(String(d)))
      )
      expect(defect).toContain("limit must be an integer from 1 to 10000")
    }))
})
