import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import * as Decoder from "../src/Decoder"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import * as Window from "../src/Window"

const Event = Schema.Union(
  Schema.Struct({ type: Schema.Literal("order"), eventId: Schema.String, at: Schema.Number, lines: Schema.Array(Schema.Struct({ sku: Schema.String, cents: Schema.Number })) }),
  Schema.Struct({ type: Schema.Literal("visit"), eventId: Schema.String, at: Schema.Number, user: Schema.String })
)
type Event = typeof Event.Type
const source: Pipeline.EventSource<Event> = { name: "shop", decoder: Decoder.json(Event), eventId: (e) => e.eventId, eventTime: (e) => e.at }

const collect = <A>(pipeline: Pipeline.Pipeline<Event, A>, event: Event) => {
  const out: Array<[string, A]> = []
  pipeline.run(event, (k, v) => out.push([k, v]))
  return out
}

describe("Pipeline", () => {
  it("emits one pair per key/value event, or many with emit", () => {
    const visits = Pipeline.make({ name: "visits", source, events: ["visit"], key: (e) => e.user, value: () => 1, aggregate: Monoid.count })
    const revenue = Pipeline.make({
      name: "revenue",
      source,
      events: ["order"],
      emit: (e) => e.lines.map((l) => [l.sku, l.cents] as const),
      aggregate: Monoid.sum,
      window: Window.hour({ retention: "1 day" })
    })
    expect(collect(visits, { type: "visit", eventId: "1", at: 0, user: "u" })).toEqual([["u", 1]])
    expect(collect(revenue, { type: "order", eventId: "2", at: 0, lines: [{ sku: "a", cents: 5 }, { sku: "b", cents: 7 }] })).toEqual([["a", 5], ["b", 7]])
    expect([...revenue.events]).toEqual(["order"])
  })

  it("narrows the event type to the listed types and rejects values that do not fit the monoid", () => {
    Pipeline.make({
      name: "typed",
      source,
      events: ["visit"],
      // @ts-expect-error a visit has no `lines`: the event is narrowed to the listed type
      key: (e) => e.lines[0].sku,
      value: () => 1,
      aggregate: Monoid.count
    })
    Pipeline.make({
      name: "wrong_value",
      source,
      events: ["visit"],
      key: (e) => e.user,
      // @ts-expect-error a sum takes numbers, not strings
      value: (e) => e.user,
      aggregate: Monoid.sum
    })
    Pipeline.make({
      name: "unknown_type",
      source,
      // @ts-expect-error not an event type of this source
      events: ["refund"],
      key: () => "k",
      value: () => 1,
      aggregate: Monoid.count
    })
  })

  it("refuses bad names, duplicate names and mixed sources with a clear error", () => {
    const make = (name: string) => Pipeline.make({ name, source, events: ["visit"], key: (e) => e.user, value: () => 1, aggregate: Monoid.count })
    expect(() => make("")).toThrow(/pipeline name "" must be/)
    expect(() => make("has space")).toThrow(/must be 1..128 letters/)
    expect(() => Pipeline.validate([make("a"), make("a")])).toThrow(/two pipelines are named a/)
    expect(() => Pipeline.validate([])).toThrow(/at least one pipeline/)
    const other = Pipeline.make({ name: "b", source: { ...source, name: "other" }, events: ["visit"], key: (e) => e.user, value: () => 1, aggregate: Monoid.count })
    expect(() => Pipeline.validate([make("a"), other])).toThrow(/reads other but a reads shop/)
  })

  it("takes subItemsPerKey from 2 to 64 for monoids that compare-and-set, and refuses it otherwise", () => {
    const hll = Monoid.hll(8)
    const spread = (subItemsPerKey: number) =>
      Pipeline.make({ name: "visitors", source, events: ["visit"], key: () => "all", value: (e) => hll.of(e.user), aggregate: hll, subItemsPerKey })
    expect(spread(2).subItemsPerKey).toBe(2)
    expect(spread(64).subItemsPerKey).toBe(64)
    expect("subItemsPerKey" in Pipeline.make({ name: "plain", source, events: ["visit"], key: () => "all", value: (e) => hll.of(e.user), aggregate: hll })).toBe(false)
    for (const bad of [0, 1, 65, 2.5, Number.NaN]) {
      expect(() => spread(bad)).toThrow(Pipeline.PipelineDefinitionError)
      expect(() => spread(bad)).toThrow(/visitors: subItemsPerKey must be a whole number from 2 to 64/)
    }
    expect(() => Pipeline.make({ name: "visits", source, events: ["visit"], key: () => "all", value: () => 1, aggregate: Monoid.count, subItemsPerKey: 4 })).toThrow(
      /aggregates with count, whose writes are atomic updates that do not conflict/
    )
  })

  it("refuses a definition with both key+value and emit, and takes each sketch monoid's values built with its constructor", () => {
    const users = Monoid.hll(10)
    const pages = Monoid.topK(3)
    const pagesSeen = Monoid.set(10)
    const byUser = Monoid.map(Monoid.count)
    // @ts-expect-error give either key+value or emit, not both
    Pipeline.make({
      name: "both",
      source,
      events: ["visit"],
      key: (e) => e.user,
      value: () => 1,
      emit: (e) => [[e.user, 1] as const],
      aggregate: Monoid.count
    })
    // Built with their constructors, the values compile; the raw items do not ("says what to write instead").
    const visit: Event = { type: "visit", eventId: "v1", at: 5, user: "u1" }
    const hll = Pipeline.make({ name: "hll", source, events: ["visit"], key: () => "all", value: (e) => users.of(e.user), aggregate: users })
    const topk = Pipeline.make({ name: "topk", source, events: ["visit"], emit: (e) => [["all", pages.of(e.user)] as const], aggregate: pages })
    const set = Pipeline.make({ name: "set", source, events: ["visit"], key: () => "all", value: (e) => pagesSeen.of(e.user), aggregate: pagesSeen })
    const map = Pipeline.make({ name: "map", source, events: ["visit"], key: () => "all", value: (e) => byUser.of(e.user, 1), aggregate: byUser })
    const last = Pipeline.make({ name: "last", source, events: ["visit"], key: (e) => e.user, value: (e) => Monoid.timed(e.at, e.eventId), aggregate: Monoid.last })
    expect(Math.round(Monoid.estimate(collect(hll, visit)[0]![1]))).toBe(1)
    expect(pages.top(collect(topk, visit)[0]![1])).toEqual([{ item: "u1", count: 1 }])
    expect(collect(set, visit)).toEqual([["all", { items: ["u1"], overflowed: false }]])
    expect(collect(map, visit)).toEqual([["all", new Map([["u1", 1]])]])
    expect(collect(last, visit)).toEqual([["u1", { at: 5, value: "v1" }]])
  })

  it("lets a helper generic in its monoid pass its value on as ValueOf", () => {
    const perUser = <A>(name: string, aggregate: Monoid.Monoid<A>, value: (e: Event & { type: "visit" }) => Pipeline.ValueOf<A>) =>
      Pipeline.make({ name, source, events: ["visit"], key: (e) => e.user, value, aggregate })
    const users = Monoid.hll(10)
    const visits = perUser("visits", Monoid.count, () => 1)
    const sketches = perUser("sketches", users, (e) => users.of(e.user))
    // @ts-expect-error a HyperLogLog takes sketches, here too
    perUser("raw", users, (e) => e.user)
    const visit: Event = { type: "visit", eventId: "v1", at: 5, user: "u1" }
    expect(collect(visits, visit)).toEqual([["u1", 1]])
    expect(Math.round(Monoid.estimate(collect(sketches, visit)[0]![1]))).toBe(1)
  })

  it("says what to write instead, in the compiler's own words", () => {
    const messages = typeErrors(`
      const users = Monoid.hll(10)
      const pages = Monoid.topK(3)
      export const both = Pipeline.make({ name: "both", source, events: ["visit"], key: (e) => e.user, value: () => 1, emit: (e) => [[e.user, 1] as const], aggregate: Monoid.count })
      export const hll = Pipeline.make({ name: "hll", source, events: ["visit"], key: () => "all", value: (e) => e.user, aggregate: users })
      export const topk = Pipeline.make({ name: "topk", source, events: ["visit"], emit: (e) => [["all", e.user] as const], aggregate: pages })
      export const set = Pipeline.make({ name: "set", source, events: ["visit"], key: () => "all", value: (e) => e.user, aggregate: Monoid.set(10) })
      export const map = Pipeline.make({ name: "map", source, events: ["visit"], key: () => "all", value: () => 1, aggregate: Monoid.map(Monoid.count) })
      export const last = Pipeline.make({ name: "last", source, events: ["visit"], key: (e) => e.user, value: (e) => e.eventId, aggregate: Monoid.last })
    `)
    const hints = [
      `is not assignable to type '"give either key+value or emit, not both"'`,
      "a HyperLogLog takes sketches: give hll.of(item), not the raw item",
      "a TopK takes counters: give topK.of(item) or topK.of(item, count), not the raw item",
      "a set takes sets: give set.of(item), not the raw item",
      "a map takes maps: give map.of(key, value)",
      "first/last take timed values: give Monoid.timed(eventTime, value)"
    ]
    expect(messages).toHaveLength(hints.length)
    hints.forEach((hint, i) => expect(messages[i]).toContain(hint))
  }, 60_000)
})

const here = dirname(fileURLToPath(import.meta.url))

/** The type errors of `body` (after this file's imports and event source), one flattened message each. */
const typeErrors = (body: string): Array<string> => {
  const file = join(here, "__type_errors__.ts")
  const text = `
    import { Schema } from "effect"
    import * as Decoder from "../src/Decoder"
    import * as Monoid from "../src/Monoid"
    import * as Pipeline from "../src/Pipeline"
    const Event = Schema.Struct({ type: Schema.Literal("visit"), eventId: Schema.String, at: Schema.Number, user: Schema.String })
    const source: Pipeline.EventSource<typeof Event.Type> = { name: "shop", decoder: Decoder.json(Event), eventId: (e) => e.eventId, eventTime: (e) => e.at }
    ${body}
  `
  const config = ts.getParsedCommandLineOfConfigFile(join(here, "../../../tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
  const host = ts.createCompilerHost(config.options)
  const readFile = host.readFile
  const getSourceFile = host.getSourceFile
  host.readFile = (name) => name === file ? text : readFile(name)
  host.fileExists = (name) => name === file || ts.sys.fileExists(name)
  host.getSourceFile = (name, version, onError) =>
    name === file ? ts.createSourceFile(name, text, version) : getSourceFile(name, version, onError)
  const program = ts.createProgram([file], config.options, host)
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
}
