import { Context, Data, Effect, Either, Layer, Metric, Schedule } from "effect"
import * as Backoff from "./Backoff"
import * as DeadLetter from "./DeadLetter"
import * as Deduper from "./Deduper"
import * as Metrics from "./Metrics"
import * as Pipeline from "./Pipeline"
import { type SourceRecord, streamNameOf } from "./SourceRecord"
import * as Store from "./Store"
import * as Chunk from "./internal/chunk"
import { type Counts, countOf, type Outcome } from "./internal/outcome"

export type { Applied, Blocked, Counts, DeadLettered, Duplicate, Failed, Outcome, ProcessError } from "./internal/outcome"
export type { PoisonPolicy } from "./internal/chunk"

/** A pipeline's own code threw on an event (a bug, or an event it cannot handle); its tag is the poison outcome's `error`. */
export class PipelineFailure extends Data.TaggedError("PipelineFailure")<{ readonly pipeline: string; readonly message: string }> {}

export interface Options {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Retries of dedup claims, store writes and dead-letter sends. A failed
   * claim or send call is retried whole; of the store writes, only those that
   * failed with a retryable error are sent again (a rejected write never is).
   */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /**
   * What becomes of a poison record (unreadable, undecodable, an event a
   * pipeline throws on, a write the store rejects). "deadLetter" (the default)
   * sends it to the dead-letter sink and acknowledges it. "block" keeps it:
   * its outcome is `Blocked`, nothing after it in its shard is written (so no
   * watermark moves past it), and the shard resumes there until it is fixed.
   */
  readonly poison?: Chunk.PoisonPolicy
}

export interface ProcessContext {
  /**
   * The stream the records come from, as a name or ARN. It goes into dead-letter
   * entries, and it scopes watermarks and dedup owners: shard ids repeat across
   * streams, so two streams writing one aggregate must not share a watermark.
   * Lambda and the service pass the same stream's ARN and name: both scope by name.
   */
  readonly source?: string
}

/** What one chunk came to, for the driver to acknowledge and report. */
export interface Result {
  /** Aligned with the records. */
  readonly outcomes: ReadonlyArray<Outcome>
  readonly counts: Counts
  /** Folded writes issued to the store, per pipeline (aligned with `pipelines`); retries not counted. */
  readonly writes: ReadonlyArray<number>
  /** Dedup, store and dead-letter calls retried. */
  readonly retries: number
}

/**
 * Retry default: exponential from 100 ms with jitter, each delay capped at 5 s,
 * at most 6 retries (about 6 s in the worst case before a record is reported failed).
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "100 millis", cap: "5 seconds", times: 6 })

export class Processor extends Context.Tag("@eddy/core/Processor")<Processor, {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Processes one chunk. Records of a shard must come in shard order. Never
   * fails: what could not be done is `Failed` (or `Blocked`).
   */
  readonly process: (records: ReadonlyArray<SourceRecord>, context?: ProcessContext) => Effect.Effect<Result>
}>() {}

class RetryableFailure {}

/** Retries counted for one chunk. */
interface Tally {
  retries: number
}

/** Runs `attempt` until it reports nothing retryable left, within the schedule. */
const withRetries = (retry: Schedule.Schedule<unknown, unknown>, tally: Tally, attempt: Effect.Effect<boolean>) => {
  let attempts = 0
  const retried = Effect.zipRight(Effect.sync(() => void tally.retries++), Metric.increment(Metrics.retries))
  return Effect.suspend(() => {
    const counted = attempts++ === 0 ? attempt : Effect.zipRight(retried, attempt)
    return Effect.flatMap(counted, (again) => (again ? Effect.fail(new RetryableFailure()) : Effect.void))
  }).pipe(Effect.retry(retry), Effect.ignore)
}

/** Claims the event ids in one call, retried whole. */
const claimAll = (deduper: Deduper.Deduper["Type"], retry: Schedule.Schedule<unknown, unknown>, tally: Tally, claims: ReadonlyArray<Deduper.Claim>) => {
  let result: Either.Either<ReadonlyArray<boolean>, Deduper.DeduperError> = Either.right([])
  return withRetries(
    retry,
    tally,
    Effect.map(Effect.either(deduper.claim(claims)), (r) => {
      result = r
      return Either.isLeft(r)
    })
  ).pipe(Effect.map(() => result))
}

/** Applies the writes; each retry sends only those still failing with a retryable error. */
const writeAll = (store: Store.Store["Type"], retry: Schedule.Schedule<unknown, unknown>, tally: Tally, writes: ReadonlyArray<Store.DeltaWrite>) => {
  const errors: Array<Store.StoreError | undefined> = new Array(writes.length).fill(undefined)
  if (writes.length === 0) return Effect.succeed(errors)
  let pending = writes.map((_, i) => i)
  const attempt = Effect.suspend(() => {
    const sending = pending
    return Effect.map(Effect.either(store.apply(sending.map((i) => writes[i]!))), (results) => {
      const next: Array<number> = []
      sending.forEach((i, j) => {
        const error = Either.isLeft(results) ? results.left : results.right[j]
        errors[i] = error
        if (error !== undefined && Store.isRetryable(error)) next.push(i)
      })
      pending = next
      return next.length > 0
    })
  })
  return Effect.as(withRetries(retry, tally, attempt), errors)
}

/** Sends the dead letters in one call, retried whole; a send that still fails leaves its records failed. */
const sendDeadLetters = (deadLetter: DeadLetter.DeadLetter["Type"], retry: Schedule.Schedule<unknown, unknown>, tally: Tally, chunk: Chunk.Chunk, source: string | undefined) => {
  const { entries, records } = Chunk.deadLettersToSend(chunk, source)
  if (entries.length === 0) return Effect.void
  let error: DeadLetter.DeadLetterError | undefined
  return withRetries(
    retry,
    tally,
    Effect.map(Effect.either(deadLetter.send(entries)), (r) => {
      error = Either.isLeft(r) ? r.left : undefined
      return error !== undefined
    })
  ).pipe(Effect.map(() => {
    if (error !== undefined) for (const i of records) chunk.outcomes[i] = { _tag: "Failed", error }
  }))
}

const scoper = (source: string | undefined): (shardId: string) => string => {
  const stream = source === undefined ? undefined : streamNameOf(source)
  return stream === undefined ? (shardId) => shardId : (shardId) => `${stream}/${shardId}`
}

export const make = (options: Options) =>
  Effect.gen(function*() {
    const { pipelines } = options
    Pipeline.validate(pipelines)
    const store = yield* Store.Store
    const deduper = yield* Deduper.Deduper
    const deadLetter = yield* DeadLetter.DeadLetter
    const retry = options.retry ?? defaultRetry
    const plan = Chunk.plan(pipelines, options.poison ?? "deadLetter")
    const writeCounters = pipelines.map((p) => Metrics.storeWrites.pipe(Metric.tagged("pipeline", p.name)))

    const process = (records: ReadonlyArray<SourceRecord>, context: ProcessContext = {}) =>
      Effect.gen(function*() {
        const started = Date.now()
        const tally: Tally = { retries: 0 }
        const chunk = Chunk.decode(plan, records, scoper(context.source))
        if (chunk.claims.length > 0) Chunk.settleClaims(chunk, yield* claimAll(deduper, retry, tally, chunk.claims))
        Chunk.poisonPipelineFailures(plan, chunk)
        Chunk.settlePoison(plan, chunk)
        const groups = Chunk.group(plan, chunk)
        const errors = yield* writeAll(store, retry, tally, Chunk.foldedWrites(plan, groups))
        Chunk.settleWrites(plan, chunk, groups, errors)
        if (plan.policy === "deadLetter") yield* sendDeadLetters(deadLetter, retry, tally, chunk, context.source)
        const result: Result = {
          outcomes: chunk.outcomes,
          counts: countOf(chunk.outcomes),
          writes: Chunk.writesPerPipeline(plan, groups),
          retries: tally.retries
        }
        yield* recordMetrics(result, writeCounters, records.length, Date.now() - started)
        return result
      })

    return Processor.of({ pipelines, process })
  })

const recordMetrics = (result: Result, writeCounters: ReadonlyArray<Metric.Metric.Counter<number>>, n: number, millis: number) =>
  Effect.all([
    Metric.incrementBy(Metrics.recordsIn, n),
    Metric.incrementBy(Metrics.recordsApplied, result.counts.applied),
    Metric.incrementBy(Metrics.recordsDuplicate, result.counts.duplicate),
    Metric.incrementBy(Metrics.recordsDeadLettered, result.counts.deadLettered),
    Metric.incrementBy(Metrics.recordsBlocked, result.counts.blocked),
    Metric.incrementBy(Metrics.recordsFailed, result.counts.failed),
    ...writeCounters.map((counter, p) => Metric.incrementBy(counter, result.writes[p]!)),
    Metric.update(Metrics.batchDuration, millis)
  ], { discard: true })

export const layer = (options: Options): Layer.Layer<Processor, never, Store.Store | Deduper.Deduper | DeadLetter.DeadLetter> =>
  Layer.effect(Processor, make(options))
