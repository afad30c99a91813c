/** The API in process against a local Kinesis, and what tests ask of its answers. */
import { expect } from "@effect/vitest"
import { sampleOrders, sampleProducts } from "@eddy/commerce/CommerceArbitrary"
import { decodeCommerceEvent, type Order, type Product } from "@eddy/commerce/CommerceEvent"
import { Effect, Either } from "effect"
import * as Http from "../../src/Http"
import * as Sync from "../../src/Sync"
import type { Answer } from "./http"
import { createStream, recordAt, uniqueName, unpaced } from "./kinesis"

/** Streams, the service and the API on a free port. */
export const serve = (options: { readonly maxInFlight?: number; readonly http?: Http.ServerOptions } = {}) =>
  Effect.gen(function*() {
    const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
    for (const name of Object.values(streams)) yield* createStream(name, 2)
    const sync = yield* Sync.make({ streams, producer: unpaced, ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}) })
    const { port, url } = yield* Http.start(options.http).pipe(Effect.provideService(Sync.CommerceSync, sync))
    return { url, port, streams, sync }
  })

/** The event a 202 answer says was written, read back from its shard position. */
export const written = (answer: Answer) =>
  Effect.gen(function*() {
    expect(answer.status).toBe(202)
    const record = yield* recordAt(answer.body.stream, answer.body.shardId, answer.body.sequenceNumber)
    const event = Either.getOrThrow(decodeCommerceEvent(record.Data!))
    expect(event.eventId).toBe(answer.body.eventId)
    expect(event.type).toBe(answer.body.type)
    return { event, partitionKey: record.PartitionKey!, data: record.Data! }
  })

export const orderBody = (n: number): Order => sampleOrders(1, { offset: n, seed: n })[0]!.order
export const productBody = (n: number): Product => ({ ...sampleProducts(1, { seed: n })[0]!.product, id: `p-http-${n}` })

export const expectProblem = (answer: Answer, status: number, path?: string) => {
  expect(answer.status).toBe(status)
  expect(answer.headers.get("content-type")).toContain("application/problem+json")
  expect(answer.body.status).toBe(status)
  if (path !== undefined) {
    expect(answer.body.path).toBe(path)
    expect(typeof answer.body.rule).toBe("string")
  }
}
