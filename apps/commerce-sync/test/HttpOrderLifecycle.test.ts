/**
 * The HTTP API enforces the order lifecycle: each allowed step is accepted
 * and written; a forbidden one gets 409 naming the current status and the
 * allowed ones, and writes nothing.
 */
import { expect, layer } from "@effect/vitest"
import type { OrderStatus } from "@eddy/commerce/CommerceEvent"
import { Effect } from "effect"
import { expectProblem, orderBody, serve, written } from "./support/api"
import { type Answer, post } from "./support/http"
import { KinesisLocal, readBack } from "./support/kinesis"

const expectRefused = (answer: Answer, currentStatus: OrderStatus, allowed: ReadonlyArray<OrderStatus>) => {
  expectProblem(answer, 409)
  expect(answer.body).toMatchObject({ currentStatus, allowed })
  for (const status of allowed) expect(answer.body.detail).toContain(status)
}

layer(KinesisLocal, { excludeTestServices: true })("order lifecycle over HTTP", (it) => {
  it.scoped("an order goes pending, paid, fulfilled, shipped, delivered, refunded; nothing follows refunded", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const order = orderBody(301)
      expect((yield* post(url, "/orders", order)).status).toBe(202)
      let previous: OrderStatus = "pending"
      for (const status of ["paid", "fulfilled", "shipped", "delivered", "refunded"] as const) {
        const { event } = yield* written(yield* post(url, `/orders/${order.id}/status`, { status }))
        expect(event).toMatchObject({ type: "order.status_changed", previousStatus: previous, order: { status } })
        previous = status
      }
      expectRefused(yield* post(url, `/orders/${order.id}/status`, { status: "paid" }), "refunded", [])
      expectRefused(yield* post(url, `/orders/${order.id}/cancel`), "refunded", [])
      expect((yield* readBack(streams.orders, 6)).length).toBe(6)
    }))

  it.scoped("skipping a step, going back, and changing a cancelled order are 409s that write nothing", () =>
    Effect.gen(function*() {
      const { streams, url } = yield* serve()
      const [a, b] = [orderBody(302), orderBody(303)]
      for (const order of [a, b]) expect((yield* post(url, "/orders", order)).status).toBe(202)

      expectRefused(yield* post(url, `/orders/${a.id}/status`, { status: "shipped" }), "pending", ["paid", "cancelled"])
      expectRefused(yield* post(url, `/orders/${a.id}/status`, { status: "refunded" }), "pending", ["paid", "cancelled"])
      expect((yield* post(url, `/orders/${a.id}/cancel`, { reason: "changed my mind" })).status).toBe(202)
      // A cancelled order cannot go back to paid, nor on to anything else.
      const back = yield* post(url, `/orders/${a.id}/status`, { status: "paid" })
      expectRefused(back, "cancelled", [])
      expect(back.body.detail).toContain("cancelled")

      for (const status of ["paid", "fulfilled", "shipped"] as const) {
        expect((yield* post(url, `/orders/${b.id}/status`, { status })).status).toBe(202)
      }
      // Shipped: too late to cancel, not too late to refund.
      expectRefused(yield* post(url, `/orders/${b.id}/cancel`), "shipped", ["delivered", "refunded"])
      expectRefused(yield* post(url, `/orders/${b.id}/status`, { status: "paid" }), "shipped", ["delivered", "refunded"])

      // Two creates, one cancellation, three status changes.
      expect((yield* readBack(streams.orders, 6)).length).toBe(6)
    }))
})
