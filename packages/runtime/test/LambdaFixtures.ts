/**
 * Shared by the Lambda tests: in-memory services the test can inspect, events
 * built by hand, and the commerce aggregates folded independently of the
 * pipelines, the processor and the store.
 */
import type { CommerceEvent, OrderCreated, OrderEvent } from "@eddy/commerce/CommerceEvent"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import type { Monoid, TopKState } from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { Effect, Layer, Option } from "effect"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
// The one definition of the commerce pipelines, as the Lambda entry and the service run it.
import * as Commerce from "../../../apps/commerce-analytics/src/pipelines"

export const pipelines = Commerce.pipelines

export const streamArn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders"

/** In-memory store, deduper and dead-letter list, kept outside the handler's runtime so the test can read them. */
export const memoryServices = () => {
  const store = Effect.runSync(Store.makeMemory)
  const deduper = Effect.runSync(Deduper.makeMemory())
  const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
  const storeLayer = Layer.succeed(Store.Store, store)
  const deduperLayer = Layer.succeed(Deduper.Deduper, deduper)
  const deadLetterLayer = Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) })
  const rest = Layer.merge(deduperLayer, deadLetterLayer)
  return { store, storeLayer, deduperLayer, deadLetterLayer, deadLetters, layer: Layer.merge(storeLayer, rest), rest }
}

/** Sequence numbers as Kinesis makes them: long decimal strings, increasing within a shard. */
export const sequenceNumber = (i: number): string => (10n ** 55n + BigInt(i) * 1000n).toString()

/** Consecutive records of one shard, arriving a second apart, the last at `arrivalTime`. */
export const shardRecords = (
  datas: ReadonlyArray<Uint8Array>,
  options: { readonly shardId?: string; readonly first?: number; readonly arrivalTime?: number } = {}
): Array<EventSourceMapping.EventRecord> =>
  datas.map((data, i) => ({
    shardId: options.shardId ?? "shardId-000000000000",
    sequenceNumber: sequenceNumber((options.first ?? 0) + i),
    partitionKey: `pk-${(options.first ?? 0) + i}`,
    data,
    arrivalTime: (options.arrivalTime ?? Date.UTC(2026, 10, 21)) - 1000 * (datas.length - 1 - i)
  }))

export const eventOf = (records: ReadonlyArray<EventSourceMapping.EventRecord>) => EventSourceMapping.event(records, { streamArn })

export const encode = encodeCommerceEvent

/** The order after a change of status, as commerce-sync publishes it. */
export const statusChanged = (created: OrderCreated, eventId: string, status: "paid" | "shipped", minutes: number): OrderEvent => ({
  schemaVersion: 2,
  type: "order.status_changed",
  eventId,
  occurredAt: new Date(Date.parse(created.occurredAt) + minutes * 60_000).toISOString(),
  order: { ...created.order, status },
  previousStatus: created.order.status
})

export const cancelled = (created: OrderCreated, eventId: string, minutes: number): OrderEvent => ({
  schemaVersion: 2,
  type: "order.cancelled",
  eventId,
  occurredAt: new Date(Date.parse(created.occurredAt) + minutes * 60_000).toISOString(),
  order: { ...created.order, status: "cancelled" },
  previousStatus: created.order.status,
  reason: "customer request"
})

// ---------------------------------------------------------------------------
// The fold of the distinct valid events, by hand
// ---------------------------------------------------------------------------

const hourOf = (iso: string) => `${new Date(iso).toISOString().slice(0, 13)}Z`
const dayOf = (iso: string) => new Date(iso).toISOString().slice(0, 10)

export interface ExpectedItem {
  readonly ref: Store.ItemRef
  readonly monoid: Monoid<any>
  readonly value: unknown
}

/** Every aggregate the commerce pipelines must hold after `events` (duplicates by event id counted once). */
export const expectedItems = (events: ReadonlyArray<CommerceEvent>): Array<ExpectedItem> => {
  const distinct = new Map<string, CommerceEvent>()
  for (const e of events) if (!distinct.has(e.eventId)) distinct.set(e.eventId, e)
  const revenue = new Map<string, number>()
  const statuses = new Map<string, number>()
  const updates = new Map<string, number>()
  const top = new Map<string, { total: number; counts: Map<string, number> }>()
  const buyers = new Map<string, Set<string>>()
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n)
  for (const e of distinct.values()) {
    if (e.type === "product.updated") add(updates, `${e.product.id}|all`, 1)
    if (e.type === "order.created" || e.type === "order.status_changed" || e.type === "order.cancelled") {
      add(statuses, `${e.order.status}|${dayOf(e.occurredAt)}`, 1)
    }
    if (e.type !== "order.created") continue
    const day = dayOf(e.occurredAt)
    let t = top.get(day)
    if (t === undefined) top.set(day, t = { total: 0, counts: new Map() })
    for (const line of e.order.lineItems) {
      add(revenue, `${line.productId}|${hourOf(e.occurredAt)}`, line.quantity * line.unitPrice)
      t.total += line.quantity
      add(t.counts, line.productId, line.quantity)
    }
    let b = buyers.get(day)
    if (b === undefined) buyers.set(day, b = new Set())
    b.add(e.order.customerId)
  }
  const items: Array<ExpectedItem> = []
  const split = (id: string) => id.split("|") as [string, string]
  for (const [id, value] of revenue) {
    const [key, bucket] = split(id)
    items.push({ ref: { pipeline: Commerce.revenueByProductHourly.name, key, bucket }, monoid: Commerce.revenueByProductHourly.aggregate, value })
  }
  for (const [id, value] of statuses) {
    const [key, bucket] = split(id)
    items.push({ ref: { pipeline: Commerce.orderStatusTransitionsDaily.name, key, bucket }, monoid: Commerce.orderStatusTransitionsDaily.aggregate, value })
  }
  for (const [id, value] of updates) {
    const [key, bucket] = split(id)
    items.push({ ref: { pipeline: Commerce.productUpdates.name, key, bucket }, monoid: Commerce.productUpdates.aggregate, value })
  }
  for (const [bucket, value] of top) {
    items.push({ ref: { pipeline: Commerce.topProductsDaily.name, key: Commerce.ALL, bucket }, monoid: Commerce.topProducts, value: value satisfies TopKState })
  }
  for (const [bucket, ids] of buyers) {
    const sketch = Commerce.customers.combineAll(Array.from(ids, (id) => Commerce.customers.of(id)))
    items.push({ ref: { pipeline: Commerce.uniqueCustomersDaily.name, key: Commerce.ALL, bucket }, monoid: Commerce.customers, value: sketch })
  }
  return items
}

/**
 * The items whose stored value differs from the expected one, described for
 * the assertion message. Read through the pipelines' spreading, as every
 * reader does: the raw store holds a spread pipeline's item as sub-items.
 */
export const mismatches = (raw: Store.Store["Type"], items: ReadonlyArray<ExpectedItem>) =>
  Effect.gen(function*() {
    const store = Store.spread(raw, pipelines)
    const wrong: Array<string> = []
    for (const item of items) {
      const [stored] = yield* store.getMany(item.monoid, [item.ref])
      if (Option.isNone(stored!)) wrong.push(`${item.ref.pipeline}/${item.ref.key}/${item.ref.bucket}: missing`)
      else if (!item.monoid.equals(stored.value, item.value)) {
        wrong.push(`${item.ref.pipeline}/${item.ref.key}/${item.ref.bucket}: ${JSON.stringify(item.monoid.encode(stored.value)).slice(0, 120)}`)
      }
    }
    return wrong
  })

/** Where a dead letter came from, as one comparable string. */
export const positionOf = (e: { readonly shardId: string; readonly sequenceNumber: string; readonly subSequenceNumber: number }) =>
  `${e.shardId}/${e.sequenceNumber}/${e.subSequenceNumber}`
