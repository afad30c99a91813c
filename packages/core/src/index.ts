/**
 * eddy core: decoders, monoids, windows, pipelines and
 * the batch processor, with in-memory backends. No AWS imports.
 */
export * as Acknowledgement from "./Acknowledgement"
export * as Backoff from "./Backoff"
/** Dead letters: the sink poison records go to, with their payload and reason. */
export * as DeadLetter from "./DeadLetter"
/** Decoders: a record's bytes as a typed event, or why not. */
export * as Decoder from "./Decoder"
/** Event-id claims, so a producer duplicate is applied once. */
export * as Deduper from "./Deduper"
/** Final values of closed window buckets: read, sent and marked once. */
export * as FinalValue from "./FinalValue"
/** The lease table a lease service is built on. */
export * as LeaseTable from "./LeaseTable"
/** An in-memory lease table. */
export * as LeaseTableMemory from "./LeaseTableMemory"
/** Shard leases: taking, renewing, stealing and checkpointing. */
export * as Leases from "./Leases"
/** The processor's metrics. */
export * as Metrics from "./Metrics"
/** Monoids: how values fold into aggregates. */
export * as Monoid from "./Monoid"
/** Pipelines: events to keys and values, windows and aggregates. */
export * as Pipeline from "./Pipeline"
/** The processor: chunks of records into the store, exactly once. */
export * as Processor from "./Processor"
export * as Query from "./Query"
export * as Random from "./Random"
export * as SourceRecord from "./SourceRecord"
/** The store of aggregates, with per-shard watermarks. */
export * as Store from "./Store"
/** Watermarks: shard positions as sortable text, kept per store item and shard. */
export * as Watermark from "./Watermark"
/** Windows: the buckets of event time aggregates are kept in. */
export * as Window from "./Window"
export type { Json } from "./Json"
