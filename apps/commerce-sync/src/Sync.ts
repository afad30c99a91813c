/**
 * Commerce events into Kinesis: each event is validated against the wire
 * contract, routed to its stream with its entity id as partition key, and
 * written by that stream's producer; the caller learns when Kinesis has
 * durably written it (shard and sequence number) or why it was not.
 *
 * Routing: `product.created` to `KINESIS_PRODUCT_STREAM`; `product.updated`
 * there too, or to `KINESIS_PRODUCT_UPDATE_STREAM` when
 * `SEPARATE_SKU_CREATE_UPDATE_STREAM=true`; order events to
 * `KINESIS_ORDERS_STREAM`. Partition key: the product id or the order id, so
 * one entity's events stay in order on one shard.
 *
 * `KINESIS_INSERT_RATE_LIMIT` (e.g. `100/m`, `50/s`) limits the events this
 * service writes across all its streams: `sync` waits for room under it,
 * `trySync` refuses at once (for request handlers that answer 429).
 */
import * as Metrics from "@eddy/core/Metrics"
import {
  type CommerceEvent,
  type CommerceEventType,
  decodeCommerceEvent,
  encodeCommerceEvent,
  timestampMillis
} from "@eddy/commerce/CommerceEvent"
import { type DecodeError, InvalidEventError } from "@eddy/core/Decoder"
import type { Kinesis, KinesisError } from "@eddy/kinesis/Kinesis"
import { PARTITION_KEY_MAX_LENGTH, RECORD_MAX_BYTES } from "@eddy/kinesis/Limits"
import * as Producer from "@eddy/kinesis/Producer"
import type * as ProducerError from "@eddy/kinesis/ProducerError"
import * as RateLimit from "@eddy/kinesis/RateLimit"
import { TokenBucket } from "@eddy/kinesis/TokenBucket"
import {
  Clock,
  Config,
  ConfigError,
  Context,
  Data,
  Effect,
  Either,
  Layer,
  Metric,
  MetricBoundaries,
  MetricLabel,
  Option,
  type Scope
} from "effect"

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

export interface Streams {
  readonly product: string
  readonly orders: string
  /** When set, `product.updated` goes here instead of to `product`. */
  readonly productUpdate?: string
}

/** Where one event goes. */
export interface Route {
  readonly stream: string
  readonly partitionKey: string
}

export const route = (streams: Streams, event: CommerceEvent): Route => {
  switch (event.type) {
    case "product.created":
      return { stream: streams.product, partitionKey: event.product.id }
    case "product.updated":
      return { stream: streams.productUpdate ?? streams.product, partitionKey: event.product.id }
    default:
      return { stream: streams.orders, partitionKey: event.order.id }
  }
}

// ---------------------------------------------------------------------------
// Outcomes and errors
// ---------------------------------------------------------------------------

/** Kinesis durably wrote the event. */
export interface Synced {
  readonly eventId: string
  readonly type: CommerceEventType
  readonly stream: string
  readonly partitionKey: string
  readonly shardId: string
  readonly sequenceNumber: string
  /** PutRecords calls it took; more than 1 means it was retried. */
  readonly attempts: number
}

/** The event with its data plus partition key is over Kinesis's record limit: send less (e.g. fewer variants or locations). */
export class EventTooLargeError extends Data.TaggedError("EventTooLargeError")<{
  readonly eventId: string
  readonly size: number
  readonly limit: number
}> {
  override get message(): string {
    return `event ${this.eventId} is ${this.size} bytes on the wire, over Kinesis's ${this.limit}-byte record limit`
  }
}

/**
 * Kinesis did not write the event: the producer's retries ran out, the error
 * cannot be fixed by retrying, or the service is shutting down. Sending the
 * same event again (same `eventId`) later is safe: consumers drop duplicates.
 */
export class WriteFailedError extends Data.TaggedError("WriteFailedError")<{
  readonly eventId: string
  readonly stream: string
  readonly cause: ProducerError.PutFailure
}> {
  override get message(): string {
    return `event ${this.eventId} was not written to Kinesis stream ${this.stream}: ${this.cause.message}`
  }
}

/** Refused by `trySync`: the insert rate limit has no room now; try again after `retryAfterMillis`. */
export class RateLimitedError extends Data.TaggedError("RateLimitedError")<{
  readonly limit: string
  readonly retryAfterMillis: number
}> {
  override get message(): string {
    return `the insert rate limit of ${this.limit} is used up; retry in ${this.retryAfterMillis} ms`
  }
}

/**
 * Refused by `trySync`: as many events as allowed are already waiting for
 * their write (`InFlightLimit`), or the stream's producer buffer is full
 * (`QueueFull`); Kinesis is slower than the traffic. Retry after `retryAfterMillis`.
 */
export class OverloadedError extends Data.TaggedError("OverloadedError")<{
  readonly reason: "InFlightLimit" | "QueueFull"
  readonly limit: number
  readonly retryAfterMillis: number
}> {
  override get message(): string {
    return this.reason === "InFlightLimit"
      ? `${this.limit} events are already waiting for Kinesis; retry in ${this.retryAfterMillis} ms`
      : `the producer holds its limit of ${this.limit} records; retry in ${this.retryAfterMillis} ms`
  }
}

/** Why `sync` did not write an event. `InvalidEventError` names the field and the rule it breaks. */
export type SyncError = InvalidEventError | EventTooLargeError | WriteFailedError

/** Why `trySync` did not write an event. */
export type TrySyncError = SyncError | RateLimitedError | OverloadedError

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/** How loaded the service is now. */
export interface Load {
  /** `trySync` calls waiting for their write. */
  readonly inFlight: number
  /** The most `trySync` calls that ever waited at once; never above `maxInFlight`. */
  readonly peakInFlight: number
  readonly maxInFlight: number
  /** Records the producers hold (queued, in flight or awaiting a retry), all streams. */
  readonly queued: number
}

/** The streams a raw write can target. */
export type StreamRole = keyof Streams

export interface CommerceSyncApi {
  readonly streams: Streams
  /**
   * Validates the event, waits for room under the rate limit and in the
   * producer's buffer, and succeeds once Kinesis has written it.
   */
  readonly sync: (event: CommerceEvent) => Effect.Effect<Synced, SyncError>
  /**
   * Many events, in order per partition key: all are validated first (an
   * invalid one refuses the whole call before any is written), then each
   * gets its own outcome, in input order.
   */
  readonly syncAll: (
    events: ReadonlyArray<CommerceEvent>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Synced, WriteFailedError>>, InvalidEventError | EventTooLargeError>
  /** Like `sync`, but refuses at once rather than wait when the rate limit, the in-flight bound or the producer's buffer is full. */
  readonly trySync: (event: CommerceEvent) => Effect.Effect<Synced, TrySyncError>
  /**
   * Writes records as they are, bypassing validation (under the rate limit):
   * for exercising consumers with data that is not a valid event.
   */
  readonly putRaw: (
    stream: StreamRole,
    records: ReadonlyArray<{ readonly data: Uint8Array; readonly partitionKey: string }>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Producer.Acknowledged, ProducerError.PutFailure>>, ProducerError.InvalidRecordError>
  readonly load: Effect.Effect<Load>
  /** Sends whatever the producers hold and waits until they hold nothing. */
  readonly flush: Effect.Effect<void>
}

export class CommerceSync extends Context.Tag("@eddy/commerce-sync/CommerceSync")<CommerceSync, CommerceSyncApi>() {}

export interface Options {
  readonly streams: Streams
  /** Events per period across all streams, e.g. `RateLimit.parse("100/m")`. Default none. */
  readonly rateLimit?: RateLimit.RateLimit
  /** `trySync` calls that may wait for their write at once; more are refused. Default 1,000. */
  readonly maxInFlight?: number
  /** Settings of each stream's producer (buffer, retry schedule, failure sink, ...); linger defaults to 20 ms here. */
  readonly producer?: Omit<Producer.Options, "streamName" | "rateLimit" | "partitionKey">
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/**
 * This service's metrics. The producers' (`producer`: PutRecords calls and
 * latency, records sent, failed (also by error code), retried, throttled,
 * queue depth) are tagged `stream`. `writeLag` is the processing lag: from
 * the change (`occurredAt`) to Kinesis's acknowledgement. All are served on
 * `/metrics` (see `Http`).
 */
export const metrics = {
  producer: Producer.metrics,
  eventsSynced: Metrics.counter("commerce_sync_events_synced", "events Kinesis acknowledged, tagged with type"),
  eventsFailed: Metrics.counter("commerce_sync_events_failed", "events the producer gave up on, tagged with type"),
  requestsShed: Metrics.counter("commerce_sync_requests_shed", "trySync calls refused under back-pressure, tagged with reason"),
  inFlight: Metric.gauge("commerce_sync_in_flight", { description: "trySync calls waiting for their write" }),
  rateLimitWaits: Metrics.counter("commerce_sync_rate_limit_waits", "times a sync waited for room under the insert rate limit"),
  rateLimitWaited: Metrics.counter("commerce_sync_rate_limit_wait_ms", "time syncs spent waiting for room under the insert rate limit, milliseconds"),
  writeLag: Metric.histogram(
    "commerce_sync_write_lag_ms",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 32 }),
    "from an event's occurredAt to Kinesis acknowledging its write, milliseconds, tagged with stream"
  )
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

const DEFAULT_MAX_IN_FLIGHT = 1_000
const DEFAULT_BUFFER_RECORDS = 10_000
/** Every caller waits for its acknowledgement, so a batch waits only briefly to fill (the producer's own default is 100 ms). */
const DEFAULT_LINGER = "20 millis"
/** What an overloaded caller is told to wait: long enough for a few PutRecords round trips. */
const OVERLOAD_RETRY_AFTER_MILLIS = 1_000

interface Prepared {
  readonly event: CommerceEvent
  readonly stream: string
  readonly partitionKey: string
  readonly data: Uint8Array
}

const asInvalid = (error: DecodeError): InvalidEventError =>
  error._tag === "InvalidEventError"
    ? error
    : new InvalidEventError({
      path: error._tag === "UnknownEventError" ? "type" : error._tag === "UnknownSchemaVersionError" ? "schemaVersion" : "",
      rule: error.reason
    })

export const make = (options: Options): Effect.Effect<CommerceSyncApi, KinesisError, Kinesis | Scope.Scope> =>
  Effect.gen(function*() {
    const { streams } = options
    const bufferRecords = options.producer?.bufferRecords ?? DEFAULT_BUFFER_RECORDS
    const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    const producers = new Map<string, Producer.ProducerApi>()
    for (const streamName of [streams.product, streams.productUpdate, streams.orders]) {
      if (streamName === undefined || producers.has(streamName)) continue
      producers.set(streamName, yield* Producer.make({ linger: DEFAULT_LINGER, ...options.producer, bufferRecords, streamName }))
    }
    const producerOf = (stream: string) => producers.get(stream)!
    const everyProducer = [...producers.values()]
    const limit = options.rateLimit
    const bucket = limit && new TokenBucket(limit.records, RateLimit.periodMillis(limit), yield* Clock.currentTimeMillis)
    let inFlight = 0
    let peakInFlight = 0

    /** Encodes, then decodes the bytes as a consumer will: what passes here is exactly what consumers accept. */
    const prepare = (event: CommerceEvent): Either.Either<Prepared, InvalidEventError | EventTooLargeError> => {
      const data = encodeCommerceEvent(event)
      const decoded = decodeCommerceEvent(data)
      if (Either.isLeft(decoded)) return Either.left(asInvalid(decoded.left))
      const { partitionKey, stream } = route(streams, event)
      // The Producer refuses such a key, which would be a defect after validation: name the field at fault instead.
      const problem = Producer.partitionKeyProblem(partitionKey)
      if (problem !== undefined) {
        return Either.left(
          new InvalidEventError({
            path: event.type.startsWith("product.") ? "product.id" : "order.id",
            rule: problem === "LoneSurrogate"
              ? "must be valid Unicode (no lone UTF-16 surrogate): it is the Kinesis partition key"
              : `must be at most ${PARTITION_KEY_MAX_LENGTH} UTF-16 code units: it is the Kinesis partition key`
          })
        )
      }
      const size = data.byteLength + Buffer.byteLength(partitionKey, "utf8")
      return size > RECORD_MAX_BYTES
        ? Either.left(new EventTooLargeError({ eventId: event.eventId, size, limit: RECORD_MAX_BYTES }))
        : Either.right({ event, stream, partitionKey, data })
    }

    const prepareAll = (events: ReadonlyArray<CommerceEvent>) =>
      Effect.suspend(() => {
        const prepared = new Array<Prepared>(events.length)
        for (let i = 0; i < events.length; i++) {
          const p = prepare(events[i]!)
          if (Either.isLeft(p)) return Effect.fail(p.left)
          prepared[i] = p.right
        }
        return Effect.succeed(prepared)
      })

    /** Waits until the rate limit has room, then takes up to `wanted` tokens; succeeds with how many. */
    const tokens = (wanted: number): Effect.Effect<number> =>
      bucket === undefined
        ? Effect.succeed(wanted)
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const taken = bucket.takeUpTo(wanted, now)
          if (taken > 0) return Effect.succeed(taken)
          const wait = bucket.readyAt(1, now) - now
          metrics.rateLimitWaits.unsafeUpdate(1, [])
          metrics.rateLimitWaited.unsafeUpdate(wait, [])
          return Effect.zipRight(Effect.sleep(wait), tokens(wanted))
        })

    /**
     * Runs `write` over `[0, count)` in slices the rate limit allows, each
     * slice written before the next is taken, so order per key holds.
     */
    const paced = <E>(count: number, write: (from: number, to: number) => Effect.Effect<void, E>): Effect.Effect<void, E> => {
      const from = (start: number): Effect.Effect<void, E> =>
        start >= count
          ? Effect.void
          : Effect.flatMap(tokens(count - start), (n) => Effect.zipRight(write(start, start + n), from(start + n)))
      return from(0)
    }

    /** Writes `prepared[from, to)`, one putAll per stream, and records each outcome in `out`. */
    const write = (
      prepared: ReadonlyArray<Prepared>,
      from: number,
      to: number,
      out: Array<Either.Either<Synced, WriteFailedError>>
    ) => {
      const byStream = new Map<string, Array<number>>()
      for (let i = from; i < to; i++) {
        const stream = prepared[i]!.stream
        const indices = byStream.get(stream)
        if (indices === undefined) byStream.set(stream, [i])
        else indices.push(i)
      }
      return Effect.forEach(
        byStream,
        ([stream, indices]) =>
          producerOf(stream).putAll(indices.map((i) => prepared[i]!)).pipe(
            // `prepare` checked size and partition key, the only reasons putAll refuses.
            Effect.orDie,
            Effect.flatMap((outcomes) =>
              Effect.map(Clock.currentTimeMillis, (now) => settle(prepared, indices, outcomes, now, out))
            )
          ),
        { concurrency: "unbounded", discard: true }
      )
    }

    const settle = (
      prepared: ReadonlyArray<Prepared>,
      indices: ReadonlyArray<number>,
      outcomes: ReadonlyArray<Either.Either<Producer.Acknowledged, ProducerError.PutFailure>>,
      now: number,
      out: Array<Either.Either<Synced, WriteFailedError>>
    ) => {
      for (let j = 0; j < indices.length; j++) {
        const i = indices[j]!
        const { event, partitionKey, stream } = prepared[i]!
        const outcome = outcomes[j]!
        const type = [MetricLabel.make("type", event.type)]
        if (Either.isRight(outcome)) {
          const { attempts, sequenceNumber, shardId } = outcome.right
          out[i] = Either.right({ eventId: event.eventId, type: event.type, stream, partitionKey, shardId, sequenceNumber, attempts })
          metrics.eventsSynced.unsafeUpdate(1, type)
          metrics.writeLag.unsafeUpdate(now - timestampMillis(event.occurredAt), [MetricLabel.make("stream", stream)])
        } else {
          out[i] = Either.left(new WriteFailedError({ eventId: event.eventId, stream, cause: outcome.left }))
          metrics.eventsFailed.unsafeUpdate(1, type)
        }
      }
    }

    const syncAll = (events: ReadonlyArray<CommerceEvent>) =>
      Effect.flatMap(prepareAll(events), (prepared) => {
        const out = new Array<Either.Either<Synced, WriteFailedError>>(prepared.length)
        return Effect.as(paced(prepared.length, (from, to) => write(prepared, from, to, out)), out)
      })

    const first = (outcomes: ReadonlyArray<Either.Either<Synced, WriteFailedError>>) => outcomes[0]!

    const shed = (error: RateLimitedError | OverloadedError) =>
      Effect.zipRight(
        Metric.increment(Metric.tagged(metrics.requestsShed, "reason", error._tag === "RateLimitedError" ? "RateLimit" : error.reason)),
        Effect.fail(error)
      )

    const trySync = (event: CommerceEvent): Effect.Effect<Synced, TrySyncError> =>
      Effect.suspend((): Effect.Effect<Synced, TrySyncError> => {
        const p = prepare(event)
        if (Either.isLeft(p)) return Effect.fail(p.left)
        if (inFlight >= maxInFlight) {
          return shed(new OverloadedError({ reason: "InFlightLimit", limit: maxInFlight, retryAfterMillis: OVERLOAD_RETRY_AFTER_MILLIS }))
        }
        // Counted before anything yields, so concurrent callers cannot overshoot the bound.
        inFlight++
        peakInFlight = Math.max(peakInFlight, inFlight)
        const prepared = [p.right]
        const out = new Array<Either.Either<Synced, WriteFailedError>>(1)
        return Effect.gen(function*() {
          yield* Metric.set(metrics.inFlight, inFlight)
          if ((yield* producerOf(p.right.stream).depth) >= bufferRecords) {
            return yield* shed(new OverloadedError({ reason: "QueueFull", limit: bufferRecords, retryAfterMillis: OVERLOAD_RETRY_AFTER_MILLIS }))
          }
          if (bucket !== undefined) {
            const now = yield* Clock.currentTimeMillis
            if (bucket.takeUpTo(1, now) === 0) {
              return yield* shed(new RateLimitedError({ limit: RateLimit.format(limit!), retryAfterMillis: bucket.readyAt(1, now) - now }))
            }
          }
          yield* write(prepared, 0, 1, out)
          return yield* first(out)
        }).pipe(
          Effect.ensuring(Effect.suspend(() => Metric.set(metrics.inFlight, --inFlight)))
        )
      })

    return {
      streams,
      sync: (event) => Effect.flatMap(syncAll([event]), first),
      syncAll,
      trySync,
      putRaw: (role, records) => {
        const producer = producerOf(streams[role] ?? streams.product)
        const out = new Array<Either.Either<Producer.Acknowledged, ProducerError.PutFailure>>(records.length)
        return Effect.as(
          paced(records.length, (from, to) =>
            Effect.map(producer.putAll(records.slice(from, to)), (outcomes) => {
              for (let j = 0; j < outcomes.length; j++) out[from + j] = outcomes[j]!
            })),
          out
        )
      },
      load: Effect.map(
        Effect.forEach(everyProducer, (p) => p.depth),
        (depths) => ({ inFlight, peakInFlight, maxInFlight, queued: depths.reduce((a, b) => a + b, 0) })
      ),
      flush: Effect.forEach(everyProducer, (p) => p.flush, { concurrency: "unbounded", discard: true })
    } satisfies CommerceSyncApi
  })

export const layer = (options: Options): Layer.Layer<CommerceSync, KinesisError, Kinesis> =>
  Layer.scoped(CommerceSync, make(options))

/**
 * Streams and rate limit from the environment: `KINESIS_PRODUCT_STREAM`,
 * `KINESIS_ORDERS_STREAM`, `SEPARATE_SKU_CREATE_UPDATE_STREAM` (default
 * false) with `KINESIS_PRODUCT_UPDATE_STREAM` (required when it is true),
 * and `KINESIS_INSERT_RATE_LIMIT` (optional).
 */
export const config: Config.Config<Pick<Options, "streams" | "rateLimit">> = Config.all({
  product: Config.nonEmptyString("KINESIS_PRODUCT_STREAM"),
  orders: Config.nonEmptyString("KINESIS_ORDERS_STREAM"),
  separate: Config.boolean("SEPARATE_SKU_CREATE_UPDATE_STREAM").pipe(Config.withDefault(false)),
  productUpdate: Config.option(Config.nonEmptyString("KINESIS_PRODUCT_UPDATE_STREAM")),
  rateLimit: Config.option(RateLimit.config("KINESIS_INSERT_RATE_LIMIT"))
}).pipe(
  Config.mapOrFail(({ orders, product, productUpdate, rateLimit, separate }) => {
    if (separate && Option.isNone(productUpdate)) {
      return Either.left(
        ConfigError.MissingData(
          ["KINESIS_PRODUCT_UPDATE_STREAM"],
          "set KINESIS_PRODUCT_UPDATE_STREAM to the stream for product.updated events, or SEPARATE_SKU_CREATE_UPDATE_STREAM=false to send them to KINESIS_PRODUCT_STREAM"
        )
      )
    }
    const streams: Streams = separate ? { product, orders, productUpdate: Option.getOrThrow(productUpdate) } : { product, orders }
    return Either.right(Option.isSome(rateLimit) ? { streams, rateLimit: rateLimit.value } : { streams })
  })
)

/** What each variable `config` reads is for, for the start-up configuration report. */
export const variables = {
  KINESIS_PRODUCT_STREAM: "the Kinesis stream of product events",
  KINESIS_ORDERS_STREAM: "the Kinesis stream of order events",
  SEPARATE_SKU_CREATE_UPDATE_STREAM: "true to send product.updated events to KINESIS_PRODUCT_UPDATE_STREAM",
  KINESIS_PRODUCT_UPDATE_STREAM: "the Kinesis stream of product.updated events, when SEPARATE_SKU_CREATE_UPDATE_STREAM is true",
  KINESIS_INSERT_RATE_LIMIT: "the most events sent per period across all streams, e.g. 100/m"
} as const

/** Like `layer`, with streams and rate limit from `config`. */
export const layerConfig = (
  options: Omit<Options, "streams" | "rateLimit"> = {}
): Layer.Layer<CommerceSync, KinesisError | ConfigError.ConfigError, Kinesis> =>
  Layer.scoped(CommerceSync, Effect.flatMap(config, (fromEnv) => make({ ...options, ...fromEnv })))
