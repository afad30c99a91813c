import { Metric, MetricBoundaries } from "effect"

/**
 * Processor metrics, recorded in the Effect metric registry of the process.
 * The service exports them for Prometheus; the Lambda driver does not: it
 * writes its own CloudWatch EMF set per invocation from each chunk's `Processor.Result`.
 */
export const recordsIn = Metric.counter("eddy_records_in", { description: "source records handed to the processor", incremental: true })
/** Records whose aggregates are durably written. */
export const recordsApplied = Metric.counter("eddy_records_applied", { description: "records whose aggregates are durably written", incremental: true })
/** Records not applied again: producer duplicates, or re-read records already applied. */
export const recordsDuplicate = Metric.counter("eddy_records_duplicate", { description: "records not applied again: producer duplicates, or records read again whose writes were already applied", incremental: true })
/** Records sent to the dead-letter sink. */
export const recordsDeadLettered = Metric.counter("eddy_records_dead_lettered", { description: "records sent to the dead-letter sink", incremental: true })
/** Records held back under the block poison policy. */
export const recordsBlocked = Metric.counter("eddy_records_blocked", { description: "records held back by a poison record under the block policy", incremental: true })
/** Records left for redelivery. */
export const recordsFailed = Metric.counter("eddy_records_failed", { description: "records left for redelivery", incremental: true })
/** Retried store, dedup and dead-letter calls. */
export const retries = Metric.counter("eddy_retries", { description: "retried store, dedup and dead-letter calls", incremental: true })
/**
 * The alarm: calls refused because of the deployment (a missing table, access
 * denied, bad credentials), tagged with `service` (store, dedup, deadLetter),
 * `pipeline` (`*` for dedup and dead-letter calls, shared by the pipelines)
 * and `error` (the backend's name for it). Its records are not acknowledged:
 * their shards wait until the deployment is fixed.
 */
export const deploymentFaults = Metric.counter("eddy_deployment_faults_total", { description: "calls refused because of the deployment; the shard waits until it is fixed", incremental: true })
/** Records dead-lettered because their event id was already held by a record with another payload. */
export const eventIdConflicts = Metric.counter("eddy_event_id_conflicts_total", { description: "event ids reused for a different payload", incremental: true })
/** Tagged with `pipeline`. */
export const storeWrites = Metric.counter("eddy_store_writes", { description: "folded item writes issued to the store", incremental: true })
/** How long one processor call takes. */
export const batchDuration = Metric.histogram(
  "eddy_batch_duration_ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 }),
  "time to process one chunk, milliseconds"
)
