import { describe, expect, it } from "@effect/vitest"
import { orderStatuses } from "../src/CommerceEvent"
import * as OrderLifecycle from "../src/OrderLifecycle"

describe("OrderLifecycle", () => {
  it("leads every status from pending, ends only in cancelled or refunded, and never returns to a status", () => {
    // Reachable from pending.
    const reached = new Set(["pending"])
    for (const from of orderStatuses) {
      for (const to of OrderLifecycle.allowedFrom(from)) if (reached.has(from)) reached.add(to)
    }
    expect([...reached].sort()).toEqual([...orderStatuses].sort())
    expect(orderStatuses.filter(OrderLifecycle.isFinal)).toEqual(["cancelled", "refunded"])
    // No cycles: every move goes to a status later in the contract's order.
    for (const from of orderStatuses) {
      for (const to of OrderLifecycle.allowedFrom(from)) expect(orderStatuses.indexOf(to)).toBeGreaterThan(orderStatuses.indexOf(from))
      expect(OrderLifecycle.canMove(from, from)).toBe(false)
    }
    expect(OrderLifecycle.canMove("cancelled", "paid")).toBe(false)
    expect(OrderLifecycle.canMove("paid", "cancelled")).toBe(true)
  })
})
