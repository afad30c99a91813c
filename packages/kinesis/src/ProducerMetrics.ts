/**
 * What the Kinesis producer counts, tagged with `stream`, for Prometheus
 * (`/metrics`, where counters gain `_total` and milliseconds become seconds)
 * and any other Effect metrics exporter. Alarm on `recordsFailed` above zero
 * (records the producer gave up on, also by `error_code` in `failures`) and
 * on `recordsThrottled` rising (the stream needs more shards, or the
 * producers a lower rate).
 */
import * as Metrics from "@eddy/core/Metrics"
import { Metric } from "effect"
import type { PutFailure } from "./ProducerError"

export const recordsSent = Metrics.counter("kinesis_producer_records_sent", "user records Kinesis acknowledged")
export const recordsFailed = Metrics.counter("kinesis_producer_records_failed", "user records given to the failure sink")
/** Tagged with `error_code` too: Kinesis's per-record code (e.g. `InternalFailure`), the failed call's error, or `ProducerClosed`. */
export const failures = Metrics.counter("kinesis_producer_record_failures", "user records given to the failure sink, by error code")
export const recordsRetried = Metrics.counter("kinesis_producer_records_retried", "user records queued again after a rejection or a failed call")
export const recordsThrottled = Metrics.counter("kinesis_producer_records_throttled", "user records Kinesis refused for throughput, alone or with their whole call")
export const putRecordsCalls = Metrics.counter("kinesis_producer_put_records_calls", "PutRecords calls made")
export const putRecordsLatency = Metric.timer("kinesis_producer_put_records_latency", "PutRecords call duration")
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
