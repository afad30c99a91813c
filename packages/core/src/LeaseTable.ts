import { Data, type Effect } from "effect"
import type { Position } from "./SourceRecord"

/**
 * What a lease backend stores and the conditional writes it must provide.
 * `@eddy/core/Leases` builds the coordination (renewal, failover, stealing,
 * checkpoints) on top, so every backend (memory, DynamoDB, Redis) behaves the
 * same; a backend only has to make each write atomic and conditional.
 */

/** A lease as stored, with KCL's attribute names. */
export interface Lease {
  /** Names the shard: `<stream>:<shardId>` for the Kinesis consumer (see `@eddy/kinesis/StreamId`). */
  readonly leaseKey: string
  readonly leaseOwner: string | undefined
  /** Incremented by every write; writes are conditional on it. */
  readonly leaseCounter: number
  /** Stored as `checkpoint` (sequence number or sentinel) and `checkpointSubSequenceNumber`. */
  readonly checkpoint: Position
  readonly ownerSwitchesSinceCheckpoint: number
  /** The parents' lease keys, stored as the set `parentShardId`, as KCL does; empty for shards without parents. */
  readonly parentShardIds: ReadonlyArray<string>
  /**
   * The shard's arrival clock, epoch milliseconds: every record of the shard
   * that arrived before it is processed and its keys recorded (see the
   * service's final values). Stored as `processedUpTo`; absent until a worker
   * reporting final values writes it, with a checkpoint or a renewal.
   */
  readonly processedUpTo?: number
}

/** The lease store could not be read or written (network, throttling, missing table). Retryable. */
export class LeaseStoreError extends Data.TaggedError("LeaseStoreError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A change to a held lease; every update also increments `leaseCounter`. */
export interface LeaseUpdate {
  /** Sets the checkpoint and resets `ownerSwitchesSinceCheckpoint`. */
  readonly checkpoint?: Position
  /** Clears `leaseOwner`. */
  readonly release?: boolean
  /** Sets `processedUpTo`. */
  readonly processedUpTo?: number
}

/** The conditional primitives a lease backend provides. */
export interface LeaseTable {
  /** What the table is, for messages: e.g. `DynamoDB table app-leases`. */
  readonly name: string
  readonly list: Effect.Effect<ReadonlyArray<Lease>, LeaseStoreError>
  readonly get: (leaseKey: string) => Effect.Effect<Lease | undefined, LeaseStoreError>
  /** Writes the lease unless one with its key exists; `true` when written. */
  readonly create: (lease: Lease) => Effect.Effect<boolean, LeaseStoreError>
  /** Applies `taken(observed, owner)` if the stored counter still equals `observed.leaseCounter`. */
  readonly take: (observed: Lease, owner: string) => Effect.Effect<boolean, LeaseStoreError>
  /** Applies `updated(stored, update)` if the stored owner and counter are `owner` and `leaseCounter`. */
  readonly update: (leaseKey: string, owner: string, leaseCounter: number, update: LeaseUpdate) => Effect.Effect<boolean, LeaseStoreError>
  /**
   * A counter that `touch` increments, kept apart from the leases: workers
   * read it each round and list the whole table only when it moved (a lease
   * was released, created or finished) or when their own schedule says so.
   */
  readonly changes: Effect.Effect<number, LeaseStoreError>
  readonly touch: Effect.Effect<void, LeaseStoreError>
  /** Deletes the lease if it has no owner and its counter is still `leaseCounter`; `true` when deleted. */
  readonly remove: (leaseKey: string, leaseCounter: number) => Effect.Effect<boolean, LeaseStoreError>
}

/** The lease after `owner` takes it. */
export const taken = (lease: Lease, owner: string): Lease => ({
  ...lease,
  leaseOwner: owner,
  leaseCounter: lease.leaseCounter + 1,
  ownerSwitchesSinceCheckpoint: lease.ownerSwitchesSinceCheckpoint + (lease.leaseOwner !== undefined && lease.leaseOwner !== owner ? 1 : 0)
})

/** The lease after an update by its owner. */
export const updated = (lease: Lease, update: LeaseUpdate): Lease => ({
  ...lease,
  leaseCounter: lease.leaseCounter + 1,
  ...(update.checkpoint !== undefined ? { checkpoint: update.checkpoint, ownerSwitchesSinceCheckpoint: 0 } : {}),
  ...(update.release === true ? { leaseOwner: undefined } : {}),
  ...(update.processedUpTo !== undefined ? { processedUpTo: update.processedUpTo } : {})
})
