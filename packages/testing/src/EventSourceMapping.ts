/**
 * A Lambda event-source mapping for Kinesis, simulated against a real
 * (local) stream, for tests of Lambda handlers: it reads each shard from
 * TRIM_HORIZON through the Kinesis API, invokes the handler with genuine
 * `KinesisStreamEvent`s in batches of `batchSize`, one batch per shard at a
 * time and in shard order (or, with `parallelizationFactor` above 1, up to
 * that many batches of a shard at once, concurrently, each partition key's
 * records in order and in one batch in flight at most), and redelivers as
 * Lambda does:
 *
 * - ReportBatchItemFailures: checkpoint before the lowest reported sequence
 *   number and redeliver from there. An empty or unknown `itemIdentifier`
 *   fails the whole batch.
 * - A function error (thrown, rejected, timed out) retries the whole batch;
 *   with BisectBatchOnFunctionError the batch is split in two and the halves
 *   are retried in turn (splitting does not count as a retry).
 * - MaximumRetryAttempts: once a batch has failed that many retries, its
 *   metadata goes to the on-failure destination and the shard moves past it.
 * - Child shards start after their parents reached their end.
 *
 * Under a `parallelizationFactor` each shard's records are split by
 * partition key (hashed) over that many lanes; each lane is batched,
 * checkpointed and retried as a shard is above, and the lanes of a shard
 * are invoked concurrently.
 */
import { Kinesis, type KinesisError } from "@eddy/kinesis/Kinesis"
import type { Context as LambdaContext, KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda"
import { Data, Effect, Either } from "effect"

/** What Lambda calls: any function of the standard signature. */
export type Handler = (event: KinesisStreamEvent, context: LambdaContext) => Promise<KinesisStreamBatchResponse | void>

/** How the simulated event-source mapping invokes the handler (batch size, bisecting, retries). */
export interface Options {
  readonly streamName: string
  /** Records per invocation at most (Lambda's BatchSize, default 100). */
  readonly batchSize?: number
  /** `FunctionResponseTypes: ["ReportBatchItemFailures"]` (default true). */
  readonly reportBatchItemFailures?: boolean
  /** BisectBatchOnFunctionError (default false). */
  readonly bisectBatchOnFunctionError?: boolean
  /** MaximumRetryAttempts: -1 (the default) retries until the records expire, as Lambda does. */
  readonly maximumRetryAttempts?: number
  /** The function timeout: the context counts down from it, and an invocation that outlasts it is a function error. Default 60 s. */
  readonly functionTimeoutMillis?: number
  /** Gives up with `NoProgressError` after this many invocations (default 10,000). */
  readonly maxInvocations?: number
  /** Lambda's ParallelizationFactor: concurrent batches per shard, 1..10 (default 1). */
  readonly parallelizationFactor?: number
}

/** What Lambda sends to an on-failure destination for a Kinesis batch it gave up on. */
export interface OnFailure {
  readonly condition: "RetryAttemptsExhausted"
  readonly approximateInvokeCount: number
  readonly KinesisBatchInfo: {
    readonly shardId: string
    readonly startSequenceNumber: string
    readonly endSequenceNumber: string
    readonly approximateArrivalOfFirstRecord: string
    readonly approximateArrivalOfLastRecord: string
    readonly batchSize: number
    readonly streamArn: string
  }
}

/** What the simulation did on one shard. */
export interface ShardStats {
  readonly shardId: string
  /** Records read from the shard. */
  readonly records: number
  /** Sequence number of the last record read, if any. */
  readonly lastSequenceNumber: string | undefined
  /** Where the mapping's checkpoint ended: equal to `lastSequenceNumber` when every record was taken. */
  readonly checkpoint: string | undefined
}

/** What the simulation did. */
export interface Stats {
  readonly invocations: number
  /** Invocations that redelivered from a checkpoint an earlier invocation did not get past. */
  readonly retries: number
  readonly bisects: number
  readonly functionErrors: number
  /** Records handed to the handler, redeliveries included. */
  readonly recordsDelivered: number
  /** The most batches of one shard in flight at once (1 without a `parallelizationFactor`). */
  readonly maxConcurrentBatches: number
  readonly onFailure: ReadonlyArray<OnFailure>
  readonly shards: ReadonlyArray<ShardStats>
}

/** The mapping kept redelivering without reaching the end of the stream. */
export class NoProgressError extends Data.TaggedError("NoProgressError")<{ readonly message: string }> {}

/** A record as the simulator (and tests building events by hand) hand it to `event`. */
export interface EventRecord {
  readonly shardId: string
  readonly sequenceNumber: string
  readonly partitionKey: string
  readonly data: Uint8Array
  /** Epoch milliseconds. */
  readonly arrivalTime: number
}

/** A `KinesisStreamEvent` exactly as Lambda builds it: base64 data, `eventID` `shardId:sequenceNumber`, arrival in seconds. */
export const event = (records: ReadonlyArray<EventRecord>, source: { readonly streamArn: string; readonly region?: string }): KinesisStreamEvent => ({
  Records: records.map((r) => ({
    kinesis: {
      kinesisSchemaVersion: "1.0",
      partitionKey: r.partitionKey,
      sequenceNumber: r.sequenceNumber,
      data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString("base64"),
      approximateArrivalTimestamp: r.arrivalTime / 1000
    },
    eventSource: "aws:kinesis",
    eventVersion: "1.0",
    eventID: `${r.shardId}:${r.sequenceNumber}`,
    eventName: "aws:kinesis:record",
    invokeIdentityArn: "arn:aws:iam::000000000000:role/eddy-simulator",
    awsRegion: source.region ?? "us-east-1",
    eventSourceARN: source.streamArn
  }))
})

let requests = 0

/** A Lambda context whose remaining time counts down from `timeoutMillis` (or follows `remaining`, when given). */
export const context = (options: { readonly timeoutMillis?: number; readonly remaining?: () => number } = {}): LambdaContext => {
  const deadline = Date.now() + (options.timeoutMillis ?? 60_000)
  const noop = () => {}
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "eddy-simulator",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:eddy-simulator",
    memoryLimitInMB: "1024",
    awsRequestId: `simulated-${++requests}`,
    logGroupName: "/aws/lambda/eddy-simulator",
    logStreamName: "simulated",
    getRemainingTimeInMillis: options.remaining ?? (() => Math.max(0, deadline - Date.now())),
    done: noop,
    fail: noop,
    succeed: noop
  }
}

interface Shard {
  readonly shardId: string
  readonly parents: ReadonlyArray<string>
  iterator: string | undefined
  /** No more records to read now: the open shard's tip was reached, or the closed shard's end. */
  exhausted: boolean
  read: number
  last: string | undefined
  /** The sequence numbers read, in order, with whether their lane took them: the shard's checkpoint is the end of the taken prefix. */
  readonly taken: Array<{ readonly sequenceNumber: string; done: boolean }>
  /** Index of the first record in `taken` not taken. */
  cursor: number
  checkpoint: string | undefined
  readonly lanes: ReadonlyArray<Lane>
  inFlight: number
}

/** One sequence of batches of a shard: the whole shard, or one hash range of its partition keys. */
interface Lane {
  readonly shard: Shard
  /** Read, not yet checkpointed, with their index in `shard.taken`. */
  readonly buffer: Array<EventRecord & { readonly index: number }>
  /** Failed invocations since the checkpoint last moved. */
  attempts: number
  invokeCount: number
  /** Sizes of the bisected pieces still to deliver, the next one last. */
  readonly pieces: Array<number>
}

/** The lane of a partition key, as Lambda keeps one key's records in one ordered sequence. */
const laneOf = (partitionKey: string, lanes: number): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < partitionKey.length; i++) h = Math.imul(h ^ partitionKey.charCodeAt(i), 0x01000193)
  return (h >>> 0) % lanes
}

type Outcome =
  | { readonly _tag: "FunctionError"; readonly message: string }
  | { readonly _tag: "Response"; readonly failed: ReadonlyArray<string> }

/** Runs `promise` against the function timeout on the wall clock, as Lambda does. */
const withTimeout = <A>(promise: Promise<A>, millis: number): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Task timed out after ${millis} ms`)), millis)
    promise.then(
      (a) => (clearTimeout(timer), resolve(a)),
      (e) => (clearTimeout(timer), reject(e))
    )
  })

/** Feeds every record of the stream to `handler` and returns once each shard's checkpoint reached its end. */
export const run = (handler: Handler, options: Options): Effect.Effect<Stats, KinesisError | NoProgressError, Kinesis> =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const batchSize = options.batchSize ?? 100
    const reportFailures = options.reportBatchItemFailures ?? true
    const maxRetries = options.maximumRetryAttempts ?? -1
    const timeout = options.functionTimeoutMillis ?? 60_000
    const maxInvocations = options.maxInvocations ?? 10_000
    const factor = options.parallelizationFactor ?? 1
    if (!Number.isInteger(factor) || factor < 1 || factor > 10) return yield* new NoProgressError({ message: `parallelizationFactor must be 1..10, got ${factor}` })
    const { StreamDescriptionSummary } = yield* kinesis.describeStreamSummary({ StreamName: options.streamName })
    const streamArn = StreamDescriptionSummary!.StreamARN!
    const listed = yield* kinesis.listShards({ StreamName: options.streamName })
    const shards: Array<Shard> = []
    for (const s of listed.Shards ?? []) {
      const { ShardIterator } = yield* kinesis.getShardIterator({ StreamName: options.streamName, ShardId: s.ShardId!, ShardIteratorType: "TRIM_HORIZON" })
      const lanes: Array<Lane> = []
      const shard: Shard = {
        shardId: s.ShardId!,
        parents: [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p),
        iterator: ShardIterator,
        exhausted: false,
        read: 0,
        last: undefined,
        taken: [],
        cursor: 0,
        checkpoint: undefined,
        lanes,
        inFlight: 0
      }
      for (let l = 0; l < factor; l++) lanes.push({ shard, buffer: [], attempts: 0, invokeCount: 0, pieces: [] })
      shards.push(shard)
    }
    const stats = { invocations: 0, retries: 0, bisects: 0, functionErrors: 0, recordsDelivered: 0, maxConcurrentBatches: 0 }
    const onFailure: Array<OnFailure> = []

    const fill = (lane: Lane, want: number) =>
      Effect.gen(function*() {
        const shard = lane.shard
        while (lane.buffer.length < want && !shard.exhausted) {
          if (shard.iterator === undefined) {
            shard.exhausted = true
            break
          }
          const page = yield* kinesis.getRecords({ ShardIterator: shard.iterator, Limit: Math.min(10_000, want - lane.buffer.length) })
          shard.iterator = page.NextShardIterator ?? undefined
          for (const r of page.Records ?? []) {
            const record = fromSdk(shard.shardId, r)
            shard.lanes[laneOf(record.partitionKey, shard.lanes.length)]!.buffer.push({ ...record, index: shard.taken.length })
            shard.taken.push({ sequenceNumber: record.sequenceNumber, done: false })
          }
          const got = page.Records?.length ?? 0
          shard.read += got
          if (got > 0) shard.last = page.Records![got - 1]!.SequenceNumber
          else if ((page.MillisBehindLatest ?? 0) === 0) shard.exhausted = true
        }
      })

    /** Moves the lane's checkpoint past the first `k` records of its buffer, and the shard's past what all lanes took. */
    const advance = (shard: Lane, k: number) => {
      if (k === 0) return
      for (const r of shard.buffer.slice(0, k)) shard.shard.taken[r.index]!.done = true
      const whole = shard.shard
      while (whole.cursor < whole.taken.length && whole.taken[whole.cursor]!.done) whole.checkpoint = whole.taken[whole.cursor++]!.sequenceNumber
      shard.buffer.splice(0, k)
      shard.attempts = 0
      shard.invokeCount = 0
      let left = k
      while (left > 0 && shard.pieces.length > 0) {
        const top = shard.pieces.pop()!
        if (top > left) shard.pieces.push(top - left)
        left -= top
      }
    }

    const giveUp = (shard: Lane, batch: ReadonlyArray<EventRecord>) => {
      onFailure.push({
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: shard.invokeCount,
        KinesisBatchInfo: {
          shardId: shard.shard.shardId,
          startSequenceNumber: batch[0]!.sequenceNumber,
          endSequenceNumber: batch[batch.length - 1]!.sequenceNumber,
          approximateArrivalOfFirstRecord: new Date(batch[0]!.arrivalTime).toISOString(),
          approximateArrivalOfLastRecord: new Date(batch[batch.length - 1]!.arrivalTime).toISOString(),
          batchSize: batch.length,
          streamArn
        }
      })
      advance(shard, batch.length)
    }

    /** The lane's next batch, read from the stream as far as it needs; empty once the lane has nothing left. */
    const next = (shard: Lane) =>
      Effect.gen(function*() {
        const size = shard.pieces.length > 0 ? shard.pieces[shard.pieces.length - 1]! : batchSize
        yield* fill(shard, size)
        return shard.buffer.slice(0, size).map(({ index: _, ...r }): EventRecord => r)
      })

    /** One invocation of `batch` for its lane, and the lane's checkpoint moved as Lambda moves it. */
    const step = (shard: Lane, batch: ReadonlyArray<EventRecord>) =>
      Effect.gen(function*() {
        if (stats.invocations++ >= maxInvocations) {
          return yield* new NoProgressError({
            message: `${shard.shard.shardId} still has ${shard.buffer.length} records to deliver after ${maxInvocations} invocations`
          })
        }
        if (shard.attempts > 0) stats.retries++
        shard.invokeCount++
        stats.recordsDelivered += batch.length
        shard.shard.inFlight++
        stats.maxConcurrentBatches = Math.max(stats.maxConcurrentBatches, shard.shard.inFlight)
        const outcome = yield* Effect.ensuring(invoke(batch), Effect.sync(() => shard.shard.inFlight--))
        if (outcome._tag === "Response" && outcome.failed.length === 0) {
          advance(shard, batch.length)
          return true
        }
        if (outcome._tag === "Response") {
          const positions = outcome.failed.map((id) => batch.findIndex((r) => r.sequenceNumber === id))
          if (positions.every((p) => p >= 0)) {
            const lowest = Math.min(...positions)
            if (lowest > 0) {
              // A new batch starts at the reported record; this invocation was its first.
              advance(shard, lowest)
              shard.invokeCount = 1
            }
            shard.attempts++
            if (maxRetries >= 0 && shard.attempts > maxRetries) giveUp(shard, batch.slice(lowest))
            return true
          }
        }
        // A function error, or a response naming records not in the batch: the whole batch failed.
        stats.functionErrors++
        if (options.bisectBatchOnFunctionError && batch.length > 1) {
          const first = Math.ceil(batch.length / 2)
          if (shard.pieces.length > 0) shard.pieces.pop()
          shard.pieces.push(batch.length - first, first)
          stats.bisects++
          return true
        }
        shard.attempts++
        if (maxRetries >= 0 && shard.attempts > maxRetries) giveUp(shard, batch)
        return true
      })

    const invoke = (batch: ReadonlyArray<EventRecord>): Effect.Effect<Outcome> =>
      Effect.map(
        Effect.either(Effect.tryPromise(() => withTimeout(handler(event(batch, { streamArn }), context({ timeoutMillis: timeout })), timeout))),
        (result): Outcome => {
          if (Either.isLeft(result)) return { _tag: "FunctionError", message: String(result.left.cause) }
          const failures = reportFailures ? result.right?.batchItemFailures ?? [] : []
          return { _tag: "Response", failed: failures.map((f) => f.itemIdentifier ?? "") }
        }
      )

    // One batch per shard in turn (per lane of a shard, those concurrently), as concurrent per-shard invocations interleave;
    // children wait for their parents.
    const finished = new Set<string>()
    while (finished.size < shards.length) {
      let progressed = false
      for (const shard of shards) {
        if (finished.has(shard.shardId) || !shard.parents.every((p) => finished.has(p) || !shards.some((s) => s.shardId === p))) continue
        progressed = true
        const batches: Array<readonly [Lane, ReadonlyArray<EventRecord>]> = []
        for (const lane of shard.lanes) {
          const batch = yield* next(lane)
          if (batch.length > 0) batches.push([lane, batch])
        }
        if (batches.length === 0) finished.add(shard.shardId)
        else yield* Effect.forEach(batches, ([lane, batch]) => step(lane, batch), { concurrency: "unbounded", discard: true })
      }
      if (!progressed) return yield* new NoProgressError({ message: "shards wait for parents that never finish" })
    }
    return {
      ...stats,
      onFailure,
      shards: shards.map((s) => ({ shardId: s.shardId, records: s.read, lastSequenceNumber: s.last, checkpoint: s.checkpoint }))
    } satisfies Stats
  })

/** A record as GetRecords returns it. */
interface StreamRecord {
  readonly SequenceNumber?: string | undefined
  readonly PartitionKey?: string | undefined
  readonly Data?: Uint8Array | undefined
  readonly ApproximateArrivalTimestamp?: Date | undefined
}

const fromSdk = (shardId: string, r: StreamRecord): EventRecord => ({
  shardId,
  sequenceNumber: r.SequenceNumber!,
  partitionKey: r.PartitionKey!,
  data: r.Data!,
  arrivalTime: r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()
})
