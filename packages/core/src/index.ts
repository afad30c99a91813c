/**
 * eddy core: decoders, monoids, windows, pipelines and
 * the batch processor, with in-memory backends. No AWS imports.
 */
export * as Acknowledgement from "./Acknowledgement"
export * as Backoff from "./Backoff"
export * as DeadLetter from "./DeadLetter"
export * as Decoder from "./Decoder"
export * as Deduper from "./Deduper"
export * as LeaseTable from "./LeaseTable"
export * as LeaseTableMemory from "./LeaseTableMemory"
export * as Leases from "./Leases"
export * as Metrics from "./Metrics"
export * as Monoid from "./Monoid"
export * as Pipeline from "./Pipeline"
export * as Processor from "./Processor"
export * as Query from "./Query"
export * as Random from "./Random"
export * as SourceRecord from "./SourceRecord"
export * as Store from "./Store"
export * as Window from "./Window"
export type { Json } from "./Json"
