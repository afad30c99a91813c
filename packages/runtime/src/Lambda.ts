/**
 * The Lambda driver: runs pipelines behind a Kinesis event-source mapping.
 * An event becomes user records (`UserRecords.fromLambdaEvent`), the
 * Processor takes them chunk by chunk, and `Acknowledgement.byShard` turns
 * the outcomes into `batchItemFailures`.
 *
 * ```ts
 * import * as Lambda from "@eddy/runtime/Lambda"
 * import { Layer } from "effect"
 * import { pipelines } from "./pipelines"
 * import * as State from "./state" // store, deduper and dead-letter sink from the app's Config
 *
 * export const handler: Lambda.Handler = Lambda.handler({
 *   pipelines,
 *   layer: Layer.merge(State.layerConfig, State.deadLetterConfig)
 * })
 * ```
 *
 * Configure the event-source mapping with `FunctionResponseTypes:
 * ["ReportBatchItemFailures"]`: the handler answers which records to
 * redeliver rather than failing whole batches.
 */
import * as Acknowledgement from "@eddy/core/Acknowledgement"
import type * as DeadLetter from "@eddy/core/DeadLetter"
import type * as Deduper from "@eddy/core/Deduper"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import { type SourceRecord, streamNameOf } from "@eddy/core/SourceRecord"
import type * as Store from "@eddy/core/Store"
import * as Aggregation from "@eddy/kinesis/Aggregation"
import * as UserRecords from "@eddy/kinesis/UserRecords"
import type { Context as LambdaContext, KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda"
import { Config, type ConfigError, Context, Effect, Layer, ManagedRuntime, Option, type Schedule } from "effect"
import * as Emf from "./Emf"
import * as PayloadHash from "./PayloadHash"
import * as Log from "./Log"

export { MalformedEventError } from "@eddy/kinesis/UserRecords"

/** The Lambda handler's settings (strict order, timeout margin, chunk size, metrics namespace). */
export interface Settings {
  /**
   * Hold a shard at its first poison record instead of dead-lettering it (the
   * Processor's "block" policy): the record is reported for redelivery,
   * nothing after it in its shard is written, and the shard waits until the
   * record is fixed or Lambda's `MaximumRetryAttempts` run out. For consumers
   * that must never skip.
   */
  readonly strictOrder: boolean
  /**
   * What becomes of a record of a `schemaVersion` the pipelines' decoder does
   * not know (the Processor's `unknownVersion`): "block" holds its shard until
   * a function that reads the version is deployed, "deadLetter" sends it to
   * the dead-letter sink for a redrive then. Default: "block" under
   * `strictOrder`, else "deadLetter".
   */
  readonly unknownVersion: Processor.PoisonPolicy | undefined
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
  /**
   * How the records of each event source are packed: `ndjson` or `msgpack`
   * aggregates are unpacked into their user records; KPL aggregates always
   * are (see `Aggregation`). One format, or one per stream name.
   */
  readonly aggregation: Aggregation.Setting
  /**
   * What the event-source mapping keeps in order (the Processor's
   * `ordering`): "shard" for ParallelizationFactor 1, "partitionKey" for a
   * factor above 1, where Lambda runs up to ten batches of a shard at once
   * and orders records per partition key only; the stores then claim each
   * record per item (see `Store.Ordering`). A factor above 1 with "shard"
   * loses records: `KinesisPipelineFunction` refuses that pair at synth.
   */
  readonly ordering: Store.Ordering
}

/**
 * Settings from `EDDY_STRICT_ORDER` (false), `EDDY_UNKNOWN_VERSION` (`block`
 * or `deadLetter`), `EDDY_TIMEOUT_MARGIN_MS` (2000), `EDDY_CHUNK_SIZE` (1000),
 * `EDDY_METRICS_NAMESPACE` (eddy), `EDDY_AGGREGATION` (kpl; e.g. `ndjson` or `orders=msgpack,kpl`),
 * `EDDY_ORDERING` (`shard` or `partitionKey`; shard).
 */
export const settingsConfig: Config.Config<Settings> = Config.all({
  strictOrder: Config.boolean("EDDY_STRICT_ORDER").pipe(Config.withDefault(false)),
  unknownVersion: Config.literal("block", "deadLetter")("EDDY_UNKNOWN_VERSION").pipe(Config.option, Config.map(Option.getOrUndefined)),
  timeoutMarginMillis: Config.integer("EDDY_TIMEOUT_MARGIN_MS").pipe(
    Config.validate({ message: "must be an integer of milliseconds >= 0", validation: (n) => n >= 0 }),
    Config.withDefault(2_000)
  ),
  chunkSize: Config.integer("EDDY_CHUNK_SIZE").pipe(
    Config.validate({ message: "must be an integer >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(1_000)
  ),
  metricsNamespace: Config.nonEmptyString("EDDY_METRICS_NAMESPACE").pipe(Config.withDefault("eddy")),
  aggregation: Aggregation.config("EDDY_AGGREGATION"),
  ordering: Config.literal("shard", "partitionKey")("EDDY_ORDERING").pipe(Config.withDefault("shard" as const))
})

/** What the Lambda handler runs: the pipelines and their state. */
export interface Options<E = never, P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>> extends Partial<Settings> {
  /** The pipelines to run: one event source, as the service driver runs them too. */
  readonly pipelines: P
  /**
   * The pipelines' stores (`Store.Store` for those that name none, and each
   * placement they name), deduper and dead-letter sink, built once per container. It may also
   * provide an `Emf.Writer` to send metrics elsewhere than stdout.
   */
  readonly layer: Layer.Layer<Pipeline.StoresOf<P> | Deduper.Deduper | DeadLetter.DeadLetter, E>
  /** Retries of store writes, dedup claims and dead-letter sends (see `Processor.defaultRetry`). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** A Lambda handler for Kinesis events; `dispose` releases its layers (for tests and graceful shutdown). */
export type Handler = ((event: KinesisStreamEvent, context: LambdaContext) => Promise<KinesisStreamBatchResponse>) & {
  readonly dispose: () => Promise<void>
}

class CurrentSettings extends Context.Tag("@eddy/runtime/Lambda/Settings")<CurrentSettings, Settings>() {}

/**
 * The handler. Its Effect runtime (layers, clients, connections) is built on
 * the first invocation and reused by every warm one; options given here win
 * over the environment.
 */
export const handler = <E, const P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>>(options: Options<E, P>): Handler => {
  const pipelines = Processor.provided(options.pipelines)
  // At init, so a bad definition fails the container before any batch is taken.
  Pipeline.validate(pipelines)
  const configured = Effect.map(settingsConfig, (env): Settings => ({
    strictOrder: options.strictOrder ?? env.strictOrder,
    unknownVersion: options.unknownVersion ?? env.unknownVersion,
    timeoutMarginMillis: options.timeoutMarginMillis ?? env.timeoutMarginMillis,
    chunkSize: options.chunkSize ?? env.chunkSize,
    metricsNamespace: options.metricsNamespace ?? env.metricsNamespace,
    aggregation: options.aggregation ?? env.aggregation,
    ordering: options.ordering ?? env.ordering
  }))
  const layer = Layer.unwrapEffect(
    Effect.map(configured, (settings) =>
      Layer.merge(
        Processor.layer({
          pipelines,
          poison: settings.strictOrder ? "block" : "deadLetter",
          ...(settings.unknownVersion !== undefined ? { unknownVersion: settings.unknownVersion } : {}),
          payloadHash: PayloadHash.sha256Hex,
          ordering: settings.ordering,
          ...(options.retry !== undefined ? { retry: options.retry } : {})
        }),
        Layer.succeed(CurrentSettings, settings)
      ))
  ).pipe(Layer.provideMerge(options.layer), Layer.merge(Log.layerConfig))
  const runtime: ManagedRuntime.ManagedRuntime<Processor.Processor | CurrentSettings, E | ConfigError.ConfigError> = ManagedRuntime.make(layer)
  const invoke = (event: KinesisStreamEvent, context: LambdaContext) => runtime.runPromise(processEvent(event, context))
  return Object.assign(invoke, { dispose: () => runtime.dispose() })
}

/** Completes once fewer than `margin` milliseconds are left, asking Lambda (at least once a second) how long is left. */
const deadline = (context: LambdaContext, margin: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const left = context.getRemainingTimeInMillis() - margin
    return left <= 0 ? Effect.void : Effect.zipRight(Effect.sleep(Math.min(left, 1_000)), deadline(context, margin))
  })

/** What the chunks of one invocation came to so far; `outcomes` is undefined for records not processed. */
interface Progress {
  readonly outcomes: Array<Processor.Outcome | undefined>
  readonly writes: Array<number>
  /** Late records per pipeline (see `Processor.Result.late`). */
  readonly late: Array<number>
  retries: number
  /** Calls the deployment refused, by pipeline (`*` for dedup and dead-letter calls): the alarm. */
  readonly deploymentFaults: Map<string, number>
  conflicts: number
}

/**
 * Processes the batch in chunks of up to `chunkSize` consecutive records of
 * one event source, leaving out the records of shards already not done: they
 * are redelivered from their first record not done anyway (and must not be
 * dead-lettered twice).
 */
const processChunks = (processor: Processor.Processor["Type"], batch: UserRecords.LambdaBatch, chunkSize: number, progress: Progress) =>
  Effect.gen(function*() {
    const { records, sources } = batch
    const n = records.length
    const stopped = new Set<string>()
    let i = 0
    while (i < n) {
      const source = sources[i]
      const indices: Array<number> = []
      for (; i < n && indices.length < chunkSize && sources[i] === source; i++) {
        if (!stopped.has(records[i]!.shardId)) indices.push(i)
      }
      if (indices.length === 0) continue
      const result = yield* processor.process(indices.map((j) => records[j]!), source !== undefined ? { source } : {})
      indices.forEach((j, k) => {
        const outcome = result.outcomes[k]!
        progress.outcomes[j] = outcome
        if (!Acknowledgement.isDone(outcome)) stopped.add(records[j]!.shardId)
      })
      result.writes.forEach((w, p) => progress.writes[p]! += w)
      result.late.forEach((l, p) => progress.late[p]! += l)
      progress.retries += result.retries
      progress.conflicts += result.conflicts
      for (const f of result.deploymentFaults) progress.deploymentFaults.set(f.pipeline, (progress.deploymentFaults.get(f.pipeline) ?? 0) + f.count)
    }
  })

/** The invocation's counts; `failed` takes the blocked records too, `unfinished` those never processed. */
const countsOf = (outcomes: ReadonlyArray<Processor.Outcome | undefined>) => {
  const counts = { applied: 0, duplicates: 0, deadLettered: 0, failed: 0, unfinished: 0 }
  const reasons = new Set<string>()
  for (const outcome of outcomes) {
    if (outcome === undefined) {
      counts.unfinished++
      continue
    }
    switch (outcome._tag) {
      case "Applied":
        counts.applied++
        break
      case "Duplicate":
        counts.duplicates++
        break
      case "DeadLettered":
        counts.deadLettered++
        reasons.add(`${outcome.error}: ${outcome.reason}`)
        break
      case "Blocked":
        counts.failed++
        reasons.add(`${outcome.error}: ${outcome.reason}`)
        break
      case "Failed":
        counts.failed++
        reasons.add(outcome.error.message)
    }
  }
  return { counts, reasons }
}

/**
 * Lambda checkpoints at the lowest reported sequence number and redelivers
 * everything after it, so report exactly the first record of each shard that
 * is not done (the aggregate's, for a KPL user record).
 */
const batchItemFailuresOf = (records: ReadonlyArray<SourceRecord>, outcomes: ReadonlyArray<Processor.Outcome | undefined>) =>
  Acknowledgement.byShard(records, outcomes).flatMap((shard) => (shard.resumeAt === undefined ? [] : [{ itemIdentifier: shard.resumeAt.sequenceNumber }]))

const processEvent = (event: KinesisStreamEvent, context: LambdaContext) =>
  Effect.gen(function*() {
    const started = Date.now()
    const processor = yield* Processor.Processor
    const settings = yield* CurrentSettings
    const batch = UserRecords.fromLambdaEvent(event, settings.aggregation)
    const { records, sources } = batch
    const n = records.length
    if (n === 0) return { batchItemFailures: [] }

    const progress: Progress = {
      outcomes: new Array(n).fill(undefined),
      writes: processor.pipelines.map(() => 0),
      late: processor.pipelines.map(() => 0),
      retries: 0,
      deploymentFaults: new Map(),
      conflicts: 0
    }
    const margin = Math.min(settings.timeoutMarginMillis, Math.floor(context.getRemainingTimeInMillis() / 4))
    const finished = yield* Effect.raceFirst(
      Effect.as(processChunks(processor, batch, settings.chunkSize, progress), true),
      Effect.as(deadline(context, margin), false)
    )
    const batchItemFailures = batchItemFailuresOf(records, progress.outcomes)
    const { counts, reasons } = countsOf(progress.outcomes)

    const now = Date.now()
    const stream = sources[0] === undefined ? "unknown" : streamNameOf(sources[0])
    const properties = { awsRequestId: context.awsRequestId, shardId: records[0]!.shardId, finished }
    const documents: Array<Emf.Document> = [
      {
        namespace: settings.metricsNamespace,
        dimensions: { stream },
        timestamp: now,
        properties,
        metrics: [
          { name: "Records", unit: "Count", value: n },
          { name: "Applied", unit: "Count", value: counts.applied },
          { name: "Duplicates", unit: "Count", value: counts.duplicates },
          { name: "DeadLettered", unit: "Count", value: counts.deadLettered },
          { name: "Failed", unit: "Count", value: counts.failed },
          { name: "Unfinished", unit: "Count", value: counts.unfinished },
          { name: "Retries", unit: "Count", value: progress.retries },
          // Alarm on any: the deployment refused calls (a missing table, access denied) and the shard waits until it is fixed.
          { name: "DeploymentFaults", unit: "Count", value: Array.from(progress.deploymentFaults.values()).reduce((a, b) => a + b, 0) },
          { name: "EventIdConflicts", unit: "Count", value: progress.conflicts },
          // As Lambda defines it: the age of the batch's newest record when processed; unknown without arrival times.
          ...(batch.newestArrival === undefined ? [] : [{ name: "IteratorAge", unit: "Milliseconds" as const, value: Math.max(0, started - batch.newestArrival) }]),
          { name: "BatchDuration", unit: "Milliseconds", value: now - started }
        ]
      },
      ...processor.pipelines.map((pipeline, p): Emf.Document => ({
        namespace: settings.metricsNamespace,
        dimensions: { stream, pipeline: pipeline.name },
        timestamp: now,
        properties,
        metrics: [
          { name: "StoreWrites", unit: "Count", value: progress.writes[p]! },
          // Arrived after their bucket closed: dead-lettered as LateEvent or applied anyway, as the window says.
          { name: "LateEvents", unit: "Count", value: progress.late[p]! },
          { name: "DeploymentFaults", unit: "Count", value: progress.deploymentFaults.get(pipeline.name) ?? 0 }
        ]
      }))
    ]
    const writer = Option.getOrElse(yield* Effect.serviceOption(Emf.Writer), () => Emf.stdout)
    yield* writer.write(documents)

    const summary = {
      records: n,
      ...counts,
      reported: batchItemFailures.map((f) => f.itemIdentifier),
      reasons: Array.from(reasons).slice(0, 5)
    }
    const log = !finished
      ? Effect.logWarning(`stopped ${margin} ms before the function timeout; ${counts.unfinished} records left for redelivery`)
      : batchItemFailures.length > 0
      ? Effect.logWarning("records left for redelivery")
      : counts.deadLettered > 0
      ? Effect.logWarning("records dead-lettered")
      : Effect.logDebug("batch processed")
    yield* Effect.annotateLogs(log, summary)
    return { batchItemFailures }
  }).pipe(Effect.annotateLogs({ awsRequestId: context.awsRequestId }))
