/** In-process stand-ins for AWS services, for tests and the demo: no AWS account needed. */
/** Kinesis on this machine (kinesalite), for tests and local runs. */
export * as Kinesalite from "./Kinesalite"
/** kinesis-mock as a child process: serves enhanced fan-out (SubscribeToShard over HTTP/2). */
export * as KinesisLocal from "./KinesisLocal"
/** DynamoDB on this machine (dynalite), for tests and local runs. */
export * as Dynalite from "./Dynalite"
/** DynamoDB Local (a JVM child process), for tests that need transactions. */
export * as DynamoDBLocal from "./DynamoDBLocal"
