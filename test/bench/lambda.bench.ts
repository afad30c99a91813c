/**
 * The Lambda driver on one 10,000-record batch of order events, as Lambda
 * delivers it (base64 KinesisStreamEvent), in-process with an in-memory store
 * and deduper, against (a) the raw loop: base64 + JSON.parse + Map sums, and
 * (b) Powertools' BatchProcessor, sequential, with a record handler doing the
 * same sums: validating nothing; with Powertools' parser and a zod schema of
 * the order event; with that zod schema's `safeParse` in the record handler;
 * and with Effect's `Schema.decodeUnknownEither` of the commerce schema (the
 * one eddy's decoder compiles) in the record handler.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch"
import { parser } from "@aws-lambda-powertools/batch/parser"
import { Base64Encoded } from "@aws-lambda-powertools/parser/helpers"
import { KinesisDataStreamRecord, KinesisDataStreamRecordPayload } from "@aws-lambda-powertools/parser/schemas/kinesis"
import { pipelines, revenueByProductHourly } from "@eddy/commerce-analytics/pipelines"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { CommerceEvent, encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import type { Pipeline } from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as Emf from "@eddy/runtime/Emf"
import * as Lambda from "@eddy/runtime/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { Effect, Either, Layer, Schema } from "effect"
import { medianTimes, medianTimesInTurns, table, type Times } from "./measure"
import { OrderCreatedZod } from "./orderZod"

const N = 10_000

type KinesisStreamRecord = Parameters<Lambda.Handler>[0]["Records"][number]

interface LineItems {
  readonly order: { readonly lineItems: ReadonlyArray<{ readonly productId: string; readonly quantity: number; readonly unitPrice: number }> }
}

const addLines = (sums: Map<string, number>, event: LineItems) => {
  for (const line of event.order.lineItems) sums.set(line.productId, (sums.get(line.productId) ?? 0) + line.quantity * line.unitPrice)
}

const decode = (record: KinesisStreamRecord): LineItems => JSON.parse(Buffer.from(record.kinesis.data, "base64").toString("utf8"))

/** A handler over fresh in-memory state per batch (`reset`), so every run is a first delivery. */
const eddy = (selected: ReadonlyArray<Pipeline>, chunkSize: number) => {
  let store = Effect.runSync(Store.makeMemory)
  let deduper = Effect.runSync(Deduper.makeMemory())
  let applied = 0
  const layer = Layer.mergeAll(
    Layer.succeed(Store.Store, { apply: (writes) => Effect.suspend(() => store.apply(writes)), getMany: (monoid, refs) => Effect.suspend(() => store.getMany(monoid, refs)) }),
    Layer.succeed(Deduper.Deduper, { claim: (claims) => Effect.suspend(() => deduper.claim(claims)), release: (claims) => Effect.suspend(() => deduper.release(claims)) }),
    Layer.succeed(DeadLetter.DeadLetter, { send: () => Effect.void }),
    // Metrics are computed as in production, then dropped instead of printed.
    Layer.succeed(Emf.Writer, { write: (docs) => Effect.sync(() => void (applied = Number(JSON.parse(Emf.render(docs[0]!)).Applied))) })
  )
  const handler = Lambda.handler({ pipelines: selected, layer, chunkSize })
  return {
    handler,
    applied: () => applied,
    reset: () => {
      store = Effect.runSync(Store.makeMemory)
      deduper = Effect.runSync(Deduper.makeMemory())
    }
  }
}

export async function run(): Promise<void> {
  const orders = sampleOrders(N)
  const start = Date.now() - 60_000
  const event = EventSourceMapping.event(
    orders.map((order, i) => ({
      shardId: "shardId-000000000000",
      sequenceNumber: (10n ** 55n + BigInt(i)).toString(),
      partitionKey: order.order.id,
      data: encodeCommerceEvent(order),
      arrivalTime: start + i
    })),
    { streamArn: "arn:aws:kinesis:us-east-1:000000000000:stream/orders" }
  )
  const bytes = event.Records.reduce((n, r) => n + r.kinesis.data.length, 0)
  const context = EventSourceMapping.context({ timeoutMillis: 900_000 })

  const rawLoop = () => {
    const sums = new Map<string, number>()
    for (const record of event.Records) addLines(sums, decode(record))
    return sums
  }
  const powertools = new BatchProcessor(EventType.KinesisDataStreams)
  const viaPowertools = async () => {
    const sums = new Map<string, number>()
    const response = await processPartialResponse(event, (record: KinesisStreamRecord) => addLines(sums, decode(record)), powertools, {
      context,
      processInParallel: false
    })
    if (response.batchItemFailures.length > 0) throw new Error("Powertools reported failures")
    return sums
  }
  /** A Powertools handler: `processor` over the event, `handle` per record; any reported failure is a bug here. */
  const powertoolsWith = <R>(processor: BatchProcessor, handle: (sums: Map<string, number>, record: R) => void) => async () => {
    const sums = new Map<string, number>()
    const response = await processPartialResponse(event, (record: R) => handle(sums, record), processor, { context, processInParallel: false })
    if (response.batchItemFailures.length > 0) throw new Error("Powertools reported failures")
    return sums
  }
  // Powertools' documented way to validate Kinesis records: its parser decodes base64, parses JSON, checks the
  // schema. The whole record schema is built once (with `innerSchema` it is extended again for every record, slower still).
  const recordSchema = KinesisDataStreamRecord.extend({ kinesis: KinesisDataStreamRecordPayload.extend({ data: Base64Encoded(OrderCreatedZod) }) })
  const viaPowertoolsParser = powertoolsWith(
    new BatchProcessor(EventType.KinesisDataStreams, { parser, schema: recordSchema }),
    (sums, record: { readonly kinesis: { readonly data: LineItems } }) => addLines(sums, record.kinesis.data)
  )
  const viaPowertoolsZod = powertoolsWith(new BatchProcessor(EventType.KinesisDataStreams), (sums, record: KinesisStreamRecord) => {
    const parsed = OrderCreatedZod.safeParse(decode(record))
    if (!parsed.success) throw parsed.error
    addLines(sums, parsed.data)
  })
  const decodeWithSchema = Schema.decodeUnknownEither(CommerceEvent)
  const viaPowertoolsSchema = powertoolsWith(new BatchProcessor(EventType.KinesisDataStreams), (sums, record: KinesisStreamRecord) => {
    const decoded = decodeWithSchema(decode(record))
    if (Either.isLeft(decoded)) throw decoded.left
    if (decoded.right.type === "order.created") addLines(sums, decoded.right)
  })
  const variants = [
    { name: "eddy handler, revenue pipeline, chunks of 1,000", ...eddy([revenueByProductHourly], 1_000) },
    { name: "eddy handler, 5 commerce pipelines, chunks of 1,000", ...eddy(pipelines, 1_000) },
    { name: "eddy handler, 5 commerce pipelines, one chunk", ...eddy(pipelines, N) }
  ]

  const expected = rawLoop()
  for (const peer of [viaPowertoolsParser, viaPowertoolsZod, viaPowertoolsSchema]) {
    const sums = await peer()
    if (sums.size !== expected.size || [...expected].some(([k, v]) => sums.get(k) !== v)) throw new Error("a Powertools peer disagrees with the raw loop")
  }
  const viaEddy = (v: (typeof variants)[number]) => async () => {
    v.reset()
    const response = await v.handler(event, context)
    if (response.batchItemFailures.length > 0 || v.applied() !== N) throw new Error(`${v.name}: not every record was applied`)
  }
  const [raw, pt, ptZod, ptSchema, ...eddyTimes] = await medianTimesInTurns(
    [rawLoop, viaPowertools, viaPowertoolsZod, viaPowertoolsSchema, ...variants.map(viaEddy)].map((body) => ({ body }))
  )
  for (const v of variants) await v.handler.dispose()
  // The parser is so much slower that fewer runs of it, on their own, say as much.
  const ptParser = await medianTimes(viaPowertoolsParser, 5, 1)
  const row = (variant: string, t: Times) => ({
    variant,
    "median ms": t.wall,
    "x raw": t.wall / raw.wall,
    "x Powertools": t.wall / pt.wall,
    "cpu ms": t.cpu,
    "cpu x raw": t.cpu / raw.cpu
  })
  const rows: Array<Record<string, string | number>> = [
    row("raw loop: base64 + JSON.parse + Map sums", raw),
    row("Powertools BatchProcessor, sequential, same sums", pt),
    row("Powertools BatchProcessor + parser (zod order schema)", ptParser),
    row("Powertools BatchProcessor, zod safeParse in the handler", ptZod),
    row("Powertools BatchProcessor, Schema.decodeUnknownEither", ptSchema)
  ]
  const validating = [ptParser, ptZod, ptSchema].reduce((a, b) => (b.wall < a.wall ? b : a))
  for (const [i, v] of variants.entries()) rows.push(row(v.name, eddyTimes[i]!))
  const revenue = eddyTimes[0]!
  console.log(`${N.toLocaleString("en-US")} order events in one KinesisStreamEvent (${(bytes / 1e6).toFixed(1)} MB of base64), medians of 15 runs after 3 warm-ups, every row but the parser's timed in turns (the parser row: 5 after 1)\n`)
  table(rows)
  console.log(
    `\neddy revenue handler / fastest validating Powertools handler: ${(revenue.wall / validating.wall).toFixed(2)}x wall, ` +
      `${(revenue.cpu / validating.cpu).toFixed(2)}x cpu (target < 1)`
  )
}
