import * as Metrics from "@eddy/core/Metrics"
import { Metric } from "effect"

/** The service driver's own metrics, beside the processor's and the consumer's per-shard lag. */
export const leasesHeld = Metric.gauge("eddy_service_leases_held", { description: "shard leases this worker holds" })
export const leasesLost = Metrics.counter("eddy_service_leases_lost", "shards stopped because another worker took their lease")
export const checkpoints = Metrics.counter("eddy_service_checkpoints", "checkpoints written to the lease table")
export const rereads = Metrics.counter("eddy_service_rereads", "times a shard was read again from its checkpoint after a failed chunk or read")
