/**
 * What the Kinesis producer counts, tagged with `stream`, for Prometheus
 * (`/metrics`, where counters gain `_total` and milliseconds become seconds)
 * and any other Effect metrics exporter. Alarm on `recordsFailed` above zero
 * (records the producer gave up on, also by `error_code` in `failures`) and
 * on `recordsThrottled` rising (the stream needs more shards, or the
 * producers a lower rate).
 */
import { Metric } from "effect"
import type { PutFailure } from "./ProducerError"

/** Records Kinesis accepted. */
export const recordsSent = Metric.counter("kinesis_producer_records_sent", {
  description: "user records Kinesis acknowledged",
  incremental: true
})
/** Records that failed for good, by error code. */
export const recordsFailed = Metric.counter("kinesis_producer_records_failed", {
  description: "user records given to the failure sink",
  incremental: true
})
/** Tagged with `error_code` too: Kinesis's per-record code (e.g. `InternalFailure`), the failed call's error, or `ProducerClosed`. */
export const failures = Metric.counter("kinesis_producer_record_failures", {
  description: "user records given to the failure sink, by error code",
  incremental: true
})
/** Records sent again after a failure. */
export const recordsRetried = Metric.counter("kinesis_producer_records_retried", {
  description: "user records queued again after a rejection or a failed call",
  incremental: true
})
/** Records Kinesis throttled. */
export const recordsThrottled = Metric.counter("kinesis_producer_records_throttled", {
  description: "user records Kinesis refused for throughput, alone or with their whole call",
  incremental: true
})
/** PutRecords calls made. */
export const putRecordsCalls = Metric.counter("kinesis_producer_put_records_calls", { description: "PutRecords calls made", incremental: true })
/** How long PutRecords calls take. */
export const putRecordsLatency = Metric.timer("kinesis_producer_put_records_latency", "PutRecords call duration")
/** User records waiting to be sent. */
export const queueDepth = Metric.gauge("kinesis_producer_queue_depth", { description: "user records held by the producer" })

/** The `error_code` of a record the producer gave up on. */
export const errorCodeOf = (error: PutFailure): string => {
  switch (error._tag) {
    case "RecordRejectedError":
      return error.errorCode
    case "PutRecordsFailedError": {
      // The SDK's exception name when there is one (e.g. AccessDeniedException), else our error's tag.
      const name = (error.cause.cause as { name?: unknown } | undefined)?.name
      return typeof name === "string" && name !== "Error" ? name : error.cause._tag
    }
    case "ProducerClosedError":
      return "ProducerClosed"
  }
}
