/**
 * The producer's write-ahead log against a local Kinesis (kinesalite) and
 * real files: what a producer could not send is sent by the next one, a torn
 * last write is cut off, acknowledged segments are deleted, the directory is
 * locked, and a full log blocks or fails as configured. (Crashes of a real
 * process: test/WriteAheadLogCrash.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Kinesalite } from "@eddy/local"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Kinesis, type KinesisApi, KinesisUnavailableError, layer as kinesisLayer } from "../src/Kinesis"
import * as Producer from "../src/Producer"
import * as WriteAheadLog from "../src/WriteAheadLog"
import { createStream, readAll } from "./support/Stream"

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

const unpaced = { shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 } } as const
const quickRetry = Producer.retrySchedule({ base: "2 millis", cap: "20 millis", retries: 30 })
const keepTrying = Producer.retrySchedule({ base: "2 millis", cap: "20 millis", retries: 1_000_000 })
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A fresh directory for the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "eddy-wal-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const records = (n: number, prefix = "r") =>
  Array.from({ length: n }, (_, i) => ({ partitionKey: `key-${i % 7}`, data: encoder.encode(`${prefix}-${i}`) }))

/** Kinesis refusing every PutRecords retryably: nothing the producer holds gets written. */
const down = Effect.map(Kinesis, (real): KinesisApi => ({
  ...real,
  putRecords: () => Effect.fail(new KinesisUnavailableError({ operation: "PutRecords", message: "Kinesis is down (injected)" }))
}))

const segments = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith(".wal")).sort()

const dataIn = (name: string) => Effect.map(readAll(name), (stored) => stored.map((r) => decoder.decode(r.data)).sort())

/** Offers `rs` to a producer on Kinesis that is down, then closes it at once: they stay in the log. */
const offerWhileDown = (stream: string, directory: string, rs: ReturnType<typeof records>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const kinesis = yield* down
      const producer = yield* Producer.make({ streamName: stream, closeTimeout: 0, retry: quickRetry, writeAheadLog: { directory }, ...unpaced }).pipe(
        Effect.provideService(Kinesis, kinesis)
      )
      yield* producer.offerAll(rs)
    })
  )

/** A stream of `shards` shards, and a fresh log holding `rs`, offered while Kinesis was down. */
const loggedWhileDown = (stream: string, shards: number, rs: ReturnType<typeof records>) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    yield* createStream(stream, shards)
    yield* offerWhileDown(stream, dir, rs)
    return dir
  })

/** A producer opened again on the log in `directory`: it sends what it finds there, flushes and closes. */
const reopened = (streamName: string, directory: string) =>
  Effect.scoped(Effect.flatMap(Producer.make({ streamName, retry: quickRetry, writeAheadLog: { directory }, ...unpaced }), (producer) => producer.flush))

describe("Producer with a write-ahead log", () => {
  // Live: retries wait real milliseconds.
  it.scopedLive("after a stop sends again only what Kinesis had not acknowledged, acknowledgements and records sharing segments", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* createStream("mixed", 2)
      const real = yield* Kinesis
      let up = true
      const switched: KinesisApi = {
        ...real,
        putRecords: (input) =>
          up ? real.putRecords(input) : Effect.fail(new KinesisUnavailableError({ operation: "PutRecords", message: "Kinesis is down (injected)" }))
      }
      const written = records(100, "written")
      const kept = records(100, "kept")
      yield* Effect.scoped(Effect.gen(function*() {
        // Retrying for as long as the test runs: given up on, a record would go to the failure sink instead.
        const producer = yield* Producer.make({ streamName: "mixed", linger: 0, closeTimeout: 0, retry: keepTrying, writeAheadLog: { directory: dir }, ...unpaced }).pipe(
          Effect.provideService(Kinesis, switched)
        )
        // Interleaved, so one segment holds records, their acknowledgements, and records never acknowledged.
        for (let i = 0; i < 100; i += 10) {
          up = true
          const outcomes = yield* producer.putAll(written.slice(i, i + 10))
          expect(outcomes.every((o) => o._tag === "Right")).toBe(true)
          up = false
          yield* producer.offerAll(kept.slice(i, i + 10))
        }
      }))
      expect(segments(dir).length).toBe(1)
      yield* reopened("mixed", dir)
      // Each exactly once: the acknowledged ones were not sent again.
      expect(yield* dataIn("mixed")).toEqual([...written, ...kept].map((r) => decoder.decode(r.data)).sort())
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("sends what the last producer took but could not write, once the log is opened again", () =>
    Effect.gen(function*() {
      const taken = records(300)
      const dir = yield* loggedWhileDown("again", 2, taken)
      expect(yield* dataIn("again")).toEqual([])
      expect(segments(dir).length).toBeGreaterThan(0)

      yield* reopened("again", dir)
      expect(yield* dataIn("again")).toEqual(taken.map((r) => decoder.decode(r.data)).sort())
      // All acknowledged: a clean close leaves no segment behind.
      expect(segments(dir)).toEqual([])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("cuts off a torn last write and sends every whole record before it", () =>
    Effect.gen(function*() {
      const taken = records(20)
      const dir = yield* loggedWhileDown("torn", 1, taken)
      const [last] = segments(dir).slice(-1)
      const file = path.join(dir, last!)
      const whole = fs.statSync(file).size
      // A crash in the middle of the next append: half a frame, its length saying more follows.
      const torn = Buffer.alloc(30)
      torn.writeUInt32LE(500, 0)
      fs.appendFileSync(file, torn)

      yield* Effect.scoped(Effect.gen(function*() {
        const producer = yield* Producer.make({ streamName: "torn", retry: quickRetry, writeAheadLog: { directory: dir }, ...unpaced })
        expect(fs.statSync(file).size).toBe(whole)
        yield* producer.flush
      }))
      expect(yield* dataIn("torn")).toEqual(taken.map((r) => decoder.decode(r.data)).sort())
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("a corrupted record (bad checksum) ends what is read from its segment", () =>
    Effect.gen(function*() {
      const dir = yield* loggedWhileDown("crc", 1, records(3, "first"))
      yield* offerWhileDown("crc", dir, records(3, "second"))
      const files = segments(dir)
      expect(files.length).toBe(2)
      // Flip the last byte of the second segment's last record.
      const file = path.join(dir, files[1]!)
      const buf = fs.readFileSync(file)
      buf[buf.length - 1] ^= 0xff
      fs.writeFileSync(file, buf)
      yield* reopened("crc", dir)
      expect(yield* dataIn("crc")).toEqual(["first-0", "first-1", "first-2", "second-0", "second-1"])
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("deletes segments once all their records are acknowledged", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* createStream("compact", 2)
      const producer = yield* Producer.make({
        streamName: "compact",
        retry: quickRetry,
        linger: 0,
        writeAheadLog: { directory: dir, segmentBytes: 2_000 },
        ...unpaced
      })
      for (let i = 0; i < 20; i++) {
        const outcomes = yield* producer.putAll(records(50, `batch${i}`))
        expect(outcomes.every((o) => o._tag === "Right")).toBe(true)
      }
      // 1,000 records of ~30 bytes in segments of 2 KB: all but the active one are gone.
      expect(segments(dir).length).toBeLessThanOrEqual(2)
      expect((yield* readAll("compact")).length).toBe(1_000)
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("one producer per directory: a second fails naming it; a dead process's lock is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* createStream("lock", 1)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Producer.make({ streamName: "lock", writeAheadLog: { directory: dir } })
        const second = yield* Effect.exit(Producer.make({ streamName: "lock", writeAheadLog: { directory: dir } }))
        expect(second).toEqual(Exit.fail(new WriteAheadLog.WriteAheadLogLockedError({ directory: dir, pid: process.pid })))
        if (Exit.isFailure(second)) expect(String(second.cause)).toContain(dir)
      }))
      // A process that is gone left its lock behind (SIGKILL runs no cleanup).
      const gone = 2 ** 22 + 12_345
      fs.writeFileSync(path.join(dir, "LOCK"), String(gone))
      yield* Effect.scoped(Producer.make({ streamName: "lock", writeAheadLog: { directory: dir } }))
      // A live process's lock is respected: our parent's, say.
      fs.writeFileSync(path.join(dir, "LOCK"), String(process.ppid))
      const refused = yield* Effect.exit(Effect.scoped(Producer.make({ streamName: "lock", writeAheadLog: { directory: dir } })))
      expect(refused).toEqual(Exit.fail(new WriteAheadLog.WriteAheadLogLockedError({ directory: dir, pid: process.ppid })))
    }).pipe(Effect.provide(KinesisLocal)))

  it.scoped("a full log fails the call with whenFull: fail, and makes it wait with block until acknowledgements free room", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const blockDir = yield* tempDir
      yield* createStream("full", 1)
      const kinesis = yield* down
      const failing = yield* Producer.make({
        streamName: "full",
        closeTimeout: 0,
        retry: quickRetry,
        writeAheadLog: { directory: dir, maxBytes: 4_000, whenFull: "fail" },
        ...unpaced
      }).pipe(Effect.provideService(Kinesis, kinesis))
      yield* failing.offerAll(records(50))
      const refused = yield* Effect.flip(failing.offerAll(records(100)))
      expect(refused).toEqual(new WriteAheadLog.WriteAheadLogFullError({ directory: dir, maxBytes: 4_000 }))

      // Kinesis answers only when the test lets it: the log stays full until then.
      const release = yield* Deferred.make<void>()
      const real = yield* Kinesis
      const gated: KinesisApi = { ...real, putRecords: (input) => Effect.zipRight(Deferred.await(release), real.putRecords(input)) }
      const blocking = yield* Producer.make({
        streamName: "full",
        linger: 0,
        retry: quickRetry,
        writeAheadLog: { directory: blockDir, maxBytes: 4_000, segmentBytes: 1_000 },
        ...unpaced
      }).pipe(Effect.provideService(Kinesis, gated))
      yield* blocking.offerAll(records(50, "a"))
      const waiting = yield* Effect.fork(blocking.offerAll(records(100, "b")))
      yield* Effect.yieldNow()
      expect(yield* blocking.depth).toBe(50)
      expect(waiting.unsafePoll()).toBeNull()
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(waiting)
      yield* blocking.flush
      expect((yield* dataIn("full")).filter((d) => d.startsWith("a-") || d.startsWith("b-")).length).toBe(150)
    }).pipe(Effect.provide(KinesisLocal)))
})
