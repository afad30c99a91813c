import { Metric, MetricBoundaries } from "effect"

/** A counter that only goes up, as Prometheus and CloudWatch count events (exported with `_total`). */
export const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * Processor metrics, recorded in the Effect metric registry of the process.
 * The service exports them for Prometheus; the Lambda driver does not: it
 * writes its own CloudWatch EMF set per invocation from each chunk's `Processor.Result`.
 */
export const recordsIn = counter("eddy_records_in", "source records handed to the processor")
export const recordsApplied = counter("eddy_records_applied", "records whose aggregates are durably written")
export const recordsDuplicate = counter("eddy_records_duplicate", "records skipped as producer duplicates")
export const recordsDeadLettered = counter("eddy_records_dead_lettered", "records sent to the dead-letter sink")
export const recordsBlocked = counter("eddy_records_blocked", "records held back by a poison record under the block policy")
export const recordsFailed = counter("eddy_records_failed", "records left for redelivery")
export const retries = counter("eddy_retries", "retried store, dedup and dead-letter calls")
/**
 * The alarm: calls refused because of the deployment (a missing table, access
 * denied, bad credentials), tagged with `service` (store, dedup, deadLetter),
 * `pipeline` (`*` for dedup and dead-letter calls, shared by the pipelines)
 * and `error` (the backend's name for it). Its records are not acknowledged:
 * their shards wait until the deployment is fixed.
 */
export const deploymentFaults = counter("eddy_deployment_faults_total", "calls refused because of the deployment; the shard waits until it is fixed")
/** Records dead-lettered because their event id was already held by a record with another payload. */
export const eventIdConflicts = counter("eddy_event_id_conflicts_total", "event ids reused for a different payload")
/**
 * Records that arrived after their bucket closed (the window's
 * `allowedLateness`), tagged with `pipeline`: dead-lettered as `LateEvent` or
 * applied anyway, as the window's `late` policy says.
 */
export const lateEvents = counter("eddy_late_events_total", "records that arrived after their window bucket closed")
/** Tagged with `pipeline`. */
export const storeWrites = counter("eddy_store_writes", "folded item writes issued to the store")
export const batchDuration = Metric.histogram(
  "eddy_batch_duration_ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 }),
  "time to process one chunk, milliseconds"
)
