/**
 * An `Idempotency-Key` is bound to the request it was first used for: that
 * request again resends the very event it made, even after its write failed
 * (a product create stays a create, a status change is not refused as "no
 * change"), and a different request with the key gets 422 and writes nothing. Checked by reading the
 * streams of a local Kinesis back.
 */
import { expect, layer } from "@effect/vitest"
import { decodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import { Kinesis, KinesisRequestError } from "@eddy/kinesis/Kinesis"
import { Effect, Either } from "effect"
import { expectProblem, orderBody, productBody, serve, written } from "./support/api"
import { post } from "./support/http"
import { KinesisLocal, readBack } from "./support/kinesis"

const keyed = (key: string) => ({ "idempotency-key": key })

layer(KinesisLocal, { excludeTestServices: true })("Idempotency-Key", (it) => {
  it.scoped("a key reused for another order, or for a product, gets 422 and no event; the first request again gets its event id", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const [first, second] = [orderBody(201), orderBody(202)]
      const created = yield* post(url, "/orders", first, keyed("k-201"))
      expect(created.status).toBe(202)

      const reused = yield* post(url, "/orders", second, keyed("k-201"))
      expectProblem(reused, 422)
      expect(reused.body.detail).toContain("new key")
      expectProblem(yield* post(url, "/products", productBody(201), keyed("k-201")), 422)
      // The order's id path is part of the request too.
      expectProblem(yield* post(url, `/orders/${first.id}/status`, { status: "paid" }, keyed("k-201")), 422)

      // The same body in another key order and spacing is the same request.
      const reordered = JSON.stringify(Object.fromEntries(Object.entries(first).reverse()), null, 2)
      const retried = yield* post(url, "/orders", reordered, keyed("k-201"))
      expect(retried.status).toBe(202)
      expect(retried.body.eventId).toBe(created.body.eventId)

      // Only the first order's event reached the streams (twice: the retry resends it, consumers drop the duplicate).
      const records = yield* readBack(streams.orders, 2)
      const events = records.map((r) => Either.getOrThrow(decodeCommerceEvent(r.data)))
      expect(events.map((e) => e.eventId)).toEqual(["k-201", "k-201"])
      expect(events.every((e) => e.type === "order.created" && e.order.id === first.id)).toBe(true)
      expect(yield* readBack(streams.product, 0)).toEqual([])
    }))

  it.scoped("two different orders sent at once with one key: one is accepted, the other gets 422", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const orders = [orderBody(205), orderBody(206)]
      const answers = yield* Effect.forEach(orders, (order) => post(url, "/orders", order, keyed("k-205")), { concurrency: "unbounded" })
      expect(answers.map((a) => a.status).sort()).toEqual([202, 422])
      const winner = orders[answers.findIndex((a) => a.status === 202)]!
      const records = yield* readBack(streams.orders, 1)
      expect(records.map((r) => r.partitionKey)).toEqual([winner.id])
    }))

  it.scoped("a retried POST /products resends the product.created it made, never a product.updated", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const product = productBody(203)
      const first = yield* written(yield* post(url, "/products", product, keyed("create-p-203")))
      const retry = yield* written(yield* post(url, "/products", product, keyed("create-p-203")))
      expect(retry.event).toEqual(first.event)
      expect(retry.event).toMatchObject({ type: "product.created", eventId: "create-p-203" })
      // Byte for byte the same record: a consumer comparing payload hashes sees a duplicate, not a conflict.
      expect(Buffer.from(retry.data).equals(Buffer.from(first.data))).toBe(true)

      // A new request for the known product is an update.
      const renamed = { ...product, name: "Renamed" }
      expect((yield* written(yield* post(url, "/products", renamed, keyed("update-p-203")))).event.type).toBe("product.updated")
      const types = (yield* readBack(streams.product, 3)).map((r) => Either.getOrThrow(decodeCommerceEvent(r.data)).type)
      expect(types.sort()).toEqual(["product.created", "product.created", "product.updated"])
    }))

  it.scoped("after a failed write, the retry sends the very record the failed attempt tried", () =>
    Effect.gen(function*() {
      const kinesis = yield* Kinesis
      const refused: Array<Uint8Array> = []
      const failing: typeof kinesis = {
        ...kinesis,
        putRecords: (input) =>
          refused.length > 0
            ? kinesis.putRecords(input)
            : Effect.suspend(() => {
              for (const record of input.Records ?? []) refused.push(record.Data!)
              return Effect.fail(new KinesisRequestError({ operation: "PutRecords", message: "injected: access denied" }))
            })
      }
      const { url } = yield* serve().pipe(Effect.provideService(Kinesis, failing))
      const product = productBody(207)
      expectProblem(yield* post(url, "/products", product, keyed("create-p-207")), 503)
      expect(refused.length).toBe(1)
      const retry = yield* written(yield* post(url, "/products", product, keyed("create-p-207")))
      expect(retry.event).toMatchObject({ type: "product.created", eventId: "create-p-207" })
      expect(Buffer.from(retry.data).equals(Buffer.from(refused[0]!))).toBe(true)
    }))

  it.scoped("a retried status change or cancellation resends its event instead of a 409", () =>
    Effect.gen(function*() {
      const { url } = yield* serve()
      const order = orderBody(204)
      expect((yield* post(url, "/orders", order)).status).toBe(202)
      const paid = yield* written(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }, keyed("pay-204")))
      const paidAgain = yield* written(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }, keyed("pay-204")))
      expect(paidAgain.event).toEqual(paid.event)
      // Without the key it is a new request, and the order is paid already.
      expectProblem(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }), 409)

      const cancelled = yield* written(yield* post(url, `/orders/${order.id}/cancel`, undefined, keyed("cancel-204")))
      // A late retry of the payment resends it but does not move the cancelled order back.
      expect((yield* written(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }, keyed("pay-204")))).event).toEqual(paid.event)
      expect((yield* written(yield* post(url, `/orders/${order.id}/cancel`, undefined, keyed("cancel-204")))).event).toEqual(cancelled.event)
      const refused = yield* post(url, `/orders/${order.id}/status`, { status: "fulfilled" })
      expectProblem(refused, 409)
      expect(refused.body.currentStatus).toBe("cancelled")
    }))
})
