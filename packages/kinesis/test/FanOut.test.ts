/**
 * Enhanced fan-out against kinesis-local (kinesis-mock, a child process),
 * which serves RegisterStreamConsumer and SubscribeToShard over HTTP/2,
 * through the real SDK clients. kinesis-mock never ends a closed shard's
 * subscription with its child shards (its events always carry a continuation
 * sequence number), so the end of a shard is injected around the real
 * subscription. It pushes once a second, and releases a cancelled
 * subscription only once its connection closes (`KinesisLocal.http2Handler`
 * gives each its own), so these tests take seconds.
 */
import { expect, layer } from "@effect/vitest"
import * as Leases from "@eddy/core/Leases"
import * as LeaseTableMemory from "@eddy/core/LeaseTableMemory"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import { KinesisLocal } from "@eddy/local"
import { Chunk, Effect, Fiber, Layer, Metric, Schedule, Stream } from "effect"
import * as Consumer from "../src/Consumer"
import * as FanOut from "../src/FanOut"
import { Kinesis, KinesisNotFoundError, layer as kinesisLayer } from "../src/Kinesis"
import { readShard, StartPosition } from "../src/ShardReader"

const Emulator = Layer.unwrapScoped(Effect.map(KinesisLocal.start(), ({ endpoint }) =>
  Layer.merge(kinesisLayer({ endpoint }), FanOut.layer({ endpoint, requestHandler: KinesisLocal.http2Handler() }))))

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (r: SourceRecord) => decoder.decode(r.data)
const texts = (batches: Iterable<Consumer.ShardBatch>) => [...batches].flatMap((b) => Chunk.toArray(b.records).map(text))
const fast = { retry: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(50))) }

const createStream = (name: string, shards: number) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    yield* kinesis.createStream({ StreamName: name, ShardCount: shards })
    yield* waitActive(name)
    return Array.from((yield* kinesis.listShards({ StreamName: name })).Shards ?? [], (s) => s.ShardId!)
  })

const waitActive = (name: string) =>
  Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.describeStreamSummary({ StreamName: name }).pipe(
      Effect.repeat({ until: (out) => out.StreamDescriptionSummary?.StreamStatus === "ACTIVE", schedule: Schedule.spaced("20 millis") })
    ))

/** Writes `data` under one partition key, in order; the sequence numbers. */
const put = (stream: string, data: ReadonlyArray<string>, partitionKey = "k") =>
  Effect.flatMap(Kinesis, (kinesis) =>
    Effect.map(
      kinesis.putRecords({ StreamName: stream, Records: data.map((d) => ({ PartitionKey: partitionKey, Data: encoder.encode(d) })) }),
      (out) => out.Records!.map((r) => r.SequenceNumber!)
    ))

const range = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`)

/** Reads the shard until `n` user records arrived. */
const take = (stream: Stream.Stream<Consumer.ShardBatch, unknown, FanOut.FanOut>, n: number) =>
  stream.pipe(
    Stream.mapConcat((b) => Chunk.toArray(b.records).map(text)),
    Stream.take(n),
    Stream.runCollect,
    Effect.map(Chunk.toArray),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`fewer than ${n} records arrived`) })
  )

/** The FanOut API with `subscribeToShard` replaced. */
const injecting = (f: (real: FanOut.FanOutApi) => FanOut.FanOutApi["subscribeToShard"]) =>
  Effect.map(FanOut.FanOut, (real) => FanOut.FanOut.of({ ...real, subscribeToShard: f(real) }))

const subscriptionsOf = (shardId: string, cause: string) =>
  Effect.map(Metric.value(FanOut.subscriptions.pipe(Metric.tagged("shard", shardId), Metric.tagged("cause", cause))), (s) => s.count)

layer(Emulator, { excludeTestServices: true })("FanOut against kinesis-local", (it) => {
  it.scoped("registers the stream's consumer once and reuses it, by name, as a restarted worker does", () =>
    Effect.gen(function*() {
      yield* createStream("register", 1)
      const [a, b] = yield* Effect.all([FanOut.register("register", "svc"), FanOut.register("register", "svc")], { concurrency: 2 })
      const again = yield* FanOut.register("register", "svc")
      expect(a.consumerArn).toMatch(/stream\/register\/consumer\/svc:/)
      expect(b.consumerArn).toBe(a.consumerArn)
      expect(again.consumerArn).toBe(a.consumerArn)
      const other = yield* FanOut.register("register", "other")
      expect(other.consumerArn).not.toBe(a.consumerArn)
      const missing = yield* Effect.flip(FanOut.register("no-such-stream", "svc"))
      expect(missing).toBeInstanceOf(KinesisNotFoundError)
    }))

  it.scoped("pushes the shard's records in order, those written before and after it subscribed, and resumes after a checkpoint", () =>
    Effect.gen(function*() {
      const [shardId] = yield* createStream("push", 1)
      const consumer = yield* FanOut.register("push", "svc")
      const seq = yield* put("push", range("r", 5))
      const reading = yield* Effect.fork(take(FanOut.readShard(consumer, shardId!, StartPosition.TrimHorizon(), fast), 10))
      yield* Effect.sleep("1500 millis")
      yield* put("push", range("r", 5, 5))
      expect(yield* Fiber.join(reading)).toEqual(range("r", 10))
      // A checkpoint after r2: the next run starts at r3.
      expect(yield* take(FanOut.readShard(consumer, shardId!, StartPosition.AfterSequenceNumber({ sequenceNumber: seq[2]! }), fast), 7)).toEqual(
        range("r", 7, 3)
      )
    }))

  it.scoped("renews each subscription before it runs out, from the continuation sequence number: nothing skipped or repeated", () =>
    Effect.gen(function*() {
      const [shardId] = yield* createStream("renew", 1)
      const consumer = yield* FanOut.register("renew", "svc")
      const before = yield* subscriptionsOf(shardId!, "renewal")
      const reading = yield* Effect.fork(take(FanOut.readShard(consumer, shardId!, StartPosition.TrimHorizon(), { ...fast, renewAfter: "3 seconds" }), 40))
      for (let i = 0; i < 8; i++) {
        yield* put("renew", range("r", 5, 5 * i))
        yield* Effect.sleep("1500 millis")
      }
      expect(yield* Fiber.join(reading)).toEqual(range("r", 40))
      expect((yield* subscriptionsOf(shardId!, "renewal")) - before).toBeGreaterThanOrEqual(2)
    }))

  it.scoped("waits out another subscription of the same consumer and shard (ResourceInUse) with backoff", () =>
    Effect.gen(function*() {
      const [shardId] = yield* createStream("in-use", 1)
      const consumer = yield* FanOut.register("in-use", "svc")
      yield* put("in-use", range("r", 3))
      const api = yield* FanOut.FanOut
      // A real subscription holds the shard for a while.
      const holder = yield* api.subscribeToShard({ ConsumerARN: consumer.consumerArn, ShardId: shardId!, StartingPosition: { Type: "LATEST" } }).pipe(
        Stream.interruptAfter("4 seconds"),
        Stream.runDrain,
        Effect.fork
      )
      yield* Effect.sleep("1 second")
      const before = yield* subscriptionsOf(shardId!, "retry")
      expect(yield* take(FanOut.readShard(consumer, shardId!, StartPosition.TrimHorizon(), fast), 3)).toEqual(range("r", 3))
      expect((yield* subscriptionsOf(shardId!, "retry")) - before).toBeGreaterThanOrEqual(1)
      yield* Fiber.join(holder)
    }))

  it.scoped("falls back to polling from the last record delivered when subscriptions fail for good, when configured", () =>
    Effect.gen(function*() {
      const [shardId] = yield* createStream("fallback", 1)
      const consumer = yield* FanOut.register("fallback", "svc")
      yield* put("fallback", range("r", 4))
      // Injected: the first subscription delivers its events, then the consumer is gone.
      let calls = 0
      const api = yield* injecting((real) => (input) =>
        calls++ === 0
          ? real.subscribeToShard(input).pipe(
            Stream.takeUntil((e) => (e.Records?.length ?? 0) > 0),
            Stream.concat(Stream.fail(new KinesisNotFoundError({ operation: "subscribeToShard", message: "consumer deregistered" })))
          )
          : Stream.fail(new KinesisNotFoundError({ operation: "subscribeToShard", message: "consumer deregistered" }))
      )
      const kinesis = yield* Kinesis
      const poll = (from: StartPosition) => Stream.provideService(readShard("fallback", shardId!, from, { pollInterval: "50 millis" }), Kinesis, kinesis)
      const reading = yield* Effect.fork(
        take(FanOut.readShard(consumer, shardId!, StartPosition.TrimHorizon(), { ...fast, fallback: poll }), 8).pipe(Effect.provideService(FanOut.FanOut, api))
      )
      yield* Effect.sleep("2500 millis")
      yield* put("fallback", range("r", 4, 4))
      expect(yield* Fiber.join(reading)).toEqual(range("r", 8))
      expect(calls).toBe(1)
      // Without a fallback the shard's stream fails.
      calls = 1
      const failed = yield* Effect.flip(FanOut.readShard(consumer, shardId!, StartPosition.TrimHorizon(), fast).pipe(Stream.runDrain, Effect.provideService(FanOut.FanOut, api)))
      expect(failed).toBeInstanceOf(KinesisNotFoundError)
    }))

  it.scoped("follows resharding parent-first: a closed shard's stream ends at its last event, then the children are read", () =>
    Effect.gen(function*() {
      const kinesis = yield* Kinesis
      const stream = "reshard"
      const [parent] = yield* createStream(stream, 1)
      const before = yield* put(stream, range("p", 6))
      yield* kinesis.splitShard({ StreamName: stream, ShardToSplit: parent!, NewStartingHashKey: (2n ** 127n).toString() })
      yield* waitActive(stream)
      yield* Effect.forEach(range("k", 6), (key, i) => put(stream, [`c${i}`], key), { discard: true })
      const last = before[before.length - 1]!
      // Injected, as Kinesis does: once the parent's last record is delivered, its final event names the children and has no continuation.
      const children = Array.from((yield* kinesis.listShards({ StreamName: stream })).Shards ?? []).filter((s) => s.ParentShardId === parent)
      expect(children).toHaveLength(2)
      const api = yield* injecting((real) => (input) =>
        real.subscribeToShard(input).pipe(Stream.map((e) =>
          input.ShardId === parent && (e.ContinuationSequenceNumber === last || (e.Records ?? []).some((r) => r.SequenceNumber === last))
            ? { ...e, ContinuationSequenceNumber: undefined, ChildShards: children.map((c) => ({ ShardId: c.ShardId!, ParentShards: [parent!], HashKeyRange: c.HashKeyRange! })) }
            : e
        ))
      )
      const consumer = yield* FanOut.register(stream, "svc")

      const ended = yield* FanOut.readShard(consumer, parent!, StartPosition.TrimHorizon(), fast).pipe(Stream.runCollect, Effect.provideService(FanOut.FanOut, api))
      expect(texts(ended)).toEqual(range("p", 6))
      expect(Chunk.toArray(ended).map((b) => b.shardEnded)).toEqual([...Array(ended.length - 1).fill(false), true])

      const source = yield* FanOut.source(new Map([[stream, consumer]]), fast).pipe(Effect.provideService(FanOut.FanOut, api))
      const leases = yield* Leases.make(yield* LeaseTableMemory.make, { failoverTime: "2 seconds" })
      const delivered: Array<string> = []
      const handedOut: Array<string> = []
      const consume = (shard: Consumer.ShardStream) =>
        shard.batches.pipe(Stream.mapEffect((batch) =>
          Effect.gen(function*() {
            delivered.push(...Chunk.toArray(batch.records).map(text))
            const lastRecord = Chunk.last(batch.records)
            if (lastRecord._tag === "Some") yield* shard.checkpointer.checkpoint(lastRecord.value)
            if (batch.shardEnded) yield* shard.checkpointer.checkpointShardEnd
          })
        ))
      const fiber = yield* Consumer.shardedStream(stream, { workerId: "w1", discoveryInterval: "200 millis", source }).pipe(
        Stream.tap((shard) => Effect.sync(() => handedOut.push(shard.shardId))),
        Stream.flatMap(consume, { concurrency: "unbounded" }),
        Stream.runDrain,
        Effect.provideService(Leases.Leases, leases),
        Effect.fork
      )
      yield* Effect.sync(() => delivered.length >= 12).pipe(
        Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis") }),
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`only ${delivered.length} records arrived`) })
      )
      yield* Fiber.interrupt(fiber)
      expect(delivered.slice(0, 6)).toEqual(range("p", 6))
      expect(delivered.slice(6).sort()).toEqual(range("c", 6).sort())
      expect(handedOut[0]).toBe(parent)
      expect(handedOut.slice(1).sort()).toEqual(children.map((c) => c.ShardId).sort())
    }))
})
