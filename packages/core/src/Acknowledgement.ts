/**
 * Where each shard resumes after a chunk. Kinesis orders a shard, so both
 * drivers acknowledge a shard up to its first record that is not done:
 * Lambda reports that record (it redelivers from the lowest reported sequence
 * number), the service checkpoints the record before it.
 */
import type { Outcome } from "./Processor"
import type { SourceRecord } from "./SourceRecord"

/** A record is done unless it failed, is blocked, or was never processed (`undefined`, a chunk cut short by a deadline). */
export const isDone = (outcome: Outcome | undefined): boolean =>
  outcome !== undefined && outcome._tag !== "Failed" && outcome._tag !== "Blocked"

/** One shard of a chunk, acknowledged. */
export interface ShardAcknowledgement {
  readonly shardId: string
  /** The last record done before `resumeAt` (the shard's last record when all are done); undefined when its first record is not done. */
  readonly done: SourceRecord | undefined
  /** The first record not done: where the shard resumes. Undefined when every record of the shard is done. */
  readonly resumeAt: SourceRecord | undefined
}

/**
 * Acknowledges every shard of `records` from `outcomes` (aligned with
 * `records`; the records of a shard in shard order), in order of each shard's
 * first record.
 */
export const byShard = (
  records: ReadonlyArray<SourceRecord>,
  outcomes: ReadonlyArray<Outcome | undefined>,
  done: (outcome: Outcome | undefined) => boolean = isDone
): Array<ShardAcknowledgement> => {
  const shards = new Map<string, { shardId: string; done: SourceRecord | undefined; resumeAt: SourceRecord | undefined }>()
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    let shard = shards.get(record.shardId)
    if (shard === undefined) shards.set(record.shardId, shard = { shardId: record.shardId, done: undefined, resumeAt: undefined })
    if (shard.resumeAt !== undefined) continue
    if (done(outcomes[i])) shard.done = record
    else shard.resumeAt = record
  }
  return Array.from(shards.values())
}

/**
 * For the records of one shard, in shard order: how many are done before the
 * first that is not (all of them when every one is), the count to move past.
 */
export const doneCount = (outcomes: ReadonlyArray<Outcome | undefined>, done: (outcome: Outcome | undefined) => boolean = isDone): number => {
  let i = 0
  while (i < outcomes.length && done(outcomes[i])) i++
  return i
}
