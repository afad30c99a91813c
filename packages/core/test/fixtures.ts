import { Schema } from "effect"
import * as Decoder from "../src/Decoder"
import * as Monoid from "../src/Monoid"
import * as Pipeline from "../src/Pipeline"
import type { SourceRecord } from "../src/SourceRecord"
import * as Window from "../src/Window"

/** A minimal event source for processor tests: sales of items. */
export const Sale = Schema.Struct({
  type: Schema.Literal("sale"),
  eventId: Schema.String,
  at: Schema.Number,
  item: Schema.String,
  amount: Schema.Int
})
export type Sale = typeof Sale.Type

export const Sales: Pipeline.EventSource<Sale> = {
  name: "sales",
  decoder: Decoder.json(Sale),
  eventId: (e) => e.eventId,
  eventTime: (e) => e.at
}

export const T0 = Date.UTC(2026, 10, 21, 9)

export const revenue = Pipeline.make({
  name: "revenue_by_item_hourly",
  source: Sales,
  events: ["sale"],
  key: (e) => e.item,
  value: (e) => e.amount,
  aggregate: Monoid.sum,
  window: Window.hour({ retention: "1 day" })
})

export const salesCount = Pipeline.make({
  name: "sales_by_item",
  source: Sales,
  events: ["sale"],
  key: (e) => e.item,
  value: () => 1,
  aggregate: Monoid.count
})

const encoder = new TextEncoder()

export const sale = (eventId: string, item: string, amount: number, at = T0): Sale => ({ type: "sale", eventId, at, item, amount })

/** Records of one shard with consecutive sequence numbers. */
export const recordsOf = (payloads: ReadonlyArray<Sale | string>, shardId = "shardId-000", firstSequence = 1000): Array<SourceRecord> =>
  payloads.map((p, i) => ({
    data: encoder.encode(typeof p === "string" ? p : JSON.stringify(p)),
    partitionKey: typeof p === "string" ? "poison" : p.item,
    shardId,
    sequenceNumber: String(firstSequence + i),
    subSequenceNumber: 0,
    arrivalTime: T0
  }))
