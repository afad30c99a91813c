import { expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Processor from "@eddy/core/Processor"
import * as Store from "@eddy/core/Store"
import { Cause, Effect, Exit, Layer } from "effect"
import { revenue } from "../../core/test/fixtures"
import { partitionKeyRedeliveries } from "../src/StoreSuite"

it.effect("the memory store keeps the partitionKey ordering's contract", () => Effect.flatMap(Store.makeMemory, (store) => partitionKeyRedeliveries(store, "memory")))

it.effect("the processor refuses the partitionKey ordering on a store that keeps only shard order", () =>
  Effect.gen(function*() {
    const memory = yield* Store.makeMemory
    // A store of one's own that says nothing of orderings keeps "shard" only.
    const own: Store.Service = { apply: memory.apply, getMany: memory.getMany }
    const services = Layer.mergeAll(Layer.succeed(Store.Store, own), Deduper.layerMemory(), DeadLetter.layerMemory)
    const exit = yield* Effect.exit(Processor.make({ pipelines: [revenue], ordering: "partitionKey" }).pipe(Effect.provide(services)))
    expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toMatch(/does not keep "partitionKey" ordering exactly-once/)
    expect(Exit.isSuccess(yield* Effect.exit(Processor.make({ pipelines: [revenue] }).pipe(Effect.provide(services))))).toBe(true)
  }))
