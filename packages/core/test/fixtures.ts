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
  /** Who bought, for tests that count distinct buyers. */
  user: Schema.optional(Schema.String),
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

/** Revenue (the sum of amounts) by item, bucketed by `window`. */
export const revenueBy = (name: string, window: Window.Window) =>
  Pipeline.make({ name, source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => e.amount, aggregate: Monoid.sum, window })

export const revenue = revenueBy("revenue_by_item_hourly", Window.hour({ retention: "1 day" }))

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

/**
 * Generated traffic: valid sales, producer duplicates and poison records
 * spread over shards (sale `i` on shard `i % shards`).
 */
export interface StreamShape {
  readonly sales: ReadonlyArray<{ readonly item: string; readonly amount: number; readonly minute: number; readonly user?: number }>
  /** Events a producer retry sends again (indices, modulo the event count): same eventId, a later sequence number, maybe another shard. */
  readonly duplicates: ReadonlyArray<number>
  /** Where poison records go (indices, modulo the record count). */
  readonly poison: ReadonlyArray<number>
  readonly shards: number
}

/** Where the `n`-th record (from 1) of shard `shard` sits. */
export type Position = (shard: number, n: number) => Pick<SourceRecord, "shardId" | "sequenceNumber" | "subSequenceNumber">

/** The stream a `StreamShape` describes: the distinct valid events it carries, and its records. */
export const streamOf = ({ duplicates, poison, sales, shards }: StreamShape, position: Position) => {
  const events: Array<Sale> = sales.map((s, i) => ({
    type: "sale",
    eventId: `e-${i}`,
    at: T0 + s.minute * 60_000,
    item: s.item,
    ...(s.user === undefined ? {} : { user: `u-${s.user}` }),
    amount: s.amount
  }))
  const payloads = events.map((e, i) => ({ data: encoder.encode(JSON.stringify(e)), shard: i % shards }))
  for (const d of duplicates) payloads.push({ data: encoder.encode(JSON.stringify(events[d % events.length])), shard: d % shards })
  for (const p of poison) payloads.splice(p % payloads.length, 0, { data: encoder.encode(p % 2 ? "{not json" : `{"type":"sale","eventId":"x-${p}"}`), shard: p % shards })
  const counts = new Map<number, number>()
  const records = payloads.map(({ data, shard }): SourceRecord => {
    const n = (counts.get(shard) ?? 0) + 1
    counts.set(shard, n)
    return { data, partitionKey: "k", ...position(shard, n), arrivalTime: T0 }
  })
  return { events, records }
}
