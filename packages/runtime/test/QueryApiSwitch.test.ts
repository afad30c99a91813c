/**
 * The service's query API follows a switch of the reader alias
 * (`TableAlias.switchTo`, what `eddy replay switch` does) without a restart:
 * a running worker answers from the live table, then, within its store's
 * `aliasRefresh`, from the shadow table the alias names, and from the live
 * one again once switched back. Its writes stay on the live table. Against
 * kinesalite and dynalite, in process.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Leases from "@eddy/core/Leases"
import * as Monoid from "@eddy/core/Monoid"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as TableAlias from "@eddy/dynamodb/TableAlias"
import * as Tables from "@eddy/dynamodb/Tables"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { write } from "@eddy/testing/StoreSuite"
import { Duration, Effect, Layer, Schedule } from "effect"
import { expectedItems, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

const SHADOW = "aggregates-v2"

const base = {
  pipelines,
  streams: [{ name: F.streamName }],
  initialPosition: "TRIM_HORIZON" as const,
  port: 0,
  readLimit: 100,
  pollInterval: Duration.millis(10),
  discoveryInterval: Duration.millis(200),
  gracePeriod: Duration.seconds(10),
  checkpointInterval: Duration.millis(100),
  checkpointRecords: 10_000,
  read: { maxIdleInterval: Duration.millis(50), retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(50))) }
}

const getJson = (url: string): Effect.Effect<{ readonly status: number; readonly body: any }> =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: (await response.json()) as any }
  })

describe("QueryApi after a switch", () => {
  it.scopedLive("answers from the table the alias names, within the alias refresh, without a restart", () =>
    Effect.gen(function*() {
      yield* F.onEmulators((clients) => Effect.gen(function*() {
        yield* F.ensureTables
        yield* Tables.ensureTable(Tables.aggregateTable(SHADOW))
        yield* F.createStream(F.streamName, 2)
        const { events, records } = F.traffic(60)
        const tips = yield* F.put(F.streamName, records)
        const leases = yield* DynamoLeases.make({ tableName: F.tables.leases, failoverTime: "3 seconds" })
        const layer = Layer.mergeAll(
          // The worker's store: writes the live table, reads through its alias, looked up again every 200 ms.
          DynamoStore.layer({ table: F.tables.aggregate, aliasRefresh: "200 millis" }),
          DynamoDeduper.layer({ table: F.tables.dedup, namespace: F.dedupNamespace }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(clients))
        const worker = yield* F.startService({
          ...base,
          queryApi: true,
          workerId: "w1",
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis)
        })
        yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "the stream is checkpointed at its tips")
        const address = worker.service.address
        const port = address._tag === "TcpAddress" ? address.port : 0

        // One product's revenue in one hour, as the live pipeline computed it.
        const item = expectedItems(events).find((i) => i.ref.pipeline === "revenue_by_product_hourly")!
        const live = item.value as number
        const url = `http://127.0.0.1:${port}/v1/pipelines/revenue_by_product_hourly/keys/${encodeURIComponent(item.ref.key)}?bucket=${item.ref.bucket}`
        const total = Effect.map(getJson(url), (r) => r.body.total as number | null)
        expect(yield* total).toBe(live)

        // The shadow table holds a recomputed value (as a replay writes it: a delta with its shard's watermark).
        const recomputed = live + 1000
        const shadowStore = yield* DynamoStore.make({ table: SHADOW, followAlias: false })
        expect(yield* shadowStore.apply([write(Monoid.sum, item.ref, `${F.streamName}/shardId-000000000000`, 1, [recomputed])])).toEqual([undefined])

        expect(yield* TableAlias.switchTo(F.tables.aggregate, SHADOW)).toEqual({ table: F.tables.aggregate, from: F.tables.aggregate, to: SHADOW })
        yield* F.until(Effect.map(total, (t) => t === recomputed), "the query API answers from the shadow table")
        // A bucket the shadow table lacks has no total there.
        expect((yield* getJson(url.replace(item.ref.bucket, "1999-01-01T00Z"))).body.total).toBeNull()

        // Switched back: the live table's value again, still as the worker wrote it.
        yield* TableAlias.switchTo(F.tables.aggregate, F.tables.aggregate)
        yield* F.until(Effect.map(total, (t) => t === live), "the query API answers from the live table again")
        yield* worker.stop
      }))
    }), 120_000)
})
