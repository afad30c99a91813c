/**
 * The service driver: runs pipelines as a long-lived worker (an ECS task)
 * that polls Kinesis itself, sharing the stream's shards with other workers
 * through a KCL-style lease table.
 *
 * ```ts
 * import { pipelines } from "./pipelines"
 * import * as Leases from "./leases" // the lease table from the app's Config
 * import * as State from "./state" // store, deduper and dead-letter sink from the app's Config
 * NodeRuntime.runMain(
 *   Service.run({
 *     pipelines,
 *     layer: Layer.merge(State.layerConfig, State.deadLetterConfig),
 *     leases: Leases.leasesConfig
 *   }),
 *   // `run` logs JSON lines (see `Log`); runMain's pretty logger would print each one again.
 *   { disablePrettyLogger: true }
 * )
 * ```
 *
 * Configuration (see `settingsConfig`): `EDDY_STREAMS` (or `EDDY_STREAM_NAME`:
 * one or more stream names or ARNs, comma-separated), `EDDY_WORKER_ID`
 * (default hostname-pid), `EDDY_INITIAL_POSITION` (TRIM_HORIZON or LATEST),
 * `EDDY_GRACE_PERIOD` (25 seconds), `PORT` (8080), `EDDY_READ_LIMIT`,
 * `EDDY_POLL_INTERVAL`, `EDDY_DISCOVERY_INTERVAL`, `EDDY_FLUSH_INTERVAL` (1
 * second), `EDDY_FLUSH_RECORDS` (10,000), `EDDY_CHECKPOINT_INTERVAL`
 * (5 seconds), `EDDY_CHECKPOINT_RECORDS` (10,000), `EDDY_STUCK_AFTER`, `EDDY_QUERY_API`,
 * `EDDY_UNKNOWN_VERSION` (`deadLetter` or `block`, see `Options.unknownVersion`),
 * `EDDY_STRICT_ORDER` (false), `EDDY_FINAL_VALUE_INTERVAL` (10 seconds, see `Options.finalValues`), `EDDY_AGGREGATION` (kpl; see `Aggregation.parse`),
 * `EDDY_METRICS_NAMESPACE` (eddy) and
 * `EDDY_READ_MODE` (`poll`, or `efo` for enhanced fan-out, with
 * `EDDY_CONSUMER_NAME` and `EDDY_READ_FALLBACK`); the
 * Kinesis client from the SDK's chains (`AWS_REGION`, the profile,
 * `AWS_ENDPOINT_URL_KINESIS`); the log level from `LOG_LEVEL`.
 * The lease table is the application's choice (`options.leases`: DynamoDB,
 * Redis or memory), as are the store, deduper and dead-letter sink.
 *
 * At start it checks the stream and `options.preflight` (see `Preflight`):
 * a permanent misconfiguration fails the start with what to fix.
 *
 * Endpoints (see `Health`): `GET /healthz`, `GET /readyz` (503 while starting
 * or stopping, while Kinesis or the lease table does not answer, and while a
 * shard is stuck: see `Readiness`), `GET /metrics` (Prometheus text: the processor's counters, the
 * per-shard `eddy_kinesis_millis_behind_latest` lag gauge, and `metrics`).
 * The halted shards are also written as CloudWatch EMF, for an alarm:
 * `ShardsHalted` per stream (dimension `stream`) on every change, and every
 * `haltedMetricInterval` while above 0, to the `Emf.Writer` in the context
 * (stdout by default, which the task's log group turns into the metric).
 *
 * The shards come from `Consumer.makeSharded` (`@eddy/kinesis`): it lists
 * the shards of every configured stream (again every discovery interval, so
 * resharding is followed) and creates a lease per shard, keyed
 * `<stream>:<shardId>` so that services of several streams can share one
 * lease table (one of the old single-stream format is refused at start); on
 * each heartbeat it renews the
 * worker's leases and takes free, expired or surplus ones (see
 * `@eddy/core/Leases`). The service processes each shard handed out (see
 * `internal/shardWorker`), acknowledging with `@eddy/core/Acknowledgement`
 * and checkpointing through the shard's `Checkpointer`. Each held shard is
 * read from just after its checkpoint, batch by batch; a checkpoint never
 * passes a record the processor has not durably written, and stops at the
 * record before a batch's first failure, after which the shard is read again
 * from there after a backoff. The records of several reads are folded into
 * one store write per item: they are processed together once the flush
 * record count is read or the flush interval passed since the first of them
 * (and at once at shard end, before a re-read and on shutdown), and never
 * checkpointed before that write. Checkpoints are written once the checkpoint
 * interval passed or the record count was reached since the last one (each
 * is a lease-table write), and always at shard end, before a re-read and on
 * shutdown; what a crash leaves unCheckpointed is read again, and the store's
 * watermarks make that idempotent. A child shard is taken only once its parents are
 * checkpointed at SHARD_END. A shard whose lease is lost (a refused
 * checkpoint, or a renewal that did not hold) is stopped at once, without
 * checkpointing.
 *
 * On SIGTERM (`NodeRuntime.runMain` interrupts the program) the worker stops
 * fetching, lets each shard finish the batch in hand and checkpoint it,
 * abandons what is not finished when the grace period is nearly over (never
 * checkpointing it), releases its leases so other workers take them at once,
 * and exits 0 within the grace period.
 */
import * as Backoff from "@eddy/core/Backoff"
import type * as DeadLetter from "@eddy/core/DeadLetter"
import type * as Deduper from "@eddy/core/Deduper"
import * as FinalValue from "@eddy/core/FinalValue"
import * as Leases from "@eddy/core/Leases"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Processor from "@eddy/core/Processor"
import * as Store from "@eddy/core/Store"
import * as Aggregation from "@eddy/kinesis/Aggregation"
import * as Consumer from "@eddy/kinesis/Consumer"
import * as FanOut from "@eddy/kinesis/FanOut"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as StreamId from "@eddy/kinesis/StreamId"
import type { HttpApp, HttpServer } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import {
  Clock,
  Config,
  ConfigError,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Fiber,
  Layer,
  Metric,
  Option,
  Schedule,
  type Scope,
  Stream
} from "effect"
import { hostname } from "node:os"
import * as AppliedOnce from "./AppliedOnce"
import * as Emf from "./Emf"
import * as FinalValues from "./internal/finalValues"
import * as HaltedMetric from "./internal/haltedMetric"
import * as Health from "./Health"
import * as ShardWorker from "./internal/shardWorker"
import * as ServiceMetrics from "./internal/serviceMetrics"
import * as Log from "./Log"
import * as Preflight from "./Preflight"
import * as QueryApi from "./QueryApi"
import * as PayloadHash from "./PayloadHash"
import * as Readiness from "./Readiness"

/** The service's own metrics; the processor's are in `@eddy/core/Metrics`, per-shard lag is `Consumer.millisBehindLatest`. */
export const metrics = ServiceMetrics

/** Where shards start that have no checkpoint yet. Shards created by resharding always start at their beginning. */
export type InitialPosition = "TRIM_HORIZON" | "LATEST"

/** The service's settings (stream, worker id, intervals, limits, port). */
export interface Settings {
  /** The streams this worker consumes, each by name or ARN (see `StreamId.parseList`). */
  readonly streams: ReadonlyArray<StreamId.StreamId>
  /** Unique among the live workers that share the lease table. */
  readonly workerId: string
  readonly initialPosition: InitialPosition
  /** Longest time from SIGTERM to exit. Keep it under ECS's `stopTimeout` (30 s by default). */
  readonly gracePeriod: Duration.Duration
  /** Port of the health and metrics endpoint; 0 takes any free port. */
  readonly port: number
  /** Most records per GetRecords call (1..10,000). */
  readonly readLimit: number
  /** Least time between two GetRecords calls on one shard; Kinesis allows 5 calls/s per shard, shared by all its readers. */
  readonly pollInterval: Duration.Duration
  /** Time between two shard listings (ListShards), to follow resharding. */
  readonly discoveryInterval: Duration.Duration
  /**
   * Longest time records read wait for their store write: the reads within
   * it are folded into one write per item (fewer write units, fewer
   * compare-and-set conflicts on hot items). Default 1 second.
   */
  readonly flushInterval?: Duration.Duration
  /** Records read that are written at once, before the flush interval is up. Default 10,000; 1 writes every read on its own. */
  readonly flushRecords?: number
  /** Longest time a shard's durably written records wait for their checkpoint (a lease-table write). */
  readonly checkpointInterval: Duration.Duration
  /** Records durably written that trigger a checkpoint before the interval is up. */
  readonly checkpointRecords: number
  /** How long a shard may keep failing (re-reads of a record that is not done) before `/readyz` reports it stuck. Default 60 s. */
  readonly stuckAfter?: Duration.Duration
  /**
   * Strict in-order processing: a poison record (unreadable, undecodable, an
   * event a pipeline throws on, a write the store rejects) halts its shard
   * instead of being dead-lettered. Nothing after it is written or
   * checkpointed; the shard is re-read from it after each backoff, without
   * ever giving its lease up, until it can be processed. Default false.
   */
  readonly strictOrder?: boolean
  /** How the records of each stream are packed (see `Aggregation`); default `kpl`: KPL aggregates unpacked, other records whole. */
  readonly aggregation?: Aggregation.Setting
  /** Whether the endpoint also answers queries over the aggregates (see `QueryApi`). Default false. */
  readonly queryApi?: boolean
  /** `poll` (GetRecords, the default) or `efo`: enhanced fan-out, a stream consumer of the service's own with SubscribeToShard (see `FanOut`). */
  readonly readMode?: ReadMode
  /** The stream consumer's name, needed with `efo`: the same for every worker of the service (e.g. the lease table's name). */
  readonly consumerName?: string
  /** With `efo`: `poll` goes on polling a shard (or every shard) whose subscriptions or registration fail for good; `none` (the default) fails instead. */
  readonly readFallback?: "poll" | "none"
  /** How often the buckets whose lateness has passed are looked for, to send their final values (see `Options.finalValues`). Default 10 seconds. */
  readonly finalValueInterval?: Duration.Duration
  /** CloudWatch namespace of the EMF metric `ShardsHalted`. Default eddy, as the Lambda handler's. */
  readonly metricsNamespace?: string
}

/** How the service reads its shards. */
export type ReadMode = "poll" | "efo"

/** A count of records, at least 1; 10,000 when not set. */
const recordCount = (name: string) =>
  Config.integer(name).pipe(Config.validate({ message: "must be a positive integer", validation: (n) => n >= 1 }), Config.withDefault(10_000))

const orConfig = <A>(value: A | undefined, config: Config.Config<A>): Config.Config<A> =>
  value !== undefined ? Config.succeed(value) : config

/** One or more stream names or ARNs, comma-separated. */
export const streamsConfig = (name: string): Config.Config<ReadonlyArray<StreamId.StreamId>> =>
  Config.mapOrFail(Config.nonEmptyString(name), (text) =>
    Either.mapLeft(StreamId.parseList(text), (e) => ConfigError.InvalidData([name], e.message)))

/** The settings from the environment, where `given` does not set them. */
export const settingsConfig = (given: Partial<Settings> = {}): Config.Config<Settings> =>
  Config.all({
    streams: orConfig(given.streams, streamsConfig("EDDY_STREAMS").pipe(Config.orElse(() => streamsConfig("EDDY_STREAM_NAME")))),
    workerId: orConfig(given.workerId, Config.nonEmptyString("EDDY_WORKER_ID").pipe(Config.withDefault(`${hostname()}-${process.pid}`))),
    initialPosition: orConfig(
      given.initialPosition,
      Config.literal("TRIM_HORIZON", "LATEST")("EDDY_INITIAL_POSITION").pipe(Config.withDefault("TRIM_HORIZON" as const))
    ),
    gracePeriod: orConfig(given.gracePeriod, Config.duration("EDDY_GRACE_PERIOD").pipe(Config.withDefault(Duration.seconds(25)))),
    port: orConfig(
      given.port,
      Config.integer("PORT").pipe(
        Config.validate({ message: "must be a port number from 0 to 65535", validation: (n) => n >= 0 && n <= 65_535 }),
        Config.withDefault(8080)
      )
    ),
    readLimit: orConfig(
      given.readLimit,
      Config.integer("EDDY_READ_LIMIT").pipe(
        Config.validate({ message: "must be an integer from 1 to 10000", validation: (n) => n >= 1 && n <= 10_000 }),
        Config.withDefault(10_000)
      )
    ),
    pollInterval: orConfig(given.pollInterval, Config.duration("EDDY_POLL_INTERVAL").pipe(Config.withDefault(Duration.millis(200)))),
    discoveryInterval: orConfig(given.discoveryInterval, Config.duration("EDDY_DISCOVERY_INTERVAL").pipe(Config.withDefault(Duration.seconds(10)))),
    flushInterval: orConfig(given.flushInterval, Config.duration("EDDY_FLUSH_INTERVAL").pipe(Config.withDefault(Duration.seconds(1)))),
    flushRecords: orConfig(given.flushRecords, recordCount("EDDY_FLUSH_RECORDS")),
    // With the renewals (three per failover time, fewer while checkpoints are written), well under one lease write a second per shard.
    checkpointInterval: orConfig(given.checkpointInterval, Config.duration("EDDY_CHECKPOINT_INTERVAL").pipe(Config.withDefault(Duration.seconds(5)))),
    checkpointRecords: orConfig(given.checkpointRecords, recordCount("EDDY_CHECKPOINT_RECORDS")),
    stuckAfter: orConfig(given.stuckAfter, Config.duration("EDDY_STUCK_AFTER").pipe(Config.withDefault(Duration.seconds(60)))),
    strictOrder: orConfig(given.strictOrder, strictOrderConfig),
    aggregation: orConfig(given.aggregation, Aggregation.config("EDDY_AGGREGATION")),
    queryApi: orConfig(given.queryApi, Config.boolean("EDDY_QUERY_API").pipe(Config.withDefault(false))),
    readMode: orConfig(given.readMode, Config.literal("poll", "efo")("EDDY_READ_MODE").pipe(Config.withDefault("poll" as const))),
    consumerName: orConfig(given.consumerName, Config.nonEmptyString("EDDY_CONSUMER_NAME").pipe(Config.option, Config.map(Option.getOrUndefined))),
    readFallback: orConfig(given.readFallback, Config.literal("poll", "none")("EDDY_READ_FALLBACK").pipe(Config.withDefault("none" as const))),
    finalValueInterval: orConfig(given.finalValueInterval, Config.duration("EDDY_FINAL_VALUE_INTERVAL").pipe(Config.withDefault(Duration.seconds(10)))),
    metricsNamespace: orConfig(given.metricsNamespace, Config.nonEmptyString("EDDY_METRICS_NAMESPACE").pipe(Config.withDefault("eddy")))
  }).pipe(Config.mapOrFail(({ consumerName, ...settings }): Either.Either<Settings, ConfigError.ConfigError> =>
    consumerName !== undefined
      ? Either.right({ ...settings, consumerName })
      : settings.readMode === "efo"
      ? Either.left(ConfigError.MissingData(["EDDY_CONSUMER_NAME"], "Expected EDDY_CONSUMER_NAME to exist in the environment: EDDY_READ_MODE=efo needs the stream consumer's name"))
      : Either.right(settings)
  ))

/** `EDDY_STRICT_ORDER`, false by default. */
const strictOrderConfig = Config.boolean("EDDY_STRICT_ORDER").pipe(Config.withDefault(false))

/**
 * Waits before a shard is read again after a failed batch or read: from 1 s,
 * jittered, each wait at most 30 s, 10 times (about three minutes); then the
 * lease is given up so that any worker, this one included, can try afresh.
 */
export const defaultRereadBackoff: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "1 second", cap: "30 seconds", times: 10 })

/** Under strict order the same waits without end: a halted shard keeps its lease, as no other worker could pass its record either. */
export const strictRereadBackoff: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "1 second", cap: "30 seconds" })

/** GetRecords tuning beyond the settings; see `Consumer.ReadOptions`. */
export type ReadOptions = Pick<Consumer.ReadOptions, "maxIdleInterval" | "retry" | "requestTimeout">

/** The settings of one worker, with its reread backoff and read options. */
export interface WorkerOptions extends Settings {
  readonly rereadBackoff?: Schedule.Schedule<unknown, unknown>
  readonly read?: ReadOptions
  /** Serves the paths the endpoint does not know itself: the query API when `queryApi` is on. */
  readonly api?: HttpApp.Default
  /** Sends the final values of closed buckets (see `Options.finalValues`): the sink, and the store to read them from. */
  readonly finalValues?: { readonly sink: FinalValue.Sink["Type"]; readonly store: Store.Service }
  /** How often `ShardsHalted` is written again while a shard is halted; default 30 seconds: twice in each one-minute alarm period, so timer jitter never leaves a period without data. */
  readonly haltedMetricInterval?: Duration.DurationInput
}

/** What the service runs: the pipelines, their state, Kinesis and the lease table. */
export interface Options<E = never, P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>> extends Partial<Settings> {
  /** The pipelines to run: the same definition the Lambda handler runs. */
  readonly pipelines: P
  /** The pipelines' stores (`Store.Store` for those that name none, and each placement they name), deduper and dead-letter sink. */
  readonly layer: Layer.Layer<Pipeline.StoresOf<P> | Deduper.Deduper | DeadLetter.DeadLetter, E>
  /** Default `Kinesis.layerConfig`. */
  readonly kinesis?: Layer.Layer<Kinesis.Kinesis, E>
  /** The HTTP/2 client of enhanced fan-out (`EDDY_READ_MODE=efo`); default `FanOut.layerConfig`. */
  readonly fanOut?: Layer.Layer<FanOut.FanOut, E>
  /** The lease table the workers share, e.g. `DynamoLeases.layerConfig(...)` or `RedisLeases.layer(...)`. */
  readonly leases: Layer.Layer<Leases.Leases, E>
  /** Retries of store writes, dedup claims and dead-letter sends (see `Processor.defaultRetry`). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Default `defaultRereadBackoff`. */
  readonly rereadBackoff?: Schedule.Schedule<unknown, unknown>
  readonly read?: ReadOptions
  /** How often `ShardsHalted` is written again while a shard is halted; default 30 seconds: twice in each one-minute alarm period, so timer jitter never leaves a period without data. */
  readonly haltedMetricInterval?: Duration.DurationInput
  /** Start-up checks beyond the stream's (e.g. the tables and their key schemas); see `Preflight`. */
  readonly preflight?: ReadonlyArray<Preflight.Check>
  /**
   * What becomes of a record of a `schemaVersion` the pipelines' decoder does
   * not know (the Processor's `unknownVersion`): "deadLetter" (the default)
   * sends it to the sink for a redrive once a consumer that reads it is
   * deployed; "block" holds its shard there until then (`/readyz` reports it stuck).
   */
  readonly unknownVersion?: Processor.PoisonPolicy
  /**
   * Where the final values of closed buckets go (`FinalValue.callback(...)`,
   * or `FinalValueStream.layer` of `@eddy/kinesis` to put them to a stream).
   * Every `finalValueInterval` the worker sends, for each pipeline whose
   * window has an `allowedLateness` and leaves late events out ("deadLetter"),
   * the stored value of each key written in a bucket that closed, by any
   * worker: once every unfinished shard of its streams is processed past the
   * bucket's close, by the records' arrival times, or by the wall clock while
   * a shard is idle at the tip. Workers publish each shard's clock in its
   * lease and record the keys of open buckets in the store before each
   * checkpoint, so the close holds across workers and restarts (see the README).
   * At least once, with a stable id (see `FinalValue`).
   */
  readonly finalValues?: Layer.Layer<FinalValue.Sink, E>
}

/** Where the service is in its life. */
export type Phase = "starting" | "running" | "stopping"

/** What `/readyz` reports. */
export interface Status {
  readonly workerId: string
  readonly phase: Phase
  /**
   * Running, and either processing shards or idle by design: the last lease
   * round and shard listing succeeded and there was nothing left to take
   * (more workers than shards, say).
   */
  readonly ready: boolean
  /** The shards being processed, as lease keys (`<stream>:<shardId>`). */
  readonly shards: ReadonlyArray<string>
  /** Why it is not ready while running: Kinesis or the lease table not answering, a stuck shard (see `Readiness`). */
  readonly problems?: ReadonlyArray<string>
}

/** A running service: its worker id, address and status. */
export class Service extends Context.Tag("@eddy/runtime/Service")<Service, {
  readonly workerId: string
  /** Where the health and metrics endpoint listens. */
  readonly address: HttpServer.Address
  readonly status: Effect.Effect<Status>
}>() {}

/** One shard handed out by the consumer, processed until it ends; a heartbeat that finds its lease taken interrupts it at once. */
const runShard = (
  options: WorkerOptions,
  processor: Processor.Processor["Type"],
  stop: Deferred.Deferred<void>,
  tracker: Readiness.Tracker,
  finals: FinalValues.Tracker | undefined
) =>
(shard: Consumer.ShardStream): Effect.Effect<ShardWorker.Exit> =>
  // Until its reader's first answer the gauge says nothing of this tenure (it may hold an earlier reader's 0): unknown, so no idle shard is assumed.
  Effect.zipRight(finals === undefined || options.readMode === "efo" ? Effect.void : Metric.set(lagGauge(shard), Number.POSITIVE_INFINITY), ShardWorker.run({
    shard: finals === undefined ? tracker.watch(shard) : finals.watch(tracker.watch(shard), options.readMode === "efo" ? undefined : lagOf(shard)),
    processor: AppliedOnce.wrap(
      tracker.processorFor(shard, finals === undefined ? processor : finals.processorFor(shard.lease.leaseKey, processor))
    ),
    rereadBackoff: options.rereadBackoff ?? (options.strictOrder === true ? strictRereadBackoff : defaultRereadBackoff),
    stop,
    checkpointInterval: options.checkpointInterval,
    checkpointRecords: options.checkpointRecords,
    ...(options.flushInterval !== undefined ? { flushInterval: options.flushInterval } : {}),
    ...(options.flushRecords !== undefined ? { flushRecords: options.flushRecords } : {})
  })).pipe(
    Effect.catchAllCause((cause) =>
      Effect.logError("shard failed unexpectedly; releasing its lease", cause).pipe(
        Effect.zipRight(Effect.ignoreLogged(shard.checkpointer.release)),
        Effect.as("gaveUp" as const)
      )
    ),
    Effect.raceFirst(Effect.as(shard.leaseLost, "lost" as const)),
    // Counted here once, whichever noticed first: the heartbeat or a refused checkpoint.
    Effect.tap((exit) => exit === "lost" ? Metric.increment(ServiceMetrics.leasesLost) : Effect.void),
    Effect.annotateLogs({ stream: shard.stream.name, shardId: shard.shardId })
  )

/** The polling reader's lag gauge of `shard`. */
const lagOf = (shard: Consumer.ShardStream): Effect.Effect<number> => Effect.map(Metric.value(lagGauge(shard)), (s) => s.value)

const lagGauge = (shard: Consumer.ShardStream) => Consumer.millisBehindLatest.pipe(Metric.tagged("stream", shard.stream.name), Metric.tagged("shard", shard.shardId))

/**
 * Enhanced fan-out's reader: the service's consumer registered (or found)
 * on each stream, then every shard read through it. With the polling
 * fallback, a failed registration leaves the service polling.
 */
const fanOutSource = (options: WorkerOptions): Effect.Effect<Consumer.ShardSource | undefined, Kinesis.KinesisError> =>
  Effect.gen(function*() {
    const fanOut = yield* Effect.serviceOption(FanOut.FanOut)
    if (Option.isNone(fanOut)) return yield* Effect.dieMessage("EDDY_READ_MODE=efo needs the FanOut client: provide FanOut.layer (Service.layer does)")
    const consumerName = options.consumerName
    if (consumerName === undefined) return yield* Effect.dieMessage("EDDY_READ_MODE=efo needs a consumer name (EDDY_CONSUMER_NAME)")
    const poll: Consumer.ShardSource = (stream, shardId, from) =>
      Consumer.readShard(stream, shardId, from, { ...options.read, limit: options.readLimit, pollInterval: options.pollInterval })
    const fallback = options.readFallback === "poll"
    const registered = yield* Effect.forEach(options.streams, (stream) =>
      Effect.map(FanOut.register(stream, consumerName), (consumer) => [StreamId.leasePrefix(stream), consumer] as const), { concurrency: "unbounded" }).pipe(
        Effect.tap((consumers) => Effect.logInfo("reading with enhanced fan-out").pipe(Effect.annotateLogs({ consumers: consumers.map(([, c]) => c.consumerArn) }))),
        Effect.map(Option.some),
        Effect.catchAll((error) =>
          fallback
            ? Effect.as(Effect.logWarning("enhanced fan-out unavailable; polling instead").pipe(Effect.annotateLogs({ consumerName, error: error.message })), Option.none())
            : Effect.fail(error)
        ),
        Effect.provideService(FanOut.FanOut, fanOut.value)
      )
    if (Option.isNone(registered)) return undefined
    return yield* FanOut.source(new Map(registered.value), fallback ? { fallback: poll } : {}).pipe(Effect.provideService(FanOut.FanOut, fanOut.value))
  })

/**
 * Starts the worker and its HTTP endpoint in the current scope; closing the
 * scope is the graceful shutdown described above.
 */
export const make = (
  options: WorkerOptions
): Effect.Effect<
  Service["Type"],
  ServeError | StreamId.LegacyLeaseTableError | Leases.LeaseStoreError | Kinesis.KinesisError,
  Scope.Scope | Kinesis.Kinesis | Leases.Leases | Processor.Processor
> =>
  Effect.gen(function*() {
    const { initialPosition, streams, workerId } = options
    const processor = yield* Processor.Processor
    // Only its own streams' leases: services of other streams may share the table.
    const worker = yield* Effect.flatMap(Leases.Leases, (leases) => leases.worker(workerId, { accepts: Consumer.accepts(streams) }))
    let consumer: Consumer.ShardedConsumer | undefined
    let stopping = false
    /** The shards being processed, by lease key: a shard leaves once its processing ended, whatever the consumer knows. */
    const processingShards = new Map<string, Consumer.ShardStream>()

    const progress: Effect.Effect<Consumer.ShardedStatus | undefined> = Effect.suspend(() => consumer === undefined ? Effect.succeed(undefined) : consumer.status)
    const tracker = yield* Readiness.make({ stuckAfter: options.stuckAfter ?? Duration.seconds(60) })
    yield* HaltedMetric.run({
      halted: tracker.halted,
      streams: streams.map((s) => s.name),
      namespace: options.metricsNamespace ?? "eddy",
      interval: options.haltedMetricInterval ?? Duration.seconds(30),
      writer: Option.getOrElse(yield* Effect.serviceOption(Emf.Writer), () => Emf.stdout),
      properties: { workerId }
    }).pipe(Effect.forkScoped)
    const finals = options.finalValues === undefined ? undefined : FinalValues.make(
        processor.pipelines,
        options.finalValues.store,
        options.finalValues.sink,
        // An idle reader polls at most this far apart, plus a call's time.
        Duration.toMillis(options.read?.maxIdleInterval ?? Duration.seconds(1)) + Duration.toMillis(options.pollInterval) + 1_000,
        worker
      )
    const status = progress.pipe(
      Effect.flatMap((consumed) => Effect.map(tracker.report(Array.from(processingShards.keys())), (report) => [consumed, report] as const)),
      Effect.map(([consumed, report]): Status => {
        const shards = Array.from(processingShards.keys()).sort()
        const phase: Phase = stopping ? "stopping" : consumed !== undefined && consumed.rounds > 0 ? "running" : "starting"
        // Idle by design: the last lease round and shard listing succeeded and left nothing to take.
        const idle = consumed !== undefined && consumed.roundOk && consumed.discoveryOk
        const problems = phase !== "running" || consumed === undefined ? [] : [
          ...(consumed.discoveryOk ? [] : ["the last shard listing failed: is Kinesis reachable?"]),
          ...(consumed.roundOk ? [] : ["the last lease round failed: is the lease table reachable?"]),
          ...consumed.shards.filter((s) => !processingShards.has(s)).map((s) => `shard ${s} is leased but not being read`),
          ...report.problems
        ]
        const ready = phase === "running" && (shards.length > 0 || idle) && problems.length === 0
        return { workerId, phase, ready, shards, ...(problems.length > 0 ? { problems } : {}) }
      })
    )
    const leasesHeld = Effect.suspend(() => Metric.set(ServiceMetrics.leasesHeld, processingShards.size))
    // Served first, so it is closed last and answers 503 while the worker drains.
    const address = yield* Health.serve({ port: options.port, readiness: status, ...(options.api !== undefined ? { api: options.api } : {}) })

    const source = options.readMode === "efo" ? yield* fanOutSource(options) : undefined
    const sharded = yield* Consumer.makeSharded(streams, worker, {
      ...options.read,
      ...(options.aggregation !== undefined ? { aggregation: options.aggregation } : {}),
      ...(source !== undefined ? { source } : {}),
      workerId,
      initialPosition,
      limit: options.readLimit,
      pollInterval: options.pollInterval,
      discoveryInterval: options.discoveryInterval
    })
    consumer = sharded
    const stop = yield* Deferred.make<void>()
    const started = (shard: Consumer.ShardStream) => Effect.zipRight(Effect.sync(() => processingShards.set(shard.lease.leaseKey, shard)), leasesHeld)
    // A shard taken again may already be processing anew: only its own run removes it.
    const ended = (shard: Consumer.ShardStream) =>
      Effect.zipRight(
        Effect.suspend(() => {
          if (processingShards.get(shard.lease.leaseKey) !== shard) return Effect.void
          processingShards.delete(shard.lease.leaseKey)
          finals?.forget(shard.lease.leaseKey)
          return tracker.forget(shard.lease.leaseKey)
        }),
        leasesHeld
      )
    const processing = yield* sharded.shards.pipe(
      Stream.tap(started),
      Stream.flatMap((shard) => Stream.fromEffect(Effect.ensuring(runShard(options, processor, stop, tracker, finals)(shard), ended(shard))), {
        concurrency: "unbounded"
      }),
      Stream.runDrain,
      Effect.forkScoped
    )

    const drain = Effect.gen(function*() {
      const began = yield* Clock.currentTimeMillis
      const graceMillis = Duration.toMillis(options.gracePeriod)
      // Kept back for releasing the leases, so other workers need not wait a failover time.
      const releaseMillis = Math.min(5_000, graceMillis / 4)
      stopping = true
      yield* Effect.logInfo("stopping: finishing the batches in hand").pipe(Effect.annotateLogs({ shards: Array.from(processingShards.keys()) }))
      // Each shard stops fetching and finishes the batch in hand; the consumer stops its heartbeat and hands out no more shards.
      yield* Deferred.succeed(stop, undefined)
      yield* sharded.stop
      const drained = yield* Effect.interruptible(Fiber.await(processing)).pipe(Effect.timeout(Math.max(0, graceMillis - releaseMillis)), Effect.option)
      if (Option.isNone(drained)) yield* Effect.logWarning("grace period nearly over: abandoning unfinished batches without checkpointing them")
      // Interrupting takes moments; bounded all the same, so that nothing stuck can hold the exit past the grace period.
      yield* Effect.interruptible(Fiber.interrupt(processing)).pipe(Effect.timeout(Math.min(1_000, releaseMillis)), Effect.ignore)
      const left = graceMillis - ((yield* Clock.currentTimeMillis) - began)
      yield* Effect.interruptible(worker.releaseAll).pipe(
        Effect.timeoutFail({ duration: Math.max(0, left), onTimeout: () => new Leases.LeaseStoreError({ message: "releasing the leases took longer than the grace period" }) }),
        Effect.catchAll((e) => Effect.logWarning("leases not released; other workers take them after the failover time").pipe(Effect.annotateLogs({ error: e.message })))
      )
      yield* Metric.set(ServiceMetrics.leasesHeld, 0)
      yield* Effect.logInfo("stopped").pipe(Effect.annotateLogs({ millis: (yield* Clock.currentTimeMillis) - began }))
    })
    yield* Effect.addFinalizer(() => drain)
    if (finals !== undefined) {
      // A failed check leaves its buckets for the next one.
      yield* finals.check.pipe(
        Effect.tap((e) => e.sent > 0 ? Effect.logInfo("final values sent").pipe(Effect.annotateLogs({ sent: e.sent, skipped: e.skipped, pending: e.pending })) : Effect.void),
        Effect.catchAll((e) => Effect.logWarning("final values not sent; trying again at a later check").pipe(Effect.annotateLogs({ error: e.message }))),
        Effect.repeat(Schedule.spaced(options.finalValueInterval ?? Duration.seconds(10))),
        Effect.delay(options.finalValueInterval ?? Duration.seconds(10)),
        Effect.forkScoped
      )
    }

    yield* Effect.logInfo("worker started").pipe(Effect.annotateLogs({ workerId, streams: streams.map(StreamId.leasePrefix), address }))
    return Service.of({ workerId, address, status })
  }).pipe(Effect.annotateLogs({ workerId: options.workerId }))

/** The worker with its processor, Kinesis client and lease table, configured from `options` and the environment. */
export const layer = <E = never, const P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>>(
  options: Options<E, P>
): Layer.Layer<
  Service,
  E | ConfigError.ConfigError | ServeError | StreamId.LegacyLeaseTableError | Leases.LeaseStoreError | Preflight.PreflightError | Kinesis.KinesisError
> => {
  // At start, so a bad definition fails the task before any lease is taken.
  Pipeline.validate(options.pipelines)
  const unknownVersion = orConfig(
    options.unknownVersion,
    Config.literal("deadLetter", "block")("EDDY_UNKNOWN_VERSION").pipe(Config.withDefault("deadLetter" as const))
  )
  const strict = orConfig(options.strictOrder, strictOrderConfig)
  const processor = Layer.unwrapEffect(Effect.map(Config.all([unknownVersion, strict]), ([unknownVersion, strict]) =>
    Processor.layer({
      pipelines: Processor.provided(options.pipelines),
      payloadHash: PayloadHash.sha256Hex,
      unknownVersion,
      poison: strict ? "block" : "deadLetter",
      ...(options.retry !== undefined ? { retry: options.retry } : {})
    })))
  const worker = Layer.scoped(
    Service,
    Effect.flatMap(settingsConfig(options), (settings) =>
      // Permanent misconfiguration (no such stream, a missing table, no access) stops the start with what to fix.
      Effect.zipRight(
        Preflight.run([...settings.streams.map((stream) => Preflight.stream(stream)), ...(options.preflight ?? [])]),
        Effect.flatMap(settings.queryApi === true ? Effect.map(QueryApi.httpApp(options.pipelines), Option.some) : Effect.succeedNone, (api) =>
          Effect.flatMap(Effect.all([Effect.serviceOption(FinalValue.Sink), Store.Store]), ([sink, store]) =>
          make({
            ...settings,
            ...(Option.isSome(sink) ? { finalValues: { sink: sink.value, store } } : {}),
            ...(options.rereadBackoff !== undefined ? { rereadBackoff: options.rereadBackoff } : {}),
            ...(options.read !== undefined ? { read: options.read } : {}),
            ...(options.haltedMetricInterval !== undefined ? { haltedMetricInterval: options.haltedMetricInterval } : {}),
            ...(Option.isSome(api) ? { api: api.value } : {})
          })))
      ))
  )
  // One store for the processor and the query API (each pipeline read from its own store): a layer given twice is built once.
  const queryStore = Layer.effect(Store.Store, Processor.storesOf(Processor.provided(options.pipelines)))
  return worker.pipe(
    Layer.provide(Layer.mergeAll(
      Layer.provide(Layer.merge(processor, queryStore), options.layer),
      options.kinesis ?? Kinesis.layerConfig(),
      options.fanOut ?? FanOut.layerConfig(),
      options.leases,
      options.finalValues ?? Layer.empty
    ))
  )
}

/** The service as a program for `NodeRuntime.runMain`, logging JSON lines (level from `LOG_LEVEL`). */
export const run = <E = never, const P extends ReadonlyArray<Pipeline.Pipeline> = ReadonlyArray<Pipeline.Pipeline>>(
  options: Options<E, P>
): Effect.Effect<
  never,
  E | ConfigError.ConfigError | ServeError | StreamId.LegacyLeaseTableError | Leases.LeaseStoreError | Preflight.PreflightError | Kinesis.KinesisError
> =>
  Layer.launch(layer(options)).pipe(Effect.provide(Log.layerConfig))
