/** The commerce events of the wire contract: schemas, the event source, and samples for tests and demos. */
export * as CommerceArbitrary from "./CommerceArbitrary"
export * as CommerceEvent from "./CommerceEvent"
export * as OrderLifecycle from "./OrderLifecycle"
