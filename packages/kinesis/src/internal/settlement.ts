/**
 * Settling a sent batch: acknowledging what Kinesis wrote, planning a retry
 * for what it rejected retryably (alone or with the whole call), and handing
 * the rest to the failure sink, then freeing their room.
 */
import type { PutRecordsOutput } from "@aws-sdk/client-kinesis"
import { Clock, Effect, Either, Metric, ScheduleDecision, ScheduleIntervals } from "effect"
import { isRetryable, isRetryableRecordError, type KinesisError } from "../Kinesis"
import { type FailedRecord, type PutFailure, PutRecordsFailedError, RecordRejectedError, type RetryCause } from "../ProducerError"
import type { Batch, Entry, Outgoing } from "./batcher"
import type { State } from "./state"

export const toFailedRecord = (e: Entry, error: PutFailure): FailedRecord =>
  e.explicitHashKey === undefined
    ? { partitionKey: e.partitionKey, data: e.data, error }
    : { partitionKey: e.partitionKey, explicitHashKey: e.explicitHashKey, data: e.data, error }

/** What one PutRecords answer means for its records. */
interface Verdict {
  sent: number
  throttled: number
  readonly retrying: Array<Entry>
  readonly causes: Array<RetryCause>
  readonly failed: Array<[Entry, PutFailure]>
}

const acknowledge = (out: Outgoing, shardId: string, sequenceNumber: string) => {
  const entries = out.entries
  for (let j = 0; j < entries.length; j++) {
    const e = entries[j]!
    e.ticket?.settle(
      e.index,
      Either.right(
        out.aggregated
          ? { shardId, sequenceNumber, subSequenceNumber: j, attempts: e.attempts }
          : { shardId, sequenceNumber, attempts: e.attempts }
      )
    )
  }
}

/** The whole call failed: every record retries with it, or fails with it. */
const callFailed = (batch: Batch, error: KinesisError, verdict: Verdict) => {
  if (error._tag === "KinesisThrottledError") verdict.throttled = batch.userRecords
  for (const out of batch.records) {
    for (const e of out.entries) {
      if (isRetryable(error)) {
        verdict.retrying.push(e)
        verdict.causes.push(error)
      } else {
        verdict.failed.push([e, new PutRecordsFailedError({ cause: error, attempts: e.attempts })])
      }
    }
  }
}

/** The call succeeded: acknowledges each written record, sorts the rejected ones by their error code. */
const callAnswered = (state: State, batch: Batch, output: PutRecordsOutput, now: number, verdict: Verdict) => {
  const results = output.Records ?? []
  for (let i = 0; i < batch.records.length; i++) {
    const out = batch.records[i]!
    const r = results[i]
    if (r?.SequenceNumber !== undefined && r.ErrorCode === undefined) {
      verdict.sent += out.entries.length
      // Kinesis put it elsewhere than the shard map said: the stream was resharded.
      if (r.ShardId !== out.shardId) state.stale = true
      acknowledge(out, r.ShardId!, r.SequenceNumber)
      continue
    }
    const errorCode = r?.ErrorCode ?? "MissingResult"
    const errorMessage = r?.ErrorMessage ?? "PutRecords returned no result for this record"
    if (errorCode === "ProvisionedThroughputExceededException") {
      verdict.throttled += out.entries.length
      state.batcher.throttled(out.shardId, now)
    }
    for (const e of out.entries) {
      const error = new RecordRejectedError({ errorCode, errorMessage, attempts: e.attempts })
      if (isRetryableRecordError(errorCode)) {
        verdict.retrying.push(e)
        verdict.causes.push(error)
      } else {
        verdict.failed.push([e, error])
      }
    }
  }
}

/**
 * Steps the retry schedule once per group of records that share a
 * schedule state and a cause (typically a whole batch's rejects share
 * one), so the retry path allocates no Effect per record either. Entries
 * the schedule gives up on join `failed`; the others get their next state
 * and due time and join `again`.
 */
const planRetries = (state: State, verdict: Verdict, now: number, again: Set<Entry>) => {
  const { causes, failed, retrying: entries } = verdict
  const groups = new Map<unknown, Map<string, Array<number>>>()
  entries.forEach((e, i) => {
    const cause = causes[i]!
    const key = cause._tag === "RecordRejectedError" ? cause.errorCode : cause._tag
    let byCause = groups.get(e.retryState)
    if (byCause === undefined) groups.set(e.retryState, byCause = new Map())
    const group = byCause.get(key)
    if (group === undefined) byCause.set(key, [i])
    else group.push(i)
  })
  return Effect.forEach(
    [...groups].flatMap(([retryState, byCause]) => [...byCause.values()].map((group) => [retryState, group] as const)),
    ([retryState, group]) =>
      Effect.map(state.settings.schedule.step(now, causes[group[0]!]!, retryState), ([next, , decision]) => {
        for (const i of group) {
          const e = entries[i]!
          if (ScheduleDecision.isDone(decision)) {
            const cause = causes[i]!
            failed.push([e, cause._tag === "RecordRejectedError" ? cause : new PutRecordsFailedError({ cause, attempts: e.attempts })])
          } else {
            e.retryState = next
            e.due = ScheduleIntervals.start(decision.intervals)
            again.add(e)
          }
        }
      }),
    { discard: true }
  )
}

/** Records the answer to one sent batch; runs even while the producer closes. */
export const settle = (state: State, batch: Batch, result: Either.Either<PutRecordsOutput, KinesisError>) =>
  Effect.gen(function*() {
    const { admission, batcher, settings: { meters, sink } } = state
    const now = yield* Clock.currentTimeMillis
    const verdict: Verdict = { sent: 0, throttled: 0, retrying: [], causes: [], failed: [] }
    if (Either.isLeft(result)) callFailed(batch, result.left, verdict)
    else callAnswered(state, batch, result.right, now, verdict)
    const again = new Set<Entry>()
    if (verdict.retrying.length > 0) yield* planRetries(state, verdict, now, again)
    const { failed } = verdict
    if (failed.length > 0) yield* sink(failed.map(([e, error]) => toFailedRecord(e, error)))

    let doneBytes = 0
    const logged: Array<number> = []
    for (const out of batch.records) {
      batcher.finish(out, again.size > 0 ? again : undefined)
      for (const e of out.entries) {
        if (again.size > 0 && again.has(e)) continue
        doneBytes += e.size
        if (e.logSeq >= 0) logged.push(e.logSeq)
      }
    }
    // Written or given to the sink: a restart must not send them again.
    state.log?.acknowledge(logged)
    for (const [e, error] of failed) e.ticket?.settle(e.index, Either.left(error))
    admission.release(batch.userRecords - again.size, doneBytes)
    if (admission.records === 0) state.drained.unsafeOpen()
    yield* Metric.incrementBy(meters.sent, verdict.sent)
    yield* Metric.incrementBy(meters.failed, failed.length)
    yield* Metric.incrementBy(meters.retried, again.size)
    yield* Metric.incrementBy(meters.throttled, verdict.throttled)
  })
