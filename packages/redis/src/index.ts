/** eddy's Redis backends: the aggregate store, dedup claims, and leases with heartbeats. */
export * as RedisClient from "./RedisClient"
export * as RedisDeduper from "./RedisDeduper"
export * as RedisLeases from "./RedisLeases"
export * as RedisStore from "./RedisStore"
