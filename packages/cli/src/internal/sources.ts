/** Where `redrive` reads from: files, SQS queues, Kinesis dead-letter streams. */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs"
import { HelpDoc, ValidationError } from "@effect/cli"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as UserRecords from "@eddy/kinesis/UserRecords"
import { Config, Context, Data, Effect, Either, Layer, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as Redrive from "../Redrive"

export const usage = (message: string): ValidationError.ValidationError => ValidationError.invalidValue(HelpDoc.p(message))

/** A source could not be read; the message names it and what to check. */
export class SourceError extends Data.TaggedError("SourceError")<{ readonly message: string; readonly cause?: unknown }> {}

/** What was read, and how to let the source forget it once processed (SQS: delete the messages). */
export interface Input {
  readonly groups: ReadonlyArray<Redrive.Group>
  readonly done: Effect.Effect<void, SourceError, Sqs>
}

export class Sqs extends Context.Tag("@eddy/cli/Sqs")<Sqs, SQSClient>() {}

/** Whether an SQS endpoint is configured (`AWS_ENDPOINT_URL_SQS` or `AWS_ENDPOINT_URL`, not ignored), as the SDK reads it. */
const endpointConfigured = Config.all({
  endpoint: Config.option(Config.string("AWS_ENDPOINT_URL_SQS").pipe(Config.orElse(() => Config.string("AWS_ENDPOINT_URL")))),
  ignored: Config.boolean("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").pipe(Config.withDefault(false))
}).pipe(Config.map(({ endpoint, ignored }) => !ignored && Option.isSome(endpoint)))

/**
 * An SQS client from `AWS_REGION` and `AWS_ENDPOINT_URL_SQS`, built only when
 * a command uses it. A configured endpoint wins over the queue URL's host (the
 * SDK otherwise sends to the host a queue URL names, which an emulator's
 * `sqs.<region>.localhost` URLs make unreachable).
 */
export const sqsClient: Layer.Layer<Sqs> = Layer.scoped(
  Sqs,
  Effect.gen(function*() {
    const options = yield* Effect.orElseSucceed(AwsClientOptions.config("SQS"), () => ({}))
    const configured = yield* Effect.orElseSucceed(endpointConfigured, () => false)
    return yield* AwsClient.scoped((c) => new SQSClient({ ...c, ...(configured || c.endpoint !== undefined ? { useQueueUrlAsEndpoint: false } : {}) }), options)
  })
)

const readText = (path: string) =>
  existsSync(path)
    ? Effect.try({ try: () => readFileSync(path, "utf8"), catch: (cause) => new SourceError({ message: `cannot read ${path}`, cause }) })
    : Effect.fail(new SourceError({ message: `no file ${path}; give a file of JSON lines, sqs:<queue URL> or kinesis:<stream>` }))

const fromEither = <A>(e: Either.Either<A, Redrive.InvalidInputError>) => Either.isLeft(e) ? Effect.fail(new SourceError({ message: e.left.message })) : Effect.succeed(e.right)

/** Every message of a queue, kept invisible for 15 minutes while they are processed. */
const receiveAll = (queueUrl: string) =>
  Effect.gen(function*() {
    const sqs = yield* Sqs
    const out: Array<{ readonly body: string; readonly receipt: string; readonly id: string }> = []
    for (;;) {
      const page = yield* Effect.tryPromise({
        try: () => sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 900 })),
        catch: (cause) => new SourceError({ message: `cannot receive from ${queueUrl}: ${(cause as Error).message}; check the queue URL and sqs:ReceiveMessage`, cause })
      })
      const messages = page.Messages ?? []
      if (messages.length === 0) return out
      for (const m of messages) out.push({ body: m.Body ?? "", receipt: m.ReceiptHandle!, id: m.MessageId! })
    }
  })

const deleteAll = (queueUrl: string, receipts: ReadonlyArray<{ readonly receipt: string; readonly id: string }>) =>
  Effect.flatMap(Sqs, (sqs) =>
    Effect.forEach(
      Array.from({ length: Math.ceil(receipts.length / 10) }, (_, i) => receipts.slice(i * 10, i * 10 + 10)),
      (batch) =>
        Effect.tryPromise({
          try: () => sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receipt })) })),
          catch: (cause) => new SourceError({ message: `cannot delete processed messages from ${queueUrl}; they will be re-driven again (as duplicates)`, cause })
        }),
      { discard: true }
    ))

/** Every record of every shard of a stream, from its trim horizon to its tip. */
const readStream = (stream: string) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    const shards = (yield* kinesis.listShards({ StreamName: stream })).Shards ?? []
    const out: Array<string> = []
    for (const shard of shards) {
      let iterator = (yield* kinesis.getShardIterator({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator
      while (iterator !== undefined) {
        const page = yield* kinesis.getRecords({ ShardIterator: iterator, Limit: 1000 })
        for (const r of UserRecords.fromGetRecords(page.Records ?? [], shard.ShardId!)) out.push(Buffer.from(r.data).toString("utf8"))
        if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break
        iterator = page.NextShardIterator
      }
    }
    return out
  }).pipe(Effect.mapError((e) => new SourceError({ message: `cannot read the dead-letter stream ${stream}: ${e.message}`, cause: e })))

/** `--from`: a file, `sqs:<queue URL>` or `kinesis:<stream>`. */
export const deadLetters = (from: string): Effect.Effect<Input, SourceError, Sqs | Kinesis.Kinesis> =>
  Effect.gen(function*() {
    if (from.startsWith("sqs:")) {
      const queueUrl = from.slice(4)
      const messages = yield* receiveAll(queueUrl)
      const entries = yield* fromEither(Either.all(messages.map((m) => Redrive.parseEntry(m.body, `message ${m.id}`))))
      return { groups: Redrive.groupsOfEntries(entries), done: deleteAll(queueUrl, messages) }
    }
    if (from.startsWith("kinesis:")) {
      const texts = yield* readStream(from.slice(8))
      const entries = yield* fromEither(Either.all(texts.map((t, i) => Redrive.parseEntry(t, `record ${i + 1} of ${from}`))))
      return { groups: Redrive.groupsOfEntries(entries), done: Effect.void }
    }
    const entries = yield* fromEither(Redrive.entriesOfLines(yield* readText(from), from))
    return { groups: Redrive.groupsOfEntries(entries), done: Effect.void }
  })

/** `--on-failure`: a file or `sqs:<queue URL>` of on-failure records; their records re-read from the stream. */
export const onFailures = (from: string): Effect.Effect<Input, SourceError, Sqs | Kinesis.Kinesis> =>
  Effect.gen(function*() {
    const sqs = from.startsWith("sqs:") ? yield* receiveAll(from.slice(4)) : undefined
    const batches = sqs !== undefined
      ? yield* fromEither(Either.all(sqs.map((m) => Redrive.parseOnFailure(m.body, `message ${m.id}`))))
      : yield* fromEither(Redrive.onFailuresOfText(yield* readText(from), from))
    const groups = yield* Effect.forEach(batches, (b) =>
      Redrive.readBatch(b).pipe(
        Effect.map((records): Redrive.Group => ({ source: b.streamArn, tag: b.startSequenceNumber, records })),
        Effect.mapError((e) => new SourceError({ message: `cannot re-read ${b.shardId} of ${b.streamArn} from ${b.startSequenceNumber}: ${e.message}`, cause: e }))
      ))
    return { groups, done: sqs !== undefined ? deleteAll(from.slice(4), sqs) : Effect.void }
  })

