/**
 * A hot key: four shards writing one HyperLogLog item, the distinct
 * customers of the day (`unique_customers_daily`, a dense `hll(14)` of about
 * 16 KB). Each shard has its own processor and store client, as four Lambda
 * invocations or four service workers would, and they run at once, in
 * batches of 100; every write is a compare-and-set of that one item.
 *
 * - one item: the pipeline without `subItemsPerKey`; the four shards race
 *   for one item and every lost race is a failed conditional write, re-read
 *   and tried again.
 * - spread over 4: `subItemsPerKey: 4`; each shard writes its own sub-item,
 *   and reads merge the four.
 *
 * On an in-process dynalite through the real SDK. Requests are counted at
 * the client, lost races included; a failed conditional write is a conflict.
 * Write units are dynalite's `ReturnConsumedCapacity` (DynamoDB's item-size
 * rule) of the writes that succeed: DynamoDB charges a failed conditional
 * write too, which dynalite does not report. How many races are lost
 * depends on timing, so conflicts vary from run to run; both paths must end
 * with the same merged sketch, which the run checks.
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { ALL, customers, uniqueCustomersDaily } from "@eddy/commerce-analytics/pipelines"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import { Dynalite } from "@eddy/local"
import { Effect, Layer, Logger, LogLevel, Option } from "effect"
import { intercept } from "../../packages/dynamodb/test/support/Local"
import { metered, total, type Usage } from "./dynamodbCapacity"
import { table } from "./measure"

const SHARDS = 4
const PER_SHARD = 2_000
const BATCH = 100
const RECORDS = SHARDS * PER_SHARD
const DAY = Date.UTC(2026, 10, 21)

// Many more customers than orders: nearly every order adds one to the sketch, so nearly every write changes it.
const orders = sampleOrders(RECORDS, { customers: 1_000_000, start: DAY, intervalMillis: 86_400_000 / RECORDS })
const shards: ReadonlyArray<ReadonlyArray<SourceRecord>> = Array.from({ length: SHARDS }, (_, s) =>
  orders.filter((_, i) => i % SHARDS === s).map((order, i) => ({
    data: encodeCommerceEvent(order),
    partitionKey: order.order.id,
    shardId: `shardId-00000000000${s}`,
    sequenceNumber: `49600000000000000000000000000000000000000000000${String(i + 1).padStart(9, "0")}`,
    subSequenceNumber: 0,
    arrivalTime: DAY
  })))
const ref: Store.ItemRef = { pipeline: uniqueCustomersDaily.name, key: ALL, bucket: Window.bucketIdAt(uniqueCustomersDaily.window, DAY) }

const { subItemsPerKey: _, ...oneItem } = uniqueCustomersDaily

interface Measured {
  readonly usage: Usage
  readonly conflicts: number
  readonly writes: number
  readonly items: number
  readonly sketch: unknown
}

let tableRun = 0

/** The four shards through their own processors at once, on a fresh table; what the client counted and the merged sketch. */
const measure = (pipeline: Pipeline.Pipeline) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const tableName = `hot-${tableRun++}`
    // dynalite has no TTL; the warning that says so is not part of the figures.
    yield* Tables.ensure({ aggregate: tableName }).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
    const meter = metered(client)
    let conflicts = 0
    const counting = intercept(meter.client, (command, options, next) =>
      next(command, options).catch((e: unknown) => {
        if ((e as { name?: string }).name === "ConditionalCheckFailedException") conflicts++
        throw e
      }))
    const shard = (records: ReadonlyArray<SourceRecord>) =>
      Effect.gen(function*() {
        const processor = yield* Processor.make({ pipelines: Processor.provided([pipeline]) }).pipe(
          Effect.provide(Layer.mergeAll(
            DynamoStore.layer({ table: tableName }).pipe(Layer.provide(Layer.succeed(DynamoClient.DynamoClient, counting))),
            Deduper.layerMemory(),
            DeadLetter.layerMemory
          ))
        )
        let writes = 0
        for (let i = 0; i < records.length; i += BATCH) {
          const result = yield* processor.process(records.slice(i, i + BATCH), { source: "orders" })
          const failed = result.outcomes.find((o) => o._tag !== "Applied")
          if (failed !== undefined) return yield* Effect.dieMessage(`a record was not applied: ${JSON.stringify(failed)}`)
          writes += result.writes[0]!
        }
        return writes
      })
    const writes = yield* Effect.all(shards.map(shard), { concurrency: "unbounded" })
    const store = yield* DynamoStore.make({ table: tableName })
    const items = (yield* store.getMany(customers, [ref, ...Array.from({ length: 4 }, (_, i) => Store.subItem(ref, i))])).filter(Option.isSome).length
    const [sketch] = yield* Store.spread(store, [pipeline]).getMany(customers, [ref])
    return { usage: meter.usage, conflicts, writes: writes.reduce((a, b) => a + b, 0), items, sketch: Option.getOrThrow(sketch!) } satisfies Measured
  })

export async function run(): Promise<void> {
  const results = await Effect.runPromise(
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const client = DynamoClient.layer({ endpoint })
      return {
        one: yield* measure(oneItem).pipe(Effect.provide(client)),
        spread: yield* measure(uniqueCustomersDaily).pipe(Effect.provide(client))
      }
    }).pipe(Effect.scoped)
  )
  if (!customers.equals(results.one.sketch as never, results.spread.sketch as never)) throw new Error("the spread item merged to another sketch than the one item: the comparison is void")

  const writeOps = ["PutItem", "UpdateItem"]
  const readOps = ["GetItem", "BatchGetItem"]
  const row = (label: string, m: Measured) => {
    const requests = total(m.usage.requests, writeOps)
    return {
      path: label,
      items: m.items,
      "folded writes": m.writes,
      "write requests": requests,
      conflicts: m.conflicts,
      "conflicts per write": m.conflicts / m.writes,
      "read requests": total(m.usage.requests, readOps),
      "write units": total(m.usage.units, writeOps),
      "write units per event": total(m.usage.units, writeOps) / RECORDS
    }
  }
  console.log(`${RECORDS.toLocaleString("en-US")} order.created events on ${SHARDS} shards at once, batches of ${BATCH}, into one hll(14) item per day\n`)
  table([row("one item", results.one), row(`spread over ${uniqueCustomersDaily.subItemsPerKey}`, results.spread)])
  const c = (m: Measured) => m.conflicts / m.writes
  console.log(
    `\nconflicts per write: ${c(results.one).toFixed(2)} on one item, ${c(results.spread).toFixed(2)} spread; ` +
      `write requests: ${(total(results.one.usage.requests, writeOps) / total(results.spread.usage.requests, writeOps)).toFixed(2)}x as many on one item.`
  )
  console.log("Conflicts depend on timing and vary between runs; write units are those of the writes that succeeded.")
}
