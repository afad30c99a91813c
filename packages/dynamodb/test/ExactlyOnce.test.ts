import {
  BatchGetItemCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand
} from "@aws-sdk/client-dynamodb"
import { expect, layer } from "@effect/vitest"
import * as Acknowledgement from "@eddy/core/Acknowledgement"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Deferred, Effect, Exit, FastCheck as fc, Layer, Option, Schedule } from "effect"
import { type Position, revenue, type Sale, Sales, salesCount, streamOf } from "../../core/test/fixtures"
import * as DynamoClient from "../src/DynamoClient"
import * as DynamoDeduper from "../src/DynamoDeduper"
import * as DynamoStore from "../src/DynamoStore"
import * as Local from "./support/Local"

// --- The pipelines: a sum, a count, a HyperLogLog and a TopK over one event source.

const hll = Monoid.hll(10)
const top = Monoid.topK(3, { capacity: 20 })

// Every sale generated here names its buyer.
const buyers = Pipeline.make({ name: "buyers_by_item", source: Sales, events: ["sale"], key: (e) => e.item, value: (e) => hll.of(e.user!), aggregate: hll })
const topItems = Pipeline.make({ name: "top_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item), aggregate: top })
// The same hot key spread over two sub-items: each shard writes its own, reads merge them.
const spreadTop = Pipeline.make({ name: "spread_top_items", source: Sales, events: ["sale"], key: () => "all", value: (e) => top.of(e.item), aggregate: top, subItemsPerKey: 2 })
const pipelines = [revenue, salesCount, buyers, topItems, spreadTop]

// --- The stream: valid sales, producer duplicates (same eventId, new sequence number) and poison records.

const items = ["a", "b", "c", "d", "e"]

/** Kinesis-like 56-digit sequence numbers; pairs of records share one, as KPL user records do. */
const kinesisPosition: Position = (shard, n) => ({
  shardId: `shardId-00000000000${shard}`,
  sequenceNumber: `495903382714902566085596925383615710959215759891${String(Math.ceil(n / 2)).padStart(8, "0")}`,
  subSequenceNumber: (n + 1) % 2
})

const arbitraryStream = fc
  .record({
    sales: fc.array(
      fc.record({ item: fc.constantFrom(...items), user: fc.integer({ min: 0, max: 30 }), amount: fc.integer({ min: 0, max: 1000 }), minute: fc.integer({ min: 0, max: 179 }) }),
      { minLength: 1, maxLength: 40 }
    ),
    duplicates: fc.array(fc.nat(), { maxLength: 8 }),
    poison: fc.array(fc.nat(), { maxLength: 4 }),
    shards: fc.integer({ min: 1, max: 3 })
  })
  .map((shape) => streamOf(shape, kinesisPosition))

// --- Faults, injected into the SDK client under the Store and the Deduper.

const operations = { PutItem: PutItemCommand, UpdateItem: UpdateItemCommand, BatchGetItem: BatchGetItemCommand, GetItem: GetItemCommand } as const
type Operation = keyof typeof operations

/**
 * - `fail-before`: throttled; nothing reaches the table.
 * - `fail-after`: the request is applied, but its reply is lost (a network error).
 * - `crash-before`/`crash-after`: the process dies before sending, or after the
 *   request was applied; every other request in flight is abandoned.
 * - `denied`: the deployment refuses it (AccessDeniedException) until the
 *   role is fixed; nothing reaches the table and nothing is dead-lettered.
 */
type FaultKind = "fail-before" | "fail-after" | "crash-before" | "crash-after" | "denied"

interface Fault {
  readonly operation: Operation
  /** Calls of that operation let through, after the previous fault fired, before this one fires. */
  readonly skip: number
  readonly kind: FaultKind
}

const arbitraryFault: fc.Arbitrary<Fault> = fc.record({
  operation: fc.constantFrom<Operation>("PutItem", "UpdateItem", "UpdateItem", "BatchGetItem", "GetItem"),
  skip: fc.nat({ max: 6 }),
  kind: fc.constantFrom<FaultKind>("fail-before", "fail-after", "crash-before", "crash-after", "denied")
})

/** Fires the faults one after another, each at the `skip + 1`-th call of its operation after the one before fired. */
class Injector {
  private next = 0
  private seen = 0
  /** Kills the delivery in progress; unset once it crashed, so one dying delivery cannot fire more faults. */
  private crash: (() => void) | undefined

  /** Called by the driver before each delivery with what a crash does to it. */
  arm(crash: (() => void) | undefined): void {
    this.crash = crash
  }

  constructor(private readonly faults: ReadonlyArray<Fault>) {}

  get fired(): number {
    return this.next
  }

  client(real: DynamoClient.DynamoClient["Type"]) {
    return Local.intercept(real, (command, options, next) => {
      const fault = this.faults[this.next]
      const crash = this.crash
      if (fault === undefined || crash === undefined || !(command instanceof operations[fault.operation]) || this.seen++ < fault.skip) {
        return next(command, options)
      }
      this.next++
      this.seen = 0
      if (fault.kind === "crash-before" || fault.kind === "crash-after") this.crash = undefined
      // A dead process never answers; the abandoned request settles only when it is aborted.
      const hang = () =>
        new Promise<never>((_, reject) => {
          const abort = () => reject(Object.assign(new Error("aborted"), { name: "AbortError" }))
          if (options?.abortSignal?.aborted) abort()
          else options?.abortSignal?.addEventListener("abort", abort)
        })
      switch (fault.kind) {
        case "fail-before":
          return Promise.reject(Object.assign(new Error("injected throttling"), { name: "ProvisionedThroughputExceededException", $metadata: { httpStatusCode: 400 } }))
        case "denied":
          return Promise.reject(Object.assign(new Error("not authorized"), { name: "AccessDeniedException", $fault: "client", $metadata: { httpStatusCode: 400 } }))
        case "fail-after":
          return next(command, options).then(() => Promise.reject(Object.assign(new Error("injected: socket hang up"), { name: "Error", code: "ECONNRESET" })))
        case "crash-before":
          crash()
          return hang()
        case "crash-after":
          // Whatever the table answered, the process dies before it reads the answer.
          return next(command, options).then(() => undefined, () => undefined).then(() => {
            crash()
            return hang()
          })
      }
    })
  }
}

// --- Delivery as Kinesis and Lambda do it.

interface Delivery {
  readonly batchSize: number
  /** Deliveries whose outcomes are computed but never acknowledged (the process dies before the checkpoint). */
  readonly lostAcks: ReadonlySet<number>
}

/**
 * Shards take turns, one batch each. A crashed batch is delivered again whole;
 * a lost acknowledgement too; otherwise delivery resumes at the lowest record
 * that failed (ReportBatchItemFailures), everything after it delivered again.
 */
const deliverAll = (processor: Processor.Processor["Type"], injector: Injector, records: ReadonlyArray<SourceRecord>, delivery: Delivery) =>
  Effect.gen(function*() {
    const byShard = new Map<string, Array<SourceRecord>>()
    for (const r of records) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r])
    const shards = Array.from(byShard.values())
    const cursors = shards.map(() => 0)
    let deliveries = 0
    let crashes = 0
    while (shards.some((shard, s) => cursors[s]! < shard.length)) {
      for (let s = 0; s < shards.length; s++) {
        const shard = shards[s]!
        if (cursors[s]! >= shard.length) continue
        if (deliveries++ > 2_000) return yield* Effect.dieMessage(`no progress: shard ${s} stuck at record ${cursors[s]}`)
        const batch = shard.slice(cursors[s]!, cursors[s]! + delivery.batchSize)
        // Armed before the batch starts, so a crash on its very first call is seen.
        const crashed = yield* Deferred.make<void>()
        injector.arm(() => Deferred.unsafeDone(crashed, Exit.void))
        const outcomes = yield* Effect.raceFirst(Effect.map(processor.process(batch), Option.some), Effect.as(Deferred.await(crashed), Option.none()))
        injector.arm(undefined)
        if (Option.isNone(outcomes)) {
          crashes++
          continue
        }
        if (delivery.lostAcks.has(deliveries)) continue
        cursors[s]! += Acknowledgement.doneCount(outcomes.value.outcomes)
      }
    }
    return { deliveries, crashes }
  })

// --- The property.

const bucketOf = (at: number) => Window.bucketIdAt(revenue.window, Window.bucketStart(revenue.window, at))

/** The aggregates every pipeline should hold: the fold over distinct valid events, computed without eddy. */
const expectedOf = (events: ReadonlyArray<Sale>) => {
  const revenueBy = new Map<string, number>()
  const salesBy = new Map<string, number>()
  const buyersBy = new Map<string, Array<string>>()
  for (const e of events) {
    const id = `${e.item}|${bucketOf(e.at)}`
    revenueBy.set(id, (revenueBy.get(id) ?? 0) + e.amount)
    salesBy.set(e.item, (salesBy.get(e.item) ?? 0) + 1)
    buyersBy.set(e.item, [...(buyersBy.get(e.item) ?? []), e.user!])
  }
  const topCounts = new Map<string, number>()
  for (const e of events) topCounts.set(e.item, (topCounts.get(e.item) ?? 0) + 1)
  return { revenueBy, salesBy, buyersBy, topCounts }
}

let run = 0

interface Scenario {
  readonly stream: ReturnType<typeof streamOf>
  readonly faults: ReadonlyArray<Fault>
  readonly lostAcks: ReadonlyArray<number>
  readonly batchSize: number
}

/** Delivers the stream through the Processor on fresh tables, with the faults, and checks every stored aggregate. */
const check = ({ batchSize, faults, lostAcks, stream }: Scenario) =>
  Effect.gen(function*() {
    const real = yield* DynamoClient.DynamoClient
    const names = { aggregate: `aggregates-${run}`, dedup: `dedup-${run}` }
    run++
    yield* Local.ensure(names)
    const injector = new Injector(faults)
    const processor = yield* Processor.make({ pipelines, retry: Schedule.recurs(1) }).pipe(
      Effect.provide(
        Layer.mergeAll(
          DynamoStore.layer({ table: names.aggregate, conflictRetry: Schedule.recurs(10) }),
          DynamoDeduper.layer({ table: names.dedup, namespace: "sales" }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(Layer.succeed(DynamoClient.DynamoClient, injector.client(real))))
      )
    )
    const summary = yield* deliverAll(processor, injector, stream.records, { batchSize, lostAcks: new Set(lostAcks) })

    const store = yield* DynamoStore.make({ table: names.aggregate })
    const expected = expectedOf(stream.events)
    const read = <A>(monoid: Monoid.Monoid<A>, pipeline: string, keys: ReadonlyArray<readonly [string, string]>) =>
      Effect.map(store.getMany(monoid, keys.map(([key, bucket]): Store.ItemRef => ({ pipeline, key, bucket }))), (values) => values.map((v) => Option.getOrThrow(v)))

    const revenueKeys = Array.from(expected.revenueBy.keys()).map((id) => id.split("|") as [string, string])
    expect(yield* read(Monoid.sum, revenue.name, revenueKeys)).toEqual(Array.from(expected.revenueBy.values()))
    const itemKeys = Array.from(expected.salesBy.keys()).map((item) => [item, "all"] as const)
    expect(yield* read(Monoid.count, salesCount.name, itemKeys)).toEqual(Array.from(expected.salesBy.values()))
    const sketches = yield* read(hll, buyers.name, itemKeys)
    sketches.forEach((sketch, i) => expect(hll.equals(sketch, hll.combineAll(expected.buyersBy.get(itemKeys[i]![0])!.map(hll.of)))).toBe(true))
    const [topState] = yield* read(top, topItems.name, [["all", "all"]])
    expect(new Map(topState!.counts)).toEqual(expected.topCounts)
    expect(topState!.total).toBe(stream.events.length)
    const [spreadState] = yield* Effect.map(Store.spread(store, pipelines).getMany(top, [{ pipeline: spreadTop.name, key: "all", bucket: "all" }]), (vs) => vs.map(Option.getOrThrow))
    expect(new Map(spreadState!.counts)).toEqual(expected.topCounts)
    expect(spreadState!.total).toBe(stream.events.length)
    // Nothing else was written: poison records and duplicates left no items behind, and the spread pipeline only sub-items.
    const scan = yield* Effect.promise(() => real.send(new ScanCommand({ TableName: names.aggregate })))
    const spreadBuckets = (scan.Items ?? []).filter((i) => i.pk?.S === `${spreadTop.name}#all`).map((i) => i.sk?.S)
    expect(scan.Count).toBe(revenueKeys.length + 2 * itemKeys.length + 1 + spreadBuckets.length)
    expect(spreadBuckets.length).toBeGreaterThanOrEqual(1)
    expect(spreadBuckets.every((b) => b === "all~0" || b === "all~1")).toBe(true)
    return { ...summary, fired: injector.fired }
  })

layer(Local.layer, { excludeTestServices: true })("exactly once on DynamoDB", (it) => {
  it.effect.prop(
    "stored aggregates equal the fold over distinct valid events, whatever fails, crashes or is redelivered",
    {
      stream: arbitraryStream,
      faults: fc.array(arbitraryFault, { maxLength: 8 }),
      lostAcks: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 3 }),
      batchSize: fc.integer({ min: 1, max: 20 })
    },
    (scenario) => Effect.asVoid(check(scenario)),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("a crash or a lost reply at each step of a chunk write, in turn, changes nothing", () =>
    Effect.gen(function*() {
      // One shard and one batch, so each fault lands in its own delivery.
      const stream = streamOf({
        sales: Array.from({ length: 24 }, (_, i) => ({ item: items[i % items.length]!, user: i % 7, amount: 10 * i + 1, minute: (i * 17) % 180 })),
        duplicates: [3, 11],
        poison: [5, 8],
        shards: 1
      }, kinesisPosition)
      const faults: ReadonlyArray<Fault> = [
        { operation: "PutItem", skip: 0, kind: "crash-before" }, // delivery 1: before any claim
        { operation: "PutItem", skip: 3, kind: "crash-after" }, // 2: some claims landed, no update
        { operation: "UpdateItem", skip: 0, kind: "crash-before" }, // 3: claims done, the first update never sent
        { operation: "UpdateItem", skip: 0, kind: "crash-after" }, // 4: during the updates, some landed
        { operation: "GetItem", skip: 0, kind: "crash-after" }, // 5: catching up after a moved watermark
        { operation: "UpdateItem", skip: 1, kind: "fail-after" }, // 6: an update landed, its reply lost; then the ack is lost
        { operation: "PutItem", skip: 0, kind: "fail-after" }, // 7: a claim landed, its reply lost
        { operation: "BatchGetItem", skip: 0, kind: "fail-before" } // 7: the compare-and-set read throttled
      ]
      const summary = yield* check({ stream, faults, lostAcks: [6], batchSize: 100 })
      expect(summary.fired).toBe(faults.length)
      expect(summary.crashes).toBe(5)
    }))
})
