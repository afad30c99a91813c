import { Context, Data, Effect, Either, Layer, Metric, Option, Schedule } from "effect"
import * as Backoff from "./Backoff"
import * as DeadLetter from "./DeadLetter"
import * as Deduper from "./Deduper"
import * as Metrics from "./Metrics"
import * as Pipeline from "./Pipeline"
import { type SourceRecord, streamNameOf } from "./SourceRecord"
import * as Store from "./Store"
import * as Chunk from "./internal/chunk"
import * as Lateness from "./internal/lateness"
import { type Counts, countOf, type DeploymentFault, isDeploymentFault, type Outcome, type ProcessError } from "./internal/outcome"

export type { Applied, Blocked, Counts, DeadLettered, DeploymentFault, Duplicate, Failed, Outcome, ProcessError } from "./internal/outcome"
export { isDeploymentFault } from "./internal/outcome"
export type { PoisonPolicy } from "./internal/chunk"

/** A pipeline's own code threw on an event (a bug, or an event it cannot handle); its tag is the poison outcome's `error`. */
export class PipelineFailure extends Data.TaggedError("PipelineFailure")<{ readonly pipeline: string; readonly message: string }> {}

/** The processor's pipelines, retries and poison policy. */
export interface Options<P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>> {
  /** The pipelines; each one's writes go to its own store (`Pipeline.store`), all in one chunk. */
  readonly pipelines: P
  /**
   * Retries of dedup claims, store writes and dead-letter sends. A failed
   * claim or send call is retried whole; of the store writes, only those that
   * failed with a retryable error are sent again. Neither a rejected write
   * (the record's fault) nor a deployment fault (a missing table, access
   * denied: the records wait unacknowledged) is retried in the chunk.
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
  /**
   * What becomes of a record of a `schemaVersion` the decoder does not know
   * (`UnknownSchemaVersionError`: a producer rolled out a version before this
   * consumer). Default: as `poison` says. "block" holds its shard there until
   * a consumer that reads the version is deployed, even when other poison is
   * dead-lettered; "deadLetter" sends it to the sink, to redrive once one is
   * (under the "block" poison policy it blocks all the same: nothing is dead-lettered there).
   */
  readonly unknownVersion?: Chunk.PoisonPolicy
  /**
   * The sha-256 of a record's data, in hex, kept with its dedup claim
   * (default `Deduper.payloadHashOf`, plain TypeScript). Drivers on Node pass
   * `(data) => crypto.hash("sha256", data, "hex")`: the same digest, faster.
   */
  readonly payloadHash?: (data: Uint8Array) => string
  /**
   * What the source keeps in order (see `Store.Ordering`): "shard" (the
   * default) or "partitionKey", for Lambda with ParallelizationFactor above 1.
   * Every pipeline's store must keep that ordering exactly-once (the built-in
   * ones do); the processor refuses to start otherwise.
   */
  readonly ordering?: Store.Ordering
}

/** Where a chunk comes from: the stream, so watermarks and claims are scoped by it. */
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
  /** Calls the deployment refused (a missing table, access denied): the alarm. Their records are `Failed`. */
  readonly deploymentFaults: ReadonlyArray<DeploymentFaultReport>
  /** Records whose event id was held with another payload (dead-lettered or blocked as `EventIdConflict`). */
  readonly conflicts: number
  /**
   * Records that arrived after their bucket closed, per pipeline (aligned with
   * `pipelines`): left out and dead-lettered as `LateEvent`, or applied anyway,
   * as each window's `late` policy says.
   */
  readonly late: ReadonlyArray<number>
  /** The items written, now or by an earlier delivery (failed writes left out): what a driver reporting final values follows. */
  readonly written: ReadonlyArray<Store.ItemRef>
}

/**
 * Retry default: exponential from 100 ms with jitter, each delay capped at 5 s,
 * at most 6 retries (about 6 s in the worst case before a record is reported failed).
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "100 millis", cap: "5 seconds", times: 6 })

/** Processes a chunk of source records through the pipelines, exactly once, into the store. */
export class Processor extends Context.Tag("@eddy/core/Processor")<Processor, {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Processes one chunk. Records of a shard must come in shard order. Never
   * fails: what could not be done is `Failed` (or `Blocked`).
   */
  readonly process: (records: ReadonlyArray<SourceRecord>, context?: ProcessContext) => Effect.Effect<Result>
}>() {}

class RetryableFailure {}

/** A call the deployment refused in one chunk, as the driver reports it (once per service, pipeline and error). */
export interface DeploymentFaultReport {
  readonly service: "store" | "dedup" | "deadLetter"
  /** `*` for dedup and dead-letter calls, which all pipelines share. */
  readonly pipeline: string
  /** The backend's name for it, e.g. `AccessDeniedException`. */
  readonly error: string
  /** What to fix. */
  readonly message: string
  /** Calls (item writes, for the store) refused. */
  readonly count: number
}

/** Retries and deployment faults counted for one chunk. */
interface Tally {
  retries: number
  readonly faults: Map<string, { -readonly [K in keyof DeploymentFaultReport]: DeploymentFaultReport[K] }>
}

const noteFault = (tally: Tally, service: DeploymentFaultReport["service"], pipeline: string, error: DeploymentFault): void => {
  const id = `${service}\u0000${pipeline}\u0000${error.code}`
  const known = tally.faults.get(id)
  if (known === undefined) tally.faults.set(id, { service, pipeline, error: error.code, message: error.message, count: 1 })
  else known.count++
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

/** One call, retried whole while it fails with a retryable error; a deployment fault is noted and not retried. */
const callWithRetries = <A, E extends ProcessError>(
  retry: Schedule.Schedule<unknown, unknown>,
  tally: Tally,
  service: DeploymentFaultReport["service"],
  call: Effect.Effect<A, E>,
  empty: A
) => {
  let result: Either.Either<A, E> = Either.right(empty)
  return withRetries(
    retry,
    tally,
    Effect.map(Effect.either(call), (r) => {
      result = r
      return Either.isLeft(r) && !isDeploymentFault(r.left)
    })
  ).pipe(Effect.map(() => {
    if (Either.isLeft(result) && isDeploymentFault(result.left)) noteFault(tally, service, "*", result.left)
    return result
  }))
}

/** Applies the writes; each retry sends only those still failing with a retryable error. */
const writeAll = (store: Store.Store["Type"], retry: Schedule.Schedule<unknown, unknown>, tally: Tally, writes: ReadonlyArray<Store.DeltaWrite>) => {
  const errors: Array<Store.WriteResult> = new Array(writes.length).fill(undefined)
  if (writes.length === 0) return Effect.succeed(errors)
  let pending = writes.map((_, i) => i)
  const attempt = Effect.suspend(() => {
    const sending = pending
    return Effect.map(Effect.either(store.apply(sending.map((i) => writes[i]!))), (results) => {
      const next: Array<number> = []
      sending.forEach((i, j) => {
        const error = Either.isLeft(results) ? results.left : results.right[j]
        // A retry finding its own earlier attempt (which failed but landed) applied it in this call.
        errors[i] = error?._tag === "AlreadyApplied" && Store.isFailure(errors[i]) ? undefined : error
        if (Store.isFailure(error) && Store.isRetryable(error)) next.push(i)
      })
      pending = next
      return next.length > 0
    })
  })
  return Effect.as(withRetries(retry, tally, attempt), errors).pipe(Effect.tap((errors) =>
    Effect.sync(() => {
      errors.forEach((error, i) => {
        if (Store.isFailure(error) && isDeploymentFault(error)) noteFault(tally, "store", writes[i]!.pipeline, error)
      })
    })
  ))
}

/**
 * Gives up the claims of the records that wrote nothing, then sends the dead
 * letters. A record whose claim could not be given up is not sent: it stays
 * failed and is redone on redelivery, where it finds its own claim.
 */
const releaseAndSend = (
  deduper: Deduper.Deduper["Type"],
  deadLetter: DeadLetter.DeadLetter["Type"],
  retry: Schedule.Schedule<unknown, unknown>,
  tally: Tally,
  chunk: Chunk.Chunk,
  source: string | undefined
) =>
  Effect.gen(function*() {
    const sending = Chunk.deadLettersToSend(chunk, source)
    const release = Chunk.claimsToRelease(chunk, sending.records)
    const unreleased = new Set<number>()
    if (release.claims.length > 0) {
      const released = yield* callWithRetries(retry, tally, "dedup", deduper.release(release.claims), undefined)
      if (Either.isLeft(released)) {
        for (const i of release.records) {
          if (chunk.outcomes[i]!._tag === "DeadLettered") chunk.outcomes[i] = { _tag: "Failed", error: released.left }
          unreleased.add(i)
        }
      }
    }
    const entries = sending.entries.filter((_, k) => !unreleased.has(sending.records[k]!))
    const records = sending.records.filter((i) => !unreleased.has(i))
    if (entries.length === 0) return
    const sent = yield* callWithRetries(retry, tally, "deadLetter", deadLetter.send(entries), undefined)
    if (Either.isLeft(sent)) for (const i of records) chunk.outcomes[i] = { _tag: "Failed", error: sent.left }
  })

const scoper = (source: string | undefined): (shardId: string) => string => {
  const stream = source === undefined ? undefined : streamNameOf(source)
  if (stream === undefined) return (shardId) => shardId
  // One string per shard: the store's and the deduper's maps hash it once, not once per write.
  const scoped = new Map<string, string>()
  return (shardId) => {
    let id = scoped.get(shardId)
    if (id === undefined) scoped.set(shardId, id = `${stream}/${shardId}`)
    return id
  }
}

/**
 * The store of each pipeline, from the context: one store routing each write
 * and read to its pipeline's (for the processor and for queries), spreading
 * the items of pipelines with `subItemsPerKey` (`Store.spread`).
 */
export const storesOf = <const P extends ReadonlyArray<Pipeline.Pipeline>>(
  pipelines: P,
  ordering: Store.Ordering = "shard"
): Effect.Effect<Store.Service, never, Pipeline.StoresOf<P>> =>
  Effect.gen(function*() {
    const byPipeline = new Map<string, Store.Service>()
    for (const p of pipelines) {
      const placement: Store.Placement = p.store ?? Store.Store
      const store = yield* Effect.serviceOption(Store.tagOf(placement))
      if (Option.isNone(store)) {
        return yield* Effect.dieMessage(
          `pipeline ${p.name} stores its aggregates in ${placement.key}, but no layer provides it: add that store's layer to the driver's layer`
        )
      }
      if (!Store.keeps(store.value, ordering)) {
        return yield* Effect.dieMessage(
          `pipeline ${p.name} stores its aggregates in ${placement.key}, which does not keep "${ordering}" ordering exactly-once: ` +
            `use a store that does (memory, DynamoDB, Redis) or the "shard" ordering (ParallelizationFactor 1)`
        )
      }
      byPipeline.set(p.name, store.value)
    }
    return Store.spread(Store.routed(byPipeline), pipelines)
  })

/**
 * The pipelines as a driver passes them on once its own options have made
 * the layer provide their stores (`Pipeline.StoresOf`): the processor then
 * asks for no store by type, and still finds each in the context.
 */
export const provided = (pipelines: ReadonlyArray<Pipeline.Pipeline>): ReadonlyArray<Pipeline.Pipeline<any, any, never>> =>
  pipelines as ReadonlyArray<Pipeline.Pipeline<any, any, never>>

/** A processor on its pipelines' stores, the `Deduper` and the `DeadLetter` in context. */
export const make = <const P extends ReadonlyArray<Pipeline.Pipeline>>(
  options: Options<P>
): Effect.Effect<Processor["Type"], never, Pipeline.StoresOf<P> | Deduper.Deduper | DeadLetter.DeadLetter> =>
  Effect.gen(function*() {
    const { pipelines } = options
    Pipeline.validate(pipelines)
    const ordering = options.ordering ?? "shard"
    const store = yield* storesOf(pipelines, ordering)
    const deduper = yield* Deduper.Deduper
    const deadLetter = yield* DeadLetter.DeadLetter
    const retry = options.retry ?? defaultRetry
    const poison = options.poison ?? "deadLetter"
    const plan = Chunk.plan(pipelines, poison, options.payloadHash ?? Deduper.payloadHashOf, options.unknownVersion ?? poison)
    const writeCounters = pipelines.map((p) => Metrics.storeWrites.pipe(Metric.tagged("pipeline", p.name)))
    const lateCounters = pipelines.map((p) => Metrics.lateEvents.pipe(Metric.tagged("pipeline", p.name)))

    const process = (records: ReadonlyArray<SourceRecord>, context: ProcessContext = {}) =>
      Effect.gen(function*() {
        const started = Date.now()
        const tally: Tally = { retries: 0, faults: new Map() }
        const chunk = Chunk.decode(plan, records, scoper(context.source))
        if (chunk.claims.length > 0) Chunk.settleClaims(plan, chunk, yield* callWithRetries(retry, tally, "dedup", deduper.claim(chunk.claims), []))
        Chunk.poisonPipelineFailures(plan, chunk)
        Chunk.settlePoison(plan, chunk)
        const late = Lateness.classify(plan, chunk)
        const groups = Chunk.group(plan, chunk)
        const writes = Chunk.foldedWrites(plan, groups, ordering)
        const errors = yield* writeAll(store, retry, tally, writes)
        Chunk.settleWrites(plan, chunk, groups, errors.map((r) => Store.isFailure(r) ? r : undefined))
        yield* releaseAndSend(deduper, plan.policy === "deadLetter" ? deadLetter : noSink, retry, tally, chunk, context.source)
        yield* sendLate(deadLetter, retry, tally, plan, chunk, late, context.source)
        // Last: a record whose writes an earlier delivery landed still sends the late dead letter that delivery could not.
        Chunk.settleAlreadyApplied(chunk, groups, errors)
        const result: Result = {
          outcomes: chunk.outcomes,
          counts: countOf(chunk.outcomes),
          writes: Chunk.writesPerPipeline(plan, groups),
          retries: tally.retries,
          deploymentFaults: Array.from(tally.faults.values()),
          conflicts: chunk.conflicts,
          late: late.counts,
          written: writes.filter((_, i) => !Store.isFailure(errors[i]))
        }
        yield* recordMetrics(result, writeCounters, lateCounters, records.length, Date.now() - started)
        yield* logDeploymentFaults(result.deploymentFaults)
        return result
      })

    return Processor.of({ pipelines, process })
  })

/**
 * Sends the dead letters of late shares, last: their records' writes are done,
 * so a failed send leaves them for a redelivery that writes nothing twice.
 */
const sendLate = (
  deadLetter: DeadLetter.DeadLetter["Type"],
  retry: Schedule.Schedule<unknown, unknown>,
  tally: Tally,
  plan: Chunk.Plan,
  chunk: Chunk.Chunk,
  late: Lateness.Lateness,
  source: string | undefined
) =>
  Effect.suspend(() => {
    const sending = Lateness.deadLettersToSend(plan, chunk, late.deadLetters, source)
    if (sending.entries.length === 0) return Effect.void
    return Effect.map(callWithRetries(retry, tally, "deadLetter", deadLetter.send(sending.entries), undefined), (sent) => {
      if (Either.isLeft(sent)) for (const i of sending.records) chunk.outcomes[i] = { _tag: "Failed", error: sent.left }
    })
  })

/** Under "block" nothing is dead-lettered: `deadLettersToSend` finds no entry, so this is never called. */
const noSink: DeadLetter.DeadLetter["Type"] = { send: () => Effect.void }

/** One error line per fault and chunk, saying what to fix; the records wait unacknowledged. */
const logDeploymentFaults = (faults: ReadonlyArray<DeploymentFaultReport>) =>
  faults.length === 0 ? Effect.void : Effect.forEach(faults, (f) =>
    Effect.logError(`the deployment refused ${f.count} ${f.service} call(s): ${f.message}; the records are not acknowledged and their shards wait here until this is fixed`).pipe(
      Effect.annotateLogs({ service: f.service, pipeline: f.pipeline, error: f.error })
    ), { discard: true })

const recordMetrics = (
  result: Result,
  writeCounters: ReadonlyArray<Metric.Metric.Counter<number>>,
  lateCounters: ReadonlyArray<Metric.Metric.Counter<number>>,
  n: number,
  millis: number
) =>
  Effect.all([
    Metric.incrementBy(Metrics.recordsIn, n),
    Metric.incrementBy(Metrics.recordsApplied, result.counts.applied),
    Metric.incrementBy(Metrics.recordsDuplicate, result.counts.duplicate),
    Metric.incrementBy(Metrics.recordsDeadLettered, result.counts.deadLettered),
    Metric.incrementBy(Metrics.recordsBlocked, result.counts.blocked),
    Metric.incrementBy(Metrics.recordsFailed, result.counts.failed),
    Metric.incrementBy(Metrics.eventIdConflicts, result.conflicts),
    ...writeCounters.map((counter, p) => Metric.incrementBy(counter, result.writes[p]!)),
    ...lateCounters.map((counter, p) => Metric.incrementBy(counter, result.late[p]!)),
    ...result.deploymentFaults.map((f) =>
      Metric.incrementBy(
        Metrics.deploymentFaults.pipe(Metric.tagged("service", f.service), Metric.tagged("pipeline", f.pipeline), Metric.tagged("error", f.error)),
        f.count
      )
    ),
    Metric.update(Metrics.batchDuration, millis)
  ], { discard: true })

/** `make` as a layer. */
export const layer = <const P extends ReadonlyArray<Pipeline.Pipeline>>(
  options: Options<P>
): Layer.Layer<Processor, never, Pipeline.StoresOf<P> | Deduper.Deduper | DeadLetter.DeadLetter> => Layer.effect(Processor, make(options))
