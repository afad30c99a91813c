/**
 * The service's query API (`EDDY_QUERY_API`) against the emulators: a worker
 * reads a stream of commerce events into DynamoDB (dynalite), then its HTTP
 * endpoint answers range queries merged with each pipeline's monoid, pages
 * long ranges, says what is wrong with a bad query, and serves its OpenAPI
 * document. The expected values are folded by hand from the events.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Leases from "@eddy/core/Leases"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { ConfigProvider, Duration, Effect, Layer, Schedule } from "effect"
import * as Service from "../src/Service"
import { expectedItems, pipelines } from "./LambdaFixtures"
import * as F from "./fixtures/ServiceFixtures"

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

describe("QueryApi", () => {
  it.scopedLive("answers range queries over the stored aggregates, paged, with an OpenAPI document", () =>
    Effect.gen(function*() {
      yield* F.onEmulators((clients) => Effect.gen(function*() {
        yield* F.ensureTables
        yield* F.createStream(F.streamName, 2)
        const { events, records } = F.traffic(120)
        const tips = yield* F.put(F.streamName, records)
        const leases = yield* DynamoLeases.make({ tableName: F.tables.leases, failoverTime: "3 seconds" })
        const layer = Layer.mergeAll(
          DynamoStore.layer({ table: F.tables.aggregate }),
          DynamoDeduper.layer({ table: F.tables.dedup, namespace: F.dedupNamespace }),
          DeadLetter.layerMemory
        ).pipe(Layer.provide(clients))
        // Switched on as an operator would: by the environment.
        const settings = yield* Service.settingsConfig(base).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EDDY_QUERY_API", "true"]]))))
        expect(settings.queryApi).toBe(true)
        const worker = yield* F.startService({
          ...base,
          queryApi: settings.queryApi === true,
          workerId: "w1",
          layer,
          leases: Layer.succeed(Leases.Leases, leases),
          kinesis: Layer.succeed(Kinesis.Kinesis, yield* Kinesis.Kinesis)
        })
        yield* F.until(Effect.provideService(F.consumed(tips), Leases.Leases, leases), "the stream is checkpointed at its tips")
        const address = worker.service.address
        const url = (path: string) => `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}${path}`

        // Revenue of the best-selling product, hour by hour over the whole traffic, and merged.
        const revenue = expectedItems(events).filter((i) => i.ref.pipeline === "revenue_by_product_hourly")
        const byProduct = new Map<string, Array<{ bucket: string; value: number }>>()
        for (const i of revenue) byProduct.set(i.ref.key, [...(byProduct.get(i.ref.key) ?? []), { bucket: i.ref.bucket, value: i.value as number }])
        const [product, hours] = [...byProduct].sort((a, b) => b[1].length - a[1].length)[0]!
        hours.sort((a, b) => (a.bucket < b.bucket ? -1 : 1))
        const from = Date.parse(`${hours[0]!.bucket.slice(0, 13)}:00:00Z`)
        const to = Date.parse(`${hours[hours.length - 1]!.bucket.slice(0, 13)}:59:59Z`)
        const whole = yield* getJson(url(`/v1/pipelines/revenue_by_product_hourly/keys/${product}?from=${from}&to=${to}&limit=1000`))
        expect(whole.status).toBe(200)
        expect(whole.body.buckets).toEqual(hours)
        expect(whole.body.total).toBe(hours.reduce((sum, h) => sum + h.value, 0))
        expect(whole.body.next).toBeUndefined()

        // The same range in pages of two buckets: the pages' buckets together are the whole range's.
        const paged: Array<unknown> = []
        let cursor: string | undefined = ""
        let pages = 0
        while (cursor !== undefined) {
          const page: { readonly status: number; readonly body: any } = yield* getJson(url(`/v1/pipelines/revenue_by_product_hourly/keys/${product}?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&limit=2${cursor === "" ? "" : `&cursor=${cursor}`}`))
          expect(page.status).toBe(200)
          expect(page.body.read.length).toBeLessThanOrEqual(2)
          paged.push(...page.body.buckets)
          cursor = page.body.next
          pages++
        }
        expect(paged).toEqual(hours)
        expect(pages).toBe(Math.ceil(whole.body.read.length / 2))

        // A sketch reads as its estimate; the top products as a ranking.
        const day = hours[0]!.bucket.slice(0, 10)
        const unique = yield* getJson(url(`/v1/pipelines/unique_customers_daily/keys/all?bucket=${day}`))
        expect(unique.body.total.estimate).toBeGreaterThan(0)
        const top = yield* getJson(url(`/v1/pipelines/top_products_daily/keys/all?bucket=${day}`))
        expect(top.body.total[0]).toEqual({ item: expect.any(String), count: expect.any(Number) })

        // What is wrong, said plainly.
        const backwards = yield* getJson(url(`/v1/pipelines/revenue_by_product_hourly/keys/${product}?from=${to}&to=${from}`))
        expect(backwards.status).toBe(400)
        expect(backwards.body.message).toContain("must run forward in time")
        const unknown = yield* getJson(url("/v1/pipelines/nope/keys/x"))
        expect(unknown.status).toBe(404)
        expect(unknown.body.message).toContain("revenue_by_product_hourly")
        const tooMany = yield* getJson(url(`/v1/pipelines/revenue_by_product_hourly/keys/${product}?last=3&limit=5000`))
        expect(tooMany.status).toBe(400)

        const listed = yield* getJson(url("/v1/pipelines"))
        expect(listed.body.map((p: { name: string }) => p.name)).toEqual(pipelines.map((p) => p.name))
        const spec = yield* getJson(url("/openapi.json"))
        expect(spec.body.openapi).toMatch(/^3\./)
        expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(["/v1/pipelines", "/v1/pipelines/{pipeline}/keys/{key}"]))
        // The endpoint's own paths still answer.
        expect((yield* getJson(url("/healthz"))).status).toBe(200)
        yield* worker.stop
      }))
    }), 120_000)
})
