/**
 * The send loop: one fiber assembles batches from the batcher and sends each
 * in its own fiber, at most `maxInFlight` at once; closing sends what is held
 * and hands what is still unwritten at the deadline to the failure sink.
 */
import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import { Clock, Duration, Effect, Either, FiberSet, Metric } from "effect"
import { ProducerClosedError } from "../ProducerError"
import * as Shards from "../Shards"
import { type Batch, FULL, type Outgoing } from "./batcher"
import { settle, toFailedRecord } from "./settlement"
import type { State } from "./state"

const toRequestEntry = (out: Outgoing): PutRecordsRequestEntry =>
  out.explicitHashKey === undefined
    ? { Data: out.data, PartitionKey: out.partitionKey }
    : { Data: out.data, PartitionKey: out.partitionKey, ExplicitHashKey: out.explicitHashKey }

const send = (state: State, batch: Batch) => {
  const { kinesis, meters, streamName } = state.settings
  return Effect.uninterruptibleMask((restore) =>
    Metric.increment(meters.calls).pipe(
      Effect.zipRight(
        restore(
          kinesis.putRecords({ StreamName: streamName, Records: batch.records.map(toRequestEntry) }).pipe(
            Metric.trackDuration(meters.latency)
          )
        )
      ),
      Effect.either,
      // Once Kinesis answered, the answer is recorded even if the producer is closing.
      Effect.flatMap((result) => settle(state, batch, result)),
      Effect.ensuring(Effect.sync(() => {
        state.inFlight--
        state.wake.unsafeOpen()
      }))
    )
  )
}

/** Lists the shards again after a reshard; on failure pacing keeps the old map until the next mismatch. */
const refreshShards = (state: State) =>
  Effect.suspend(() => {
    const { streamName } = state.settings
    state.stale = false
    return Shards.list(streamName).pipe(
      Effect.flatMap((shards) => Effect.map(Clock.currentTimeMillis, (now) => state.batcher.refresh(shards, now))),
      Effect.catchAll((error) =>
        Effect.logWarning(
          `Kinesis stream ${streamName} was resharded, but listing its shards failed; pacing and aggregation use the old shard map until the next mismatch`,
          error
        )
      )
    )
  })

/** The one fiber that assembles batches: fills, sends when full, lingered or flushing, else sleeps until something changes. */
export const dispatch = (state: State) =>
  Effect.gen(function*() {
    const { batcher } = state
    const { linger, maxInFlight, meters } = state.settings
    while (true) {
      state.wake.unsafeClose()
      const now = yield* Clock.currentTimeMillis
      if (state.stale && batcher.isEmpty) yield* refreshShards(state)
      const wakeAt = batcher.fill(now)
      const canSend = !batcher.isEmpty && state.inFlight < maxInFlight
      if (canSend && (wakeAt === FULL || state.flushing > 0 || now - batcher.openedAt >= linger)) {
        state.inFlight++
        yield* FiberSet.run(state.fibers, send(state, batcher.take()))
        continue
      }
      yield* Metric.set(meters.depth, state.admission.records)
      const until = Math.min(wakeAt === FULL ? Infinity : wakeAt, canSend ? batcher.openedAt + linger : Infinity)
      if (until === Infinity) yield* state.wake.await
      else yield* Effect.timeoutOption(state.wake.await, Duration.millis(Math.max(0, until - now)))
    }
  })

/** Sends at once whatever waits to fill a batch, and waits until the producer holds no record. */
export const flush = (state: State) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      state.flushing++
      state.wake.unsafeOpen()
    }),
    () => state.drained.await,
    () => Effect.sync(() => state.flushing--)
  )

/** Refuses new records, waits up to `timeout` for the held ones, then fails what is left with `ProducerClosedError`. */
export const close = (state: State, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    const { admission, batcher, settings: { meters, sink } } = state
    admission.close()
    state.flushing++
    state.wake.unsafeOpen()
    // Finalizers run uninterruptibly; the timeout must be able to interrupt the wait.
    yield* Effect.interruptible(Effect.timeoutOption(state.drained.await, timeout))
    // Stops the dispatcher and cancels calls still waiting for Kinesis; answered calls finish settling first.
    yield* FiberSet.clear(state.fibers)
    const left = batcher.drain()
    if (left.length === 0) return
    if (state.log !== undefined) {
      // Not given up on: they stay in the log, and the next producer to open it sends them.
      yield* Effect.logWarning(
        `${left.length} record(s) for Kinesis stream ${state.settings.streamName} were not written before the producer closed; they stay in the write-ahead log in ${state.log.settings.directory} and are sent when it is opened again`
      )
      for (const e of left) e.ticket?.settle(e.index, Either.left(new ProducerClosedError({ attempts: e.attempts })))
      admission.release(left.length, left.reduce((n, e) => n + e.size, 0))
      return
    }
    const failures = left.map((e) => [e, new ProducerClosedError({ attempts: e.attempts })] as const)
    yield* sink(failures.map(([e, error]) => toFailedRecord(e, error)))
    for (const [e, error] of failures) e.ticket?.settle(e.index, Either.left(error))
    admission.release(left.length, left.reduce((n, e) => n + e.size, 0))
    yield* Metric.incrementBy(meters.failed, left.length)
  })
