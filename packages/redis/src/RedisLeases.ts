import { Effect } from "effect"
import type * as LeaseTable from "@eddy/core/LeaseTable"
import { LeaseStoreError } from "@eddy/core/LeaseTable"
import * as Leases from "@eddy/core/Leases"
import { defineScript, replies } from "./internal/script"
import { RedisClient } from "./RedisClient"

/**
 * Shard leases and checkpoints in Redis, with the same semantics as the
 * DynamoDB lease table: one hash per lease with KCL's field names
 * (`parentShardId` holds a JSON array), plus a set indexing the lease keys.
 * Heartbeats are the renewals of `@eddy/core/Leases`: each one increments
 * `leaseCounter`, and a lease whose counter stands still for the failover
 * time is taken over. Every conditional write is a Lua script that checks
 * `leaseCounter` (and `leaseOwner`) and writes in one atomic step, where the
 * async-kinesis checkpointer's GETSET could only detect a lost race after
 * the fact.
 *
 * Keys share the hash tag `{namespace}`, so all of one application's leases
 * live in one cluster slot. Run the server with AOF persistence: a server
 * that restarts empty forgets leases and checkpoints (workers then lose their
 * leases, and shard discovery must create them again from `TRIM_HORIZON`).
 */

const createScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'leaseKey', ARGV[1], 'leaseCounter', ARGV[2], 'checkpoint', ARGV[3],
  'checkpointSubSequenceNumber', ARGV[4], 'ownerSwitchesSinceCheckpoint', ARGV[5], 'parentShardId', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
return 1`

const takeScript = `
if redis.call('HGET', KEYS[1], 'leaseCounter') ~= ARGV[1] then return 0 end
local previous = redis.call('HGET', KEYS[1], 'leaseOwner')
if previous and previous ~= ARGV[2] then redis.call('HINCRBY', KEYS[1], 'ownerSwitchesSinceCheckpoint', 1) end
redis.call('HSET', KEYS[1], 'leaseOwner', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'leaseCounter', 1)
return 1`

const updateScript = `
if redis.call('HGET', KEYS[1], 'leaseCounter') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'leaseOwner') ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'leaseCounter', 1)
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'checkpoint', ARGV[4], 'checkpointSubSequenceNumber', ARGV[5], 'ownerSwitchesSinceCheckpoint', 0)
end
if ARGV[6] == '1' then redis.call('HDEL', KEYS[1], 'leaseOwner') end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'processedUpTo', ARGV[7]) end
return 1`

const removeScript = `
if redis.call('HGET', KEYS[1], 'leaseCounter') ~= ARGV[1] or redis.call('HEXISTS', KEYS[1], 'leaseOwner') == 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`

const fromHash = (hash: Record<string, string>): LeaseTable.Lease => ({
  leaseKey: hash.leaseKey ?? "",
  leaseOwner: hash.leaseOwner,
  leaseCounter: Number(hash.leaseCounter ?? 0),
  checkpoint: { sequenceNumber: hash.checkpoint ?? Leases.TRIM_HORIZON.sequenceNumber, subSequenceNumber: Number(hash.checkpointSubSequenceNumber ?? 0) },
  ownerSwitchesSinceCheckpoint: Number(hash.ownerSwitchesSinceCheckpoint ?? 0),
  parentShardIds: JSON.parse(hash.parentShardId ?? "[]") as ReadonlyArray<string>,
  ...(hash.processedUpTo !== undefined ? { processedUpTo: Number(hash.processedUpTo) } : {})
})

/** Key prefix for one application's leases, e.g. `eddy:leases:{orders-analytics}`. */
export const keyPrefix = (namespace: string): string => `eddy:leases:{${namespace}}`

/** The lease table (`@eddy/core/LeaseTable`) on one Redis namespace. */
export const makeTable = (namespace: string) =>
  Effect.map(RedisClient, (redis): LeaseTable.LeaseTable => {
    const prefix = keyPrefix(namespace)
    const index = `${prefix}:keys`
    const leaseKey = (key: string) => `${prefix}:lease:${key}`
    const create = defineScript(redis, "eddyLeaseCreate", 2, createScript)
    const take = defineScript(redis, "eddyLeaseTake", 1, takeScript)
    const update = defineScript(redis, "eddyLeaseUpdate", 1, updateScript)
    const remove = defineScript(redis, "eddyLeaseRemove", 2, removeScript)
    const run = <A>(operation: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) =>
          new LeaseStoreError({ message: `Redis lease ${operation} in ${prefix} failed: ${(cause as Error)?.message ?? String(cause)}`, cause })
      })
    const hashes = (keys: ReadonlyArray<string>) =>
      run("read", async () => {
        if (keys.length === 0) return []
        const pipeline = redis.pipeline()
        for (const key of keys) pipeline.hgetall(leaseKey(key))
        // A key listed in the index whose hash is gone reads as an empty hash: skip it.
        return (replies(await pipeline.exec()) as ReadonlyArray<Record<string, string>>).filter((h) => h.leaseKey !== undefined).map(fromHash)
      })

    return {
      name: `Redis lease namespace ${prefix}`,
      changes: Effect.map(run("read changes", () => redis.get(`${prefix}:changes`)), (n) => Number(n ?? 0)),
      touch: Effect.asVoid(run("touch", () => redis.incr(`${prefix}:changes`))),
      list: Effect.flatMap(run("list", () => redis.smembers(index)), hashes),
      get: (key) => Effect.map(hashes([key]), (found) => found[0]),
      create: (lease) =>
        run("create", () =>
          create.call(
            leaseKey(lease.leaseKey),
            index,
            lease.leaseKey,
            lease.leaseCounter,
            lease.checkpoint.sequenceNumber,
            lease.checkpoint.subSequenceNumber,
            lease.ownerSwitchesSinceCheckpoint,
            JSON.stringify(lease.parentShardIds)
          )).pipe(Effect.map((r) => r === 1)),
      take: (observed, owner) =>
        run("take", () => take.call(leaseKey(observed.leaseKey), observed.leaseCounter, owner)).pipe(Effect.map((r) => r === 1)),
      update: (key, owner, leaseCounter, change) =>
        run("update", () =>
          update.call(
            leaseKey(key),
            leaseCounter,
            owner,
            change.checkpoint === undefined ? 0 : 1,
            change.checkpoint?.sequenceNumber ?? "",
            change.checkpoint?.subSequenceNumber ?? 0,
            change.release === true ? 1 : 0,
            change.processedUpTo === undefined ? "" : String(change.processedUpTo)
          )).pipe(Effect.map((r) => r === 1)),
      remove: (key, leaseCounter) =>
        run("remove", () => remove.call(leaseKey(key), index, leaseCounter, key)).pipe(Effect.map((r) => r === 1))
    }
  })

/** The namespace of lease keys, and the lease service's options. */
export interface Options extends Leases.Options {
  /** One namespace per application (consumer group), e.g. the application name. */
  readonly namespace: string
}

/**
 * The lease service on Redis: `make`, `layer` (needs a `RedisClient`) and
 * `layerConfig` (the options from a `Config`).
 */
export const { layer, layerConfig, make } = Leases.on((options: Options) => makeTable(options.namespace))
