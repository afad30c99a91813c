import { Metric } from "effect"

/** The service driver's own metrics, beside the processor's and the consumer's per-shard lag. */
export const leasesHeld = Metric.gauge("eddy_service_leases_held", { description: "shard leases this worker holds" })
export const leasesLost = Metric.counter("eddy_service_leases_lost", {
  description: "shards stopped because another worker took their lease",
  incremental: true
})
export const checkpoints = Metric.counter("eddy_service_checkpoints", { description: "checkpoints written to the lease table", incremental: true })
export const rereads = Metric.counter("eddy_service_rereads", {
  description: "times a shard was read again from its checkpoint after a failed chunk or read",
  incremental: true
})
/**
 * The alarm of a halted shard: shards whose last batch left a record not done
 * (a poison record under strict order, a store or dead-letter sink that keeps
 * failing), so nothing after it is written or checkpointed until it is.
 */
export const shardsHalted = Metric.gauge("eddy_service_shards_halted", {
  description: "shards held at a record not done: nothing after it is written or checkpointed"
})
