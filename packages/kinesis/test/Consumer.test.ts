/**
 * The consumer against a local Kinesis (kinesalite, in process) through the
 * real SDK client: resharding during consumption, injected faults, closed
 * shards, KPL aggregates and start positions.
 */
import { expect, layer } from "@effect/vitest"
import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import * as Leases from "@eddy/core/Leases"
import * as LeaseTableMemory from "@eddy/core/LeaseTableMemory"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import { Kinesalite } from "@eddy/local"
import agg from "aws-kinesis-agg"
import { Chunk, Deferred, Effect, Fiber, Layer, Schedule, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Consumer from "../src/Consumer"
import { Kinesis, layer as kinesisLayer } from "../src/Kinesis"
import { awaitActive, createStream } from "@eddy/testing/Harness"
import * as KinesisFaults from "@eddy/testing/KinesisFaults"
import * as Kpl from "../src/Kpl"
import * as Shards from "../src/Shards"

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

/** Short intervals keep the suite fast; the pacing itself is tested on the TestClock. */
const fast: Consumer.AllOptions = {
  pollInterval: "10 millis",
  maxIdleInterval: "40 millis",
  discoveryInterval: "40 millis",
  retry: Schedule.spaced("5 millis").pipe(Schedule.intersect(Schedule.recurs(20))),
  // kinesalite answers a GetRecords only once it has read up to the shard's tip (or the limit), chasing
  // records written meanwhile: a small limit keeps its answers quick while a writer is busy.
  limit: 200
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (r: SourceRecord) => decoder.decode(r.data)
const flat = (batches: Iterable<Consumer.ShardBatch>) => [...batches].flatMap((b) => Chunk.toArray(b.records))

/** Waits for a condition another fiber makes true; fails loudly instead of hanging. */
const until = (condition: () => boolean, what: string) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("5 millis") }),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`timed out waiting until ${what}`) })
  )

/** Splits a shard at `hashKey` (default the middle of the key space) and waits until the stream is ACTIVE again. */
const split = (stream: string, shardId: string, hashKey: bigint = 2n ** 127n) =>
  Effect.flatMap(Kinesis, (kinesis) => kinesis.splitShard({ StreamName: stream, ShardToSplit: shardId, NewStartingHashKey: hashKey.toString() })).pipe(
    Effect.zipRight(awaitActive(stream))
  )

/** `count` records `<prefix>0`, `<prefix>1`, ..., each under its own key `k0`, `k1`, .... */
const numbered = (prefix: string, count = 10) => Array.from({ length: count }, (_, i) => ({ PartitionKey: `k${i}`, Data: encoder.encode(`${prefix}${i}`) }))

/** Writes records in one PutRecords; returns where each landed. */
const put = (stream: string, records: ReadonlyArray<PutRecordsRequestEntry>) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const out = yield* kinesis.putRecords({ StreamName: stream, Records: [...records] })
    expect(out.FailedRecordCount ?? 0).toBe(0)
    return out.Records!.map((r) => ({ shardId: r.ShardId!, sequenceNumber: r.SequenceNumber! }))
  })

/** A one-shard stream holding `numbered(prefix)`, its shard then split: where the records landed, and that closed parent shard. */
const splitAfter = (stream: string, prefix: string) =>
  Effect.gen(function*() {
    yield* createStream(stream, 1)
    const written = yield* put(stream, numbered(prefix))
    const parent = written[0]!.shardId
    yield* split(stream, parent)
    return { written, parent }
  })

const SENTINEL = "sentinel"

/**
 * One record at the start of every open shard's hash range. Written after all
 * data, a shard's sentinel proves its reader has passed everything before it.
 */
const putSentinels = (stream: string) =>
  Effect.gen(function*() {
    const open = [...(yield* Shards.list(stream)).values()].filter((s) => !s.closed)
    yield* put(
      stream,
      open.map((s) => ({ PartitionKey: SENTINEL, ExplicitHashKey: s.hashKeyRange.start.toString(), Data: encoder.encode(SENTINEL) }))
    )
    return open.map((s) => s.shardId)
  })

layer(KinesisLocal, { excludeTestServices: true })("Consumer against a local Kinesis", (it) => {
  it.scoped(
    "reads every record exactly once, in order per partition key, across a split and a merge made during consumption",
    () =>
      Effect.gen(function*() {
        const kinesis = yield* Kinesis
        const stream = "reshard"
        yield* createStream(stream, 3)
        const keys = Array.from({ length: 32 }, (_, i) => `key-${i}`)
        const sent = new Map(keys.map((k) => [k, 0]))

        const batches: Array<Consumer.ShardBatch> = []
        const delivered: Array<SourceRecord> = []
        const sentinels = new Set<string>()
        const consumer = yield* Consumer.all(stream, Consumer.StartPosition.TrimHorizon(), fast).pipe(
          Stream.tap((batch) =>
            Effect.sync(() => {
              batches.push(batch)
              for (const r of batch.records) (text(r) === SENTINEL ? sentinels.add(r.shardId) : delivered.push(r))
            })
          ),
          // Three shards are open after the reshard: one split in two, two merged in one.
          Stream.takeUntil(() => sentinels.size === 3),
          Stream.runDrain,
          Effect.fork
        )

        // The writer keeps writing, 20 records per PutRecords, until told to stop.
        const stop = yield* Deferred.make<void>()
        let i = 0
        const writer = yield* Effect.gen(function*() {
          while (!(yield* Deferred.isDone(stop))) {
            yield* put(
              stream,
              Array.from({ length: 20 }, () => {
                const key = keys[i++ % keys.length]!
                const n = sent.get(key)!
                sent.set(key, n + 1)
                return { PartitionKey: key, Data: encoder.encode(`${key}:${n}`) }
              })
            )
            // A steady producer rather than a flood, which kinesalite's readers could not keep up with.
            yield* Effect.sleep("2 millis")
          }
        }).pipe(Effect.fork)

        const readFrom = (shardIds: ReadonlyArray<string>) => () => delivered.some((r) => shardIds.includes(r.shardId))
        yield* until(() => delivered.length >= 400, "the consumer is under way")

        const before = yield* Shards.list(stream)
        const [first, second, third] = [...before.values()]
        const middle = (first!.hashKeyRange.start + first!.hashKeyRange.end) / 2n
        yield* split(stream, first!.shardId, middle)
        const halves = [...(yield* Shards.list(stream)).values()].filter((s) => s.parentShardId === first!.shardId)
        expect(halves).toHaveLength(2)
        yield* until(readFrom(halves.map((s) => s.shardId)), "the split's children are read")

        yield* kinesis.mergeShards({ StreamName: stream, ShardToMerge: second!.shardId, AdjacentShardToMerge: third!.shardId })
        yield* awaitActive(stream)
        const merged = [...(yield* Shards.list(stream)).values()].filter((s) => s.adjacentParentShardId !== undefined)
        expect(merged).toHaveLength(1)
        expect(merged[0]!.parents).toEqual([second!.shardId, third!.shardId])
        yield* until(readFrom([merged[0]!.shardId]), "the merged shard is read")

        yield* Deferred.succeed(stop, undefined)
        yield* Fiber.join(writer)
        const open = yield* putSentinels(stream)
        yield* Fiber.join(consumer)

        // Exactly once: every record sent is delivered, none twice.
        const total = [...sent.values()].reduce((a, b) => a + b, 0)
        expect(delivered.length).toBe(total)
        expect(new Set(delivered.map(text)).size).toBe(total)
        // In order per key, across parents and children.
        const perKey = new Map<string, Array<number>>()
        for (const r of delivered) {
          const [key, n] = text(r).split(":") as [string, string]
          expect(r.partitionKey).toBe(key)
          perKey.set(key, [...(perKey.get(key) ?? []), Number(n)])
        }
        for (const [key, ns] of perKey) expect(ns).toEqual(Array.from({ length: sent.get(key)! }, (_, n) => n))
        expect(new Set(open)).toEqual(sentinels)

        // Every parent ended (and had records), every child started only after its parents' end.
        const endedAt = new Map(batches.flatMap((b, at) => (b.shardEnded ? [[b.shardId, at] as const] : [])))
        const children = [...halves, merged[0]!]
        for (const parent of [first!, second!, third!]) {
          expect(endedAt.has(parent.shardId)).toBe(true)
          expect(delivered.some((r) => r.shardId === parent.shardId)).toBe(true)
        }
        for (const child of children) {
          const firstBatch = batches.findIndex((b) => b.shardId === child.shardId)
          for (const parent of child.parents) expect(firstBatch).toBeGreaterThan(endedAt.get(parent)!)
        }
      })
  )

  it.scoped("loses and repeats nothing when iterators expire and calls are throttled or fail", () =>
    Effect.gen(function*() {
      const stream = "faults"
      yield* createStream(stream, 2)
      const record = (n: number) => ({ PartitionKey: `key-${n % 16}`, Data: encoder.encode(`record-${n}`) })
      const written: Array<{ readonly shardId: string; readonly sequenceNumber: string }> = []
      for (let b = 0; b < 10; b++) written.push(...yield* put(stream, Array.from({ length: 50 }, (_, i) => record(b * 50 + i))))

      const { faults, kinesis: faulty } = yield* KinesisFaults.make(yield* Kinesis, {
        seed: 7,
        expireIterators: { every: 3 },
        throttle: { operations: ["getRecords", "getShardIterator"], every: 4 },
        fail: { operations: ["getRecords", "getShardIterator", "listShards"], probability: 0.05 }
      })
      const delivered: Array<SourceRecord> = []
      const sentinels = new Set<string>()
      const consumer = yield* Consumer.all(stream, Consumer.StartPosition.TrimHorizon(), { ...fast, limit: 20 }).pipe(
        Stream.tap((batch) =>
          Effect.sync(() => {
            for (const r of batch.records) (text(r) === SENTINEL ? sentinels.add(r.shardId) : delivered.push(r))
          })
        ),
        Stream.takeUntil(() => sentinels.size === 2),
        Stream.runDrain,
        Effect.provideService(Kinesis, faulty),
        Effect.fork
      )
      // More records while the faulty reader runs, then the sentinels.
      yield* until(() => delivered.length >= 100, "the consumer is under way")
      for (let b = 10; b < 20; b++) written.push(...yield* put(stream, Array.from({ length: 50 }, (_, i) => record(b * 50 + i))))
      yield* putSentinels(stream)
      yield* Fiber.join(consumer)

      // Per shard, exactly the sequence numbers Kinesis assigned, in order.
      for (const shardId of new Set(written.map((w) => w.shardId))) {
        expect(delivered.filter((r) => r.shardId === shardId).map((r) => r.sequenceNumber)).toEqual(
          written.filter((w) => w.shardId === shardId).map((w) => w.sequenceNumber)
        )
      }
      expect(delivered).toHaveLength(1000)
      const counts = yield* faults.counts
      expect(counts.expiredIterators).toBeGreaterThan(10)
      expect(counts.throttled).toBeGreaterThan(10)
      expect(counts.failed).toBeGreaterThan(0)
    }))

  it.scoped("reads from LATEST: only new records, closed shards skipped, later shards from their start", () =>
    Effect.gen(function*() {
      const stream = "latest"
      yield* createStream(stream, 1)
      const old = (n: number) => ({ PartitionKey: `key-${n % 4}`, Data: encoder.encode(`old-${n}`) })
      yield* put(stream, Array.from({ length: 10 }, (_, i) => old(i)))
      yield* split(stream, "shardId-000000000000")
      yield* put(stream, Array.from({ length: 10 }, (_, i) => old(10 + i)))

      // Knowing when each reader holds its LATEST iterator tells which records it must see.
      const real = yield* Kinesis
      const positioned = new Set<string>()
      const watched = {
        ...real,
        getShardIterator: (input: Parameters<typeof real.getShardIterator>[0]) =>
          Effect.tap(real.getShardIterator(input), () => Effect.sync(() => positioned.add(input.ShardId!)))
      }
      const batches: Array<Consumer.ShardBatch> = []
      const sentinels = new Set<string>()
      const consumer = yield* Consumer.all(stream, Consumer.StartPosition.Latest(), fast).pipe(
        Stream.tap((batch) => Effect.sync(() => {
          batches.push(batch)
          for (const r of batch.records) if (text(r) === SENTINEL) sentinels.add(r.shardId)
        })),
        Stream.takeUntil(() => sentinels.size === 3),
        Stream.runDrain,
        Effect.provideService(Kinesis, watched),
        Effect.fork
      )
      yield* until(() => positioned.size === 2, "both open shards have an iterator")
      yield* put(stream, Array.from({ length: 10 }, (_, i) => ({ PartitionKey: `key-${i % 4}`, Data: encoder.encode(`new-${i}`) })))
      // A reshard after the start: the new shards are read from their first record.
      yield* split(stream, "shardId-000000000001", 2n ** 126n)
      yield* put(stream, Array.from({ length: 10 }, (_, i) => ({ PartitionKey: `key-${i % 4}`, Data: encoder.encode(`new-${10 + i}`) })))
      yield* putSentinels(stream)
      yield* Fiber.join(consumer)

      const delivered = flat(batches).map(text).filter((t) => t !== SENTINEL)
      expect(delivered.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `new-${i}`).sort())
      expect(batches.some((b) => b.shardId === "shardId-000000000000")).toBe(false)
      expect(batches.filter((b) => b.shardEnded).map((b) => b.shardId)).toEqual(["shardId-000000000001"])
    }))

  it.scoped("ends a closed shard's stream cleanly with a shard-end batch", () =>
    Effect.gen(function*() {
      const stream = "closed"
      const { parent, written } = yield* splitAfter(stream, "r")

      const batches = Chunk.toArray(
        yield* Consumer.readShard(stream, parent, Consumer.StartPosition.TrimHorizon(), { ...fast, limit: 4 }).pipe(Stream.runCollect)
      )
      expect(flat(batches).map((r) => r.sequenceNumber)).toEqual(written.map((w) => w.sequenceNumber))
      expect(batches.map((b) => b.shardEnded)).toEqual([...batches.slice(1).map(() => false), true])
      expect(batches.slice(0, 3).map((b) => b.records.length)).toEqual([4, 4, 2])

      // From after its last record, a closed shard yields only its end.
      const rest = Chunk.toArray(
        yield* Consumer.readShard(stream, parent, Consumer.after({ sequenceNumber: written[9]!.sequenceNumber, subSequenceNumber: 0 }), fast)
          .pipe(Stream.runCollect)
      )
      expect(rest.map((b) => [b.records.length, b.shardEnded])).toEqual([[0, true]])
      const chunks = yield* Consumer.records(stream, parent, Consumer.StartPosition.AtSequenceNumber({ sequenceNumber: written[8]!.sequenceNumber }), fast)
        .pipe(Stream.runCollect)
      expect(Chunk.toArray(chunks).flatMap((c) => Chunk.toArray(c).map(text))).toEqual(["r8", "r9"])
    }))

  it.scoped("unpacks KPL aggregates with sub-sequence numbers and turns a corrupt one into an unreadable record", () =>
    Effect.gen(function*() {
      const stream = "kpl"
      yield* createStream(stream, 1)
      const users = Array.from({ length: 5 }, (_, i) => ({ partitionKey: `user-${i}`, data: encoder.encode(`u${i}`) }))
      const official = yield* officialAggregate(users)
      const damaged = Uint8Array.from(official)
      damaged[10] = damaged[10]! ^ 0xff
      const garbage = Uint8Array.of(0x1a, 0x7f, 0x01)
      const malformed = Uint8Array.from([...Kpl.MAGIC, ...garbage, ...createHash("md5").update(garbage).digest()])
      const written = yield* put(stream, [
        { PartitionKey: "p", Data: encoder.encode("before") },
        { PartitionKey: "user-0", Data: official },
        { PartitionKey: "bad", Data: damaged },
        { PartitionKey: "bad", Data: malformed },
        { PartitionKey: "p", Data: encoder.encode("after") }
      ])

      const records = yield* Consumer.records(stream, written[0]!.shardId, Consumer.StartPosition.TrimHorizon(), fast).pipe(
        Stream.flattenChunks,
        Stream.take(9),
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
      expect(records.map((r) => [r.sequenceNumber, r.subSequenceNumber, r.partitionKey])).toEqual([
        [written[0]!.sequenceNumber, 0, "p"],
        ...users.map((u, i) => [written[1]!.sequenceNumber, i, u.partitionKey]),
        [written[2]!.sequenceNumber, 0, "bad"],
        [written[3]!.sequenceNumber, 0, "bad"],
        [written[4]!.sequenceNumber, 0, "p"]
      ])
      expect(records.slice(1, 6).map(text)).toEqual(["u0", "u1", "u2", "u3", "u4"])
      expect(records.filter((r) => r.unreadable !== undefined)).toHaveLength(2)
      // The corrupt records keep their raw bytes, so the dead letter holds what Kinesis held.
      expect(records[6]!.data).toEqual(damaged)
      expect(records[6]!.unreadable).toMatchObject({ error: "KplError" })
      expect(records[6]!.unreadable!.reason).toContain("ChecksumMismatch")
      expect(records[7]!.data).toEqual(malformed)
      expect(records[7]!.unreadable!.reason).toContain("MalformedProtobuf")
      for (const r of records) expect(r.arrivalTime).toBeGreaterThan(0)
    }))

  it.scoped("starts at a sequence number, after one, inside an aggregate, and at a timestamp", () =>
    Effect.gen(function*() {
      const stream = "positions"
      yield* createStream(stream, 1)
      const aggregate = Kpl.aggregate(["a0", "a1", "a2", "a3"].map((s) => ({ partitionKey: "k", data: encoder.encode(s) })))
      const [r0, a] = yield* put(stream, [
        { PartitionKey: "k", Data: encoder.encode("r0") },
        { PartitionKey: "k", Data: aggregate },
        { PartitionKey: "k", Data: encoder.encode("r2") }
      ])
      const shardId = r0!.shardId
      const read = (from: Consumer.StartPosition, n: number) =>
        Consumer.records(stream, shardId, from, fast).pipe(Stream.flattenChunks, Stream.take(n), Stream.runCollect, Effect.map((c) => Chunk.toArray(c).map(text)))
      const { AfterSequenceNumber, AtSequenceNumber, AtTimestamp, TrimHorizon } = Consumer.StartPosition

      expect(yield* read(AtSequenceNumber({ sequenceNumber: a!.sequenceNumber }), 5)).toEqual(["a0", "a1", "a2", "a3", "r2"])
      expect(yield* read(AfterSequenceNumber({ sequenceNumber: a!.sequenceNumber }), 1)).toEqual(["r2"])
      expect(yield* read(AfterSequenceNumber({ sequenceNumber: r0!.sequenceNumber }), 2)).toEqual(["a0", "a1"])
      // A checkpoint at sub-sequence 1 of the aggregate: a0 and a1 are done.
      expect(yield* read(Consumer.after({ sequenceNumber: a!.sequenceNumber, subSequenceNumber: 1 }), 3)).toEqual(["a2", "a3", "r2"])
      // At its last user record, the whole aggregate is done.
      expect(yield* read(Consumer.after({ sequenceNumber: a!.sequenceNumber, subSequenceNumber: 3 }), 1)).toEqual(["r2"])
      // A plain record checkpointed at sub-sequence 0 is done too.
      expect(yield* read(Consumer.after({ sequenceNumber: r0!.sequenceNumber, subSequenceNumber: 0 }), 1)).toEqual(["a0"])

      // Two more records, in a later millisecond than everything before them.
      const sentAt = Date.now()
      while (Date.now() <= sentAt) {
        // Arrival times have millisecond resolution: wait for the next millisecond.
      }
      yield* put(stream, [{ PartitionKey: "k", Data: encoder.encode("t0") }, { PartitionKey: "k", Data: encoder.encode("t1") }])
      const all = yield* Consumer.records(stream, shardId, TrimHorizon(), fast).pipe(
        Stream.flattenChunks,
        Stream.take(8),
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
      expect(all.map(text)).toEqual(["r0", "a0", "a1", "a2", "a3", "r2", "t0", "t1"])
      expect(all[6]!.arrivalTime).toBeGreaterThan(all[5]!.arrivalTime)
      expect(yield* read(AtTimestamp({ timestamp: all[6]!.arrivalTime }), 2)).toEqual(["t0", "t1"])
      expect(yield* read(AtTimestamp({ timestamp: all[0]!.arrivalTime }), 2)).toEqual(["r0", "a0"])
    }))

  it.scoped("shardedStream hands out each leased shard, resumes at its checkpoint, and starts children after their parent's SHARD_END", () =>
    Effect.gen(function*() {
      const stream = "sharded"
      const { parent, written: before } = yield* splitAfter(stream, "p")
      yield* put(stream, numbered("c"))
      const leases = yield* Leases.make(yield* LeaseTableMemory.make, { failoverTime: "600 millis" })
      // The parent's first five records were processed by an earlier worker.
      yield* leases.createLeases([{ leaseKey: `${stream}:${parent}`, checkpoint: { sequenceNumber: before[4]!.sequenceNumber, subSequenceNumber: 0 } }])

      const delivered: Array<string> = []
      const handedOut: Array<string> = []
      const consume = (shard: Consumer.ShardStream) =>
        shard.batches.pipe(
          Stream.mapEffect((batch) =>
            Effect.gen(function*() {
              delivered.push(...Chunk.toArray(batch.records).map(text))
              const last = Chunk.last(batch.records)
              if (last._tag === "Some") yield* shard.checkpointer.checkpoint(last.value)
              if (batch.shardEnded) yield* shard.checkpointer.checkpointShardEnd
            })
          )
        )
      const fiber = yield* Consumer.shardedStream(stream, { ...fast, workerId: "w1" }).pipe(
        Stream.tap((shard) => Effect.sync(() => handedOut.push(shard.shardId))),
        Stream.flatMap(consume, { concurrency: "unbounded" }),
        Stream.runDrain,
        Effect.provideService(Leases.Leases, leases),
        Effect.fork
      )
      yield* until(() => delivered.length >= 15, "the parent's rest and the children are read")
      const parentEnded = yield* leases.list
      expect(parentEnded.find((l) => l.leaseKey === `${stream}:${parent}`)?.checkpoint ?? Leases.SHARD_END).toEqual(Leases.SHARD_END)
      // Once both children checkpointed past TRIM_HORIZON, discovery removes the finished parent's lease (and does not create it again).
      const children = (yield* leases.list).filter((l) => l.parentShardIds.includes(`${stream}:${parent}`))
      expect(children).toHaveLength(2)
      yield* Effect.flatMap(leases.list, (list) => Effect.sync(() => list.length === 2)).pipe(
        Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the finished parent's lease was not removed") })
      )
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(fiber)

      expect(delivered.slice(0, 5)).toEqual(["p5", "p6", "p7", "p8", "p9"])
      expect(delivered.slice(5).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`).sort())
      expect(handedOut[0]).toBe(parent)
      expect(handedOut.length).toBe(3)
      const stored = yield* leases.list
      expect(stored.map((l) => l.leaseKey).sort()).toEqual(children.map((l) => l.leaseKey).sort())
      // Interrupting the stream released the children's leases.
      expect(stored.map((l) => l.leaseOwner)).toEqual([undefined, undefined])
    }))

  it.scoped("shardedStream: once another worker takes the lease, checkpoints fail with LeaseLostError and the shard is told", () =>
    Effect.gen(function*() {
      const stream = "stolen"
      yield* createStream(stream, 1)
      const written = yield* put(stream, numbered("r", 5))
      const table = yield* LeaseTableMemory.make
      const leases = yield* Leases.make(table, { failoverTime: "600 millis" })
      const shards = yield* Stream.toPull(Consumer.shardedStream(stream, { ...fast, workerId: "w1" }).pipe(Stream.provideService(Leases.Leases, leases)))
      const [shard] = Chunk.toArray(yield* shards)
      const first = Chunk.toArray(yield* Stream.runHead(shard!.records).pipe(Effect.map((o) => o._tag === "Some" ? o.value : Chunk.empty())))
      expect(first.map(text)).toEqual(["r0", "r1", "r2", "r3", "r4"])
      yield* shard!.checkpointer.checkpoint(first[1]!)

      expect(shard!.lease.leaseKey).toBe(`${stream}:${shard!.shardId}`)
      const observed = (yield* table.get(shard!.lease.leaseKey))!
      expect(yield* table.take(observed, "thief")).toBe(true)
      const refused = yield* Effect.flip(shard!.checkpointer.checkpoint(first[4]!))
      expect(refused).toBeInstanceOf(Leases.LeaseLostError)
      expect((yield* table.get(shard!.lease.leaseKey))!.checkpoint).toEqual({ sequenceNumber: written[1]!.sequenceNumber, subSequenceNumber: 0 })
      yield* shard!.leaseLost.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the lease loss was not told") }))
      // The shard's stream ends rather than reading on for a lease this worker lost.
      yield* Stream.runDrain(shard!.batches).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the shard's stream read on") }))
    }))

  it.scoped("watches the shard map and reports a split", () =>
    Effect.gen(function*() {
      const kinesis = yield* Kinesis
      const stream = "watched"
      yield* createStream(stream, 1)
      const seen = yield* Deferred.make<void>()
      const fiber = yield* Consumer.shards(stream, { discoveryInterval: "20 millis" }).pipe(
        Stream.tap(() => Deferred.succeed(seen, undefined)),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(seen)
      yield* kinesis.splitShard({ StreamName: stream, ShardToSplit: "shardId-000000000000", NewStartingHashKey: (2n ** 100n).toString() })
      const [before, after] = Chunk.toArray(yield* Fiber.join(fiber))
      expect([...before!.values()].map((s) => [s.shardId, s.closed])).toEqual([["shardId-000000000000", false]])
      const shards = [...after!.values()]
      expect(shards.map((s) => [s.shardId, s.closed, s.parents])).toEqual([
        ["shardId-000000000000", true, []],
        ["shardId-000000000001", false, ["shardId-000000000000"]],
        ["shardId-000000000002", false, ["shardId-000000000000"]]
      ])
      expect(shards[1]!.hashKeyRange).toEqual({ start: 0n, end: 2n ** 100n - 1n })
      expect(shards[2]!.hashKeyRange).toEqual({ start: 2n ** 100n, end: 2n ** 128n - 1n })
      expect(shards[0]!.endingSequenceNumber).toBeDefined()
    }))
})

/** The official aws-kinesis-agg encoder, for records that fit one aggregate. */
const officialAggregate = (records: ReadonlyArray<Kpl.UserRecord>) =>
  Effect.async<Uint8Array, Error>((resume) => {
    const encoded: Array<Buffer> = []
    agg.aggregate(
      records.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data) })),
      (record: { readonly data: Buffer }, done: () => void) => {
        encoded.push(record.data)
        done()
      },
      () => resume(encoded.length === 1 ? Effect.succeed(encoded[0]!) : Effect.fail(new Error(`expected one aggregate, got ${encoded.length}`))),
      (err: Error) => resume(Effect.fail(err))
    )
  })
