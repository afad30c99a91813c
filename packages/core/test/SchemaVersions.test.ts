import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Schema } from "effect"
import * as DeadLetter from "../src/DeadLetter"
import * as Decoder from "../src/Decoder"
import * as Deduper from "../src/Deduper"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import type { SourceRecord } from "../src/SourceRecord"
import * as Store from "../src/Store"

// Version 1 reads in degrees Fahrenheit as `tempF`; version 2 in Celsius as `celsius`.
const V1 = Schema.Struct({ schemaVersion: Schema.Literal(1), type: Schema.Literal("reading"), eventId: Schema.String, sensor: Schema.String, tempF: Schema.Number })
const V2 = Schema.Struct({ schemaVersion: Schema.Literal(2), type: Schema.Literal("reading"), eventId: Schema.String, sensor: Schema.String, celsius: Schema.Number })
type Reading = typeof V2.Type

const decoder = Decoder.versioned<Reading>({
  1: Decoder.upcast(Decoder.validator(V1), ({ tempF, ...v1 }) => ({ ...v1, schemaVersion: 2 as const, celsius: ((tempF - 32) * 5) / 9 })),
  2: Decoder.validator(V2)
})

const Readings: Pipeline.EventSource<Reading> = { name: "readings", decoder, eventId: (e) => e.eventId, eventTime: () => 0 }

const total = Pipeline.make({ name: "celsius_total", source: Readings, events: ["reading"], key: (e) => e.sensor, value: (e) => e.celsius, aggregate: Monoid.sum })

const encoder = new TextEncoder()
const bytes = (value: unknown) => encoder.encode(JSON.stringify(value))
const v1 = (eventId: string, tempF: number) => ({ schemaVersion: 1, type: "reading", eventId, sensor: "s", tempF })
const v2 = (eventId: string, celsius: number) => ({ schemaVersion: 2, type: "reading", eventId, sensor: "s", celsius })
const v3 = (eventId: string) => ({ schemaVersion: 3, type: "reading", eventId, sensor: "s", kelvin: 300 })

const recordsOf = (payloads: ReadonlyArray<unknown>, shardId = "shard-a", first = 100): Array<SourceRecord> =>
  payloads.map((p, i) => ({ data: bytes(p), partitionKey: "s", shardId, sequenceNumber: String(first + i), subSequenceNumber: 0, arrivalTime: 0 }))

const run = (options: Omit<Processor.Options, "pipelines">) => <A, E>(self: Effect.Effect<A, E, Processor.Processor | Store.Store | Deduper.Deduper | DeadLetter.DeadLetter | DeadLetter.MemoryDeadLetters>) =>
  Effect.provide(self, Processor.layer({ pipelines: [total], ...options }).pipe(Layer.provideMerge(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory))))

const totalOf = Effect.map(Store.get(Monoid.sum, { pipeline: total.name, key: "s", bucket: "all" }), Option.getOrUndefined)
const deadLetters = Effect.flatMap(DeadLetter.MemoryDeadLetters, (m) => m.entries)
const tags = (result: Processor.Result) => result.outcomes.map((o) => o._tag)

describe("Decoder.versioned", () => {
  it("reads each version with its own reader, upcasting the old one", () => {
    expect(decoder.decode(bytes(v1("a", 212)))).toStrictEqual(Either.right({ schemaVersion: 2, type: "reading", eventId: "a", sensor: "s", celsius: 100 }))
    expect(decoder.decode(bytes(v2("b", 21)))).toStrictEqual(Either.right(v2("b", 21)))
  })

  it("names an unknown version and what to do; a missing or non-numeric version is an invalid field", () => {
    const unknown = Either.getLeft(decoder.decode(bytes(v3("c")))).pipe(Option.getOrThrow)
    expect(unknown).toBeInstanceOf(Decoder.UnknownSchemaVersionError)
    expect(unknown).toMatchObject({ schemaVersion: 3, known: [1, 2], reason: "unknown schemaVersion 3" })
    expect(unknown.message).toMatch(/deploy a consumer that knows version 3/)
    const { schemaVersion: _, ...missing } = v2("d", 1)
    expect(Either.getLeft(decoder.decode(bytes(missing)))).toStrictEqual(Option.some(new Decoder.InvalidEventError({ path: "schemaVersion", rule: "is missing" })))
    expect(Either.getLeft(decoder.decode(bytes({ ...v2("e", 1), schemaVersion: "2" })))).toStrictEqual(
      Option.some(new Decoder.InvalidEventError({ path: "schemaVersion", rule: "must be one of the numbers 1, 2" }))
    )
    // A version's own rules still apply: version 1 has no `celsius`.
    expect(Either.getLeft(decoder.decode(bytes({ ...v2("f", 1), schemaVersion: 1 })))).toMatchObject(Option.some({ _tag: "InvalidEventError", path: "tempF" }))
  })

  it("reads another field when told to", () => {
    const byFormat = Decoder.versioned<{ readonly n: number }>({ 7: (input) => Either.right({ n: input.n as number }) }, { field: "format" })
    expect(byFormat.decode(bytes({ format: 7, n: 1 }))).toStrictEqual(Either.right({ n: 1 }))
    expect(Either.getLeft(byFormat.decode(bytes({ format: 8 })))).toMatchObject(Option.some({ _tag: "UnknownSchemaVersionError", schemaVersion: 8 }))
  })
})

describe("Processor unknownVersion policy", () => {
  it.effect("old and current versions aggregate side by side", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const result = yield* processor.process(recordsOf([v1("a", 212), v2("b", 20), v1("c", 32)]))
      expect(tags(result)).toEqual(["Applied", "Applied", "Applied"])
      expect(yield* totalOf).toBe(120)
    }).pipe(run({})))

  it.effect("by default follows the poison policy: dead-lettered with the version and what to do", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const result = yield* processor.process(recordsOf([v2("a", 1), v3("b"), v2("c", 2)]))
      expect(tags(result)).toEqual(["Applied", "DeadLettered", "Applied"])
      expect(yield* totalOf).toBe(3)
      const [entry] = yield* deadLetters
      expect(entry).toMatchObject({ error: "UnknownSchemaVersionError", sequenceNumber: "101" })
      expect(entry!.reason).toMatch(/^schemaVersion is 3, but this consumer reads only version 1, 2; deploy a consumer that knows version 3/)
    }).pipe(run({})))

  it.effect("\"block\" holds the shard at the unknown version while other poison is still dead-lettered and other shards proceed", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const a = recordsOf([v2("a1", 1), "{bad", v3("a3"), v2("a4", 4), v1("a5", 212)], "shard-a")
      const b = recordsOf([v2("b1", 10), v3("b2"), v2("b3", 20)], "shard-b")
      const result = yield* processor.process([...a, ...b])
      expect(tags(result)).toEqual(["Applied", "DeadLettered", "Blocked", "Blocked", "Blocked", "Applied", "Blocked", "Blocked"])
      expect(result.outcomes[2]).toMatchObject({ _tag: "Blocked", error: "UnknownSchemaVersionError", reason: expect.stringContaining("version 3") })
      expect(result.outcomes[4]).toEqual(result.outcomes[2])
      expect(yield* totalOf).toBe(11)
      expect((yield* deadLetters).map((e) => e.error)).toEqual(["NotJsonError"])
      // A consumer that knows version 3 now: the redelivery from the blocked record applies all of it, once.
      const upgraded = Decoder.versioned<Reading>({
        1: Decoder.upcast(Decoder.validator(V1), ({ tempF, ...r }) => ({ ...r, schemaVersion: 2 as const, celsius: ((tempF - 32) * 5) / 9 })),
        2: Decoder.validator(V2),
        3: (input) => Either.right({ schemaVersion: 2, type: "reading", eventId: input.eventId as string, sensor: input.sensor as string, celsius: (input.kelvin as number) - 273 })
      })
      const next = yield* Processor.make({ pipelines: [{ ...total, source: { ...Readings, decoder: upgraded } }], unknownVersion: "block" })
      const again = yield* next.process([...a.slice(2), ...b.slice(1)])
      expect(tags(again)).toEqual(["Applied", "Applied", "Applied", "Applied", "Applied"])
      expect(yield* totalOf).toBe(11 + 27 + 4 + 100 + 27 + 20)
    }).pipe(run({ unknownVersion: "block" })))

  it.effect("under the block poison policy an unknown version blocks like all poison", () =>
    Effect.gen(function*() {
      const processor = yield* Processor.Processor
      const result = yield* processor.process(recordsOf([v2("a", 1), v3("b"), v2("c", 2)]))
      expect(tags(result)).toEqual(["Applied", "Blocked", "Blocked"])
      expect(yield* deadLetters).toEqual([])
    }).pipe(run({ poison: "block", unknownVersion: "deadLetter" })))
})
