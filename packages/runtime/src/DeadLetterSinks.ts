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
import type { PutRecordsRequestEntry } from "@aws-sdk/client-kinesis"
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput, SQSClient } from "@aws-sdk/client-sqs"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as AwsSdkError from "@eddy/aws/AwsSdkError"
import * as Backoff from "@eddy/core/Backoff"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_RECORDS, RECORD_MAX_BYTES } from "@eddy/kinesis/Limits"
import { partitionKeyProblem } from "@eddy/kinesis/ProducerError"
import { Config, ConfigError, Data, Effect, Either, Layer, Schedule } from "effect"
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

/** Why a sink did not deliver: the call failed (SQS's or Kinesis's error), or the sink took the call but not every entry. */
export type SinkError = SqsError | Kinesis.KinesisError | EntriesNotAcceptedError | EntriesRejectedError

/** Whether a sink failure may pass if retried. */
export const isRetryable = (e: SinkError): boolean => {
  switch (e._tag) {
    case "SqsThrottledError":
    case "SqsUnavailableError":
    case "EntriesNotAcceptedError":
      return true
    case "SqsQueueNotFoundError":
    case "SqsRequestError":
    case "EntriesRejectedError":
      return false
    default:
      return Kinesis.isRetryable(e)
  }
}

/** An entry a sink took the call for but did not store: its error code, and whether retrying may help. */
interface Unsent {
  readonly code: string
  readonly retryable: boolean
}

/** Fails a batch with some entries unsent: as rejected when retrying cannot help one of them, else as not accepted. */
const failUnsent = (sink: string, unsent: ReadonlyArray<Unsent>): Effect.Effect<void, EntriesNotAcceptedError | EntriesRejectedError> => {
  if (unsent.length === 0) return Effect.void
  const codes = Array.from(new Set(unsent.map((u) => u.code)))
  const rejected = unsent.filter((u) => !u.retryable).length
  return rejected > 0
    ? Effect.fail(new EntriesRejectedError({ sink, count: rejected, codes }))
    : Effect.fail(new EntriesNotAcceptedError({ sink, count: unsent.length, codes }))
}

/** A dead letter as one entry of a batch call, with its size. */
interface Packed<R> {
  readonly entry: DeadLetter.DeadLetterEntry
  readonly request: R
  readonly bytes: number
}

/** Cuts `items` into batches of at most `maxEntries` entries and `maxBytes` bytes. */
const batchesOf = <R>(items: ReadonlyArray<Packed<R>>, maxEntries: number, maxBytes: number): ReadonlyArray<ReadonlyArray<Packed<R>>> => {
  const batches: Array<Array<Packed<R>>> = []
  let batch: Array<Packed<R>> = []
  let bytes = 0
  for (const item of items) {
    if (batch.length === maxEntries || (batch.length > 0 && bytes + item.bytes > maxBytes)) {
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

/** `pack` of each entry, computed once per entry however often a retry sends it. */
const memoized = <R>(pack: (entry: DeadLetter.DeadLetterEntry) => Packed<R>) => {
  const packed = new WeakMap<DeadLetter.DeadLetterEntry, Packed<R>>()
  return (entry: DeadLetter.DeadLetterEntry): Packed<R> => {
    let item = packed.get(entry)
    if (item === undefined) packed.set(entry, item = pack(entry))
    return item
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
  // The entries' errors name the sink already.
  const describe = (cause: SinkError) => "sink" in cause ? `dead-letter sink ${cause.message}` : `dead-letter sink ${name}: ${cause.message}`
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
            ? new DeadLetter.DeadLetterError({ message: describe(cause), cause })
            : new DeadLetter.DeadLetterMisconfiguredError({
              code: "codes" in cause ? cause.codes.join(",") : AwsSdkError.fieldsOf("send", cause.cause).name,
              message: `${describe(cause)}; fix the sink (EDDY_DEAD_LETTER, its region and this process's permissions on it)`,
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
  const sink = `SQS ${queueUrl}`
  const messageOf = memoized((entry): Packed<string> => {
    const body = encode(entry, maxBytes)
    return { entry, request: body, bytes: utf8Bytes(body) }
  })
  const pack = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>) => batchesOf(entries.map(messageOf), SQS_BATCH_ENTRIES, maxBytes)
  const sendBatch = (batch: ReadonlyArray<Packed<string>>, delivered: WeakSet<DeadLetter.DeadLetterEntry>) =>
    Effect.tryPromise({
      try: (signal) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((item, i) => ({
              Id: String(i),
              MessageBody: item.request,
              ...(fifo ? { MessageGroupId: item.entry.shardId, MessageDeduplicationId: positionDigest(item.entry) } : {})
            }))
          }),
          { abortSignal: signal }
        ),
      catch: fromSqsError
    }).pipe(
      Effect.flatMap((output) => {
        const failed = new Map((output.Failed ?? []).map((f) => [f.Id, f]))
        batch.forEach((item, i) => {
          if (!failed.has(String(i))) delivered.add(item.entry)
        })
        return failUnsent(sink, Array.from(failed.values(), (f) => ({ code: f.Code ?? "unknown", retryable: f.SenderFault === false })))
      })
    )
  return makeSink(sink, pack, sendBatch, options.retry ?? defaultRetry)
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
  /** Retries of failed calls and of the records Kinesis did not take. Default `defaultRetry`. */
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** The original record's partition key (so replays keep per-key order), or its shard id when Kinesis would refuse that key. */
const partitionKeyOf = (entry: DeadLetter.DeadLetterEntry): string =>
  partitionKeyProblem(entry.partitionKey) === undefined ? entry.partitionKey : entry.shardId

/** A dead letter as a PutRecords entry: `encode`'s JSON, cut to fit one Kinesis record. */
const kinesisRecord = (entry: DeadLetter.DeadLetterEntry): Packed<PutRecordsRequestEntry> => {
  const partitionKey = partitionKeyOf(entry)
  const data = Buffer.from(encode(entry, RECORD_MAX_BYTES - utf8Bytes(partitionKey)), "utf8")
  return { entry, request: { PartitionKey: partitionKey, Data: data }, bytes: data.length + utf8Bytes(partitionKey) }
}

/**
 * Sends dead letters to a Kinesis stream with PutRecords, 500 records and
 * 5 MiB per call. Records Kinesis did not take for reasons of its own
 * (throttling, an internal failure) are retried with `retry`. Dead letters
 * are few, so this is a plain call, not a `Producer`: nothing to linger
 * for, aggregate or rate-limit.
 */
export const makeKinesis = (options: KinesisOptions): Effect.Effect<DeadLetter.DeadLetter["Type"], never, Kinesis.Kinesis> =>
  Effect.map(Kinesis.Kinesis, (kinesis) => {
    const { streamName } = options
    const sink = `Kinesis stream ${streamName}`
    const recordOf = memoized(kinesisRecord)
    const pack = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>) =>
      batchesOf(entries.map(recordOf), PUT_RECORDS_MAX_RECORDS, PUT_RECORDS_MAX_BYTES)
    const sendBatch = (batch: ReadonlyArray<Packed<PutRecordsRequestEntry>>, delivered: WeakSet<DeadLetter.DeadLetterEntry>) =>
      kinesis.putRecords({ StreamName: streamName, Records: batch.map((item) => item.request) }).pipe(
        Effect.flatMap((output) => {
          const unsent: Array<Unsent> = []
          batch.forEach((item, i) => {
            const result = output.Records?.[i]
            if (result?.SequenceNumber !== undefined && result.ErrorCode === undefined) delivered.add(item.entry)
            else {
              const code = result?.ErrorCode ?? "MissingResult"
              unsent.push({ code, retryable: Kinesis.isRetryableRecordError(code) || code === "MissingResult" })
            }
          })
          return failUnsent(sink, unsent)
        })
      )
    return makeSink(sink, pack, sendBatch, options.retry ?? defaultRetry)
  })

/** The Kinesis sink as a layer; needs `Kinesis`. */
export const layerKinesis = (options: KinesisOptions): Layer.Layer<DeadLetter.DeadLetter, never, Kinesis.Kinesis> =>
  Layer.effect(DeadLetter.DeadLetter, makeKinesis(options))

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
): Layer.Layer<DeadLetter.DeadLetter, ConfigError.ConfigError> =>
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
