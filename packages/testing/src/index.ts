/** Test machinery for eddy pipelines: fault layers, redelivery drivers, the event-source-mapping simulator and the shared lease suite. */
export * as EventSourceMapping from "./EventSourceMapping"
export * as Faults from "./Faults"
export * as KinesisFaults from "./KinesisFaults"
export * as Redelivery from "./Redelivery"
