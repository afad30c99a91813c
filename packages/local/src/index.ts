/** In-process stand-ins for AWS services, for tests and the demo: no AWS account needed. */
/** Kinesis on this machine (kinesalite), for tests and local runs. */
export * as Kinesalite from "./Kinesalite"
/** DynamoDB on this machine (dynalite), for tests and local runs. */
export * as Dynalite from "./Dynalite"
