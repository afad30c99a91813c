import * as Metrics from "@eddy/core/Metrics"
import { Metric } from "effect"

/** The service driver's own metrics, beside the processor's and the consumer's per-shard lag. */
export const leasesHeld = Metric.gauge("eddy_service_leases_held", { description: "shard leases this worker holds" })
export const leasesLost = Metrics.counter("eddy_service_leases_lost", "shards stopped because another worker took their lease")
export const checkpoints = Metrics.counter("eddy_service_checkpoints", "checkpoints written to the lease table")
export const rereads = Metrics.counter("eddy_service_rereads", "times a shard was read again from its checkpoint after a failed chunk or read")
/**
 * The alarm of a halted shard: shards whose last batch left a record not done
 * (a poison record under strict order, a store or dead-letter sink that keeps
 * failing), so nothing after it is written or checkpointed until it is.
 */
export const shardsHalted = Metric.gauge("eddy_service_shards_halted", {
  description: "shards held at a record not done: nothing after it is written or checkpointed"
})
