/**
 * eddy's Kinesis driver: the client, producing, consuming, and the aggregation
 * formats. `Msgpack` is imported on its own (`@eddy/kinesis/Msgpack`), so that
 * only applications that decode MessagePack bundle its library.
 */
export * as Aggregation from "./Aggregation"
export * as Checkpointer from "./Checkpointer"
export * as Consumer from "./Consumer"
/** A final-value sink putting each value to a Kinesis stream. */
export * as FinalValueStream from "./FinalValueStream"
/** The Kinesis API as effects with typed errors. */
export * as Kinesis from "./Kinesis"
export * as Kpl from "./Kpl"
export * as Limits from "./Limits"
export * as Ndjson from "./Ndjson"
export * as Netstring from "./Netstring"
export * as Producer from "./Producer"
export * as ProducerError from "./ProducerError"
export * as ProducerMetrics from "./ProducerMetrics"
export * as RateLimit from "./RateLimit"
export * as ShardReader from "./ShardReader"
export * as Shards from "./Shards"
export * as StreamId from "./StreamId"
export * as TokenBucket from "./TokenBucket"
export * as UserRecords from "./UserRecords"
export * as WriteAheadLog from "./WriteAheadLog"
