/**
 * The Lambda handler on DynamoDB (dynalite) behind the event-source mapping
 * (kinesalite), with the deployment broken and then fixed: a denied
 * UpdateItem, a missing aggregate table. A valid event is never dead-lettered
 * because of the deployment; once it is fixed, every one is counted exactly
 * once. Then the claims: a dead-lettered record's re-drive after its fix is
 * applied, and a reused event id with another payload is a conflict.
 */
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import type { CommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import { payloadHashOf } from "@eddy/core/Deduper"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Monoid from "@eddy/core/Monoid"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as EventSourceMapping from "@eddy/testing/EventSourceMapping"
import { DeleteTableCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import * as Local from "../../dynamodb/test/support/Local"
import { CommerceEvents } from "../../../apps/commerce-analytics/src/pipelines"
import * as Emf from "../src/Emf"
import * as Lambda from "../src/Lambda"
import { encode, eventOf, expectedItems, mismatches, pipelines, shardRecords } from "./LambdaFixtures"

const tables = { aggregate: "aggregates", dedup: "dedup" }

/** EMF documents, kept to read the alarm metric. */
const metrics = () => {
  const documents: Array<Record<string, unknown>> = []
  const layer = Layer.succeed(Emf.Writer, { write: (docs) => Effect.sync(() => void documents.push(...docs.map((d) => JSON.parse(Emf.render(d))))) })
  const sum = (name: string) => documents.filter((d) => d.pipeline === undefined).reduce((n, d) => n + Number(d[name] ?? 0), 0)
  return { layer, sum }
}

/** A handler on DynamoDB through `client`, dead letters kept in memory. */
const handlerOn = (client: DynamoClient.DynamoClient["Type"], options: { readonly pipelines?: ReadonlyArray<Pipeline.Pipeline>; readonly metrics?: Layer.Layer<Emf.Writer> } = {}) => {
  const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
  const handler = Lambda.handler({
    pipelines: options.pipelines ?? pipelines,
    layer: Layer.mergeAll(
      DynamoStore.layer({ table: tables.aggregate }),
      DynamoDeduper.layer({ table: tables.dedup, namespace: "commerce" }),
      Layer.succeed(DeadLetter.DeadLetter, { send: (entries) => Effect.sync(() => void deadLetters.push(...entries)) }),
      options.metrics ?? Layer.succeed(Emf.Writer, { write: () => Effect.void })
    ).pipe(Layer.provide(Layer.succeed(DynamoClient.DynamoClient, client))),
    retry: Schedule.recurs(1),
    chunkSize: 10
  })
  return { handler, deadLetters }
}

/** Puts the events on a fresh stream of `shards` shards; returns the Kinesis client. */
const streamOf = (name: string, events: ReadonlyArray<CommerceEvent>, shards: number) =>
  Effect.gen(function*() {
    const { endpoint } = yield* Kinesalite.start()
    const kinesis = yield* Kinesis.make({ endpoint })
    yield* kinesis.createStream({ StreamName: name, ShardCount: shards })
    for (let i = 0; i < events.length; i += 100) {
      const batch = events.slice(i, i + 100)
      const out = yield* kinesis.putRecords({ StreamName: name, Records: batch.map((e) => ({ PartitionKey: "order" in e ? e.order.id : e.product.id, Data: encode(e) })) })
      expect(out.FailedRecordCount ?? 0).toBe(0)
    }
    return kinesis
  })

/** After the run: every valid event counted once, nothing dead-lettered, every shard read to its end. */
const expectExactlyOnce = (real: DynamoClient.DynamoClient["Type"], stats: EventSourceMapping.Stats, valid: ReadonlyArray<CommerceEvent>, deadLetters: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    for (const shard of stats.shards) expect(shard.checkpoint).toBe(shard.lastSequenceNumber)
    expect(stats.onFailure).toEqual([])
    expect(deadLetters).toEqual([])
    const store = yield* DynamoStore.make({ table: tables.aggregate }).pipe(Effect.provideService(DynamoClient.DynamoClient, real))
    expect(yield* mismatches(store, expectedItems(valid))).toEqual([])
  })

describe("Lambda on DynamoDB with the deployment broken, then fixed", () => {
  it.scopedLive("UpdateItem denied for three invocations, then allowed: nothing dead-lettered, every valid event counted once", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      yield* Local.ensure(tables)
      const valid = sampleOrders(120, { products: 30, customers: 80 })
      const kinesis = yield* streamOf("orders", valid, 2)

      let invocations = 0
      let denied = 0
      const client = Local.intercept(real, (command, options, next) => {
        if (invocations <= 3 && command instanceof UpdateItemCommand) {
          denied++
          return Promise.reject(Object.assign(new Error("User: arn:aws:sts::1:assumed-role/eddy is not authorized to perform: dynamodb:UpdateItem"), {
            name: "AccessDeniedException",
            $fault: "client",
            $metadata: { httpStatusCode: 400 }
          }))
        }
        return next(command, options)
      })
      const emf = metrics()
      const { deadLetters, handler } = handlerOn(client, { metrics: emf.layer })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const counting: EventSourceMapping.Handler = (event, context) => {
        invocations++
        return handler(event, context)
      }
      const stats = yield* EventSourceMapping.run(counting, { streamName: "orders", batchSize: 25 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      expect(denied).toBeGreaterThan(0)
      // The denied invocations were redelivered, not acknowledged; the alarm counted them.
      expect(stats.retries).toBeGreaterThanOrEqual(3)
      expect(emf.sum("DeploymentFaults")).toBeGreaterThan(0)
      yield* expectExactlyOnce(real, stats, valid, deadLetters)
    }).pipe(Effect.provide(Local.layer)))

  it.scopedLive("the aggregate table deleted, then created again: nothing dead-lettered, every valid event counted once", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      yield* Local.ensure(tables)
      yield* Effect.promise(() => real.send(new DeleteTableCommand({ TableName: tables.aggregate })))
      const valid = sampleOrders(90, { products: 20, customers: 60 })
      const kinesis = yield* streamOf("orders", valid, 2)

      const { deadLetters, handler } = handlerOn(real)
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      let invocations = 0
      // After four invocations without the table, the operator creates it again.
      const recreating: EventSourceMapping.Handler = async (event, context) => {
        if (++invocations === 5) await Effect.runPromise(Local.ensure(tables).pipe(Effect.provideService(DynamoClient.DynamoClient, real)))
        return handler(event, context)
      }
      const stats = yield* EventSourceMapping.run(recreating, { streamName: "orders", batchSize: 25 }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))

      expect(invocations).toBeGreaterThan(5)
      expect(stats.retries).toBeGreaterThanOrEqual(4)
      yield* expectExactlyOnce(real, stats, valid, deadLetters)
    }).pipe(Effect.provide(Local.layer)))
})

describe("Lambda on DynamoDB: claims of records that wrote nothing, and reused event ids", () => {
  const orders = sampleOrders(6, { products: 5, customers: 6 })
  const poisonId = orders[2]!.order.id

  /** Counts order lines per product; a bug makes it throw on one order. */
  const lines = (buggy: boolean) =>
    Pipeline.make({
      name: "order_lines",
      source: CommerceEvents,
      events: ["order.created"],
      key: (e) => {
        if (buggy && e.type === "order.created" && e.order.id === poisonId) throw new Error(`cannot handle order ${poisonId}`)
        return e.type === "order.created" ? e.order.lineItems[0]!.productId : "none"
      },
      value: () => 1,
      aggregate: Monoid.count
    })

  it.scopedLive("a dead-lettered record re-driven after its fix is applied, in every pipeline, once", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      yield* Local.ensure(tables)
      const buggy = handlerOn(real, { pipelines: [...pipelines, lines(true)] })
      yield* Effect.addFinalizer(() => Effect.promise(() => buggy.handler.dispose()))
      const first = yield* Effect.promise(() => buggy.handler(eventOf(shardRecords(orders.map(encode))), EventSourceMapping.context()))
      expect(first.batchItemFailures).toEqual([])
      expect(buggy.deadLetters.map((d) => d.error)).toEqual(["PipelineFailure"])

      // The fix is deployed, and the dead-lettered payload is put back into the stream: a new sequence number.
      const fixed = handlerOn(real, { pipelines: [...pipelines, lines(false)] })
      yield* Effect.addFinalizer(() => Effect.promise(() => fixed.handler.dispose()))
      const redriven = shardRecords([buggy.deadLetters[0]!.payload], { first: 100 })
      const second = yield* Effect.promise(() => fixed.handler(eventOf(redriven), EventSourceMapping.context()))
      expect(second.batchItemFailures).toEqual([])
      expect(fixed.deadLetters).toEqual([])

      const store = yield* DynamoStore.make({ table: tables.aggregate })
      // Every pipeline holds each order once: the poison wrote nothing the first time, so its re-drive is not a duplicate.
      expect(yield* mismatches(store, expectedItems(orders))).toEqual([])
      const byProduct = new Map<string, number>()
      for (const o of orders) byProduct.set(o.order.lineItems[0]!.productId, (byProduct.get(o.order.lineItems[0]!.productId) ?? 0) + 1)
      for (const [product, count] of byProduct) {
        const stored = yield* store.getMany(Monoid.count, [{ pipeline: "order_lines", key: product, bucket: "all" }])
        expect(Option.getOrThrow(stored[0]!)).toBe(count)
      }
    }).pipe(Effect.provide(Local.layer)))

  it.scopedLive("a reused event id with another payload is dead-lettered as a conflict naming both hashes; the same payload is a duplicate", () =>
    Effect.gen(function*() {
      const real = yield* DynamoClient.DynamoClient
      yield* Local.ensure(tables)
      const emf = metrics()
      const { deadLetters, handler } = handlerOn(real, { metrics: emf.layer })
      yield* Effect.addFinalizer(() => Effect.promise(() => handler.dispose()))
      const [a, b] = orders
      // Another order sent with the first one's event id, as a reused idempotency key did.
      const reused = { ...b!, eventId: a!.eventId }
      yield* Effect.promise(() => handler(eventOf(shardRecords([encode(a!)])), EventSourceMapping.context()))
      // Later, at other positions: the same payload again (a producer retry), and the reused id with another payload.
      const later = shardRecords([encode(a!), encode(reused)], { first: 10 })
      const result = yield* Effect.promise(() => handler(eventOf(later), EventSourceMapping.context()))
      expect(result.batchItemFailures).toEqual([])
      expect(deadLetters.map((d) => [d.error, d.sequenceNumber])).toEqual([["EventIdConflict", later[1]!.sequenceNumber]])
      expect(deadLetters[0]!.reason).toContain(payloadHashOf(encode(a!)))
      expect(deadLetters[0]!.reason).toContain(payloadHashOf(encode(reused)))
      expect(emf.sum("EventIdConflicts")).toBe(1)
      expect(emf.sum("Duplicates")).toBe(1)
      // In one chunk too: the second record with the id and another payload is the conflict.
      const together = shardRecords([encode(orders[3]!), encode({ ...orders[4]!, eventId: orders[3]!.eventId })], { first: 20 })
      yield* Effect.promise(() => handler(eventOf(together), EventSourceMapping.context()))
      expect(deadLetters.map((d) => d.error)).toEqual(["EventIdConflict", "EventIdConflict"])
      // Only the first payload of each id is counted.
      const store = yield* DynamoStore.make({ table: tables.aggregate })
      expect(yield* mismatches(store, expectedItems([a!, orders[3]!]))).toEqual([])
    }).pipe(Effect.provide(Local.layer)))
})
