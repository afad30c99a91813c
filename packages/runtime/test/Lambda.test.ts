import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import * as Faults from "@eddy/testing/Faults"
import * as Store from "@eddy/core/Store"
import * as Kpl from "@eddy/kinesis/Kpl"
import { describe, expect, it, vi } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schedule } from "effect"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { encode, eventOf, expectedItems, memoryServices, mismatches, pipelines, positionOf, sequenceNumber, shardRecords, streamArn } from "./LambdaFixtures"

const utf8 = new TextEncoder()
const retry = Schedule.recurs(1)
/** EMF lines go to a list rather than the test's stdout. */
const quietMetrics = (lines: Array<string> = []) => Layer.succeed(Emf.Writer, { write: (docs) => Effect.sync(() => void lines.push(...docs.map(Emf.render))) })

const orders = (count: number, offset = 0) => sampleOrders(count, { offset, products: 40, customers: 100 })
const wrongSums = utf8.encode(JSON.stringify({ ...orders(1, 9_000)[0]!, eventId: "evt-bad-sums", order: { ...orders(1, 9_000)[0]!.order, total: 1 } }))

/** A strict-order handler on memory services, and the records of twelve orders with a poison one at index 6. */
const strictOrderBatch = (chunkSize: number) => {
  const services = memoryServices()
  const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics()), retry, strictOrder: true, chunkSize })
  const events = orders(12)
  const datas = events.map(encode)
  datas.splice(6, 0, wrongSums)
  return { events, handler, records: shardRecords(datas), services }
}

describe("Lambda.handler", () => {
  it("applies a clean batch, dead-letters poison with its position and source, and reports no failure", async () => {
    const services = memoryServices()
    const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics()), retry })
    const events = orders(30)
    const datas = events.map(encode)
    datas.splice(10, 0, utf8.encode("{ not json"), wrongSums)
    const records = shardRecords(datas)
    const response = await handler(eventOf(records), EventSourceMapping.context())
    expect(response).toEqual({ batchItemFailures: [] })
    expect(await Effect.runPromise(mismatches(services.store, expectedItems(events)))).toEqual([])
    expect(services.deadLetters.map((e) => [e.error, e.sequenceNumber, e.source, e.shardId])).toEqual([
      ["NotJsonError", records[10]!.sequenceNumber, streamArn, "shardId-000000000000"],
      ["InvalidEventError", records[11]!.sequenceNumber, streamArn, "shardId-000000000000"]
    ])
    expect(services.deadLetters[1]!.reason).toContain("order.total")
    expect(Buffer.from(services.deadLetters[1]!.payload).equals(Buffer.from(wrongSums))).toBe(true)
    await handler.dispose()
  })

  it("deaggregates KPL records, dead-letters a corrupt aggregate, and reports an aggregate whose user records failed by its own sequence number", async () => {
    const services = memoryServices()
    // Every store call from the third on fails: the first chunks go through, the aggregate's do not.
    const flaky = Faults.store((call) => (call >= 2 ? { _tag: "Fail" } : undefined)).pipe(Layer.provide(services.storeLayer))
    const handler = Lambda.handler({ pipelines, layer: Layer.mergeAll(flaky, services.rest, quietMetrics()), retry: Schedule.recurs(0), chunkSize: 2 })
    const events = orders(9)
    const [a, b, c, d, e, f, g, h, i] = events.map(encode)
    const user = (data: Uint8Array, n: number) => ({ partitionKey: `o-${n}`, data })
    const corrupt = Kpl.aggregate([user(g!, 7), user(h!, 8)])
    corrupt[corrupt.length - 1]! ^= 0xff
    // plain a, plain b | corrupt aggregate (g, h) | aggregate (c, d, e) | plain f | aggregate (i)
    const records = shardRecords([a!, b!, corrupt, Kpl.aggregate([user(c!, 3), user(d!, 4), user(e!, 5)]), f!, Kpl.aggregate([user(i!, 9)])])
    const first = await handler(eventOf(records), EventSourceMapping.context())
    // Chunks: [a, b], [corrupt, c], [d, e], ...: the second store call applies c, the third (d, e) fails.
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: records[3]!.sequenceNumber }] })
    expect(services.deadLetters.map((x) => [x.error, positionOf(x)])).toEqual([["KplError", `shardId-000000000000/${records[2]!.sequenceNumber}/0`]])
    expect(services.deadLetters[0]!.reason).toContain("ChecksumMismatch")
    await handler.dispose()

    // Redelivered from the aggregate to a healthy store: c is skipped by its watermark, the rest applied once.
    const healthy = Lambda.handler({ pipelines, layer: Layer.mergeAll(services.layer, quietMetrics()), retry, chunkSize: 2 })
    expect(await healthy(eventOf(records.slice(3)), EventSourceMapping.context())).toEqual({ batchItemFailures: [] })
    const valid = [events[0]!, events[1]!, events[2]!, events[3]!, events[4]!, events[5]!, events[8]!]
    expect(await Effect.runPromise(mismatches(services.store, expectedItems(valid)))).toEqual([])
    expect(services.deadLetters).toHaveLength(1)
    await healthy.dispose()
  })

  it("in strict-order mode fails the batch at the first poison record instead of dead-lettering it", async () => {
    const { events, handler, records, services } = strictOrderBatch(4)
    expect(await handler(eventOf(records), EventSourceMapping.context())).toEqual({ batchItemFailures: [{ itemIdentifier: records[6]!.sequenceNumber }] })
    expect(services.deadLetters).toEqual([])
    // Redelivered, it blocks again: the shard stays at the poison record.
    expect(await handler(eventOf(records.slice(6)), EventSourceMapping.context())).toEqual({ batchItemFailures: [{ itemIdentifier: records[6]!.sequenceNumber }] })
    // Everything before it is applied exactly once.
    expect(await Effect.runPromise(mismatches(services.store, expectedItems(events.slice(0, 6))))).toEqual([])
    await handler.dispose()
  })

  it("in strict-order mode writes nothing after the poison in its shard, so the fixed record is applied on redelivery", async () => {
    const { events, handler, records, services } = strictOrderBatch(20)
    // The poison and the records after it share a chunk.
    expect(await handler(eventOf(records), EventSourceMapping.context())).toEqual({ batchItemFailures: [{ itemIdentifier: records[6]!.sequenceNumber }] })
    // Fixed at its position: every event after it shares a daily status count with it, and no watermark moved past it.
    const fixed = orders(1, 500)[0]!
    const redelivered = records.slice(6).map((r, i) => (i === 0 ? { ...r, data: encode(fixed) } : r))
    expect(await handler(eventOf(redelivered), EventSourceMapping.context())).toEqual({ batchItemFailures: [] })
    expect(await Effect.runPromise(mismatches(services.store, expectedItems([...events, fixed])))).toEqual([])
    expect(services.deadLetters).toEqual([])
    await handler.dispose()
  })

  it("stops before the timeout, reports only the first record it did not finish, and a redelivery completes exactly", async () => {
    const services = memoryServices()
    // The third store call never returns, and from then on Lambda says time is up.
    let calls = 0
    let outOfTime = false
    const blocking = Layer.succeed(Store.Store, {
      getMany: services.store.getMany,
      apply: (writes) =>
        Effect.suspend(() => (calls++ === 2 ? Effect.zipRight(Effect.sync(() => void (outOfTime = true)), Effect.never) : services.store.apply(writes)))
    })
    const handler = Lambda.handler({ pipelines, layer: Layer.mergeAll(blocking, services.rest, quietMetrics()), retry, chunkSize: 10, timeoutMarginMillis: 5_000 })
    const events = orders(40)
    const records = shardRecords(events.map(encode))
    const context = EventSourceMapping.context({ remaining: () => (outOfTime ? 4_000 : 60_000) })
    expect(await handler(eventOf(records), context)).toEqual({ batchItemFailures: [{ itemIdentifier: records[20]!.sequenceNumber }] })
    // The two finished chunks are applied, nothing of the interrupted one.
    expect(await Effect.runPromise(mismatches(services.store, expectedItems(events.slice(0, 20))))).toEqual([])
    expect(await handler(eventOf(records.slice(20)), EventSourceMapping.context())).toEqual({ batchItemFailures: [] })
    expect(await Effect.runPromise(mismatches(services.store, expectedItems(events)))).toEqual([])
    await handler.dispose()
  })

  it("reports the first failed record of each shard when an event mixes shards", async () => {
    const services = memoryServices()
    // Writes of the shards in `down` fail; everything else is applied. Writes name
    // their shard scoped by stream (`stream/shardId-...`).
    const down = new Set<string>()
    const isDown = (w: Store.DeltaWrite) => down.has(w.shardId.slice(w.shardId.lastIndexOf("/") + 1))
    const partial = Layer.succeed(Store.Store, {
      getMany: services.store.getMany,
      apply: (writes) =>
        Effect.map(services.store.apply(writes.filter((w) => !isDown(w))), () =>
          writes.map((w) => (isDown(w) ? new Store.StoreUnavailableError({ message: "shard down" }) : undefined)))
    })
    const handler = Lambda.handler({ pipelines, layer: Layer.mergeAll(partial, services.rest, quietMetrics()), retry: Schedule.recurs(0) })
    const a = shardRecords(orders(3).map(encode), { shardId: "shardId-000000000001" })
    const b = shardRecords(orders(3, 100).map(encode), { shardId: "shardId-000000000002", first: 10 })
    const event = eventOf([a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!])
    down.add("shardId-000000000002")
    expect(await handler(event, EventSourceMapping.context())).toEqual({ batchItemFailures: [{ itemIdentifier: b[0]!.sequenceNumber }] })
    down.add("shardId-000000000001")
    expect(await handler(event, EventSourceMapping.context())).toEqual({
      batchItemFailures: [{ itemIdentifier: a[0]!.sequenceNumber }, { itemIdentifier: b[0]!.sequenceNumber }]
    })
    await handler.dispose()
  })

  it("writes EMF metrics per batch and per pipeline", async () => {
    const services = memoryServices()
    const lines: Array<string> = []
    const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics(lines)), retry, metricsNamespace: "eddy-test" })
    const events = orders(5)
    const datas = [...events.map(encode), encode(events[0]!), wrongSums]
    const records = shardRecords(datas, { arrivalTime: Date.now() - 60_000 })
    await handler(eventOf(records), EventSourceMapping.context())
    const documents = lines.map((l) => JSON.parse(l))
    expect(documents).toHaveLength(1 + pipelines.length)
    const [batch, ...perPipeline] = documents
    expect(batch._aws.CloudWatchMetrics).toEqual([{
      Namespace: "eddy-test",
      Dimensions: [["stream"]],
      Metrics: ["Records", "Applied", "Duplicates", "DeadLettered", "Failed", "Unfinished", "Retries", "DeploymentFaults", "EventIdConflicts", "IteratorAge", "BatchDuration"].map((Name) => ({
        Name,
        Unit: Name === "IteratorAge" || Name === "BatchDuration" ? "Milliseconds" : "Count"
      }))
    }])
    expect(typeof batch._aws.Timestamp).toBe("number")
    expect(batch).toMatchObject({ stream: "orders", Records: 7, Applied: 5, Duplicates: 1, DeadLettered: 1, Failed: 0, Unfinished: 0, Retries: 0, DeploymentFaults: 0, EventIdConflicts: 0 })
    // The newest record arrived a minute ago.
    expect(batch.IteratorAge).toBeGreaterThanOrEqual(60_000)
    expect(perPipeline.map((d) => [d.pipeline, d._aws.CloudWatchMetrics[0].Dimensions])).toEqual(pipelines.map((p) => [p.name, [["stream", "pipeline"]]]))
    // Product updates emit nothing for orders: no writes; every order pipeline wrote.
    expect(perPipeline.map((d) => d.StoreWrites > 0)).toEqual(pipelines.map((p) => p.name !== "product_updates"))
    await handler.dispose()
  })

  it("logs structured JSON lines carrying the request id", async () => {
    const services = memoryServices()
    const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics()), retry })
    const context = EventSourceMapping.context()
    const written: Array<string> = []
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (written.push(String(chunk)), true))
    try {
      await handler(eventOf(shardRecords([encode(orders(1)[0]!), wrongSums])), context)
    } finally {
      spy.mockRestore()
      await handler.dispose()
    }
    const logs = written.join("").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
    // Powertools' field names; the annotations at the top level.
    expect(logs).toContainEqual(expect.objectContaining({
      message: "records dead-lettered",
      level: "WARN",
      service: "eddy",
      function_request_id: context.awsRequestId,
      cold_start: true,
      applied: 1,
      deadLettered: 1
    }))
    expect(logs.every((l) => typeof l.timestamp === "string" && typeof l.message === "string")).toBe(true)
  })

  it("reads its settings from the environment, options winning", () => {
    const provider = ConfigProvider.fromMap(new Map([["EDDY_STRICT_ORDER", "true"], ["EDDY_TIMEOUT_MARGIN_MS", "750"], ["EDDY_CHUNK_SIZE", "250"], ["EDDY_AGGREGATION", "orders=ndjson,kpl"], ["EDDY_ORDERING", "partitionKey"]]))
    expect(Effect.runSync(Effect.withConfigProvider(Lambda.settingsConfig, provider))).toEqual({
      strictOrder: true,
      timeoutMarginMillis: 750,
      chunkSize: 250,
      metricsNamespace: "eddy",
      aggregation: { streams: { orders: "ndjson" }, otherwise: "kpl" },
      ordering: "partitionKey"
    })
    const unordered = ConfigProvider.fromMap(new Map([["EDDY_ORDERING", "none"]]))
    expect(Effect.runSync(Effect.flip(Effect.withConfigProvider(Lambda.settingsConfig, unordered))).toString()).toContain("EDDY_ORDERING")
    const bad = ConfigProvider.fromMap(new Map([["EDDY_CHUNK_SIZE", "0"]]))
    expect(Effect.runSync(Effect.flip(Effect.withConfigProvider(Lambda.settingsConfig, bad))).toString()).toContain("EDDY_CHUNK_SIZE")
  })

  it("fails the invocation for a record without a position rather than guessing one", async () => {
    const services = memoryServices()
    const handler = Lambda.handler({ pipelines, layer: Layer.merge(services.layer, quietMetrics()) })
    const event = eventOf(shardRecords([encode(orders(1)[0]!)]))
    event.Records[0]!.eventID = sequenceNumber(0)
    await expect(handler(event, EventSourceMapping.context())).rejects.toThrow(/shardId:sequenceNumber/)
    await handler.dispose()
  })
})
