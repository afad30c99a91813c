import { Context, Data, Effect, Either, Layer, Metric, Schedule } from "effect"
import * as Backoff from "./Backoff"
import * as DeadLetter from "./DeadLetter"
import * as Deduper from "./Deduper"
import * as Metrics from "./Metrics"
import * as Pipeline from "./Pipeline"
import { comparePosition, positionId, type SourceRecord, streamNameOf } from "./SourceRecord"
import * as Store from "./Store"
import * as Window from "./Window"

/** What became of one source record. */
export type Outcome = Applied | Duplicate | DeadLettered | Failed

/** Its aggregates are durably written (or it had nothing to aggregate). */
export interface Applied {
  readonly _tag: "Applied"
}

/** A producer duplicate: another record with the same event id holds the claim. */
export interface Duplicate {
  readonly _tag: "Duplicate"
}

/** Sent to the dead-letter sink; acknowledge it so it does not block its shard. */
export interface DeadLettered {
  readonly _tag: "DeadLettered"
  readonly error: string
  readonly reason: string
}

/** Not done; the driver must redeliver it (and everything after it in its shard). */
export interface Failed {
  readonly _tag: "Failed"
  readonly error: ProcessError
}

export type ProcessError = Store.StoreError | Deduper.DeduperError | DeadLetter.DeadLetterError

const applied: Applied = { _tag: "Applied" }
const duplicate: Duplicate = { _tag: "Duplicate" }

/** A pipeline's own code threw on an event: a bug or an event it cannot handle. */
export class PipelineFailure extends Data.TaggedError("PipelineFailure")<{ readonly pipeline: string; readonly message: string }> {}

export interface Options {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Retries of store writes, dedup claims and dead-letter sends. Only errors typed
   * as retryable are retried, and only the writes that failed.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown>
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


/**
 * Retry default: exponential from 100 ms with jitter, each delay capped at 5 s,
 * at most 6 retries (about 6 s in the worst case before a record is reported failed).
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "100 millis", cap: "5 seconds", times: 6 })

export class Processor extends Context.Tag("@eddy/core/Processor")<Processor, {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Processes one chunk; outcomes align with `records`. Records of a shard must
   * come in shard order. Never fails: what could not be done is `Failed`.
   */
  readonly process: (records: ReadonlyArray<SourceRecord>, context?: ProcessContext) => Effect.Effect<ReadonlyArray<Outcome>>
}>() {}

/** Everything one chunk writes for one `(pipeline, key, bucket, shard)`. */
interface Group {
  readonly pipeline: number
  readonly key: string
  readonly bucket: string
  readonly shardId: string
  readonly expiresAt: number | undefined
  readonly contributions: Array<Store.Contribution>
  readonly records: Array<number>
  ordered: boolean
}

class RetryableFailure {}

export const make = (options: Options) =>
  Effect.gen(function*() {
    const { pipelines } = options
    Pipeline.validate(pipelines)
    const store = yield* Store.Store
    const deduper = yield* Deduper.Deduper
    const deadLetter = yield* DeadLetter.DeadLetter
    const retry = options.retry ?? defaultRetry
    const source = pipelines[0]!.source
    const bucketers = pipelines.map((p) => Window.bucketer(p.window))
    const writeCounters = pipelines.map((p) => Metrics.storeWrites.pipe(Metric.tagged("pipeline", p.name)))
    const eventTypes = new Set(pipelines.flatMap((p) => [...p.events]))
    const takesAny = (type: string) => eventTypes.has(type)

    /** Runs `attempt` until it reports nothing retryable left, within the schedule. */
    const withRetries = (attempt: Effect.Effect<boolean>) => {
      let attempts = 0
      return Effect.suspend(() => {
        const counted = attempts++ === 0 ? attempt : Effect.zipRight(Metric.increment(Metrics.retries), attempt)
        return Effect.flatMap(counted, (again) => (again ? Effect.fail(new RetryableFailure()) : Effect.void))
      }).pipe(Effect.retry(retry), Effect.ignore)
    }

    const claimAll = (claims: ReadonlyArray<Deduper.Claim>) => {
      let result: Either.Either<ReadonlyArray<boolean>, Deduper.DeduperError> = Either.right([])
      return withRetries(
        Effect.map(Effect.either(deduper.claim(claims)), (r) => {
          result = r
          return Either.isLeft(r)
        })
      ).pipe(Effect.map(() => result))
    }

    const writeAll = (writes: ReadonlyArray<Store.DeltaWrite>) => {
      const errors: Array<Store.StoreError | undefined> = new Array(writes.length).fill(undefined)
      let pending = writes.map((_, i) => i)
      // Built per attempt: each retry sends only the writes still pending.
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
      return writes.length === 0 ? Effect.succeed(errors) : Effect.as(withRetries(attempt), errors)
    }

    const sendDeadLetters = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>) => {
      let error: DeadLetter.DeadLetterError | undefined
      return withRetries(
        Effect.map(Effect.either(deadLetter.send(entries)), (r) => {
          error = Either.isLeft(r) ? r.left : undefined
          return error !== undefined
        })
      ).pipe(Effect.map(() => error))
    }

    const process = (records: ReadonlyArray<SourceRecord>, context: ProcessContext = {}) =>
      Effect.gen(function*() {
        const started = Date.now()
        const n = records.length
        const stream = context.source === undefined ? undefined : streamNameOf(context.source)
        const scopeOf = stream === undefined ? (shardId: string) => shardId : (shardId: string) => `${stream}/${shardId}`
        const outcomes: Array<Outcome> = new Array(n).fill(applied)
        const deadLetters: Array<DeadLetter.DeadLetterEntry> = []
        const deadLetterRecords: Array<number> = []
        const deadLetterOf = (i: number, error: string, reason: string, pipeline?: string) => {
          const r = records[i]!
          deadLetters.push({
            error,
            reason,
            payload: r.data,
            partitionKey: r.partitionKey,
            shardId: r.shardId,
            sequenceNumber: r.sequenceNumber,
            subSequenceNumber: r.subSequenceNumber,
            arrivalTime: r.arrivalTime,
            ...(pipeline !== undefined ? { pipeline } : {}),
            ...(context.source !== undefined ? { source: context.source } : {})
          })
          deadLetterRecords.push(i)
          outcomes[i] = { _tag: "DeadLettered", error, reason }
        }

        // 1. Decode, drop in-chunk duplicates and emit pairs in one pass. Only the
        // small pairs outlive the pass, not the decoded events, so the events die
        // young and garbage collection stays cheap.
        const claims: Array<Deduper.Claim> = []
        const claimed: Array<number> = []
        const firstByEventId = new Map<string, number>()
        const pairRecord: Array<number> = []
        const pairPipeline: Array<number> = []
        const pairKey: Array<string> = []
        const pairValue: Array<unknown> = []
        const pairBucket: Array<Window.Bucket> = []
        const pipelineFailures: Array<{ readonly record: number; readonly pipeline: number; readonly message: string }> = []
        const scratchKeys: Array<string> = []
        const scratchValues: Array<unknown> = []
        const collect = (key: string, value: unknown) => {
          scratchKeys.push(key)
          scratchValues.push(value)
        }
        for (let i = 0; i < n; i++) {
          const r = records[i]!
          if (r.unreadable !== undefined) {
            deadLetterOf(i, r.unreadable.error, r.unreadable.reason)
            continue
          }
          const decoded = source.decoder.decode(r.data)
          if (Either.isLeft(decoded)) {
            deadLetterOf(i, decoded.left._tag, decoded.left.message)
            continue
          }
          const event = decoded.right
          if (!takesAny(event.type)) continue
          const eventId = source.eventId(event)
          if (firstByEventId.has(eventId)) {
            outcomes[i] = duplicate
            continue
          }
          firstByEventId.set(eventId, i)
          claims.push({ eventId, owner: positionId(scopeOf(r.shardId), r) })
          claimed.push(i)
          let time: number | undefined
          for (let p = 0; p < pipelines.length; p++) {
            const pipeline = pipelines[p]!
            if (!pipeline.events.has(event.type)) continue
            scratchKeys.length = 0
            scratchValues.length = 0
            try {
              pipeline.run(event, collect)
            } catch (cause) {
              pipelineFailures.push({ record: i, pipeline: p, message: cause instanceof Error ? cause.message : String(cause) })
              continue
            }
            if (scratchKeys.length === 0) continue
            time ??= source.eventTime(event)
            const bucket = bucketers[p]!(time)
            for (let k = 0; k < scratchKeys.length; k++) {
              pairRecord.push(i)
              pairPipeline.push(p)
              pairKey.push(scratchKeys[k]!)
              pairValue.push(scratchValues[k])
              pairBucket.push(bucket)
            }
          }
        }

        // 2. Claim the event ids in one call; only the owners' pairs count.
        const owned = new Uint8Array(n)
        if (claims.length > 0) {
          const result = yield* claimAll(claims)
          for (let c = 0; c < claimed.length; c++) {
            const i = claimed[c]!
            if (Either.isLeft(result)) outcomes[i] = { _tag: "Failed", error: result.left }
            else if (result.right[c]) owned[i] = 1
            else outcomes[i] = duplicate
          }
        }
        for (const f of pipelineFailures) {
          if (owned[f.record] !== 1) continue
          const name = pipelines[f.pipeline]!.name
          const failure = new PipelineFailure({ pipeline: name, message: f.message })
          deadLetterOf(f.record, failure._tag, `pipeline ${name} failed on this event: ${failure.message}`, name)
        }

        // Group the pairs per (pipeline, bucket, shard, key). Buckets are cached
        // objects, so the lookups hash identities and short keys, not joined strings.
        const groups: Array<Group> = []
        const scopes = pipelines.map(() => new Map<Window.Bucket, Map<string, Map<string, Group>>>())
        for (let e = 0; e < pairRecord.length; e++) {
          const i = pairRecord[e]!
          if (owned[i] !== 1) continue
          const r = records[i]!
          const p = pairPipeline[e]!
          const key = pairKey[e]!
          const bucket = pairBucket[e]!
          let shards = scopes[p]!.get(bucket)
          if (shards === undefined) scopes[p]!.set(bucket, shards = new Map())
          let keys = shards.get(r.shardId)
          if (keys === undefined) shards.set(r.shardId, keys = new Map())
          let group = keys.get(key)
          if (group === undefined) {
            group = { pipeline: p, key, bucket: bucket.id, shardId: scopeOf(r.shardId), expiresAt: bucket.expiresAt, contributions: [], records: [], ordered: true }
            keys.set(key, group)
            groups.push(group)
          }
          const last = group.contributions[group.contributions.length - 1]
          if (last !== undefined && comparePosition(last.position, r) > 0) group.ordered = false
          group.contributions.push({ position: r, value: pairValue[e] })
          if (group.records[group.records.length - 1] !== i) group.records.push(i)
        }

        // 3. One folded write per group, retried for what is retryable.
        const groupList = groups
        const writes = groupList.map((g): Store.DeltaWrite => {
          const monoid = pipelines[g.pipeline]!.aggregate
          if (!g.ordered) g.contributions.sort((a, b) => comparePosition(a.position, b.position))
          return {
            pipeline: pipelines[g.pipeline]!.name,
            key: g.key,
            bucket: g.bucket,
            monoid,
            shardId: g.shardId,
            delta: monoid.combineAll(g.contributions.map((c) => c.value)),
            contributions: g.contributions,
            expiresAt: g.expiresAt
          }
        })
        const writeErrors = yield* writeAll(writes)
        // A retryable failure leaves the record for redelivery. A rejected write
        // can never succeed: its records are dead-lettered so they do not block
        // the shard, unless another of their writes needs the redelivery anyway.
        const rejected: Array<number> = []
        for (let w = 0; w < groupList.length; w++) {
          const error = writeErrors[w]
          if (error === undefined) continue
          if (Store.isRetryable(error)) for (const i of groupList[w]!.records) outcomes[i] = { _tag: "Failed", error }
          else rejected.push(w)
        }
        for (const w of rejected) {
          const g = groupList[w]!
          const name = pipelines[g.pipeline]!.name
          for (const i of g.records) {
            if (outcomes[i]!._tag !== "Applied") continue
            deadLetterOf(i, writeErrors[w]!._tag, `pipeline ${name} cannot store key ${JSON.stringify(g.key)} in bucket ${g.bucket}: ${writeErrors[w]!.message}`, name)
          }
        }
        for (const g of groupList) yield* Metric.increment(writeCounters[g.pipeline]!)

        // 4. Dead letters. A shard is redelivered from its first failed record, so
        // a poison record after that one waits for the redelivery: sending it now
        // would put it in the sink twice.
        const firstFailure = new Map<string, number>()
        for (let i = 0; i < n; i++) {
          if (outcomes[i]!._tag === "Failed" && !firstFailure.has(records[i]!.shardId)) firstFailure.set(records[i]!.shardId, i)
        }
        const send: Array<DeadLetter.DeadLetterEntry> = []
        const sent: Array<number> = []
        deadLetterRecords.forEach((i, d) => {
          if (outcomes[i]!._tag === "Failed") return
          const blockedBy = firstFailure.get(records[i]!.shardId)
          if (blockedBy !== undefined && blockedBy < i) outcomes[i] = outcomes[blockedBy]!
          else {
            send.push(deadLetters[d]!)
            sent.push(i)
          }
        })
        if (send.length > 0) {
          const error = yield* sendDeadLetters(send)
          if (error !== undefined) for (const i of sent) outcomes[i] = { _tag: "Failed", error }
        }

        yield* recordMetrics(outcomes, n, Date.now() - started)
        return outcomes
      })

    return Processor.of({ pipelines, process })
  })

const recordMetrics = (outcomes: ReadonlyArray<Outcome>, n: number, millis: number) => {
  const counts = { Applied: 0, Duplicate: 0, DeadLettered: 0, Failed: 0 }
  for (const o of outcomes) counts[o._tag]++
  return Effect.all([
    Metric.incrementBy(Metrics.recordsIn, n),
    Metric.incrementBy(Metrics.recordsApplied, counts.Applied),
    Metric.incrementBy(Metrics.recordsDuplicate, counts.Duplicate),
    Metric.incrementBy(Metrics.recordsDeadLettered, counts.DeadLettered),
    Metric.incrementBy(Metrics.recordsFailed, counts.Failed),
    Metric.update(Metrics.batchDuration, millis)
  ], { discard: true })
}

export const layer = (options: Options): Layer.Layer<Processor, never, Store.Store | Deduper.Deduper | DeadLetter.DeadLetter> =>
  Layer.effect(Processor, make(options))
