/** In-process stand-ins for AWS services, for tests and the demo: no AWS account needed. */
export * as Kinesalite from "./Kinesalite"
export * as Dynalite from "./Dynalite"
