/**
 * eddy core: typed commerce events, decoders, monoids, windows, pipelines and
 * the batch processor, with in-memory backends. No AWS imports.
 */
export * as AwsClientOptions from "./AwsClientOptions"
export * as AwsSdkError from "./AwsSdkError"
export * as CommerceArbitrary from "./CommerceArbitrary"
export * as CommerceEvent from "./CommerceEvent"
export * as DeadLetter from "./DeadLetter"
export * as Decoder from "./Decoder"
export * as Deduper from "./Deduper"
export * as Faults from "./Faults"
export type { Json } from "./Json"
export * as Leases from "./Leases"
export * as Metrics from "./Metrics"
export * as Monoid from "./Monoid"
export * as Pipeline from "./Pipeline"
export * as Processor from "./Processor"
export * as Random from "./Random"
export * as SourceRecord from "./SourceRecord"
export * as Store from "./Store"
export * as Window from "./Window"
