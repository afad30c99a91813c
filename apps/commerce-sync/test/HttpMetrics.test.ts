/**
 * The producer side, as an operator watches it: events sent through the real
 * HTTP server to kinesalite, with a throttled PutRecords call and a record
 * Kinesis keeps rejecting injected around the real client, then `/metrics`
 * scraped and read as Prometheus would.
 */
import { expect, layer } from "@effect/vitest"
import { sampleOrders } from "@eddy/commerce/CommerceArbitrary"
import { Kinesis } from "@eddy/kinesis/Kinesis"
import * as Producer from "@eddy/kinesis/Producer"
import * as RateLimit from "@eddy/kinesis/RateLimit"
import * as Prometheus from "@eddy/runtime/Prometheus"
import * as KinesisFaults from "@eddy/testing/KinesisFaults"
import { Effect, Either, Layer } from "effect"
import * as Http from "../src/Http"
import * as Sync from "../src/Sync"
import { orderBody } from "./support/api"
import { post } from "./support/http"
import { createStream, KinesisLocal, uniqueName, unpaced } from "./support/kinesis"

const failing = orderBody(901)

/** The first PutRecords call is throttled; the failing order's record is rejected every time it is sent. */
const faults = KinesisFaults.layer({
  throttle: { operations: ["putRecords"], calls: [1] },
  rejectRecords: { select: (record) => record.PartitionKey === failing.id, errorCodes: ["InternalFailure"] }
})

/** The value of the sample `name{labels}` (labels in the order rendered), or undefined. */
const sample = (text: string, name: string, labels: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

layer(Layer.provideMerge(faults, KinesisLocal), { excludeTestServices: true })("commerce-sync /metrics", (it) => {
  it.scoped("counts PutRecords calls, sent, failed by error code, throttled and retried records, rate-limit waits, queue depth and the lag", () =>
    Effect.gen(function*() {
      const streams = { product: uniqueName("products"), orders: uniqueName("orders") }
      for (const name of Object.values(streams)) yield* Effect.provide(createStream(name, 1), Layer.succeed(Kinesis, yield* Kinesis))
      const sync = yield* Sync.make({
        streams,
        rateLimit: Either.getOrThrow(RateLimit.parse("4/s")),
        producer: { ...unpaced, retry: Producer.retrySchedule({ base: "1 millis", cap: "5 millis", retries: 2 }) }
      })
      const { url } = yield* Http.start().pipe(Effect.provideService(Sync.CommerceSync, sync))

      // Through the server: two orders written (the first call throttled, then retried), one rejected until the producer gives up.
      expect((yield* post(url, "/orders", orderBody(900))).status).toBe(202)
      expect((yield* post(url, "/orders", orderBody(902))).status).toBe(202)
      expect((yield* post(url, "/orders", failing)).status).toBe(503)
      // More events than the rate limit allows at once: the sync waits for room.
      const batch = sampleOrders(6, { seed: 903, offset: 903 })
      const outcomes = yield* sync.syncAll(batch)
      expect(outcomes.every(Either.isRight)).toBe(true)

      const response = yield* Effect.promise(() => fetch(`${url}/metrics`))
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe(Prometheus.contentType)
      const text = yield* Effect.promise(() => response.text())
      const stream = `{stream="${streams.orders}"}`
      expect(sample(text, "kinesis_producer_put_records_calls_total", stream)).toBeGreaterThanOrEqual(4)
      expect(sample(text, "kinesis_producer_records_sent_total", stream)).toBe(8)
      expect(sample(text, "kinesis_producer_records_failed_total", stream)).toBe(1)
      expect(sample(text, "kinesis_producer_record_failures_total", `{stream="${streams.orders}",error_code="InternalFailure"}`)).toBe(1)
      expect(sample(text, "kinesis_producer_records_throttled_total", stream)).toBe(1)
      // The throttled record once, the rejected one twice (its retries).
      expect(sample(text, "kinesis_producer_records_retried_total", stream)).toBe(3)
      expect(sample(text, "kinesis_producer_queue_depth", stream)).toBe(0)
      expect(text).toContain("# TYPE kinesis_producer_put_records_latency_seconds histogram")
      expect(sample(text, "commerce_sync_rate_limit_waits_total", "")).toBeGreaterThanOrEqual(1)
      expect(sample(text, "commerce_sync_rate_limit_wait_seconds_total", "")).toBeGreaterThan(0)
      expect(text).toContain("# TYPE commerce_sync_write_lag_seconds histogram")
      expect(sample(text, "commerce_sync_write_lag_seconds_count", stream)).toBe(8)
      expect(sample(text, "commerce_sync_write_lag_seconds_bucket", `{stream="${streams.orders}",le="+Inf"}`)).toBe(8)
      expect(text).toContain("# TYPE process_resident_memory_bytes gauge")
    }))
})
