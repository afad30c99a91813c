/**
 * Dead-letter sinks: where records that can never be processed go, with
 * everything needed to inspect or replay them. Each is a layer of the core
 * `DeadLetter` service: an SQS queue, a Kinesis stream, or JSON lines on stdout.
 *
 * A sink remembers which entries it delivered, so when the processor retries a
 * `send` that failed part-way, only the rest goes out again. Delivery is still
 * at least once across invocations (a timed-out batch is sent again on
 * redelivery): consumers of a sink key entries by `shardId`, `sequenceNumber`
 * and `subSequenceNumber`.
 */
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput, SQSClient } from "@aws-sdk/client-sqs"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as AwsSdkError from "@eddy/aws/AwsSdkError"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Backoff from "@eddy/core/Backoff"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Config, ConfigError, Data, Effect, Either, Layer, Schedule } from "effect"
import { createHash } from "node:crypto"

// ---------------------------------------------------------------------------
// The entry as JSON
// ---------------------------------------------------------------------------

const utf8Bytes = (s: string): number => Buffer.byteLength(s, "utf8")
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/**
 * The JSON text every sink writes for one entry: its fields, the payload in
 * base64. When that exceeds `maxBytes` (a 1 MiB record cannot travel in a
 * 256 KiB SQS message) the payload is cut to fit and the text says so with
 * `payloadTruncated`, the original `payloadBytes` and its `payloadSha256`;
 * the whole record is still in the stream for its retention period.
 */
export const encode = (entry: DeadLetter.DeadLetterEntry, maxBytes = Number.POSITIVE_INFINITY): string => {
  const fields = {
    error: entry.error,
    reason: entry.reason,
    ...(entry.source !== undefined ? { source: entry.source } : {}),
    ...(entry.pipeline !== undefined ? { pipeline: entry.pipeline } : {}),
    shardId: entry.shardId,
    sequenceNumber: entry.sequenceNumber,
    subSequenceNumber: entry.subSequenceNumber,
    partitionKey: entry.partitionKey,
    arrivalTime: entry.arrivalTime
  }
  const full = JSON.stringify({ ...fields, payload: base64(entry.payload) })
  if (utf8Bytes(full) <= maxBytes) return full
  const head = {
    ...fields,
    payloadTruncated: true,
    payloadBytes: entry.payload.length,
    payloadSha256: createHash("sha256").update(entry.payload).digest("hex")
  }
  const room = maxBytes - utf8Bytes(JSON.stringify({ ...head, payload: "" }))
  const keep = Math.max(0, Math.floor(room / 4) * 3)
  return JSON.stringify({ ...head, payload: base64(entry.payload.subarray(0, keep)) })
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** SQS pushed back (throttling, KMS throttling): retried with backoff. */
export class SqsThrottledError extends Data.TaggedError("SqsThrottledError")<{ readonly message: string; readonly cause?: unknown }> {}

/** SQS or the network failed (5xx, connection reset, timeout): retried with backoff. */
export class SqsUnavailableError extends Data.TaggedError("SqsUnavailableError")<{ readonly message: string; readonly cause?: unknown }> {}

/** The queue does not exist: check `EDDY_DEAD_LETTER` (the queue URL) and the region. */
export class SqsQueueNotFoundError extends Data.TaggedError("SqsQueueNotFoundError")<{ readonly message: string; readonly cause?: unknown }> {}

/** SQS refused the request as it is (access denied, KMS key, invalid request): retrying cannot help. */
export class SqsRequestError extends Data.TaggedError("SqsRequestError")<{ readonly message: string; readonly cause?: unknown }> {}

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

export type SinkError = SqsError | Kinesis.KinesisError | EntriesNotAcceptedError | EntriesRejectedError

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
// Shared sending loop
// ---------------------------------------------------------------------------

/**
 * Retry default for a sink: exponential from 50 ms with jitter, capped at 2 s,
 * at most 5 retries. The processor retries a failed `send` again on top.
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "50 millis", cap: "2 seconds", times: 5 })

/**
 * A `DeadLetter` service over `sendBatch`, which delivers what it can of one
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

// ---------------------------------------------------------------------------
// SQS
// ---------------------------------------------------------------------------

/** What the SQS sink needs of a client: `SQSClient` satisfies it, and tests can inject a stand-in. */
export interface SqsClient {
  readonly send: (command: SendMessageBatchCommand, options?: { readonly abortSignal?: AbortSignal }) => Promise<SendMessageBatchCommandOutput>
}

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

export type SqsClientOptions = AwsClientOptions.Options

/** Builds an `SQSClient` (SDK retries off: the sink retries with its Schedule) and destroys it with the scope. */
export const makeSqsClient = (options: SqsClientOptions = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => new SQSClient({ ...AwsClientOptions.clientConfig(options), requestHandler: new NodeHttpHandler(AwsClientOptions.httpHandlerOptions) })),
    (client) => Effect.sync(() => client.destroy())
  )

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

export interface KinesisOptions {
  readonly streamName: string
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/** PutRecords limits: 500 records and (by default) 5 MiB per call, 1 MiB per record including its partition key. */
const PUT_RECORDS_ENTRIES = 500
const PUT_RECORDS_BYTES = 5 * 1024 * 1024
const KINESIS_RECORD_BYTES = 1024 * 1024

interface KinesisItem {
  readonly entry: DeadLetter.DeadLetterEntry
  readonly data: Uint8Array
}

/**
 * Sends dead letters to a Kinesis stream with PutRecords, each under the
 * original record's partition key (so replays keep per-key order). Records
 * that PutRecords reports failed are retried with `retry`.
 */
export const makeKinesis = (options: KinesisOptions) =>
  Effect.map(Kinesis.Kinesis, (kinesis): DeadLetter.DeadLetter["Type"] => {
    const { streamName } = options
    const sink = `Kinesis stream ${streamName}`
    const items = new WeakMap<DeadLetter.DeadLetterEntry, KinesisItem>()
    const itemOf = (entry: DeadLetter.DeadLetterEntry): KinesisItem => {
      let item = items.get(entry)
      if (item === undefined) {
        item = { entry, data: Buffer.from(encode(entry, KINESIS_RECORD_BYTES - utf8Bytes(entry.partitionKey)), "utf8") }
        items.set(entry, item)
      }
      return item
    }
    const pack = (entries: ReadonlyArray<DeadLetter.DeadLetterEntry>): ReadonlyArray<ReadonlyArray<KinesisItem>> => {
      const batches: Array<Array<KinesisItem>> = []
      let batch: Array<KinesisItem> = []
      let bytes = 0
      for (const entry of entries) {
        const item = itemOf(entry)
        const size = item.data.length + utf8Bytes(entry.partitionKey)
        if (batch.length === PUT_RECORDS_ENTRIES || (batch.length > 0 && bytes + size > PUT_RECORDS_BYTES)) {
          batches.push(batch)
          batch = []
          bytes = 0
        }
        batch.push(item)
        bytes += size
      }
      if (batch.length > 0) batches.push(batch)
      return batches
    }
    const sendBatch = (batch: ReadonlyArray<KinesisItem>, delivered: WeakSet<DeadLetter.DeadLetterEntry>) =>
      kinesis.putRecords({ StreamName: streamName, Records: batch.map((item) => ({ PartitionKey: item.entry.partitionKey, Data: item.data })) }).pipe(
        Effect.flatMap((output): Effect.Effect<void, EntriesNotAcceptedError> => {
          const results = output.Records ?? []
          const codes = new Set<string>()
          let failed = 0
          batch.forEach((item, i) => {
            const code = results[i]?.ErrorCode
            if (code === undefined) delivered.add(item.entry)
            else {
              failed++
              codes.add(code)
            }
          })
          // Kinesis fails single records only for throttling or its own internal errors: always worth a retry.
          return failed === 0 ? Effect.void : Effect.fail(new EntriesNotAcceptedError({ sink, count: failed, codes: Array.from(codes) }))
        })
      )
    return makeSink(sink, pack, sendBatch, options.retry ?? defaultRetry)
  })

export const layerKinesis = (options: KinesisOptions): Layer.Layer<DeadLetter.DeadLetter, never, Kinesis.Kinesis> =>
  Layer.effect(DeadLetter.DeadLetter, makeKinesis(options))

// ---------------------------------------------------------------------------
// stdout and configuration
// ---------------------------------------------------------------------------

/** One JSON line per dead letter on stdout (CloudWatch Logs, in Lambda), payload in base64. */
export const layerStdout: Layer.Layer<DeadLetter.DeadLetter> = DeadLetter.layerStdout

/** A sink as `EDDY_DEAD_LETTER` names it. */
export type Target =
  | { readonly _tag: "Sqs"; readonly queueUrl: string }
  | { readonly _tag: "Kinesis"; readonly streamName: string }
  | { readonly _tag: "Stdout" }

export const parseTarget = (text: string): Either.Either<Target, string> => {
  const colon = text.indexOf(":")
  const scheme = colon < 0 ? text : text.slice(0, colon)
  const rest = colon < 0 ? "" : text.slice(colon + 1)
  if (scheme === "stdout" && rest === "") return Either.right({ _tag: "Stdout" })
  if (scheme === "sqs" && /^https?:\/\/\S+$/.test(rest)) return Either.right({ _tag: "Sqs", queueUrl: rest })
  if (scheme === "kinesis" && /^[A-Za-z0-9_.-]{1,128}$/.test(rest)) return Either.right({ _tag: "Kinesis", streamName: rest })
  return Either.left(
    `expected sqs:<queue URL>, kinesis:<stream name> or stdout, got ${JSON.stringify(text)}; ` +
      "e.g. sqs:https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"
  )
}

/** `EDDY_DEAD_LETTER`, default `stdout`. */
export const target: Config.Config<Target> = Config.string("EDDY_DEAD_LETTER").pipe(
  Config.withDefault("stdout"),
  Config.mapOrFail((text) => Either.mapLeft(parseTarget(text), (message) => ConfigError.InvalidData(["EDDY_DEAD_LETTER"], message)))
)

/**
 * The sink `EDDY_DEAD_LETTER` names (`sqs:<queue URL>`, `kinesis:<stream
 * name>` or `stdout`, the default), with its client from `AWS_REGION` and
 * `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_KINESIS` (or `AWS_ENDPOINT_URL`).
 */
export const layerConfig: Layer.Layer<DeadLetter.DeadLetter, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const sink = yield* target
    switch (sink._tag) {
      case "Stdout":
        return layerStdout
      case "Kinesis":
        return layerKinesis({ streamName: sink.streamName }).pipe(Layer.provide(Kinesis.layerConfig))
      case "Sqs": {
        const client = yield* AwsClientOptions.config("SQS")
        return layerSqs({ queueUrl: sink.queueUrl, ...client })
      }
    }
  })
)
