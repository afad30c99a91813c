/**
 * DynamoDB writes for one Lambda-sized batch: 10,000 `order.created` events
 * over 200 products in one hour, aggregated into revenue per product per hour.
 *
 * - eddy: the Processor with the DynamoDB Store and Deduper: one conditional
 *   claim per event plus one folded UpdateItem per (product, hour) per batch;
 *   once as one batch of 10,000 and once as 100 batches of 100 (Lambda's
 *   default batch size).
 * - per-record baseline: what a handler does record by record with the
 *   Powertools idempotency utility (`makeIdempotent`, its DynamoDB
 *   persistence layer on the same dynalite): an idempotency record put as
 *   INPROGRESS, one `ADD` UpdateItem per order line, then the record updated
 *   to COMPLETED.
 *
 * - the service: one worker (`Service.layer`) reading the same events from a
 *   one-shard kinesalite stream with GetRecords of 100, 1,000 and 10,000
 *   records, folding reads into one write per item every 10,000 records
 *   (`flushRecords`, the default; the flush interval is set past the run, so
 *   that the count alone decides and the figures do not depend on the
 *   machine's speed). Its leases are in memory: checkpoints are not counted.
 *
 * All run against an in-process dynalite through the real SDK. Requests are
 * counted at the client; write units are what dynalite reports with
 * `ReturnConsumedCapacity: "TOTAL"`, computed by DynamoDB's rule (one unit per
 * started KB of the larger of the item before and after the write). Both paths
 * must end with the same stored revenue, which the run checks.
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Monoid from "@eddy/core/Monoid"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Window from "@eddy/core/Window"
import { revenueByProductHourly } from "@eddy/commerce-analytics/pipelines"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Leases from "@eddy/core/Leases"
import * as Metrics from "@eddy/core/Metrics"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Dynalite, Kinesalite } from "@eddy/local"
import * as Service from "@eddy/runtime/Service"
import { Duration, Effect, Exit, Layer, Logger, LogLevel, Metric, Option, Scope } from "effect"
import { metered, total, type Usage } from "./dynamodbCapacity"
import { table } from "./measure"
import { perRecordBaseline } from "./perRecordBaseline"

const RECORDS = 10_000
const PRODUCTS = 200

const orders = sampleOrders(RECORDS, { products: PRODUCTS, start: Date.UTC(2026, 10, 21, 10), intervalMillis: 3_600_000 / RECORDS })
const lineItems = orders.reduce((n, o) => n + o.order.lineItems.length, 0)
const records: Array<SourceRecord> = orders.map((order, i) => ({
  data: encodeCommerceEvent(order),
  partitionKey: order.order.id,
  shardId: "shardId-000000000000",
  sequenceNumber: `49600000000000000000000000000000000000000000000${String(i + 1).padStart(9, "0")}`,
  subSequenceNumber: 0,
  arrivalTime: Date.UTC(2026, 10, 21, 10)
}))
const bucket = Window.bucketIdAt(revenueByProductHourly.window, Date.UTC(2026, 10, 21, 10))
const products = Array.from({ length: PRODUCTS }, (_, i) => `p-${i + 1}`)

interface Measured {
  readonly usage: Usage
  readonly revenue: ReadonlyArray<number>
}

let tableRun = 0

/** Runs one path on fresh tables with a metered client; returns its usage and the revenue it stored. */
const measure = (path: (client: DynamoClient.DynamoClient["Type"], names: { aggregate: string; dedup: string }) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const names = { aggregate: `aggregates-${tableRun}`, dedup: `dedup-${tableRun}` }
    tableRun++
    // dynalite has no TTL; the warning that says so is not part of the figures.
    yield* Tables.ensure(names).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
    const meter = metered(client)
    yield* path(meter.client, names)
    const store = yield* DynamoStore.make({ table: names.aggregate })
    const stored = yield* store.getMany(Monoid.sum, products.map((key) => ({ pipeline: revenueByProductHourly.name, key, bucket })))
    return { usage: meter.usage, revenue: stored.map((v) => Option.getOrElse(v, () => 0)) } satisfies Measured
  })

const eddy = (batchSize: number) => (client: DynamoClient.DynamoClient["Type"], names: { aggregate: string; dedup: string }) =>
  Effect.gen(function*() {
    const processor = yield* Processor.make({ pipelines: [revenueByProductHourly] }).pipe(
      Effect.provide(
        Layer.mergeAll(
          DynamoStore.layer({ table: names.aggregate }),
          DynamoDeduper.layer({ table: names.dedup, namespace: "commerce-analytics" }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(Layer.succeed(DynamoClient.DynamoClient, client)))
      )
    )
    for (let i = 0; i < records.length; i += batchSize) {
      const { outcomes } = yield* processor.process(records.slice(i, i + batchSize))
      const failed = outcomes.find((o) => o._tag !== "Applied")
      if (failed !== undefined) return yield* Effect.dieMessage(`eddy did not apply a record: ${JSON.stringify(failed)}`)
    }
  })

/** The events on a one-shard stream, put once; the service runs read it from the start with fresh tables each. */
const STREAM = "dynamodb-bench"
const loadStream = (kinesis: Kinesis.KinesisApi) =>
  Effect.gen(function*() {
    yield* kinesis.createStream({ StreamName: STREAM, ShardCount: 1 })
    for (let i = 0; i < records.length; i += 500) {
      const out = yield* kinesis.putRecords({ StreamName: STREAM, Records: records.slice(i, i + 500).map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) })
      if ((out.FailedRecordCount ?? 0) > 0) return yield* Effect.dieMessage(`kinesalite refused ${out.FailedRecordCount} records`)
    }
  })

let serviceRun = 0

const service = (kinesis: Layer.Layer<Kinesis.Kinesis>, readLimit: number) => (client: DynamoClient.DynamoClient["Type"], names: { aggregate: string; dedup: string }) =>
  Effect.gen(function*() {
    const processed = Effect.map(Metric.value(Metrics.recordsIn), (s) => s.count)
    const before = yield* processed
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(
      Service.layer({
        pipelines: [revenueByProductHourly],
        layer: Layer.mergeAll(
          DynamoStore.layer({ table: names.aggregate }),
          DynamoDeduper.layer({ table: names.dedup, namespace: "commerce-analytics" }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(Layer.succeed(DynamoClient.DynamoClient, client))),
        kinesis,
        leases: Leases.layerMemory(),
        streams: [{ name: STREAM }],
        workerId: `dynamodb-bench-${serviceRun++}`,
        port: 0,
        readLimit,
        pollInterval: Duration.zero,
        flushInterval: Duration.minutes(10)
      }),
      scope
    )
    while ((yield* processed) - before < records.length) yield* Effect.sleep("20 millis")
    yield* Scope.close(scope, Exit.void)
  }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const baseline = (client: DynamoClient.DynamoClient["Type"], names: { aggregate: string; dedup: string }) =>
  perRecordBaseline(client, { aggregate: names.aggregate, idempotency: names.dedup, pipeline: revenueByProductHourly.name, bucket }, orders)

export async function run(): Promise<void> {
  // Counts are exact and deterministic (same seed, same batches): one run of each path gives them.
  const results = await Effect.runPromise(
    Effect.gen(function*() {
      const { endpoint } = yield* Dynalite.start()
      const client = DynamoClient.layer({ endpoint })
      const kinesis = Kinesis.layer({ endpoint: (yield* Kinesalite.start()).endpoint })
      yield* Effect.flatMap(Kinesis.Kinesis, loadStream).pipe(Effect.provide(kinesis))
      return {
        eddyOne: yield* measure(eddy(RECORDS)).pipe(Effect.provide(client)),
        eddyHundred: yield* measure(eddy(100)).pipe(Effect.provide(client)),
        service100: yield* measure(service(kinesis, 100)).pipe(Effect.provide(client)),
        service1000: yield* measure(service(kinesis, 1_000)).pipe(Effect.provide(client)),
        service10000: yield* measure(service(kinesis, 10_000)).pipe(Effect.provide(client)),
        baseline: yield* measure(baseline).pipe(Effect.provide(client))
      }
    }).pipe(Effect.scoped)
  )

  for (const [name, m] of Object.entries(results)) {
    if (m.revenue.some((v, i) => v !== results.baseline.revenue[i])) throw new Error(`${name} stored other revenue than the baseline: the comparison is void`)
  }
  const writes = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]
  const base = { requests: total(results.baseline.usage.requests, writes), units: total(results.baseline.usage.units, writes) }
  const row = (label: string, m: Measured) => {
    const requests = total(m.usage.requests, writes)
    const units = total(m.usage.units, writes)
    return {
      path: label,
      PutItem: m.usage.requests.get("PutItem") ?? 0,
      UpdateItem: m.usage.requests.get("UpdateItem") ?? 0,
      "write requests": requests,
      "write units": units,
      "read units": total(m.usage.units, ["GetItem", "BatchGetItem"]),
      "write units per event": units / RECORDS,
      "baseline / this (requests)": base.requests / requests,
      "baseline / this (units)": base.units / units
    }
  }
  console.log(`${RECORDS.toLocaleString("en-US")} order.created events, ${lineItems.toLocaleString("en-US")} order lines, ${PRODUCTS} products, one hour\n`)
  table([
    row("eddy, 1 batch of 10,000", results.eddyOne),
    row("eddy, 100 batches of 100", results.eddyHundred),
    row("eddy service, reads of 100", results.service100),
    row("eddy service, reads of 1,000", results.service1000),
    row("eddy service, reads of 10,000", results.service10000),
    row("per-record + Powertools idempotency (baseline)", results.baseline)
  ])
  console.log("\nWrite units as dynalite reports them (DynamoDB's item-size rule); every item here is under 1 KB, so one unit per write.")
  console.log("eddy: one conditional PutItem claim per event, one UpdateItem per (product, hour) per batch.")
  console.log("eddy service: the same per folded write, whatever the read size (target: at most 1.1 write units per event).")
  console.log("Baseline: Powertools makeIdempotent per event (PutItem INPROGRESS, UpdateItem COMPLETED), plus one UpdateItem per order line.")
}
