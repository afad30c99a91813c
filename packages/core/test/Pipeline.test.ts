import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
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
})
