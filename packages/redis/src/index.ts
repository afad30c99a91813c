/** eddy's Redis backends: the aggregate store, dedup claims, and leases with heartbeats. */
/** The Redis client. */
export * as RedisClient from "./RedisClient"
/** Event-id claims on Redis. */
export * as RedisDeduper from "./RedisDeduper"
/** Shard leases on Redis. */
export * as RedisLeases from "./RedisLeases"
/** Aggregates on Redis, exactly once per shard. */
export * as RedisStore from "./RedisStore"
