/**
 * The Lambda driver: runs pipelines behind a Kinesis event-source mapping.
 *
 * ```ts
 * import { pipelines } from "./pipelines"
 * import * as State from "./state" // store, deduper and dead-letter sink from the app's Config
 * export const handler = Lambda.handler({
 *   pipelines,
 *   layer: Layer.merge(State.layerConfig, State.deadLetterConfig)
 * })
 * ```
 *
 * Configure the event-source mapping with `FunctionResponseTypes:
 * ["ReportBatchItemFailures"]`: the handler answers which records to
 * redeliver rather than failing whole batches.
 */
import * as DeadLetter from "@eddy/core/DeadLetter"
import type * as Deduper from "@eddy/core/Deduper"
import * as Metrics from "@eddy/core/Metrics"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import * as UserRecords from "@eddy/kinesis/UserRecords"
import { type SourceRecord, streamNameOf } from "@eddy/core/SourceRecord"
import type * as Store from "@eddy/core/Store"
import type { Context as LambdaContext, KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda"
import { Config, type ConfigError, Context, Effect, Either, Layer, ManagedRuntime, Metric, Option, type Schedule } from "effect"
import * as Emf from "./Emf"
import * as Log from "./Log"

export { MalformedEventError } from "@eddy/kinesis/UserRecords"

export interface Settings {
  /**
   * Fail the batch at the first poison record of a shard instead of
   * dead-lettering it: the shard waits until the record is fixed or Lambda's
   * `MaximumRetryAttempts` run out. For consumers that must never skip.
   * Records are decoded once more up front to find undecodable ones before
   * anything after them is written; an event that a pipeline throws on is
   * only found as its chunk is processed, so the rest of that chunk is written.
   */
  readonly strictOrder: boolean
  /**
   * Stop this long before the function timeout and report what is left as
   * failures, rather than be killed mid-write. At most a quarter of the
   * invocation's time is kept back, so a short timeout still gets work done.
   */
  readonly timeoutMarginMillis: number
  /**
   * Records per processor call. A chunk's writes are folded together (bigger
   * is fewer store writes), and a timeout loses at most the chunk in flight
   * (smaller is less repeated work, and progress even for batches that cannot
   * finish in one invocation).
   */
  readonly chunkSize: number
  /** CloudWatch namespace of the EMF metrics. */
  readonly metricsNamespace: string
}

/** Settings from `EDDY_STRICT_ORDER` (false), `EDDY_TIMEOUT_MARGIN_MS` (2000), `EDDY_CHUNK_SIZE` (1000), `EDDY_METRICS_NAMESPACE` (eddy). */
export const settingsConfig: Config.Config<Settings> = Config.all({
  strictOrder: Config.boolean("EDDY_STRICT_ORDER").pipe(Config.withDefault(false)),
  timeoutMarginMillis: Config.integer("EDDY_TIMEOUT_MARGIN_MS").pipe(
    Config.validate({ message: "must be an integer of milliseconds >= 0", validation: (n) => n >= 0 }),
    Config.withDefault(2_000)
  ),
  chunkSize: Config.integer("EDDY_CHUNK_SIZE").pipe(
    Config.validate({ message: "must be an integer >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(1_000)
  ),
  metricsNamespace: Config.nonEmptyString("EDDY_METRICS_NAMESPACE").pipe(Config.withDefault("eddy"))
})

export interface Options<E = never> extends Partial<Settings> {
  /** The pipelines to run: one event source, as the service driver runs them too. */
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  /**
   * Store, deduper and dead-letter sink, built once per container. It may also
   * provide an `Emf.Writer` to send metrics elsewhere than stdout.
   */
  readonly layer: Layer.Layer<Store.Store | Deduper.Deduper | DeadLetter.DeadLetter, E>
  /** Retries of store writes, dedup claims and dead-letter sends (see `Processor.defaultRetry`). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** A Lambda handler for Kinesis events; `dispose` releases its layers (for tests and graceful shutdown). */
export type Handler = ((event: KinesisStreamEvent, context: LambdaContext) => Promise<KinesisStreamBatchResponse>) & {
  readonly dispose: () => Promise<void>
}

class CurrentSettings extends Context.Tag("@eddy/runtime/Lambda/Settings")<CurrentSettings, Settings>() {}

/**
 * In strict-order mode a poison record fails its batch, so nothing is sent anywhere. (Undecodable
 * records never reach the processor then; this holds the events a pipeline throws on.)
 */
const keepPoison = Layer.succeed(DeadLetter.DeadLetter, { send: () => Effect.void })

/**
 * The handler. Its Effect runtime (layers, clients, connections) is built on
 * the first invocation and reused by every warm one; options given here win
 * over the environment.
 */
export const handler = <E>(options: Options<E>): Handler => {
  const { pipelines } = options
  // At init, so a bad definition fails the container before any batch is taken.
  Pipeline.validate(pipelines)
  const configured = Effect.map(settingsConfig, (env): Settings => ({
    strictOrder: options.strictOrder ?? env.strictOrder,
    timeoutMarginMillis: options.timeoutMarginMillis ?? env.timeoutMarginMillis,
    chunkSize: options.chunkSize ?? env.chunkSize,
    metricsNamespace: options.metricsNamespace ?? env.metricsNamespace
  }))
  const layer = Layer.unwrapEffect(
    Effect.map(configured, (settings) => {
      const processor: Layer.Layer<Processor.Processor, never, Store.Store | Deduper.Deduper | DeadLetter.DeadLetter> = Processor.layer({
        pipelines,
        ...(options.retry !== undefined ? { retry: options.retry } : {})
      })
      return Layer.merge(settings.strictOrder ? Layer.provide(processor, keepPoison) : processor, Layer.succeed(CurrentSettings, settings))
    })
  ).pipe(Layer.provideMerge(options.layer), Layer.merge(Log.layerConfig))
  const runtime: ManagedRuntime.ManagedRuntime<Processor.Processor | CurrentSettings, E | ConfigError.ConfigError> = ManagedRuntime.make(layer)
  const writeCounters = pipelines.map((p) => Metrics.storeWrites.pipe(Metric.tagged("pipeline", p.name)))
  const invoke = (event: KinesisStreamEvent, context: LambdaContext) => runtime.runPromise(processEvent(event, context, writeCounters))
  return Object.assign(invoke, { dispose: () => runtime.dispose() })
}

/** Completes once fewer than `margin` milliseconds are left, asking Lambda (at least once a second) how long is left. */
const deadline = (context: LambdaContext, margin: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const left = context.getRemainingTimeInMillis() - margin
    return left <= 0 ? Effect.void : Effect.zipRight(Effect.sleep(Math.min(left, 1_000)), deadline(context, margin))
  })

const processEvent = (event: KinesisStreamEvent, context: LambdaContext, writeCounters: ReadonlyArray<Metric.Metric.Counter<number>>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const processor = yield* Processor.Processor
    const settings = yield* CurrentSettings
    const batch = UserRecords.fromLambdaEvent(event)
    const { records, sources } = batch
    const n = records.length
    if (n === 0) return { batchItemFailures: [] }
    const retriesBefore = (yield* Metric.value(Metrics.retries)).count
    const writesBefore = yield* Effect.forEach(writeCounters, (c) => Effect.map(Metric.value(c), (s) => s.count))

    // In strict mode nothing after a poison record may be applied: once the record is fixed and redelivered,
    // the store's per-shard watermark would skip it behind its successors. So find the undecodable ones first.
    const decoder = processor.pipelines[0]!.source.decoder
    const poisonOf = (record: SourceRecord): Processor.DeadLettered | undefined => {
      if (record.unreadable !== undefined) return { _tag: "DeadLettered", ...record.unreadable }
      const decoded = decoder.decode(record.data)
      return Either.isLeft(decoded) ? { _tag: "DeadLettered", error: decoded.left._tag, reason: decoded.left.message } : undefined
    }
    // A poison record blocks its shard: a dead-letter failure, a failed write, or any poison in strict mode.
    const blocks = (o: Processor.Outcome) => o._tag === "Failed" || (settings.strictOrder && o._tag === "DeadLettered")
    const outcomes: Array<Processor.Outcome | undefined> = new Array(n)
    const blocked = new Set<string>()
    const work = Effect.gen(function*() {
      let i = 0
      while (i < n) {
        // A chunk: up to `chunkSize` consecutive records of one event source, less those of blocked shards,
        // which are redelivered from their first failure anyway (and must not be dead-lettered twice).
        const source = sources[i]
        const indices: Array<number> = []
        for (; i < n && indices.length < settings.chunkSize && sources[i] === source; i++) {
          const record = records[i]!
          if (blocked.has(record.shardId)) continue
          const poison = settings.strictOrder ? poisonOf(record) : undefined
          if (poison === undefined) indices.push(i)
          else {
            outcomes[i] = poison
            blocked.add(record.shardId)
          }
        }
        if (indices.length === 0) continue
        const results = yield* processor.process(indices.map((j) => records[j]!), source !== undefined ? { source } : {})
        indices.forEach((j, k) => {
          const outcome = results[k]!
          outcomes[j] = outcome
          if (blocks(outcome)) blocked.add(records[j]!.shardId)
        })
      }
    })
    const margin = Math.min(settings.timeoutMarginMillis, Math.floor(context.getRemainingTimeInMillis() / 4))
    const finished = yield* Effect.raceFirst(Effect.as(work, true), Effect.as(deadline(context, margin), false))

    // Lambda checkpoints at the lowest reported sequence number and redelivers everything after it,
    // so report exactly the first record of each shard that is not done (the aggregate's, for a KPL user record).
    const counts = { Applied: 0, Duplicate: 0, DeadLettered: 0, Failed: 0, Unfinished: 0 }
    const reported = new Set<string>()
    const batchItemFailures: Array<{ itemIdentifier: string }> = []
    const reasons = new Set<string>()
    for (let i = 0; i < n; i++) {
      const outcome = outcomes[i]
      const record = records[i]!
      if (outcome === undefined) counts.Unfinished++
      else {
        counts[outcome._tag]++
        if (outcome._tag === "Failed") reasons.add(outcome.error.message)
        else if (outcome._tag === "DeadLettered") reasons.add(`${outcome.error}: ${outcome.reason}`)
      }
      if (reported.has(record.shardId) || (outcome !== undefined && !blocks(outcome))) continue
      reported.add(record.shardId)
      batchItemFailures.push({ itemIdentifier: record.sequenceNumber })
    }
    if (settings.strictOrder) {
      counts.Failed += counts.DeadLettered
      counts.DeadLettered = 0
    }

    const now = Date.now()
    const stream = sources[0] === undefined ? "unknown" : streamNameOf(sources[0])
    const retries = (yield* Metric.value(Metrics.retries)).count - retriesBefore
    const writes = yield* Effect.forEach(writeCounters, (c, p) => Effect.map(Metric.value(c), (s) => s.count - writesBefore[p]!))
    const properties = { awsRequestId: context.awsRequestId, shardId: records[0]!.shardId, finished }
    const documents: Array<Emf.Document> = [
      {
        namespace: settings.metricsNamespace,
        dimensions: { stream },
        timestamp: now,
        properties,
        metrics: [
          { name: "Records", unit: "Count", value: n },
          { name: "Applied", unit: "Count", value: counts.Applied },
          { name: "Duplicates", unit: "Count", value: counts.Duplicate },
          { name: "DeadLettered", unit: "Count", value: counts.DeadLettered },
          { name: "Failed", unit: "Count", value: counts.Failed },
          { name: "Unfinished", unit: "Count", value: counts.Unfinished },
          { name: "Retries", unit: "Count", value: retries },
          // As Lambda defines it: the age of the batch's newest record when processed.
          { name: "IteratorAge", unit: "Milliseconds", value: Math.max(0, started - batch.newestArrival) },
          { name: "BatchDuration", unit: "Milliseconds", value: now - started }
        ]
      },
      ...writeCounters.map((_, p): Emf.Document => ({
        namespace: settings.metricsNamespace,
        dimensions: { stream, pipeline: processor.pipelines[p]!.name },
        timestamp: now,
        properties,
        metrics: [{ name: "StoreWrites", unit: "Count", value: writes[p]! }]
      }))
    ]
    const writer = Option.getOrElse(yield* Effect.serviceOption(Emf.Writer), () => Emf.stdout)
    yield* writer.write(documents)

    const summary = {
      records: n,
      applied: counts.Applied,
      duplicates: counts.Duplicate,
      deadLettered: counts.DeadLettered,
      failed: counts.Failed,
      unfinished: counts.Unfinished,
      reported: batchItemFailures.map((f) => f.itemIdentifier),
      reasons: Array.from(reasons).slice(0, 5)
    }
    const log = !finished
      ? Effect.logWarning(`stopped ${margin} ms before the function timeout; ${counts.Unfinished} records left for redelivery`)
      : batchItemFailures.length > 0
      ? Effect.logWarning("records left for redelivery")
      : counts.DeadLettered > 0
      ? Effect.logWarning("records dead-lettered")
      : Effect.logDebug("batch processed")
    yield* Effect.annotateLogs(log, summary)
    return { batchItemFailures }
  }).pipe(Effect.annotateLogs({ awsRequestId: context.awsRequestId }))
