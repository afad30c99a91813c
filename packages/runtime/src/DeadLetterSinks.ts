/**
 * Dead-letter sinks: where records that can never be processed go, with
 * everything needed to inspect or replay them. Each is a layer of the core
 * `DeadLetter` service: an SQS queue, a Kinesis stream, or JSON lines on stdout,
 * all writing the one JSON form `encode` gives.
 *
 * A sink remembers which entries it delivered, so when the processor retries a
 * `send` that failed part-way, only the rest goes out again. Delivery is still
 * at least once across invocations (a timed-out batch is sent again on
 * redelivery): consumers of a sink key entries by `shardId`, `sequenceNumber`
 * and `subSequenceNumber`.
 */
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput, SQSClient } from "@aws-sdk/client-sqs"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as AwsSdkError from "@eddy/aws/AwsSdkError"
import * as Backoff from "@eddy/core/Backoff"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { RECORD_MAX_BYTES } from "@eddy/kinesis/Limits"
import * as Producer from "@eddy/kinesis/Producer"
import type * as ProducerError from "@eddy/kinesis/ProducerError"
import { Config, ConfigError, Data, Effect, Either, Layer, Schedule, type Scope } from "effect"
import { createHash } from "node:crypto"

// ---------------------------------------------------------------------------
// The entry as JSON
// ---------------------------------------------------------------------------

const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8")
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/**
 * The JSON text every sink writes for one entry: its fields, the payload in
 * base64. When that exceeds `maxBytes` (a 1 MiB record cannot travel in a
 * 256 KiB SQS message) the payload is cut to fit and the text says so with
 * `payloadTruncated`, the original `payloadBytes` and its `payloadSha256`;
 * the whole record is still in the stream for its retention period.
 */
export const encode = (entry: DeadLetter.DeadLetterEntry, maxBytes = Number.POSITIVE_INFINITY): string => {
  const fields = DeadLetter.fieldsOf(entry)
  const full = JSON.stringify({ ...fields, payload: base64(entry.payload) })
  if (utf8Bytes(full) <= maxBytes) return full
  const head = { ...fields, payloadTruncated: true, payloadBytes: entry.payload.length, payloadSha256: sha256(entry.payload) }
  const room = maxBytes - utf8Bytes(JSON.stringify({ ...head, payload: "" }))
  const keep = Math.max(0, Math.floor(room / 4) * 3)
  return JSON.stringify({ ...head, payload: base64(entry.payload.subarray(0, keep)) })
}

/**
 * `encode` without the payload: `payloadRedacted`, its `payloadBytes` and
 * `payloadSha256` identify it, and the record itself is still in the stream.
 * For sinks read more widely than the data (logs): payloads carry customer data.
 */
export const encodeRedacted = (entry: DeadLetter.DeadLetterEntry): string =>
  JSON.stringify({ ...DeadLetter.fieldsOf(entry), payloadRedacted: true, payloadBytes: entry.payload.length, payloadSha256: sha256(entry.payload) })

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** SQS pushed back (throttling, KMS throttling): retried with backoff. */
export class SqsThrottledError extends Data.TaggedError("SqsThrottledError")<{ readonly message: string; readonly cause?: unknown }> {}

/** SQS or the network failed (5xx, connection reset, timeout): retried with backoff. */
export class SqsUnavailableError extends Data.TaggedError("SqsUnavailableError")<{ readonly message: string; readonly cause?: unknown }> {}

/** The queue does not exist: check the configured queue URL and the region. */
export class SqsQueueNotFoundError extends Data.TaggedError("SqsQueueNotFoundError")<{ readonly message: string; readonly cause?: unknown }> {}

/** SQS refused the request as it is (access denied, KMS key, invalid request): retrying cannot help. */
export class SqsRequestError extends Data.TaggedError("SqsRequestError")<{ readonly message: string; readonly cause?: unknown }> {}

/** What sending to SQS can fail with. */
export type SqsError = SqsThrottledError | SqsUnavailableError | SqsQueueNotFoundError | SqsRequestError

/** The sink accepted the request but not some entries, for reasons on its side (throttled, internal error): retried. */
export class EntriesNotAcceptedError extends Data.TaggedError("EntriesNotAcceptedError")<{
  readonly sink: string
  readonly count: number
  readonly codes: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.sink} did not accept ${this.count} dead letter(s) (${this.codes.join(", ")}); they are retried`
  }
}

/** The sink refused entries as they are (sender fault): retrying cannot help; the records stay unacknowledged. */
export class EntriesRejectedError extends Data.TaggedError("EntriesRejectedError")<{
  readonly sink: string
  readonly count: number
  readonly codes: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.sink} rejected ${this.count} dead letter(s) (${this.codes.join(", ")}); fix the sink's configuration, the records are redelivered until then`
  }
}

/** Why a sink did not deliver: SQS's errors, or the Kinesis producer's (which has retried already). */
export type SinkError = SqsError | EntriesNotAcceptedError | EntriesRejectedError | ProducerError.PutFailure

/** Whether a sink failure may pass if retried. */
export const isRetryable = (e: SinkError): boolean => {
  switch (e._tag) {
    case "SqsThrottledError":
    case "SqsUnavailableError":
    case "EntriesNotAcceptedError":
      return true
    default:
      return false
  }
}

const sqsThrottling = new Set(["RequestThrottled", "KmsThrottled", "ThrottlingException", "OverLimit"])
const sqsNotFound = new Set(["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "ResourceNotFoundException", "QueueDeletedRecently"])
/** Maps an SQS SDK exception to our error by its `name` (and HTTP status for unnamed faults). */
export const fromSqsError = (cause: unknown): SqsError => {
  const sdk = AwsSdkError.fieldsOf("SendMessageBatch", cause)
  const args = { message: sdk.message, cause }
  if (sqsThrottling.has(sdk.name)) return new SqsThrottledError(args)
  if (sqsNotFound.has(sdk.name)) return new SqsQueueNotFoundError(args)
  return AwsSdkError.isTransientFault(sdk) ? new SqsUnavailableError(args) : new SqsRequestError(args)
}

// ---------------------------------------------------------------------------
// SQS
// ---------------------------------------------------------------------------

/**
 * Retry default for a sink: exponential from 50 ms with jitter, capped at 2 s,
 * at most 5 retries. The processor retries a failed `send` again on top.
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "50 millis", cap: "2 seconds", times: 5 })

/**
 * A sink over `sendBatch`, which delivers what it can of one
 * batch and marks it in `delivered`. Each attempt sends what is still
 * undelivered, so a retry never repeats an entry that went out.
 */
const makeSink = <B>(
  name: string,
  pack: (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>) => ReadonlyArray<B>,
  sendBatch: (batch: B, delivered: WeakSet<DeadLetter.DeadLetterEntry>) => Effect.Effect<void, SinkError>,
  retry: Schedule.Schedule<unknown, unknown>
): DeadLetter.DeadLetter["Type"] => {
  const delivered = new WeakSet<DeadLetter.DeadLetterEntry>()
  return {
    send: (entries) => {
      const attempt = Effect.suspend(() =>
        Effect.forEach(pack(entries.filter((e) => !delivered.has(e))), (batch) => sendBatch(batch, delivered), { discard: true })
      )
      return attempt.pipe(
        Effect.retry({ schedule: retry, while: isRetryable }),
        // What retrying cannot fix (a missing queue or stream, access denied, a KMS key) is the deployment's fault.
        Effect.mapError((cause) =>
          isRetryable(cause)
            ? new DeadLetter.DeadLetterError({ message: `dead-letter sink ${name}: ${cause.message}`, cause })
            : new DeadLetter.DeadLetterMisconfiguredError({
              code: "codes" in cause ? cause.codes.join(",") : AwsSdkError.fieldsOf("send", cause.cause).name,
              message: `dead-letter sink ${name}: ${cause.message}; fix the sink (EDDY_DEAD_LETTER, its region and this process's permissions on it)`,
              cause
            })
        )
      )
    }
  }
}

/** What the SQS sink needs of a client: `SQSClient` satisfies it, and tests can inject a stand-in. */
export interface SqsClient {
  readonly send: (command: SendMessageBatchCommand, options?: { readonly abortSignal?: AbortSignal }) => Promise<SendMessageBatchCommandOutput>
}

/** The SQS sink's queue, client, message size and retries. */
export interface SqsOptions {
  readonly queueUrl: string
  readonly client: SqsClient
  /** Largest message body; SQS's default queue limit is 256 KiB, which is also the cap of one batch request. */
  readonly maxMessageBytes?: number
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** SendMessageBatch takes at most 10 entries. */
const SQS_BATCH_ENTRIES = 10
const SQS_MAX_BYTES = 256 * 1024

interface SqsItem {
  readonly entry: DeadLetter.DeadLetterEntry
  readonly body: string
  readonly bytes: number
}

/**
 * Sends dead letters to an SQS queue with SendMessageBatch: 10 entries and
 * `maxMessageBytes` per call, each entry one message. Failed entries are
 * retried with `retry` when SQS says the fault was its own; on a FIFO queue
 * messages are grouped by shard and deduplicated by record position.
 */
export const makeSqs = (options: SqsOptions): DeadLetter.DeadLetter["Type"] => {
  const { client, queueUrl } = options
  const maxBytes = options.maxMessageBytes ?? SQS_MAX_BYTES
  const fifo = queueUrl.endsWith(".fifo")
  const bodies = new WeakMap<DeadLetter.DeadLetterEntry, SqsItem>()
  const itemOf = (entry: DeadLetter.DeadLetterEntry): SqsItem => {
    let item = bodies.get(entry)
    if (item === undefined) {
      const body = encode(entry, maxBytes)
      item = { entry, body, bytes: utf8Bytes(body) }
      bodies.set(entry, item)
    }
    return item
  }
  const pack = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>): ReadonlyArray<ReadonlyArray<SqsItem>> => {
    const batches: Array<Array<SqsItem>> = []
    let batch: Array<SqsItem> = []
    let bytes = 0
    for (const entry of entries) {
      const item = itemOf(entry)
      if (batch.length === SQS_BATCH_ENTRIES || (batch.length > 0 && bytes + item.bytes > maxBytes)) {
        batches.push(batch)
        batch = []
        bytes = 0
      }
      batch.push(item)
      bytes += item.bytes
    }
    if (batch.length > 0) batches.push(batch)
    return batches
  }
  const sendBatch = (batch: ReadonlyArray<SqsItem>, delivered: WeakSet<DeadLetter.DeadLetterEntry>) =>
    Effect.tryPromise({
      try: (signal) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((item, i) => ({
              Id: String(i),
              MessageBody: item.body,
              ...(fifo ? { MessageGroupId: item.entry.shardId, MessageDeduplicationId: positionDigest(item.entry) } : {})
            }))
          }),
          { abortSignal: signal }
        ),
      catch: fromSqsError
    }).pipe(
      Effect.flatMap((output): Effect.Effect<void, EntriesNotAcceptedError | EntriesRejectedError> => {
        const failed = new Map((output.Failed ?? []).map((f) => [f.Id, f]))
        batch.forEach((item, i) => {
          if (!failed.has(String(i))) delivered.add(item.entry)
        })
        if (failed.size === 0) return Effect.void
        const all = Array.from(failed.values())
        const rejected = all.filter((f) => f.SenderFault !== false)
        const codes = Array.from(new Set(all.map((f) => f.Code ?? "unknown")))
        return rejected.length > 0
          ? Effect.fail(new EntriesRejectedError({ sink: `SQS ${queueUrl}`, count: rejected.length, codes }))
          : Effect.fail(new EntriesNotAcceptedError({ sink: `SQS ${queueUrl}`, count: all.length, codes }))
      })
    )
  return makeSink(`SQS ${queueUrl}`, pack, sendBatch, options.retry ?? defaultRetry)
}

const positionDigest = (e: DeadLetter.DeadLetterEntry): string =>
  createHash("sha256").update(`${e.source ?? ""}\u0000${e.shardId}\u0000${e.sequenceNumber}\u0000${e.subSequenceNumber}`).digest("hex")

/** Options of the SQS sink's own client (see `AwsClientOptions`). */
export type SqsClientOptions = AwsClientOptions.Options

/** Builds an `SQSClient` (see `AwsClient`; SDK retries off: the sink retries with its Schedule) and destroys it with the scope. */
export const makeSqsClient = (options: SqsClientOptions = {}) => AwsClient.scoped((config) => new SQSClient(config), options)

/** The SQS sink with its own client. */
export const layerSqs = (options: Omit<SqsOptions, "client"> & SqsClientOptions & { readonly client?: SqsClient }): Layer.Layer<DeadLetter.DeadLetter> =>
  Layer.scoped(
    DeadLetter.DeadLetter,
    Effect.gen(function*() {
      const client: SqsClient = options.client ?? (yield* makeSqsClient(options))
      return makeSqs({ ...options, client })
    })
  )

// ---------------------------------------------------------------------------
// Kinesis
// ---------------------------------------------------------------------------

/** The Kinesis sink's stream and retries. */
export interface KinesisOptions {
  readonly streamName: string
  /** Retries of records Kinesis rejects and of failed calls, by the producer. Default `defaultRetry`. */
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** The original record's partition key (so replays keep per-key order), or its shard id when Kinesis would refuse that key. */
const partitionKeyOf = (entry: DeadLetter.DeadLetterEntry): string =>
  Producer.partitionKeyProblem(entry.partitionKey) === undefined ? entry.partitionKey : entry.shardId

/**
 * Sends dead letters to a Kinesis stream through a `Producer`, which batches
 * them into PutRecords calls and retries each rejected record with `retry`.
 * Each record is `encode`'s JSON, cut to fit one Kinesis record.
 */
export const makeKinesis = (
  options: KinesisOptions
): Effect.Effect<DeadLetter.DeadLetter["Type"], Kinesis.KinesisError, Kinesis.Kinesis | Scope.Scope> =>
  Effect.gen(function*() {
    const { streamName } = options
    const name = `dead-letter sink Kinesis stream ${streamName}`
    const producer = yield* Producer.make({
      streamName,
      // Dead letters go out at once: `send` is already a batch.
      linger: 0,
      retry: options.retry ?? defaultRetry,
      // `send` reports every failure to its caller.
      failureSink: () => Effect.void
    })
    const records = new WeakMap<DeadLetter.DeadLetterEntry, Producer.ProducerRecord>()
    const recordOf = (entry: DeadLetter.DeadLetterEntry): Producer.ProducerRecord => {
      let record = records.get(entry)
      if (record === undefined) {
        const partitionKey = partitionKeyOf(entry)
        record = { partitionKey, data: Buffer.from(encode(entry, RECORD_MAX_BYTES - utf8Bytes(partitionKey)), "utf8") }
        records.set(entry, record)
      }
      return record
    }
    const delivered = new WeakSet<DeadLetter.DeadLetterEntry>()
    const fail = (error: ProducerError.PutFailure | ProducerError.InvalidRecordError, count: number) =>
      new DeadLetter.DeadLetterError({ message: `${name}: ${count} dead letter(s) not written: ${error.message}`, cause: error })
    return {
      // A retried `send` sends only what did not go out before.
      send: (entries) =>
        Effect.suspend(() => {
          const pending = entries.filter((e) => !delivered.has(e))
          if (pending.length === 0) return Effect.void
          return producer.putAll(pending.map(recordOf)).pipe(
            Effect.mapError((error) => fail(error, pending.length)),
            Effect.flatMap((outcomes) => {
              const failures: Array<ProducerError.PutFailure> = []
              outcomes.forEach((outcome, i) => {
                if (Either.isRight(outcome)) delivered.add(pending[i]!)
                else failures.push(outcome.left)
              })
              return failures.length === 0 ? Effect.void : Effect.fail(fail(failures[0]!, failures.length))
            })
          )
        })
    }
  })

/** The Kinesis sink as a layer; needs `Kinesis`. */
export const layerKinesis = (options: KinesisOptions): Layer.Layer<DeadLetter.DeadLetter, Kinesis.KinesisError, Kinesis.Kinesis> =>
  Layer.scoped(DeadLetter.DeadLetter, makeKinesis(options))

// ---------------------------------------------------------------------------
// stdout
// ---------------------------------------------------------------------------

/**
 * What the stdout sink writes of a payload: by default only its size and
 * sha-256 (`encodeRedacted`), since logs are read more widely than the data;
 * `"full"` writes it whole (`encode`), e.g. to re-drive entries from a log file.
 */
export type PayloadLogging = "hash" | "full"

/** One JSON log line per dead letter: `encode`'s (or `encodeRedacted`'s) fields after `level` and `msg`. */
export const logLine = (entry: DeadLetter.DeadLetterEntry, payload: PayloadLogging = "hash"): string =>
  `{"level":"warn","msg":"dead letter",${(payload === "full" ? encode(entry) : encodeRedacted(entry)).slice(1)}`

/** Writes `logLine` of each dead letter with `write`. */
export const makeStdout = (write: (lines: string) => void, payload: PayloadLogging = "hash"): DeadLetter.DeadLetter["Type"] => ({
  send: (entries) =>
    Effect.sync(() => {
      if (entries.length > 0) write(entries.map((entry) => logLine(entry, payload)).join("\n") + "\n")
    })
})

/**
 * One JSON line per dead letter on stdout (CloudWatch Logs, in Lambda), the
 * payload as `payload` says (default its hash).
 * Straight to stdout, not `console.log`, which Lambda's text format prefixes.
 */
export const layerStdoutWith = (payload: PayloadLogging): Layer.Layer<DeadLetter.DeadLetter> =>
  Layer.sync(DeadLetter.DeadLetter, () => makeStdout((lines) => process.stdout.write(lines), payload))

/** `layerStdoutWith("hash")`. */
export const layerStdout: Layer.Layer<DeadLetter.DeadLetter> = layerStdoutWith("hash")

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** A sink as a `sqs:<queue URL>`, `kinesis:<stream name>`, `stdout` (payload hashed) or `stdout:full` text names it. */
export type Target =
  | { readonly _tag: "Sqs"; readonly queueUrl: string }
  | { readonly _tag: "Kinesis"; readonly streamName: string }
  | { readonly _tag: "Stdout"; readonly payload?: PayloadLogging }

/** Reads `EDDY_DEAD_LETTER`: `sqs:<queue URL>`, `kinesis:<stream>` or `stdout`. */
export const parseTarget = (text: string): Either.Either<Target, string> => {
  const colon = text.indexOf(":")
  const scheme = colon < 0 ? text : text.slice(0, colon)
  const rest = colon < 0 ? "" : text.slice(colon + 1)
  if (scheme === "stdout" && rest === "") return Either.right({ _tag: "Stdout" })
  if (scheme === "stdout" && (rest === "full" || rest === "hash")) return Either.right({ _tag: "Stdout", payload: rest })
  if (scheme === "sqs" && /^https?:\/\/\S+$/.test(rest)) return Either.right({ _tag: "Sqs", queueUrl: rest })
  if (scheme === "kinesis" && /^[A-Za-z0-9_.-]{1,128}$/.test(rest)) return Either.right({ _tag: "Kinesis", streamName: rest })
  return Either.left(
    `expected sqs:<queue URL>, kinesis:<stream name>, stdout or stdout:full, got ${JSON.stringify(text)}; ` +
      "e.g. sqs:https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"
  )
}

/** A target read from the configuration key `name` with `parseTarget`; a text that does not parse is a `ConfigError` naming the key. */
export const targetConfig = (name: string): Config.Config<Target> =>
  Config.string(name).pipe(
    // The path is relative: Config prefixes the key's name.
    Config.mapOrFail((text) => Either.mapLeft(parseTarget(text), (message) => ConfigError.InvalidData([], message)))
  )

/** Where dead letters go, as configured. */
export interface Settings {
  readonly target: Target
  /** The SQS or Kinesis client's options; default `AWS_REGION` and `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_KINESIS` (or `AWS_ENDPOINT_URL`), as the AWS SDKs read them. */
  readonly client?: AwsClientOptions.Options
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/**
 * The sink `config` names, e.g. `{ target: DeadLetterSinks.targetConfig("DEAD_LETTER") }`,
 * with its client; a stdout sink builds no client.
 */
export const layerConfig = (
  config: Config.Config.Wrap<Settings>
): Layer.Layer<DeadLetter.DeadLetter, ConfigError.ConfigError | Kinesis.KinesisError> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const { client, retry, target } = yield* Config.unwrap(config)
      const retryOption = retry === undefined ? {} : { retry }
      switch (target._tag) {
        case "Stdout":
          return layerStdoutWith(target.payload ?? "hash")
        case "Kinesis":
          return layerKinesis({ streamName: target.streamName, ...retryOption }).pipe(
            Layer.provide(client === undefined ? Kinesis.layerConfig() : Kinesis.layer(client))
          )
        case "Sqs":
          return layerSqs({ queueUrl: target.queueUrl, ...retryOption, ...(client ?? (yield* AwsClientOptions.config("SQS"))) })
      }
    })
  )
