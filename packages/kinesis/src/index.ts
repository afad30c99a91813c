/** eddy's Kinesis driver: the client, producing, consuming, and the KPL format. */
export * as Consumer from "./Consumer"
export * as Kinesis from "./Kinesis"
export * as Kpl from "./Kpl"
export * as Producer from "./Producer"
export * as RateLimit from "./RateLimit"
export * as Shards from "./Shards"
export * as TokenBucket from "./TokenBucket"
