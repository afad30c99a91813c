/** eddy's Redis backends: dedup claims and leases with heartbeats. */
/** The Redis client. */
export * as RedisClient from "./RedisClient"
/** Event-id claims on Redis. */
export * as RedisDeduper from "./RedisDeduper"
/** Shard leases on Redis. */
export * as RedisLeases from "./RedisLeases"
