import type { HllState, Monoid } from "@eddy/core/Monoid"
import * as Store from "@eddy/core/Store"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Item } from "../src/internal/storedItems"
import * as Verify from "../src/internal/verify"
import { customers, pipelines, revenueByProductHourly, uniqueCustomersDaily } from "../src/pipelines"
import { plan, storeOf } from "./support"

const traffic = plan(120, 20)
const expected = Verify.expectedItems(traffic.totals, traffic.events)

/** The items `expected` names, read from a store the processor filled. */
const itemsOf = (store: Store.Store["Type"]) =>
  Effect.gen(function*() {
    const items = new Map<string, Item>()
    for (const [id, e] of expected) {
      const pipeline = pipelines.find((p) => p.name === e.ref.pipeline)!
      const [value] = yield* store.getMany(pipeline.aggregate as Monoid<unknown>, [e.ref])
      if (Option.isSome(value!)) items.set(id, { ref: e.ref, value: value.value })
    }
    return items
  })

describe("the demo's checks", () => {
  it.effect("find nothing wrong with the pipelines' fold of the generated traffic", () =>
    Effect.gen(function*() {
      const items = yield* itemsOf(yield* storeOf(traffic))
      expect(items.size).toBe(expected.size)
      expect(Verify.compareWithTotals("store", items, expected)).toEqual([])
      expect(Verify.compareStores({ name: "service", items }, { name: "Lambda", items: new Map(items) })).toEqual([])
    }))

  it.effect("report a missing, a wrong and an extra item, and a sketch that is not the fold of the customers", () =>
    Effect.gen(function*() {
      const items = yield* itemsOf(yield* storeOf(traffic))
      const tampered = new Map(items)
      const [revenueId, revenue] = Array.from(items).find(([, i]) => i.ref.pipeline === revenueByProductHourly.name)!
      tampered.set(revenueId, { ...revenue, value: (revenue.value as number) + 1 })
      const [missingId, missing] = Array.from(items).find(([, i]) => i.ref.pipeline === "order_status_transitions_daily")!
      tampered.delete(missingId)
      const extra = { pipeline: "product_updates", key: "p-999", bucket: "all" }
      tampered.set(Store.itemId(extra), { ref: extra, value: 1 })
      const [customersId, customerItem] = Array.from(items).find(([, i]) => i.ref.pipeline === uniqueCustomersDaily.name)!
      tampered.set(customersId, { ...customerItem, value: customers.combine(customerItem.value as HllState, customers.of("cu-stranger")) })

      const differences = Verify.compareWithTotals("store", tampered, expected)
      expect(differences).toHaveLength(4)
      expect(differences.join("\n")).toContain(`${revenue.ref.pipeline}/${revenue.ref.key}/${revenue.ref.bucket}: the store has ${(revenue.value as number) + 1}, expected ${revenue.value}`)
      expect(differences.join("\n")).toContain(`${missing.ref.pipeline}/${missing.ref.key}/${missing.ref.bucket}: missing from the store`)
      expect(differences.join("\n")).toContain("product_updates/p-999/all: the store has it, the generator recorded nothing there")
      expect(differences.join("\n")).toContain("the sketch differs from the fold of the orders' customers")

      const between = Verify.compareStores({ name: "service", items }, { name: "Lambda", items: tampered })
      expect(between).toHaveLength(4)
      expect(between.join("\n")).toContain(`${missing.ref.pipeline}/${missing.ref.key}/${missing.ref.bucket}: only the service has it`)
      expect(between.join("\n")).toContain("product_updates/p-999/all: only the Lambda has it")
    }))
})
