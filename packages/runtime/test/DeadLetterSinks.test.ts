import type { SendMessageBatchCommand, SendMessageBatchCommandOutput, SendMessageBatchRequest } from "@aws-sdk/client-sqs"
import type { DeadLetterEntry } from "@eddy/core/DeadLetter"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import { Kinesalite } from "@eddy/local"
import * as KinesisFaults from "@eddy/testing/KinesisFaults"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Either, Fiber, Layer, Option, Schedule, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as DeadLetter from "@eddy/core/DeadLetter"
import * as DeadLetterSinks from "../src/DeadLetterSinks"

const entry = (i: number, payloadBytes = 40): DeadLetterEntry => ({
  error: "InvalidEventError",
  reason: `order.total must equal subtotal - discountTotal (#${i})`,
  payload: new Uint8Array(payloadBytes).fill(48 + (i % 10)),
  partitionKey: `o-${i}`,
  shardId: "shardId-000000000003",
  sequenceNumber: `4959${String(i).padStart(20, "0")}`,
  subSequenceNumber: 0,
  arrivalTime: 1_795_000_000_000 + i,
  source: "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"
})

type Reply = (input: SendMessageBatchRequest, call: number) => Partial<SendMessageBatchCommandOutput> | Error

/** An SQS client that records each SendMessageBatch and answers with `reply`. */
const fakeSqs = (reply: Reply = () => ({})) => {
  const calls: Array<SendMessageBatchRequest> = []
  const client: DeadLetterSinks.SqsClient = {
    send: (command: SendMessageBatchCommand) => {
      calls.push(command.input)
      const out = reply(command.input, calls.length - 1)
      if (out instanceof Error) return Promise.reject(out)
      const failed = new Set((out.Failed ?? []).map((f) => f.Id))
      return Promise.resolve({
        $metadata: {},
        Successful: command.input.Entries!.filter((e) => !failed.has(e.Id)).map((e) => ({ Id: e.Id!, MessageId: `m-${e.Id}`, MD5OfMessageBody: "" })),
        Failed: out.Failed ?? []
      })
    }
  }
  return { calls, client }
}

const sdkError = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } })
const bodies = (calls: ReadonlyArray<SendMessageBatchRequest>) => calls.flatMap((c) => c.Entries!.map((e) => JSON.parse(e.MessageBody!)))
const queueUrl = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"

/** A client on a fresh Kinesis emulator, with a one-shard stream `streamName` on it. */
const oneShardStream = (streamName: string) =>
  Effect.gen(function*() {
    const { endpoint } = yield* Kinesalite.start()
    const kinesis = yield* Kinesis.make({ endpoint })
    yield* kinesis.createStream({ StreamName: streamName, ShardCount: 1 })
    return kinesis
  })

/** The records of the one shard of `streamName`, from its start. */
const recordsIn = (kinesis: Kinesis.KinesisApi, streamName: string) =>
  Effect.gen(function*() {
    const { Shards } = yield* kinesis.listShards({ StreamName: streamName })
    const { ShardIterator } = yield* kinesis.getShardIterator({ StreamName: streamName, ShardId: Shards![0]!.ShardId!, ShardIteratorType: "TRIM_HORIZON" })
    const { Records } = yield* kinesis.getRecords({ ShardIterator: ShardIterator! })
    return Records ?? []
  })

describe("DeadLetterSinks", () => {
  it.effect("SQS: sends batches of at most 10 entries, each message the entry as JSON with its payload in base64", () =>
    Effect.gen(function*() {
      const sqs = fakeSqs()
      const sink = DeadLetterSinks.makeSqs({ queueUrl, client: sqs.client })
      const entries = Array.from({ length: 23 }, (_, i) => entry(i))
      yield* sink.send(entries)
      expect(sqs.calls.map((c) => c.Entries!.length)).toEqual([10, 10, 3])
      expect(sqs.calls.every((c) => c.QueueUrl === queueUrl && new Set(c.Entries!.map((e) => e.Id)).size === c.Entries!.length)).toBe(true)
      const sent = bodies(sqs.calls)
      expect(sent.map((b) => b.sequenceNumber)).toEqual(entries.map((e) => e.sequenceNumber))
      expect(sent[4]).toEqual({
        error: "InvalidEventError",
        reason: entries[4]!.reason,
        source: entries[4]!.source,
        shardId: "shardId-000000000003",
        sequenceNumber: entries[4]!.sequenceNumber,
        subSequenceNumber: 0,
        partitionKey: "o-4",
        arrivalTime: entries[4]!.arrivalTime,
        payload: Buffer.from(entries[4]!.payload).toString("base64")
      })
    }))

  it.effect("SQS: keeps each request within the size limit and cuts a payload too big for one message", () =>
    Effect.gen(function*() {
      const sqs = fakeSqs()
      const sink = DeadLetterSinks.makeSqs({ queueUrl, client: sqs.client })
      // About 134 KB each as base64: two do not fit in one 256 KiB request.
      yield* sink.send([entry(0, 100_000), entry(1, 100_000), entry(2, 1_000), entry(3, 1_000_000)])
      const size = (c: SendMessageBatchRequest) => c.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0)
      expect(sqs.calls.map((c) => c.Entries!.length)).toEqual([1, 2, 1])
      expect(sqs.calls.every((c) => size(c) <= 256 * 1024)).toBe(true)
      const big = bodies(sqs.calls)[3]
      expect(big).toMatchObject({ payloadTruncated: true, payloadBytes: 1_000_000, payloadSha256: createHash("sha256").update(entry(3, 1_000_000).payload).digest("hex") })
      expect(Buffer.from(big.payload, "base64").length).toBeGreaterThan(150_000)
    }))

  it.effect("SQS: retries only the entries SQS failed on its side, on the schedule", () =>
    Effect.gen(function*() {
      // The first call fails entries 3 and 7 as throttled; the retry succeeds.
      const sqs = fakeSqs((_, call) => (call === 0 ? { Failed: ["3", "7"].map((Id) => ({ Id, SenderFault: false, Code: "ThrottlingException" })) } : {}))
      const sink = DeadLetterSinks.makeSqs({ queueUrl, client: sqs.client })
      const fiber = yield* Effect.fork(sink.send(Array.from({ length: 10 }, (_, i) => entry(i))))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(sqs.calls.map((c) => c.Entries!.length)).toEqual([10, 2])
      expect(bodies(sqs.calls).slice(10).map((b) => b.partitionKey)).toEqual(["o-3", "o-7"])
    }))

  it.effect("SQS: a retried send repeats none of what already went out", () =>
    Effect.gen(function*() {
      // Entry 1 is refused three times (the sink's retries run out), then accepted.
      const sqs = fakeSqs((input, call) => (call < 3 && input.Entries!.length > 1 ? { Failed: [{ Id: "1", SenderFault: false, Code: "InternalError" }] } : call < 3 ? { Failed: [{ Id: "0", SenderFault: false, Code: "InternalError" }] } : {}))
      const sink = DeadLetterSinks.makeSqs({ queueUrl, client: sqs.client, retry: Schedule.recurs(2) })
      const entries = [entry(0), entry(1), entry(2)]
      const failure = yield* Effect.flip(sink.send(entries))
      expect(failure).toBeInstanceOf(DeadLetter.DeadLetterError)
      expect((failure.cause as DeadLetterSinks.EntriesNotAcceptedError)._tag).toBe("EntriesNotAcceptedError")
      // The processor sends the same entries again: only entry 1 goes out.
      yield* sink.send(entries)
      expect(bodies(sqs.calls).map((b) => b.partitionKey)).toEqual(["o-0", "o-1", "o-2", "o-1", "o-1", "o-1"])
    }))

  it.effect("SQS: entries refused as the sender's fault, and a missing queue, fail at once", () =>
    Effect.gen(function*() {
      const rejecting = fakeSqs(() => ({ Failed: [{ Id: "0", SenderFault: true, Code: "InvalidParameterValue" }] }))
      const rejected = yield* Effect.flip(DeadLetterSinks.makeSqs({ queueUrl, client: rejecting.client, retry: Schedule.recurs(5) }).send([entry(0)]))
      expect((rejected.cause as DeadLetterSinks.SinkError)._tag).toBe("EntriesRejectedError")
      expect(rejecting.calls).toHaveLength(1)

      const missing = fakeSqs(() => sdkError("QueueDoesNotExist", 400))
      const notFound = yield* Effect.flip(DeadLetterSinks.makeSqs({ queueUrl, client: missing.client, retry: Schedule.recurs(5) }).send([entry(0)]))
      expect((notFound.cause as DeadLetterSinks.SinkError)._tag).toBe("SqsQueueNotFoundError")
      expect(missing.calls).toHaveLength(1)
      // The deployment's fault: the processor leaves the records unacknowledged and raises the alarm.
      expect(notFound).toMatchObject({ _tag: "DeadLetterMisconfiguredError", code: "QueueDoesNotExist" })
      expect(rejected).toMatchObject({ _tag: "DeadLetterMisconfiguredError", code: "InvalidParameterValue" })

      const throttled = fakeSqs((_, call) => (call < 2 ? sdkError("RequestThrottled", 400) : {}))
      yield* DeadLetterSinks.makeSqs({ queueUrl, client: throttled.client, retry: Schedule.recurs(5) }).send([entry(0)])
      expect(throttled.calls).toHaveLength(3)
      expect(DeadLetterSinks.fromSqsError(sdkError("InternalError", 500))._tag).toBe("SqsUnavailableError")
    }))

  it.effect("SQS: on a FIFO queue groups messages by shard and deduplicates them by record position", () =>
    Effect.gen(function*() {
      const sqs = fakeSqs()
      yield* DeadLetterSinks.makeSqs({ queueUrl: `${queueUrl}.fifo`, client: sqs.client }).send([entry(0), entry(1), entry(0)])
      const [a, b, c] = sqs.calls[0]!.Entries!
      expect(a!.MessageGroupId).toBe("shardId-000000000003")
      expect(a!.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/)
      expect(a!.MessageDeduplicationId).not.toBe(b!.MessageDeduplicationId)
      expect(c!.MessageDeduplicationId).toBe(a!.MessageDeduplicationId)
    }))

  it.scopedLive("Kinesis: puts each entry as a JSON record under its original partition key", () =>
    Effect.gen(function*() {
      const kinesis = yield* oneShardStream("dead-letters")
      const sink = yield* DeadLetterSinks.makeKinesis({ streamName: "dead-letters" }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      const entries = [entry(0), entry(1, 2_000_000), entry(2)]
      yield* sink.send(entries)
      const records = yield* recordsIn(kinesis, "dead-letters")
      const byKey = new Map(records.map((r) => [r.PartitionKey!, r]))
      expect([...byKey.keys()].sort()).toEqual(["o-0", "o-1", "o-2"])
      const read = (key: string) => JSON.parse(Buffer.from(byKey.get(key)!.Data!).toString("utf8"))
      expect(read("o-0").payload).toBe(Buffer.from(entries[0]!.payload).toString("base64"))
      expect(read("o-1")).toMatchObject({ payloadTruncated: true, payloadBytes: 2_000_000 })
      expect(byKey.get("o-1")!.Data!.length + "o-1".length).toBeLessThanOrEqual(1024 * 1024)
    }))

  it.scopedLive("Kinesis: retries the records Kinesis did not take on its side; a failed send repeats none of what went out", () =>
    Effect.gen(function*() {
      const real = yield* oneShardStream("retried-letters")
      // o-1 is rejected on the first PutRecords only; o-3 on every call, so its retries run out.
      const { faults, kinesis } = yield* KinesisFaults.make(real, {
        rejectRecords: {
          select: (record, at) => record.PartitionKey === "o-3" || (record.PartitionKey === "o-1" && at.call === 1),
          errorCodes: ["InternalFailure"]
        }
      })
      const sink = yield* DeadLetterSinks.makeKinesis({ streamName: "retried-letters", retry: Schedule.recurs(2) }).pipe(
        Effect.provideService(Kinesis.Kinesis, kinesis)
      )
      const entries = [entry(0), entry(1), entry(2), entry(3)]
      const failure = yield* Effect.flip(sink.send(entries))
      expect(failure).toBeInstanceOf(DeadLetter.DeadLetterError)
      expect(failure.message).toBe(
        "dead-letter sink Kinesis stream retried-letters did not accept 1 dead letter(s) (InternalFailure); they are retried"
      )
      expect(failure.cause).toMatchObject({ _tag: "EntriesNotAcceptedError", count: 1, codes: ["InternalFailure"] })
      // The processor sends the same entries again: only o-3 goes out, and this time Kinesis takes it.
      const before = (yield* faults.counts).calls.putRecords
      const healed = yield* DeadLetterSinks.makeKinesis({ streamName: "retried-letters" }).pipe(Effect.provideService(Kinesis.Kinesis, real))
      yield* sink.send(entries).pipe(Effect.either)
      yield* healed.send([entries[3]!])
      expect((yield* faults.counts).calls.putRecords).toBe(before + 3)
      const records = yield* recordsIn(real, "retried-letters")
      expect(records.map((r) => r.PartitionKey)).toEqual(["o-0", "o-2", "o-1", "o-3"])
    }))

  it.scopedLive("Kinesis: a missing stream, and a put denied for the stream's KMS key, fail at once as the deployment's fault", () =>
    Effect.gen(function*() {
      const real = yield* oneShardStream("kms-letters")
      const sendVia = (kinesis: Kinesis.KinesisApi, streamName: string) =>
        DeadLetterSinks.makeKinesis({ streamName, retry: Schedule.recurs(5) }).pipe(
          Effect.provideService(Kinesis.Kinesis, kinesis),
          Effect.flatMap((sink) => sink.send([entry(0)])),
          Effect.flip
        )
      expect(yield* sendVia(real, "no-such-stream")).toMatchObject({ _tag: "DeadLetterMisconfiguredError", code: "ResourceNotFoundException" })
      const { faults, kinesis } = yield* KinesisFaults.make(real, {
        fail: { every: 1, error: (operation) => Kinesis.fromSdkError(operation, sdkError("KMSAccessDeniedException", 400)) }
      })
      expect(yield* sendVia(kinesis, "kms-letters")).toMatchObject({ _tag: "DeadLetterMisconfiguredError", code: "KMSAccessDeniedException" })
      expect((yield* faults.counts).calls.putRecords).toBe(1)
    }))

  it.scopedLive("Kinesis: an entry whose partition key Kinesis would refuse goes under its shard id", () =>
    Effect.gen(function*() {
      const kinesis = yield* oneShardStream("keyless-letters")
      const sink = yield* DeadLetterSinks.makeKinesis({ streamName: "keyless-letters" }).pipe(Effect.provideService(Kinesis.Kinesis, kinesis))
      yield* sink.send([{ ...entry(0), partitionKey: "" }, { ...entry(1), partitionKey: "o-\uD800" }])
      const records = yield* recordsIn(kinesis, "keyless-letters")
      expect(records.map((r) => r.PartitionKey)).toEqual(["shardId-000000000003", "shardId-000000000003"])
      expect(records.map((r) => JSON.parse(Buffer.from(r.Data!).toString("utf8")).partitionKey)).toEqual(["", "o-\uD800"])
    }))

  it.effect("stdout: one JSON line per entry with the payload's size and sha-256, never the payload itself", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const sink = DeadLetterSinks.makeStdout((lines) => written.push(lines))
      const entries = [entry(0), { ...entry(1), pipeline: "revenue" }]
      yield* sink.send(entries)
      yield* sink.send([])
      expect(written).toHaveLength(1)
      const lines = written[0]!.split("\n")
      expect(lines.at(-1)).toBe("")
      const parsed = lines.slice(0, -1).map((line) => JSON.parse(line))
      expect(parsed.map((p) => p.payload)).toEqual([undefined, undefined])
      expect(written[0]).not.toContain(Buffer.from(entries[1]!.payload).toString("base64"))
      expect(parsed[1]).toMatchObject({
        level: "warn",
        msg: "dead letter",
        pipeline: "revenue",
        payloadRedacted: true,
        payloadBytes: entries[1]!.payload.length,
        payloadSha256: createHash("sha256").update(entries[1]!.payload).digest("hex")
      })
      const { payload: _, ...fields } = JSON.parse(DeadLetterSinks.encode(entries[1]!))
      expect(parsed[1]).toMatchObject(fields)
    }))

  it.effect("stdout:full: one JSON line per entry, the same fields and payload as every other sink", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const sink = DeadLetterSinks.makeStdout((lines) => written.push(lines), "full")
      const entries = [entry(0), { ...entry(1), pipeline: "revenue" }]
      yield* sink.send(entries)
      const lines = written[0]!.split("\n")
      expect(lines.slice(0, -1).map((line) => JSON.parse(line))).toEqual(
        entries.map((e) => ({ level: "warn", msg: "dead letter", ...JSON.parse(DeadLetterSinks.encode(e)) }))
      )
      expect(DeadLetterSinks.parseTarget("stdout:full")).toEqual(Either.right({ _tag: "Stdout", payload: "full" }))
    }))

  it("parses a sink's name and reads it from the configuration key it is given", () => {
    const parse = (text: string) => DeadLetterSinks.parseTarget(text)
    expect(parse("stdout")).toEqual(Either.right({ _tag: "Stdout" }))
    expect(parse(`sqs:${queueUrl}`)).toEqual(Either.right({ _tag: "Sqs", queueUrl }))
    expect(parse("kinesis:orders-dlq")).toEqual(Either.right({ _tag: "Kinesis", streamName: "orders-dlq" }))
    expect(Either.isLeft(parse("sqs:orders-dlq"))).toBe(true)
    expect(Either.isLeft(parse("s3://bucket"))).toBe(true)
    const read = (value: string) =>
      Effect.runSync(
        Effect.either(Effect.withConfigProvider(DeadLetterSinks.targetConfig("ORDERS_DEAD_LETTER"), ConfigProvider.fromMap(new Map([["ORDERS_DEAD_LETTER", value]]))))
      )
    expect(read("kinesis:dlq")).toEqual(Either.right({ _tag: "Kinesis", streamName: "dlq" }))
    const wrong = read("queue")
    expect(Either.isLeft(wrong) && String(wrong.left)).toContain("expected sqs:<queue URL>")
    expect(Either.isLeft(wrong) && String(wrong.left)).toContain("ORDERS_DEAD_LETTER")
  })

  it.effect("the configured stdout sink builds without any AWS client", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(DeadLetterSinks.layerConfig({ target: DeadLetterSinks.targetConfig("EDDY_DEAD_LETTER") })).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EDDY_DEAD_LETTER", "stdout"]]))),
        Effect.scoped
      )
      expect(Option.isSome(Context.getOption(context, DeadLetter.DeadLetter))).toBe(true)
    }))
})
