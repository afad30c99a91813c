/**
 * The NDJSON and netstring (MessagePack) aggregation formats: their byte
 * layouts against async-kinesis's, the aggregators' limits, and a producer
 * writing them to a local Kinesis (kinesalite, real SDK client) read back by
 * the shard reader with every position exact, also from a checkpoint inside
 * an aggregate.
 */
import { describe, expect, it } from "@effect/vitest"
import { Kinesalite } from "@eddy/local"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import * as Aggregation from "../src/Aggregation"
import * as Consumer from "../src/Consumer"
import { Kinesis, layer as kinesisLayer } from "../src/Kinesis"
import { createStream } from "./support/Stream"
import { RECORD_MAX_BYTES } from "../src/Limits"
import * as Msgpack from "../src/Msgpack"
import * as Ndjson from "../src/Ndjson"
import * as Netstring from "../src/Netstring"
import * as Producer from "../src/Producer"
import * as UserRecords from "../src/UserRecords"

const utf8 = new TextEncoder()
const text = new TextDecoder()
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/ /g, ""), "hex"))
const strings = (parts: Either.Either<ReadonlyArray<Uint8Array>, unknown>) => Either.getOrThrow(parts).map((p) => text.decode(p))

describe("Ndjson", () => {
  it("writes each record followed by a line feed, byte for byte as async-kinesis's JsonLineProcessor", () => {
    // Python: b"\n".join([json.dumps(x).encode() for x in ({"a": 1}, {"b": 2})] + [b""])
    const written = Ndjson.aggregate([utf8.encode("{\"a\": 1}"), utf8.encode("{\"b\": 2}")])
    expect(text.decode(written)).toBe("{\"a\": 1}\n{\"b\": 2}\n")
    expect(strings(Ndjson.deaggregate(written))).toEqual(["{\"a\": 1}", "{\"b\": 2}"])
  })

  it("reads CRLF lines and a last line without its line feed, and skips empty lines", () => {
    expect(strings(Ndjson.deaggregate(utf8.encode("{\"a\":1}\r\n\n{\"b\":2}\r\n{\"c\":3}")))).toEqual(["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"])
    // One plain JSON record is an NDJSON record of one line: a stream may switch to NDJSON without a cut-over.
    expect(strings(Ndjson.deaggregate(utf8.encode("{\"a\":1}")))).toEqual(["{\"a\":1}"])
  })

  it("refuses a record with no line, so it is dead-lettered rather than silently dropped", () => {
    for (const data of ["", "\n\n", "\r\n"]) {
      const result = Ndjson.deaggregate(utf8.encode(data))
      expect(Either.isLeft(result) && result.left._tag).toBe("NdjsonError")
    }
  })
})

describe("Netstring", () => {
  it("frames MessagePack values byte for byte as async-kinesis's MsgpackProcessor, and decodes what Python's msgpack wrote", () => {
    // Python: msgpack.packb({"a": 1}) == b"\x81\xa1a\x01", msgpack.packb("hi") == b"\xa2hi"; framed "4:...,3:...,"
    const python = [hex("81 a1 61 01"), hex("a2 68 69")]
    const written = Netstring.aggregate(python)
    expect(Buffer.from(written).toString("hex")).toBe(Buffer.from("4:").toString("hex") + "81a16101" + "2c" + Buffer.from("3:").toString("hex") + "a26869" + "2c")
    const parts = Either.getOrThrow(Netstring.deaggregate(written))
    expect(parts.map((p) => Either.getOrThrow(Msgpack.decode(p)))).toEqual([{ a: 1 }, "hi"])
  })

  it("writes plain MessagePack that decodes to the same values, events as maps", () => {
    const event = { type: "page.viewed", id: "v-1", at: 1_700_000_000_000, tags: ["a", "b"], ratio: 0.5, none: null }
    const parts = Either.getOrThrow(Netstring.deaggregate(Netstring.aggregate([Msgpack.encode(event)])))
    expect(Either.getOrThrow(Msgpack.parseObject(parts[0]!))).toEqual(event)
    // No msgpackr record extension (0xd4/0xd5 with type 0x72): a map header, readable by any MessagePack library.
    const header = parts[0]![0]!
    expect(header >> 4 === 0x8 || header === 0xde || header === 0xdf).toBe(true)
  })

  it("refuses a record that is not netstrings end to end, naming where", () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      ["", /empty/],
      ["4:abc,", /says 4 bytes, but no comma/],
      ["3:abc", /no comma/],
      ["x:a,", /does not start with a decimal length/],
      [":a,", /no length/],
      ["01:a,", /leading zero/],
      ["1:a,2:b", /netstring 1 at byte 4/]
    ]
    for (const [data, reason] of cases) {
      const result = Netstring.deaggregate(utf8.encode(data))
      expect(Either.isLeft(result), data).toBe(true)
      if (Either.isLeft(result)) expect(result.left.message).toMatch(reason)
    }
    expect(strings(Netstring.deaggregate(utf8.encode("0:,1:a,")))).toEqual(["", "a"])
  })
})

describe("Aggregation", () => {
  it("parses one format, or formats per stream with one for the rest, and refuses unknown names", () => {
    expect(Aggregation.parse("ndjson")).toEqual(Either.right("ndjson"))
    expect(Aggregation.parse("orders=msgpack, clicks=ndjson, kpl")).toEqual(Either.right({ streams: { orders: "msgpack", clicks: "ndjson" }, otherwise: "kpl" }))
    const setting = Either.getOrThrow(Aggregation.parse("orders=msgpack"))
    expect([Aggregation.formatOf(setting, "orders"), Aggregation.formatOf(setting, "other"), Aggregation.formatOf(undefined, "x")]).toEqual(["msgpack", "kpl", "kpl"])
    expect(Aggregation.parse("orders=json")).toEqual(Either.left("\"json\" is not an aggregation format; use one of kpl, ndjson, msgpack, none"))
    expect(Either.isLeft(Aggregation.parse(" , "))).toBe(true)
  })

  it("framed aggregators keep one partition key per aggregate, never pass the limit, and give every record back in order", () => {
    for (const format of ["ndjson", "msgpack"] as const) {
      const maxBytes = 4_096
      const aggregator = Aggregation.aggregator<{ partitionKey: string; data: Uint8Array }>(format, maxBytes)!
      // Runs of keys, sizes up to the whole limit (less key and frame).
      let seed = 7
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
      const records = Array.from({ length: 2_000 }, (_, i) => {
        const partitionKey = `k${Math.floor(i / 13) % 5}`
        const size = random() < 0.02 ? maxBytes - 2 - Aggregation.framingOverhead(format, maxBytes) : Math.floor(random() * 300)
        return { partitionKey, data: utf8.encode(`${i}:`.padEnd(Math.max(size, String(i).length + 1), "x")) }
      })
      const out = [...records.flatMap((r) => aggregator.add(r)), ...aggregator.flush()]
      const back: Array<string> = []
      for (const a of out) {
        expect(a.data.length + a.partitionKey.length).toBeLessThanOrEqual(maxBytes)
        expect(new Set(a.records.map((r) => r.partitionKey))).toEqual(new Set([a.partitionKey]))
        const parts = Either.getOrThrow(Aggregation.unpack(format, a.data)!)
        expect(parts.length).toBe(a.records.length)
        back.push(...parts.map((p) => text.decode(p)))
      }
      expect(back).toEqual(records.map((r) => text.decode(r.data)))
      expect(out.length).toBeLessThan(records.length / 5)
    }
  })
})

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))
const unpaced = { shardLimit: { recordsPerSecond: 1e9, bytesPerSecond: 1e12 } } as const

/** The raw Kinesis records of one shard, from TRIM_HORIZON. */
const rawRecords = (name: string, shardId: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    let iterator = (yield* kinesis.getShardIterator({ StreamName: name, ShardId: shardId, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
    const out: Array<UserRecords.GetRecordsRecord> = []
    while (iterator) {
      const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 10_000 })
      out.push(...(page.Records ?? []))
      if ((page.Records ?? []).length === 0) break
      iterator = page.NextShardIterator
    }
    return out
  })

const valueOf = (format: "ndjson" | "msgpack", key: string, n: number): Uint8Array =>
  format === "ndjson" ? utf8.encode(JSON.stringify({ key, n })) : Msgpack.encode({ key, n })
const read = (format: "ndjson" | "msgpack", data: Uint8Array) =>
  (format === "ndjson" ? JSON.parse(text.decode(data)) : Either.getOrThrow(Msgpack.decode(data))) as { key: string; n: number }

describe("framed aggregation through Kinesis", () => {
  for (const format of ["ndjson", "msgpack"] as const) {
    it.scopedLive(`${format}: the producer packs each key's records, and every acknowledged position reads back as that record`, () =>
      Effect.gen(function*() {
        const stream = `agg-${format}`
        yield* createStream(stream, 2)
        const keys = 40
        const perKey = 25
        const records = Array.from({ length: keys * perKey }, (_, i) => {
          const key = `key-${i % keys}`
          return { partitionKey: key, data: valueOf(format, key, Math.floor(i / keys)) }
        })
        const acks = yield* Effect.scoped(Effect.flatMap(
          Producer.make({ streamName: stream, aggregation: format, linger: "20 millis", ...unpaced }),
          (producer) => producer.putAll(records)
        ))
        const acknowledged = acks.map((a) => Either.getOrThrow(a))

        const shards = (yield* Effect.flatMap(Kinesis, (k) => k.listShards({ StreamName: stream }))).Shards!.map((s) => s.ShardId!)
        let kinesisRecords = 0
        const byPosition = new Map<string, { key: string; n: number }>()
        for (const shardId of shards) {
          const raw = yield* rawRecords(stream, shardId)
          kinesisRecords += raw.length
          // Read as the drivers read: the shard reader's unpacking, told the stream's format.
          const users = UserRecords.fromGetRecords(raw, shardId, undefined, format)
          expect(users.every((u) => u.unreadable === undefined)).toBe(true)
          for (const u of users) {
            const value = read(format, u.data)
            expect(u.partitionKey).toBe(value.key)
            byPosition.set(`${u.shardId}/${u.sequenceNumber}/${u.subSequenceNumber}`, value)
          }
        }
        expect(kinesisRecords).toBeLessThan(records.length / 4)
        expect(byPosition.size).toBe(records.length)
        acknowledged.forEach((ack, i) => {
          expect(ack.subSequenceNumber).toBeDefined()
          expect(byPosition.get(`${ack.shardId}/${ack.sequenceNumber}/${ack.subSequenceNumber}`)).toEqual(read(format, records[i]!.data))
        })

        // A reader resumed inside an aggregate (a checkpoint at its third user record) starts exactly after it.
        const inside = acknowledged.find((a) => a.subSequenceNumber === 2)!
        const resumed = yield* Consumer.records(stream, inside.shardId, Consumer.after({ sequenceNumber: inside.sequenceNumber, subSequenceNumber: 2 }), { aggregation: format }).pipe(
          Stream.take(1),
          Stream.runCollect
        )
        const first = Chunk.unsafeGet(Chunk.unsafeGet(resumed, 0), 0)
        expect([first.sequenceNumber, first.subSequenceNumber]).toEqual([inside.sequenceNumber, 3])
      }).pipe(Effect.provide(KinesisLocal)))
  }

  it.scopedLive("an NDJSON producer refuses a record with a line feed, and a framed one a record whose frame would pass the limit", () =>
    Effect.gen(function*() {
      yield* createStream("refusals", 1)
      const ndjson = yield* Producer.make({ streamName: "refusals", aggregation: "ndjson", ...unpaced })
      const multiline = yield* Effect.flip(ndjson.put({ partitionKey: "k", data: utf8.encode("{\n\"a\": 1\n}") }))
      expect(multiline._tag).toBe("MultilineRecordError")
      const msgpack = yield* Producer.make({ streamName: "refusals", aggregation: "msgpack", ...unpaced })
      const big = yield* Effect.flip(msgpack.put({ partitionKey: "k", data: new Uint8Array(RECORD_MAX_BYTES - 1) }))
      expect(big._tag).toBe("RecordTooLargeError")
      // Just within: the frame (7 digits, colon, comma) and the key fit.
      const fits = yield* msgpack.put({ partitionKey: "k", data: new Uint8Array(RECORD_MAX_BYTES - 10) })
      expect(fits.subSequenceNumber).toBe(0)
    }).pipe(Effect.provide(KinesisLocal)))
})
