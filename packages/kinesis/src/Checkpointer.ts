/**
 * Checkpoints of one leased shard. A checkpoint is written to the lease
 * table only while this worker still holds the shard's lease in the tenure
 * it was taken in: once another worker took it, every checkpoint fails with
 * `LeaseLostError` and the shard must be stopped without retrying.
 */
import * as Leases from "@eddy/core/Leases"
import type { Position } from "@eddy/core/SourceRecord"
import { Effect } from "effect"

/** Why this worker's run of a shard ended, as the checkpointer saw it. */
export type End =
  /** Checkpointed at SHARD_END: the lease is given up and the shard's children may start. */
  | "finished"
  /** A checkpoint was refused: another worker holds the lease now. */
  | "lost"
  /** The lease was given up without finishing the shard, for any worker to try afresh. */
  | "released"

/** Saves how far a shard was processed. */
export interface Checkpointer {
  readonly shardId: string
  /** The position the shard resumes after: the last checkpoint written, at first the lease's. */
  readonly position: Effect.Effect<Position>
  /** Moves the checkpoint to `position` (a record's sequence and sub-sequence numbers; a record itself will do). */
  readonly checkpoint: (position: Position) => Effect.Effect<void, Leases.LeaseLostError | Leases.LeaseStoreError>
  /** Checkpoints SHARD_END once a closed shard's last records are processed; this gives the lease up. */
  readonly checkpointShardEnd: Effect.Effect<void, Leases.LeaseLostError | Leases.LeaseStoreError>
  /** Gives the lease up without moving the checkpoint, so that any worker (this one too) can take the shard afresh. */
  readonly release: Effect.Effect<void, Leases.LeaseStoreError>
}

/**
 * The checkpointer of `lease` held by `worker`. `onEnd` is told once when the
 * run of the shard is over for this worker (finished, lost or released).
 */
export const make = (
  worker: Leases.LeaseWorker,
  lease: Leases.HeldLease,
  onEnd: (end: End) => Effect.Effect<void> = () => Effect.void,
  /** The shard's id, when the lease key is more than that (`<stream>:<shardId>`). */
  shardId: string = lease.leaseKey
): Effect.Effect<Checkpointer> =>
  Effect.sync(() => {
    let position = lease.checkpoint
    let ended = false
    const end = (reason: End) => Effect.suspend(() => ended ? Effect.void : (ended = true, onEnd(reason)))
    const write = (at: Position) => {
      // Only the position: a record passed as its own position is not stored whole.
      const to: Position = { sequenceNumber: at.sequenceNumber, subSequenceNumber: at.subSequenceNumber }
      return worker.checkpoint(lease, to).pipe(
        Effect.tap(() => Effect.sync(() => void (position = to))),
        Effect.tapError((e) => e._tag === "LeaseLostError" ? end("lost") : Effect.void)
      )
    }
    return {
      shardId,
      position: Effect.sync(() => position),
      checkpoint: write,
      checkpointShardEnd: Effect.zipRight(write(Leases.SHARD_END), end("finished")),
      // Given up either way: a release that failed leaves the lease to expire, or to be taken again by this worker.
      release: Effect.ensuring(worker.release(lease.leaseKey), end("released"))
    }
  })
