/**
 * Metrics count what happened once, across a restart: a worker that wrote its
 * aggregates but died before checkpointing leaves its successor to read the
 * same records again, which the store skips (its watermarks are past them).
 * The successor must count them as duplicates, not as applied again. Kinesis
 * and DynamoDB are the emulators, through the real SDK clients.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Deduper from "@eddy/core/Deduper"
import * as Leases from "@eddy/core/Leases"
import * as Metrics from "@eddy/core/Metrics"
import * as Store from "@eddy/core/Store"
import { Kinesis } from "@eddy/kinesis/Kinesis"
import { Duration, Effect, Layer, Metric } from "effect"
import * as AppliedOnce from "../src/AppliedOnce"
import { expectedItems, mismatches, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"


const count = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

const counters = Effect.all({
  service: count(AppliedOnce.recordsApplied),
  processor: count(Metrics.recordsApplied),
  duplicate: count(Metrics.recordsDuplicate)
})

describe("Service restart", () => {
  it.scopedLive("records read again after a restart, which the store skips, are not counted as applied again", () =>
    Effect.gen(function*() {
      const endpoints = yield* F.emulators
      const durable = F.durable(endpoints, { failoverTime: "2 seconds" })
      yield* Effect.gen(function*() {
        yield* F.ensureTables
        yield* F.createStream(F.streamName, 2)
        const { events, records } = F.traffic(60)
        const tips = yield* F.put(F.streamName, records)
        const store = yield* Store.Store
        const leases = yield* Leases.Leases
        const kinesis = Layer.succeed(Kinesis, yield* Kinesis)
        const layer = Layer.mergeAll(Layer.succeed(Store.Store, store), Layer.succeed(Deduper.Deduper, yield* Deduper.Deduper), DeadLetter.layerMemory)
        const worker = (workerId: string, leaseService: Leases.Leases["Type"]) =>
          F.startService({
            pipelines,
            layer,
            kinesis,
            leases: Layer.succeed(Leases.Leases, leaseService),
            streams: [{ name: F.streamName }],
            workerId,
            initialPosition: "TRIM_HORIZON",
            checkpointInterval: Duration.zero,
            checkpointRecords: 1,
            ...F.quickReads
          })
        const items = expectedItems(events)
        const before = yield* counters

        // The first worker writes everything but never checkpoints, then stops.
        const first = yield* worker("worker-1", F.forgetful(leases))
        yield* F.until(Effect.map(mismatches(store, items), (m) => m.length === 0), "the first worker has written every aggregate")
        yield* first.stop
        const afterFirst = yield* counters
        expect(afterFirst.service - before.service, "applied by the first worker").toBe(events.length)
        expect(yield* F.consumed(tips), "nothing was checkpointed").toBe(false)

        // Its successor reads every record again, from the start of each shard.
        const second = yield* worker("worker-2", leases)
        yield* F.until(F.consumed(tips), "the second worker has checkpointed every shard at its tip")
        yield* second.stop
        const after = yield* counters
        expect(yield* mismatches(store, items)).toEqual([])
        // Both runs together: each distinct event applied once; the re-read ones (and the producer duplicates) were duplicates.
        expect(after.service - before.service, "eddy_service_records_applied over both runs").toBe(events.length)
        expect(after.processor - before.processor, "eddy_records_applied over both runs").toBe(events.length)
        expect(after.duplicate - afterFirst.duplicate, "duplicates in the second run").toBeGreaterThanOrEqual(events.length)
      }).pipe(Effect.provide(durable))
    }), { timeout: 120_000 })
})
