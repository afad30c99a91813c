/**
 * The `order.created` event of the wire contract as a zod schema, for the
 * Powertools parser peer: the same rules eddy's schema checks (literals,
 * non-empty strings, safe integers with their minimums, currency codes, real
 * UTC timestamps, the order's sums), unknown keys stripped.
 */
import { orderStatuses, timestampMillis } from "@eddy/commerce/CommerceEvent"
import { z } from "zod"

const nonEmpty = z.string().min(1)
const integer = (min: 0 | 1) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER)
const timestamp = z.string().refine((s) => !Number.isNaN(timestampMillis(s)), "must be an ISO-8601 UTC timestamp with Z")
const currency = z.string().regex(/^[A-Z]{3}$/)

const lineItem = z.object({ productId: nonEmpty, sku: nonEmpty, name: z.string(), quantity: integer(1), unitPrice: integer(0) })
const discount = z.object({ kind: z.enum(["giftVoucher", "coupon", "promotion"]), code: nonEmpty, amount: integer(1) })

const order = z
  .object({
    id: nonEmpty,
    customerId: nonEmpty,
    status: z.enum(orderStatuses),
    currency,
    lineItems: z.array(lineItem).min(1),
    discounts: z.array(discount),
    subtotal: integer(0),
    discountTotal: integer(0),
    total: integer(0),
    createdAt: timestamp
  })
  .superRefine((o, ctx) => {
    let subtotal = 0
    for (const item of o.lineItems) subtotal += item.quantity * item.unitPrice
    let discountTotal = 0
    for (const d of o.discounts) discountTotal += d.amount
    if (o.subtotal !== subtotal) ctx.addIssue({ code: "custom", path: ["subtotal"], message: `must equal ${subtotal}` })
    else if (o.discountTotal !== discountTotal || discountTotal > subtotal) {
      ctx.addIssue({ code: "custom", path: ["discountTotal"], message: `must equal ${discountTotal} and not exceed subtotal` })
    } else if (o.total !== subtotal - discountTotal) ctx.addIssue({ code: "custom", path: ["total"], message: `must equal ${subtotal - discountTotal}` })
  })

export const OrderCreatedZod = z.object({
  schemaVersion: z.literal(2),
  type: z.literal("order.created"),
  eventId: z.string().min(1).max(128),
  occurredAt: timestamp,
  order
})
