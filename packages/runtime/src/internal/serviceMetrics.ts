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
