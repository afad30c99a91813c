/**
 * The HTTP API served in process on a free port, writing to a local Kinesis
 * through the real SDK: accepted changes are on the stream where and as they
 * should be, bad input gets a 400 naming the field and rule, unknown orders a
 * 404, and when Kinesis is slower than the traffic the requests waiting for
 * it stay within their bound while the rest get 503 with Retry-After. The
 * rate limit's 429s are in `HttpRateLimit.test.ts`, on the TestClock.
 */
import { expect, layer } from "@effect/vitest"
import { type CommerceEvent, decodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import { Kinesis } from "@eddy/kinesis/Kinesis"
import { Effect, Either } from "effect"
import { expectProblem, orderBody, productBody, serve, written } from "./support/api"
import { type Answer, post, request } from "./support/http"
import { KinesisLocal, readBack, until } from "./support/kinesis"

layer(KinesisLocal, { excludeTestServices: true })("HTTP API against a local Kinesis", (it) => {
  it.scoped("POST /orders answers 202 once the order.created is on the orders stream, keyed by order id", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const order = orderBody(1)
      const answer = yield* post(url, "/orders", order)
      expect(answer.body).toMatchObject({ type: "order.created", stream: streams.orders })
      const { event, partitionKey } = yield* written(answer)
      expect(partitionKey).toBe(order.id)
      expect(event).toMatchObject({ type: "order.created", order })
    }))

  it.scoped("status changes and cancellations carry the order after the change and the status before", () =>
    Effect.gen(function*() {
      const { url } = yield* serve()
      const order = orderBody(2)
      expect((yield* post(url, "/orders", order)).status).toBe(202)

      const paid = yield* written(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }))
      expect(paid.partitionKey).toBe(order.id)
      expect(paid.event).toMatchObject({ type: "order.status_changed", previousStatus: "pending", order: { ...order, status: "paid" } })

      expectProblem(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }), 409)

      const cancelled = yield* written(yield* post(url, `/orders/${order.id}/cancel`, { reason: "changed my mind" }))
      expect(cancelled.event).toMatchObject({
        type: "order.cancelled",
        previousStatus: "paid",
        reason: "changed my mind",
        order: { ...order, status: "cancelled" }
      })
      expectProblem(yield* post(url, `/orders/${order.id}/cancel`), 409)

      // An empty body cancels without a reason.
      const other = orderBody(3)
      yield* post(url, "/orders", other)
      const plain = yield* written(yield* post(url, `/orders/${other.id}/cancel`))
      expect(plain.event.type).toBe("order.cancelled")
      expect("reason" in plain.event).toBe(false)
    }))

  it.scoped("POST /products: created the first time, updated after, unless the body says; variants keep their parent id", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const product = productBody(4)
      const first = yield* written(yield* post(url, "/products", product))
      expect(first.event).toMatchObject({ type: "product.created", product })
      expect(first.partitionKey).toBe(product.id)

      const renamed = { ...product, name: "Renamed" }
      const second = yield* written(yield* post(url, "/products", renamed))
      expect(second.event).toMatchObject({ type: "product.updated", product: renamed })

      const recreated = yield* written(yield* post(url, "/products", { ...product, change: "created" }))
      expect(recreated.event.type).toBe("product.created")
      // The control field is not part of the product on the wire.
      expect("change" in (recreated.event as Extract<CommerceEvent, { product: unknown }>).product).toBe(false)

      const variant = { ...productBody(5), parentId: product.id }
      const update = yield* post(url, "/products", { ...variant, change: "updated" })
      expect(update.body).toMatchObject({ type: "product.updated", stream: streams.product })
      expect((yield* written(update)).event).toMatchObject({ product: { id: variant.id, parentId: product.id } })
    }))

  it.scoped("bad input gets 400 with the failing path and rule, and writes nothing", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const order = orderBody(6)
      const { customerId: _, ...noCustomer } = order
      const cases: ReadonlyArray<readonly [string, string, unknown, string]> = [
        ["wrong subtotal", "/orders", { ...order, subtotal: order.subtotal + 1 }, "subtotal"],
        ["wrong total", "/orders", { ...order, total: order.total + 1 }, "total"],
        ["missing customerId", "/orders", noCustomer, "customerId"],
        ["lower-case currency", "/orders", { ...order, currency: "eur" }, "currency"],
        ["zero quantity", "/orders", { ...order, lineItems: [{ ...order.lineItems[0]!, quantity: 0 }] }, "lineItems[0].quantity"],
        ["malformed JSON", "/orders", "{\"id\": ", ""],
        ["a JSON array", "/orders", "[]", ""],
        ["unknown product status", "/products", { ...productBody(7), status: "deleted" }, "status"],
        ["bad price currency", "/products", { ...productBody(7), price: { amount: 100, currency: "EURO" } }, "price.currency"],
        ["unknown change", "/products", { ...productBody(7), change: "deleted" }, "change"],
        ["own parent", "/products", { ...productBody(7), parentId: "p-http-7" }, "parentId"]
      ]
      for (const [name, path, body, field] of cases) {
        const answer = yield* post(url, path, body)
        expectProblem(answer, 400, field)
        expect(answer.body.detail, name).toContain(answer.body.rule)
      }
      expect((yield* post(url, "/orders", { ...order, subtotal: 1 })).body.rule).toContain(String(order.subtotal))

      yield* post(url, "/orders", order)
      expectProblem(yield* post(url, `/orders/${order.id}/status`, { status: "lost" }), 400, "status")
      expectProblem(yield* post(url, `/orders/${order.id}/status`, {}), 400, "status")
      expectProblem(yield* post(url, `/orders/${order.id}/status`, { status: "cancelled" }), 400, "status")
      expectProblem(yield* post(url, `/orders/${order.id}/cancel`, { reason: 7 }), 400, "reason")
      expectProblem(yield* post(url, "/orders", orderBody(8), { "idempotency-key": "k".repeat(129) }), 400, "Idempotency-Key")

      // Of all that, only the one valid order reached the stream.
      const records = yield* readBack(streams.orders, 1)
      expect(records.map((r) => r.partitionKey)).toEqual([order.id])
    }))

  it.scoped("404 for orders this instance does not know and for unknown routes; 409 for creating a known order", () =>
    Effect.gen(function*() {
      const { url } = yield* serve()
      expectProblem(yield* post(url, "/orders/o-nope/status", { status: "paid" }), 404)
      expectProblem(yield* post(url, "/orders/o-nope/cancel"), 404)
      expectProblem(yield* request(url, "GET", "/orders"), 404)

      const order = orderBody(9)
      const first = yield* post(url, "/orders", order, { "idempotency-key": "create-o-9" })
      expect(first.body.eventId).toBe("create-o-9")
      expectProblem(yield* post(url, "/orders", order), 409)
      // A retry with the same key is the same event again: consumers drop the duplicate.
      const retried = yield* post(url, "/orders", order, { "idempotency-key": "create-o-9" })
      expect(retried.status).toBe(202)
      expect(retried.body.eventId).toBe("create-o-9")
    }))

  it.scoped("the order view is bounded: the least recently used order is forgotten", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ http: { orderViewCapacity: 2 } })
      const [a, b, c] = [orderBody(12), orderBody(13), orderBody(14)]
      for (const order of [a, b]) expect((yield* post(url, "/orders", order)).status).toBe(202)
      // Using a makes b the least recently used.
      expect((yield* post(url, `/orders/${a.id}/status`, { status: "paid" })).status).toBe(202)
      expect((yield* post(url, "/orders", c)).status).toBe(202)
      expectProblem(yield* post(url, `/orders/${b.id}/status`, { status: "paid" }), 404)
      expect((yield* post(url, `/orders/${a.id}/status`, { status: "fulfilled" })).status).toBe(202)
      expect((yield* post(url, `/orders/${c.id}/cancel`)).status).toBe(202)
    }))

  it.scoped("413 for a body over the limit; GET /healthz answers with the load", () =>
    Effect.gen(function*() {
      const { url } = yield* serve({ http: { maxBodyBytes: 2_000 } })
      const big = { ...productBody(10), tags: Array.from({ length: 300 }, (_, i) => `tag-${i}`) }
      expectProblem(yield* post(url, "/products", big), 413)
      // Sent chunked, with no Content-Length to refuse it by.
      const chunked = new Blob([JSON.stringify(big)]).stream()
      const answer = yield* Effect.promise(() =>
        fetch(`${url}/products`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chunked,
          duplex: "half"
        } as RequestInit).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      expect(answer).toMatchObject({ status: 413, body: { status: 413 } })
      // The connection survived: the next request is served.
      expect((yield* post(url, "/products", productBody(11))).status).toBe(202)
      const health = yield* request(url, "GET", "/healthz")
      expect(health.status).toBe(200)
      expect(health.body).toMatchObject({ status: "ok", inFlight: 0, maxInFlight: 1_000 })
    }))

  it.scoped("when Kinesis stalls, at most maxInFlight requests wait for it and the rest get 503 with Retry-After", () =>
    Effect.gen(function*() {
      const maxInFlight = 4
      const burst = 20
      const kinesis = yield* Kinesis
      const stalled = yield* Effect.makeLatch(false)
      const { streams, sync, url } = yield* serve({ maxInFlight }).pipe(
        Effect.provideService(Kinesis, { ...kinesis, putRecords: (input) => Effect.zipRight(stalled.await, kinesis.putRecords(input)) })
      )
      const answers: Array<Answer> = []
      let peakQueued = 0
      yield* Effect.forEach(
        Array.from({ length: burst }, (_, i) => orderBody(100 + i)),
        (order) =>
          post(url, "/orders", order).pipe(
            Effect.tap((answer) => Effect.sync(() => answers.push(answer))),
            Effect.zipLeft(Effect.map(sync.load, (load) => (peakQueued = Math.max(peakQueued, load.queued))))
          ),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.forkScoped)

      yield* until(Effect.sync(() => answers.length === burst - maxInFlight), "the requests beyond the bound are refused")
      const refused = answers.slice()
      const load = yield* sync.load
      expect(load).toMatchObject({ inFlight: maxInFlight, peakInFlight: maxInFlight, queued: maxInFlight })
      for (const answer of refused) {
        expectProblem(answer, 503)
        expect(answer.headers.get("retry-after")).toBe("1")
      }

      yield* stalled.open
      yield* until(Effect.sync(() => answers.length === burst), "the waiting requests are answered")
      const accepted = answers.slice(burst - maxInFlight)
      expect(accepted.map((a) => a.status)).toEqual(Array(maxInFlight).fill(202))
      expect((yield* sync.load).peakInFlight).toBe(maxInFlight)
      expect(peakQueued).toBeLessThanOrEqual(maxInFlight)
      // Exactly the accepted orders were written.
      const records = yield* readBack(streams.orders, maxInFlight)
      expect(records.map((r) => Either.getOrThrow(decodeCommerceEvent(r.data)).eventId).sort()).toEqual(
        accepted.map((a) => a.body.eventId).sort()
      )
    }))
})
