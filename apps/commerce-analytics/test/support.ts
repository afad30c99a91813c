/**
 * Shared by the tests: the generator's planned traffic, folded by the real
 * processor with the commerce pipelines into an in-memory store.
 */
import * as Generate from "@eddy/commerce-sync/Generate"
import { encodeCommerceEvent } from "@eddy/commerce/CommerceEvent"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Processor from "@eddy/core/Processor"
import type { SourceRecord } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import { Effect, Layer } from "effect"
import { pipelines } from "../src/pipelines"

/** Two days of traffic ending at 2026-11-21T12:00Z. */
export const END = Date.UTC(2026, 10, 21, 12)

export const plan = (orders = 200, products = 30) =>
  Generate.plan({ orders, products, seed: 11, start: END - 2 * 86_400_000, spanMillis: 2 * 86_400_000 })

/** The events as records of one shard, in order. */
export const recordsOf = (plan: Generate.Plan): Array<SourceRecord> =>
  plan.events.map((e, i) => ({
    data: encodeCommerceEvent(e),
    partitionKey: "order" in e ? e.order.id : e.product.id,
    shardId: "shardId-000000000000",
    sequenceNumber: String(10n ** 20n + BigInt(i)),
    subSequenceNumber: 0,
    arrivalTime: END
  }))

/**
 * A store holding what the pipelines make of `plan`'s events, as readers see
 * it (the hot keys' sub-items merged); every record must be applied.
 */
export const storeOf = (plan: Generate.Plan) =>
  Effect.gen(function*() {
    const store = yield* Store.makeMemory
    const processor = yield* Processor.make({ pipelines }).pipe(
      Effect.provide(Layer.mergeAll(Layer.succeed(Store.Store, store), Deduper.layerMemory(), DeadLetter.layerMemory))
    )
    const { outcomes } = yield* processor.process(recordsOf(plan))
    const notApplied = outcomes.filter((o) => o._tag !== "Applied")
    if (notApplied.length > 0) return yield* Effect.dieMessage(`${notApplied.length} records were not applied: ${JSON.stringify(notApplied[0])}`)
    return Store.spread(store, pipelines)
  })
