/**
 * Enhanced fan-out, as KCL 2 reads: a registered stream consumer gets its own
 * 2 MB/s per shard, and Kinesis pushes each shard's records to it over an
 * HTTP/2 subscription (SubscribeToShard) as they arrive, instead of the
 * readers polling GetRecords and sharing the shard's 2 MB/s and 5 calls/s.
 *
 * `register` finds the service's consumer by name or registers it, and waits
 * until it is ACTIVE, so a restarted worker reuses it. `readShard` yields
 * the same `ShardBatch`es as the polling `ShardReader` (user records, KPL
 * aggregates unpacked), so the rest of a pipeline does not change: each
 * subscription is renewed before Kinesis ends it at five minutes, resumes from
 * the last event's continuation sequence number, and a closed shard's stream
 * ends with its `shardEnded` batch (the event with child shards), after which
 * the consumer's leases start the children. With a `fallback` the shard goes
 * on polling from where the subscription stopped when it cannot go on.
 */
import {
  DescribeStreamConsumerCommand,
  type DescribeStreamConsumerInput,
  type DescribeStreamConsumerOutput,
  DescribeStreamSummaryCommand,
  type DescribeStreamSummaryInput,
  type DescribeStreamSummaryOutput,
  KinesisClient,
  RegisterStreamConsumerCommand,
  type RegisterStreamConsumerInput,
  type RegisterStreamConsumerOutput,
  SubscribeToShardCommand,
  type SubscribeToShardEvent,
  type SubscribeToShardInput
} from "@aws-sdk/client-kinesis"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as Backoff from "@eddy/core/Backoff"
import type { Position } from "@eddy/core/SourceRecord"
import { NodeHttp2Handler } from "@smithy/node-http-handler"
import { Chunk, Clock, Config, type ConfigError, Context, Duration, Effect, Layer, Metric, Option, Schedule, type Scope, Stream } from "effect"
import { startingPoint } from "./internal/startingPoint"
import {
  fromSdkError,
  isRetryable,
  type Kinesis,
  type KinesisError,
  KinesisRequestError,
  KinesisResourceInUseError,
  KinesisUnavailableError
} from "./Kinesis"
import type { ShardSource } from "./Consumer"
import { endOfShard, millisBehindLatest, type ShardBatch, StartPosition } from "./ShardReader"
import * as StreamId from "./StreamId"
import * as UserRecords from "./UserRecords"

/** The calls enhanced fan-out makes, as Effects failing with `KinesisError`s, on an HTTP/2 client. */
export interface FanOutApi {
  readonly describeStreamSummary: (input: DescribeStreamSummaryInput) => Effect.Effect<DescribeStreamSummaryOutput, KinesisError>
  readonly registerStreamConsumer: (input: RegisterStreamConsumerInput) => Effect.Effect<RegisterStreamConsumerOutput, KinesisError>
  readonly describeStreamConsumer: (input: DescribeStreamConsumerInput) => Effect.Effect<DescribeStreamConsumerOutput, KinesisError>
  /** One subscription's events, until Kinesis ends it (after five minutes) or the stream stops being pulled, which cancels it. */
  readonly subscribeToShard: (input: SubscribeToShardInput) => Stream.Stream<SubscribeToShardEvent, KinesisError>
}

/** The enhanced fan-out client as a service. */
export class FanOut extends Context.Tag("@eddy/kinesis/FanOut")<FanOut, FanOutApi>() {}

const call = <A>(operation: string, send: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, KinesisError> =>
  Effect.tryPromise({ try: send, catch: (cause) => fromSdkError(operation, cause) })

/** Wraps an SDK client whose request handler speaks HTTP/2 (SubscribeToShard needs it). */
export const fromClient = (client: KinesisClient): FanOutApi => ({
  describeStreamSummary: (input) => call("describeStreamSummary", (abortSignal) => client.send(new DescribeStreamSummaryCommand(input), { abortSignal })),
  registerStreamConsumer: (input) => call("registerStreamConsumer", (abortSignal) => client.send(new RegisterStreamConsumerCommand(input), { abortSignal })),
  describeStreamConsumer: (input) => call("describeStreamConsumer", (abortSignal) => client.send(new DescribeStreamConsumerCommand(input), { abortSignal })),
  subscribeToShard: (input) =>
    Stream.unwrapScoped(Effect.gen(function*() {
      // The response outlives the call: the subscription is cancelled when the scope of its events closes.
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      const out = yield* call("subscribeToShard", () => client.send(new SubscribeToShardCommand(input), { abortSignal: controller.signal })).pipe(
        Effect.onInterrupt(() => Effect.sync(() => controller.abort()))
      )
      if (out.EventStream === undefined) return Stream.empty
      return Stream.fromAsyncIterable(out.EventStream, (cause) => fromSdkError("subscribeToShard", cause)).pipe(
        Stream.filterMap((event) => Option.fromNullable(event.SubscribeToShardEvent))
      )
    }))
})

/** Client options of `make`/`layer`: those of every eddy AWS client, and its HTTP/2 handler. */
export interface Options extends AwsClientOptions.Options {
  /** Default: an SDK `NodeHttp2Handler`, a session per subscription, as the Kinesis client has by default. */
  readonly requestHandler?: NodeHttp2Handler
}

/** Builds an HTTP/2 SDK client from `options` (see `AwsClient`), destroyed with the scope. */
export const make = (options: Options = {}): Effect.Effect<FanOutApi, never, Scope.Scope> =>
  Effect.map(
    AwsClient.scoped((config) =>
      new KinesisClient({ ...config, requestHandler: options.requestHandler ?? new NodeHttp2Handler({ disableConcurrentStreams: true }) }), options),
    fromClient
  )

/** `make` as a scoped layer. */
export const layer = (options?: Options): Layer.Layer<FanOut> => Layer.scoped(FanOut, make(options))

/** Like `layer`, with the options from `config`; by default those of `Kinesis.layerConfig` (`AWS_REGION`, `AWS_ENDPOINT_URL_KINESIS`). */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = AwsClientOptions.config("KINESIS")
): Layer.Layer<FanOut, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/** A stream consumer that is ACTIVE. */
export interface StreamConsumer {
  readonly consumerName: string
  readonly consumerArn: string
  readonly streamArn: string
}

/** How a stream consumer is registered or found. */
export interface RegisterOptions {
  /** Waits for the consumer to become ACTIVE and retries failed calls (default: exponential from 200 ms, capped at 5 s, 30 retries: about two minutes). */
  readonly retry?: Schedule.Schedule<unknown, KinesisError>
}

const notActive = (name: string, status: string) =>
  new KinesisResourceInUseError({ operation: "describeStreamConsumer", message: `stream consumer ${name} is ${status}; waiting until it is ACTIVE` })

/**
 * The stream's consumer named `consumerName`, registered if there is none,
 * once it is ACTIVE. Registering is idempotent across workers and restarts:
 * a consumer that exists is reused, and one that another worker registers at
 * the same moment is found on the next look.
 */
export const register = (stream: StreamId.Input, consumerName: string, options: RegisterOptions = {}): Effect.Effect<StreamConsumer, KinesisError, FanOut> =>
  Effect.gen(function*() {
    const api = yield* FanOut
    const id = StreamId.of(stream)
    const streamArn = id.arn ?? (yield* api.describeStreamSummary(StreamId.sdkParams(id))).StreamDescriptionSummary?.StreamARN
    if (streamArn === undefined) {
      return yield* new KinesisRequestError({ operation: "describeStreamSummary", message: `stream ${id.name} has no ARN in its description` })
    }
    const look = api.describeStreamConsumer({ StreamARN: streamArn, ConsumerName: consumerName }).pipe(
      Effect.map((out) => Option.fromNullable(out.ConsumerDescription)),
      Effect.catchTag("KinesisNotFoundError", () => Effect.succeedNone)
    )
    const ensure = Effect.gen(function*() {
      const found = yield* look
      if (Option.isNone(found)) {
        // Another worker registering it first answers ResourceInUse: it is found on the next look.
        yield* api.registerStreamConsumer({ StreamARN: streamArn, ConsumerName: consumerName }).pipe(
          Effect.catchTag("KinesisResourceInUseError", () => Effect.void)
        )
        yield* Effect.logInfo("stream consumer registered").pipe(Effect.annotateLogs({ stream: id.name, consumerName }))
        return yield* notActive(consumerName, "being registered")
      }
      const { ConsumerARN, ConsumerStatus } = found.value
      if (ConsumerStatus !== "ACTIVE" || ConsumerARN === undefined) return yield* notActive(consumerName, ConsumerStatus ?? "not described")
      return { consumerName, consumerArn: ConsumerARN, streamArn }
    })
    return yield* ensure.pipe(
      Effect.retry({ schedule: options.retry ?? Backoff.exponential({ base: "200 millis", cap: "5 seconds", times: 30 }), while: isRetryable })
    )
  })

/** Subscriptions opened per stream, shard and cause (`start`, `renewal`, `retry`). */
export const subscriptions = Metric.counter("eddy_kinesis_subscriptions", {
  description: "SubscribeToShard subscriptions opened, by cause: start, renewal (before Kinesis's five minutes end) or retry (after a failure)",
  incremental: true
})

/** How a shard is read through subscriptions. */
export interface ReadOptions {
  /** When a subscription is renewed: under Kinesis's five minutes (default 4 minutes 45 seconds). */
  readonly renewAfter?: Duration.DurationInput
  /** Longest wait for the next event (Kinesis sends one at least every few seconds) before the subscription is renewed (default 30 s). */
  readonly eventTimeout?: Duration.DurationInput
  /**
   * Retries failed subscriptions: ResourceInUse (a subscription of the same
   * consumer and shard still open, as right after a renewal), throttling and
   * unavailability (default: exponential from 200 ms, capped at 5 s, jittered, 10 retries).
   * Counted afresh once an event arrives.
   */
  readonly retry?: Schedule.Schedule<unknown, KinesisError>
  /**
   * Where the shard goes on when subscriptions fail for good (after the
   * retries, or at once for a request error such as a consumer that was
   * deregistered): given the position after the last record delivered, e.g.
   * polling with `ShardReader.readShard`. Default: the stream fails.
   */
  readonly fallback?: (from: StartPosition) => Stream.Stream<ShardBatch, KinesisError>
}

/**
 * Reads one shard through `consumer`'s subscriptions from `from`: one batch
 * per event that carried records, and at a closed shard's end a final batch
 * with `shardEnded` set, after which the stream completes. An open shard's
 * stream never ends.
 */
export const readShard = (
  consumer: Pick<StreamConsumer, "consumerArn">,
  shardId: string,
  from: StartPosition,
  options: ReadOptions = {}
): Stream.Stream<ShardBatch, KinesisError, FanOut> =>
  Stream.suspend(() => {
    const renewAfter = Duration.decode(options.renewAfter ?? Duration.seconds(285))
    const eventTimeout = Duration.decode(options.eventTimeout ?? "30 seconds")
    const retry = options.retry ?? Backoff.exponential({ base: "200 millis", cap: "5 seconds", times: 10 })
    const lag = millisBehindLatest.pipe(Metric.tagged("consumer", consumer.consumerArn), Metric.tagged("shard", shardId))
    const opened = (cause: string) => subscriptions.pipe(Metric.tagged("shard", shardId), Metric.tagged("cause", cause))

    // Reader state, private to this run of the stream: where the next subscription starts.
    let resume = from
    /** After a resume inside an aggregate: its user records up to this position are already consumed. */
    let skip: Position | undefined = from._tag === "AfterSequenceNumber" && from.subSequenceNumber !== undefined
      ? { sequenceNumber: from.sequenceNumber, subSequenceNumber: from.subSequenceNumber }
      : undefined
    let count = 0
    let failed = false
    let startedAt = 0

    /** The position after the last record delivered, as a poller would resume. */
    const position = (): StartPosition =>
      skip !== undefined ? StartPosition.AfterSequenceNumber({ sequenceNumber: skip.sequenceNumber, subSequenceNumber: skip.subSequenceNumber }) : resume

    const onEvent = (event: SubscribeToShardEvent): Option.Option<ShardBatch> => {
      const raw = event.Records ?? []
      const records = Chunk.unsafeFromArray(UserRecords.fromGetRecords(raw, shardId, skip))
      if (raw.length > 0) skip = undefined
      const behind = event.MillisBehindLatest ?? 0
      // No continuation: the shard is closed and this was its last event (it names the children).
      if (event.ContinuationSequenceNumber === undefined || event.ContinuationSequenceNumber === null) return Option.some(endOfShard(shardId, records, behind))
      resume = StartPosition.AfterSequenceNumber({ sequenceNumber: event.ContinuationSequenceNumber })
      return Chunk.isNonEmpty(records) ? Option.some({ shardId, records, millisBehindLatest: behind, shardEnded: false }) : Option.none()
    }

    const subscription = Stream.unwrap(Effect.gen(function*() {
      const api = yield* FanOut
      const now = yield* Clock.currentTimeMillis
      // A `Latest` start is pinned to the first subscription, so records written while it was opening are not lost on a retry.
      if (count === 0) startedAt = now
      else if (resume._tag === "Latest") resume = StartPosition.AtTimestamp({ timestamp: startedAt })
      const point = startingPoint(resume)
      yield* Metric.increment(opened(count++ === 0 ? "start" : failed ? "retry" : "renewal"))
      failed = false
      return api.subscribeToShard({
        ConsumerARN: consumer.consumerArn,
        ShardId: shardId,
        StartingPosition: {
          Type: point.type,
          ...(point.sequenceNumber !== undefined ? { SequenceNumber: point.sequenceNumber } : {}),
          ...(point.timestamp !== undefined ? { Timestamp: point.timestamp } : {})
        }
      })
    })).pipe(
      Stream.timeoutFail(
        () => new KinesisUnavailableError({ operation: "subscribeToShard", message: `no event within ${Duration.format(eventTimeout)}` }),
        eventTimeout
      ),
      Stream.tap((event) => Metric.set(lag, event.MillisBehindLatest ?? 0)),
      Stream.filterMap(onEvent),
      Stream.interruptAfter(renewAfter),
      Stream.tapError(() => Effect.sync(() => (failed = true)))
    )

    const subscribed = subscription.pipe(
      Stream.retry(Schedule.whileInput(retry, isRetryable)),
      Stream.forever,
      Stream.takeUntil((batch) => batch.shardEnded)
    )
    const fallback = options.fallback
    if (fallback === undefined) return subscribed
    return subscribed.pipe(Stream.catchAll((error) =>
      Stream.unwrap(Effect.as(
        Effect.logWarning("enhanced fan-out failed; polling the shard instead").pipe(
          Effect.annotateLogs({ shardId, consumerArn: consumer.consumerArn, error: error.message })
        ),
        fallback(position())
      ))
    ))
  })

/**
 * A `ShardSource` reading every shard of the streams in `consumers` (by lease
 * prefix, see `StreamId.leasePrefix`) through their stream consumer.
 */
export const source = (
  consumers: ReadonlyMap<string, StreamConsumer>,
  options: Omit<ReadOptions, "fallback"> & { readonly fallback?: ShardSource } = {}
): Effect.Effect<ShardSource, never, FanOut> =>
  Effect.map(Effect.context<FanOut>(), (context) => (stream, shardId, from) => {
    const consumer = consumers.get(StreamId.leasePrefix(stream))
    if (consumer === undefined) return Stream.dieMessage(`no stream consumer registered for ${StreamId.leasePrefix(stream)}`)
    const { fallback, ...read } = options
    return Stream.unwrap(Effect.map(Effect.context<Kinesis>(), (kinesis) =>
      readShard(consumer, shardId, from, {
        ...read,
        ...(fallback !== undefined ? { fallback: (position: StartPosition) => Stream.provideContext(fallback(stream, shardId, position), kinesis) } : {})
      }).pipe(Stream.provideContext(context))))
  })
