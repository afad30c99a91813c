/**
 * The processor's hot path on a Lambda-sized batch: 10,000 order events,
 * base64 as Lambda delivers them, through revenue-per-product-per-hour into
 * the in-memory store, beside loops that do the same sums with no
 * processor: (a) base64 + JSON.parse + Map sums, (b) the same with full
 * Schema validation by Effect's `Schema.decodeUnknownEither` of the commerce
 * schema, and (c) the same with eddy's compiled decoder of that schema, the
 * one the processor uses.
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { CommerceEvent, decodeCommerceEvent, encodeCommerceEvent, timestampMillis } from "@eddy/commerce/CommerceEvent"
import * as Processor from "@eddy/core/Processor"
import * as PayloadHash from "@eddy/runtime/PayloadHash"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import { revenueByProductHourly } from "@eddy/commerce-analytics/pipelines"
import { Effect, Either, Layer, ManagedRuntime, Schema } from "effect"
import { medianTimesInTurns, table, type Times } from "./measure"

const RECORDS = 10_000
const RUNS = 21
const WARMUP = 5

interface Order {
  readonly occurredAt: string
  readonly order: { readonly lineItems: ReadonlyArray<{ readonly productId: string; readonly quantity: number; readonly unitPrice: number }> }
}

const sumLines = (sums: Map<string, number>, event: Order) => {
  const hour = Math.floor(timestampMillis(event.occurredAt) / 3_600_000)
  for (const line of event.order.lineItems) {
    const key = `${line.productId}|${hour}`
    sums.set(key, (sums.get(key) ?? 0) + line.quantity * line.unitPrice)
  }
}

const rawLoop = (batch: ReadonlyArray<string>) => {
  const sums = new Map<string, number>()
  for (const b64 of batch) sumLines(sums, JSON.parse(Buffer.from(b64, "base64").toString("utf8")) as Order)
  return sums
}

const decodeWithSchema = Schema.decodeUnknownEither(CommerceEvent)

const schemaLoop = (batch: ReadonlyArray<string>) => {
  const sums = new Map<string, number>()
  for (const b64 of batch) {
    const decoded = decodeWithSchema(JSON.parse(Buffer.from(b64, "base64").toString("utf8")))
    if (Either.isRight(decoded) && decoded.right.type === "order.created") sumLines(sums, decoded.right)
  }
  return sums
}

const decoderLoop = (batch: ReadonlyArray<string>) => {
  const sums = new Map<string, number>()
  for (const b64 of batch) {
    const decoded = decodeCommerceEvent(Buffer.from(b64, "base64"))
    if (Either.isRight(decoded) && decoded.right.type === "order.created") sumLines(sums, decoded.right)
  }
  return sums
}

const toRecords = (batch: ReadonlyArray<string>): Array<SourceRecord> =>
  batch.map((b64, i) => ({
    data: Buffer.from(b64, "base64"),
    partitionKey: `o-${i}`,
    shardId: "shardId-000000000000",
    sequenceNumber: `49600000000000000000000000000000000000000000${String(i).padStart(12, "0")}`,
    subSequenceNumber: 0,
    arrivalTime: 0
  }))

export async function run(): Promise<void> {
  const batch = sampleOrders(RECORDS, { products: 200 }).map((e) => Buffer.from(encodeCommerceEvent(e)).toString("base64"))
  const bytes = batch.reduce((n, b) => n + (b.length * 3) / 4, 0)

  const expected = rawLoop(batch)
  const processorRuntime = () =>
    ManagedRuntime.make(
      Processor.layer({ pipelines: [revenueByProductHourly], payloadHash: PayloadHash.sha256Hex }).pipe(
        Layer.provideMerge(Layer.mergeAll(Store.layerMemory, Deduper.layerMemory(), DeadLetter.layerMemory))
      )
    )
  type Runtime = ReturnType<typeof processorRuntime>
  // Check the processor computes what the loops compute, so the comparison is fair.
  const check = processorRuntime()
  const { outcomes } = await check.runPromise(Effect.flatMap(Processor.Processor, (p) => p.process(toRecords(batch))))
  if (outcomes.some((o) => o._tag !== "Applied")) throw new Error("benchmark batch did not apply cleanly")
  await check.dispose()

  const [raw, schema, decoder, processor] = await medianTimesInTurns([
    { body: () => rawLoop(batch) },
    {
      body: () => {
        if (schemaLoop(batch).size !== expected.size) throw new Error("schema loop disagrees with the raw loop")
      }
    },
    {
      body: () => {
        if (decoderLoop(batch).size !== expected.size) throw new Error("decoder loop disagrees with the raw loop")
      }
    },
    {
      // A fresh runtime per run, built before the clock starts: every run is a first delivery.
      setup: async () => {
        const runtime = processorRuntime()
        await runtime.runtime()
        return runtime
      },
      body: (runtime: Runtime) => runtime.runPromise(Effect.flatMap(Processor.Processor, (p) => p.process(toRecords(batch)))),
      teardown: (runtime: Runtime) => runtime.dispose()
    }
  ], RUNS, WARMUP)

  const row = (path: string, t: Times) => ({
    path,
    "median ms": t.wall,
    "records/s": Math.round(RECORDS / (t.wall / 1000)),
    "x raw": t.wall / raw.wall,
    "cpu ms": t.cpu,
    "cpu x raw": t.cpu / raw.cpu
  })
  console.log(`${RECORDS.toLocaleString("en-US")} order events (${Math.round(bytes / RECORDS)} bytes each), ${expected.size} product-hours; median of ${RUNS} runs, the four timed in turns\n`)
  table([
    row("(a) raw loop: base64 + JSON.parse + Map sums", raw),
    row("(b) same loop, Schema.decodeUnknownEither", schema),
    row("(c) same loop, eddy's compiled decoder", decoder),
    row("eddy Processor (decode, dedup, fold, store)", processor)
  ])
  const ratio = (a: Times, b: Times) => `${(a.wall / b.wall).toFixed(2)}x (cpu ${(a.cpu / b.cpu).toFixed(2)}x)`
  console.log(`\ndecoder loop / raw loop:  ${ratio(decoder, raw)} (target <= 1.3x)`)
  console.log(`processor / raw loop:     ${ratio(processor, raw)} (target <= 1.5x)`)
  console.log(`processor / Schema loop:  ${ratio(processor, schema)}`)
  console.log(`processor / decoder loop: ${ratio(processor, decoder)} (what dedup, folding and the store add to decoding)`)
}
