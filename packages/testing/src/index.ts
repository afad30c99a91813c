/** Test machinery for eddy pipelines: fault layers, redelivery drivers, the event-source-mapping simulator and the shared lease suite. */
export * as EventSourceMapping from "./EventSourceMapping"
/** Fault injection around stores, dedupers and dead-letter sinks. */
export * as Faults from "./Faults"
/** End-to-end test machinery on a local Kinesis: streams, publishing, in-memory state, environment. */
export * as Harness from "./Harness"
export * as KinesisFaults from "./KinesisFaults"
/** Redelivering records until they are done, as a driver would. */
export * as Redelivery from "./Redelivery"
