/**
 * The order status state machine the event contract implies: an order moves
 * forward from `pending` through payment, fulfilment and delivery; it can be
 * cancelled until it ships and refunded once it was paid; `cancelled` and
 * `refunded` are final.
 *
 * | from | to |
 * |---|---|
 * | `pending` | `paid`, `cancelled` |
 * | `paid` | `fulfilled`, `cancelled`, `refunded` |
 * | `fulfilled` | `shipped`, `cancelled`, `refunded` |
 * | `shipped` | `delivered`, `refunded` |
 * | `delivered` | `refunded` |
 * | `cancelled`, `refunded` | none |
 */
import type { OrderStatus } from "./CommerceEvent"

/** The statuses an order may move to from each status. */
export const transitions: { readonly [S in OrderStatus]: ReadonlyArray<OrderStatus> } = {
  pending: ["paid", "cancelled"],
  paid: ["fulfilled", "cancelled", "refunded"],
  fulfilled: ["shipped", "cancelled", "refunded"],
  shipped: ["delivered", "refunded"],
  delivered: ["refunded"],
  cancelled: [],
  refunded: []
}

/** The statuses an order in `from` may move to, in lifecycle order. */
export const allowedFrom = (from: OrderStatus): ReadonlyArray<OrderStatus> => transitions[from]

/** Whether an order in `from` may move to `to`; staying in the same status is no transition. */
export const canMove = (from: OrderStatus, to: OrderStatus): boolean => transitions[from].includes(to)

/** Whether no transition leaves `status`. */
export const isFinal = (status: OrderStatus): boolean => transitions[status].length === 0
