/**
 * Replaying a stream through pipelines: every shard (parents before children
 * across a reshard) from a position or a time within retention, up to the tip
 * when the replay started (or `until`), each shard's records through the
 * Processor in shard order, exactly as a driver would, into whatever store
 * the Processor writes (for `eddy replay run`, a shadow table).
 *
 * Exactly once, run again or resumed after a kill: the writes are scoped by
 * the stream's name and shard as the drivers' are, so each item's per-shard
 * watermark skips what an earlier run applied, and the event-id claims are
 * owned by their records, so a record read again finds its own claim. A shard
 * whose records could not be written (the store or the dedup table did not
 * answer) stops there, and its children do not start: its watermark never
 * passes a record that was not applied.
 *
 * With `checkpoints`, each shard's progress is saved after every batch it is
 * done with, and a run again starts each shard after its checkpoint (a closed
 * shard read to its end is not read again): a second run catches the shadow
 * up with what arrived since the first, reading only that. The watermarks
 * keep it exactly once when a checkpoint lags behind the writes.
 */
import * as Processor from "@eddy/core/Processor"
import type { Position, SourceRecord } from "@eddy/core/SourceRecord"
import { DynamoClient } from "@eddy/dynamodb/DynamoClient"
import * as ReplayCheckpoint from "@eddy/dynamodb/ReplayCheckpoint"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as ShardReader from "@eddy/kinesis/ShardReader"
import * as Shards from "@eddy/kinesis/Shards"
import { Chunk, Clock, Data, Deferred, type Duration, Effect, Either, Schedule, Stream } from "effect"
import * as Time from "./internal/time"

/** Where the replay starts. */
export type From = Data.TaggedEnum<{
  /** The oldest record still in the stream. */
  TrimHorizon: {}
  /** The first record of each shard that arrived at or after `timestamp` (epoch milliseconds). */
  AtTimestamp: { readonly timestamp: number }
  /**
   * The named shards at these sequence numbers; their ancestors are passed
   * over, every other shard starts at its trim horizon.
   */
  AtSequence: { readonly positions: ReadonlyMap<string, string> }
}>

/** Constructors of `From`. */
export const From = Data.taggedEnum<From>()

const sequencePattern = /^([^:\s]+):(\d+)$/

/** `--from`: TRIM_HORIZON, a UTC time, or `shardId:sequenceNumber` positions, one per shard; or what is wrong. */
export const parseFrom = (texts: ReadonlyArray<string>): Either.Either<From, string> => {
  if (texts.length === 0 || (texts.length === 1 && texts[0]!.toUpperCase() === "TRIM_HORIZON")) return Either.right(From.TrimHorizon())
  if (texts.length === 1 && !sequencePattern.test(texts[0]!)) {
    const millis = Time.parse(texts[0]!, false)
    return millis === undefined
      ? Either.left(`--from: ${JSON.stringify(texts[0])} is neither TRIM_HORIZON, a UTC time (2026-11-21T10:00Z) nor a position (shardId-000000000000:49590...)`)
      : Either.right(From.AtTimestamp({ timestamp: millis }))
  }
  const positions = new Map<string, string>()
  for (const text of texts) {
    const m = sequencePattern.exec(text)
    if (m === null) return Either.left(`--from: ${JSON.stringify(text)} is not a position shardId:sequenceNumber; repeat --from only with positions, one per shard`)
    if (positions.has(m[1]!)) return Either.left(`--from: two positions for ${m[1]}; give one per shard`)
    positions.set(m[1]!, m[2]!)
  }
  return Either.right(From.AtSequence({ positions }))
}

/** `TRIM_HORIZON`, `at 2026-11-21T10:00:00.000Z` or the positions, as the first line says it. */
export const describeFrom = (from: From): string =>
  From.$match(from, {
    TrimHorizon: () => "from TRIM_HORIZON",
    AtTimestamp: ({ timestamp }) => `from ${new Date(timestamp).toISOString()}`,
    AtSequence: ({ positions }) => `from ${Array.from(positions, ([shard, seq]) => `${shard}:${seq}`).join(", ")}`
  })

/** The replay cannot start as asked; the message says what to give instead. */
export class ReplayError extends Data.TaggedError("ReplayError")<{ readonly message: string }> {}

/** How one shard's replay stands. */
export interface ShardReport {
  readonly shardId: string
  /** waiting: for its parents; done: read to its end, the tip or `until`; stopped: records failed; skipped: a parent stopped, or before the start. */
  readonly state: "waiting" | "reading" | "done" | "stopped" | "skipped"
  readonly read: number
  readonly applied: number
  /** Producer duplicates, and records an earlier run already applied. */
  readonly duplicate: number
  readonly deadLettered: number
  readonly failed: number
  /** Why it stopped. */
  readonly reason?: string
  /** It started after its checkpoint, where an earlier run left it. */
  readonly resumed: boolean
}

/** Sums over the shards. */
export interface Totals {
  readonly shards: number
  /** Shards done or skipped before the start. */
  readonly finished: number
  readonly read: number
  readonly applied: number
  readonly duplicate: number
  readonly deadLettered: number
  readonly failed: number
}

/** What the replay tells as it goes. */
export type Progress = Data.TaggedEnum<{
  /** A shard finished, stopped or was skipped. */
  Shard: { readonly shard: ShardReport }
  /** Periodically, while shards are read. */
  Totals: { readonly totals: Totals; readonly millis: number }
}>

/** Constructors of `Progress`. */
export const Progress = Data.taggedEnum<Progress>()

/** How the replay went. */
export interface Report {
  readonly shards: ReadonlyArray<ShardReport>
  readonly totals: Totals
  readonly millis: number
  /** The first few dead-letter reasons, for a hint of what the pipelines refused. */
  readonly deadLetterReasons: ReadonlyArray<string>
}

/** One shard's saved progress: the last record done with, and whether the (closed) shard was read to its end. */
export interface Checkpoint {
  readonly position: Position
  readonly ended: boolean
}

/** Where an earlier run left each shard, and how to save it as the replay goes (e.g. `ReplayCheckpoint` on the shadow table). */
export interface Checkpoints {
  readonly load: Effect.Effect<ReadonlyMap<string, Checkpoint>, ReplayError>
  readonly save: (shardId: string, checkpoint: Checkpoint) => Effect.Effect<void, ReplayError>
}

/** The checkpoints of replaying `stream`, kept in `table` (the shadow table, see `ReplayCheckpoint`). */
export const checkpointsIn = (table: string, stream: string): Effect.Effect<Checkpoints, never, DynamoClient> =>
  Effect.map(DynamoClient, (client) => {
    const toReplayError = (e: ReplayCheckpoint.ReplayCheckpointError) => new ReplayError({ message: e.message })
    return {
      load: ReplayCheckpoint.load(table, stream).pipe(Effect.mapError(toReplayError), Effect.provideService(DynamoClient, client)),
      save: (shardId, checkpoint) => ReplayCheckpoint.save(table, stream, shardId, checkpoint).pipe(Effect.mapError(toReplayError), Effect.provideService(DynamoClient, client))
    }
  })

/** What to replay and how. */
export interface Options {
  /** The stream's name or ARN. */
  readonly stream: string
  readonly from: From
  /** Epoch milliseconds: records that arrived later are left out, and their shard stops there. */
  readonly until: number
  /** GetRecords limit, pacing and the stream's aggregation format. */
  readonly read?: Omit<ShardReader.ReadOptions, "untilCaughtUp">
  /** Shards read at once (default 8). */
  readonly concurrency?: number
  /** How often `Totals` progress is told (default 2 seconds). */
  readonly progressEvery?: Duration.DurationInput
  readonly onProgress: (progress: Progress) => Effect.Effect<void>
  /** Saved progress: resume each shard after it, and save it after every batch. Without it, every run starts at `from`. */
  readonly checkpoints?: Checkpoints
}

type Start = ShardReader.StartPosition | "skip"

/** Where each shard starts, or that it is passed over. */
export const startsOf = (from: From, shards: Shards.ShardMap): Effect.Effect<ReadonlyMap<string, Start>, ReplayError> =>
  Effect.suspend(() => {
    const starts = new Map<string, Start>()
    if (from._tag !== "AtSequence") {
      const start = from._tag === "TrimHorizon" ? ShardReader.StartPosition.TrimHorizon() : ShardReader.StartPosition.AtTimestamp({ timestamp: from.timestamp })
      for (const id of shards.keys()) starts.set(id, start)
      return Effect.succeed(starts)
    }
    for (const [shardId] of from.positions) {
      if (!shards.has(shardId)) {
        return Effect.fail(new ReplayError({ message: `the stream has no shard ${shardId} (or it is past retention); the shards are ${Array.from(shards.keys()).join(", ")}` }))
      }
    }
    const ancestors = new Set<string>()
    const visit = (id: string): void => {
      for (const p of shards.get(id)?.parents ?? []) {
        if (!ancestors.has(p)) {
          ancestors.add(p)
          visit(p)
        }
      }
    }
    for (const shardId of from.positions.keys()) visit(shardId)
    for (const id of shards.keys()) {
      const at = from.positions.get(id)
      starts.set(id, at !== undefined ? ShardReader.StartPosition.AtSequenceNumber({ sequenceNumber: at }) : ancestors.has(id) ? "skip" : ShardReader.StartPosition.TrimHorizon())
    }
    return Effect.succeed(starts)
  })

interface Tally {
  state: ShardReport["state"]
  /** A record past `until` ended the read. */
  cut?: boolean
  read: number
  applied: number
  duplicate: number
  deadLettered: number
  failed: number
  reason?: string
  resumed: boolean
}

const reportOf = (shardId: string, t: Tally): ShardReport => ({
  shardId,
  state: t.state,
  read: t.read,
  applied: t.applied,
  duplicate: t.duplicate,
  deadLettered: t.deadLettered,
  failed: t.failed,
  ...(t.reason !== undefined ? { reason: t.reason } : {}),
  resumed: t.resumed
})

const totalsOf = (tallies: ReadonlyMap<string, Tally>): Totals => {
  const totals = { shards: tallies.size, finished: 0, read: 0, applied: 0, duplicate: 0, deadLettered: 0, failed: 0 }
  for (const t of tallies.values()) {
    if (t.state === "done" || (t.state === "skipped" && t.reason === undefined)) totals.finished++
    totals.read += t.read
    totals.applied += t.applied
    totals.duplicate += t.duplicate
    totals.deadLettered += t.deadLettered
    totals.failed += t.failed
  }
  return totals
}

const failureReason = (result: Processor.Result): string => {
  for (const o of result.outcomes) {
    if (o._tag === "Failed") return o.error.message
    if (o._tag === "Blocked") return `${o.error}: ${o.reason}`
  }
  return "records failed"
}

/** Replays the stream through the Processor in context; fails only when the stream cannot be read. */
export const run = (options: Options): Effect.Effect<Report, ReplayError | Kinesis.KinesisError, Processor.Processor | Kinesis.Kinesis> =>
  Effect.scoped(Effect.gen(function*() {
    const processor = yield* Processor.Processor
    const started = yield* Clock.currentTimeMillis
    const shards = yield* Shards.list(options.stream).pipe(
      Effect.catchTag("KinesisNotFoundError", () => new ReplayError({ message: `there is no stream ${options.stream}; check --stream and AWS_REGION` }))
    )
    if (shards.size === 0) return yield* new ReplayError({ message: `stream ${options.stream} has no shards; check the stream's name` })
    const starts = yield* startsOf(options.from, shards)
    const saved = options.checkpoints === undefined ? new Map<string, Checkpoint>() : yield* options.checkpoints.load
    const tallies = new Map<string, Tally>()
    for (const id of shards.keys()) {
      const resumed = starts.get(id) !== "skip" && saved.has(id)
      tallies.set(id, { state: starts.get(id) === "skip" ? "skipped" : "waiting", read: 0, applied: 0, duplicate: 0, deadLettered: 0, failed: 0, resumed })
    }
    const finished = new Map<string, Deferred.Deferred<boolean>>()
    for (const id of shards.keys()) finished.set(id, yield* Deferred.make<boolean>())
    const reasons: Array<string> = []
    const semaphore = yield* Effect.makeSemaphore(options.concurrency ?? 8)

    const totals = Effect.flatMap(Clock.currentTimeMillis, (now) => options.onProgress(Progress.Totals({ totals: totalsOf(tallies), millis: now - started })))
    yield* Effect.forkScoped(Effect.repeat(Effect.delay(totals, options.progressEvery ?? "2 seconds"), Schedule.forever))

    /** Saves the shard's checkpoint; false (the shard stopped) when it cannot be saved. */
    const saveCheckpoint = (shard: Shards.Shard, tally: Tally, checkpoint: Checkpoint) =>
      options.checkpoints === undefined ? Effect.succeed(true) : options.checkpoints.save(shard.shardId, {
        position: { sequenceNumber: checkpoint.position.sequenceNumber, subSequenceNumber: checkpoint.position.subSequenceNumber },
        ended: checkpoint.ended
      }).pipe(
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4)))),
        Effect.as(true),
        Effect.catchAll((e) =>
          Effect.sync(() => {
            tally.state = "stopped"
            tally.reason = e.message
            return false
          })
        )
      )

    /** Processes one batch's records up to `until`; false once the shard must stop. */
    const processBatch = (shard: Shards.Shard, tally: Tally, batch: ShardReader.ShardBatch) =>
      Effect.gen(function*() {
        const all = Chunk.toReadonlyArray(batch.records)
        const cut = all.findIndex((r) => r.arrivalTime > options.until)
        const records: ReadonlyArray<SourceRecord> = cut < 0 ? all : all.slice(0, cut)
        if (records.length > 0) {
          const result = yield* processor.process(records, { source: options.stream })
          tally.read += records.length
          tally.applied += result.counts.applied
          tally.duplicate += result.counts.duplicate
          tally.deadLettered += result.counts.deadLettered
          tally.failed += result.counts.failed + result.counts.blocked
          for (const o of result.outcomes) if (o._tag === "DeadLettered" && reasons.length < 5) reasons.push(`${shard.shardId}: ${o.error}: ${o.reason}`)
          if (result.counts.failed + result.counts.blocked > 0) {
            tally.state = "stopped"
            tally.reason = failureReason(result)
            return false
          }
          if (!(yield* saveCheckpoint(shard, tally, { position: records[records.length - 1]!, ended: false }))) return false
        }
        if (cut >= 0) tally.cut = true
        return cut < 0
      })

    const replayShard = (shard: Shards.Shard): Effect.Effect<void, Kinesis.KinesisError, Kinesis.Kinesis> =>
      Effect.gen(function*() {
        const tally = tallies.get(shard.shardId)!
        const done = finished.get(shard.shardId)!
        const checkpoint = starts.get(shard.shardId) === "skip" ? undefined : saved.get(shard.shardId)
        const start = checkpoint === undefined ? starts.get(shard.shardId)! : ShardReader.after(checkpoint.position)
        const parents = yield* Effect.forEach(shard.parents.filter((p) => finished.has(p)), (p) => Deferred.await(finished.get(p)!))
        if (start === "skip" || parents.includes(false)) {
          if (start !== "skip") {
            tally.state = "skipped"
            tally.reason = "a parent shard stopped"
          }
          yield* Deferred.succeed(done, start === "skip")
          return yield* options.onProgress(Progress.Shard({ shard: reportOf(shard.shardId, tally) }))
        }
        yield* semaphore.withPermits(1)(Effect.gen(function*() {
          if (checkpoint?.ended === true) return void (tally.state = "done")
          tally.state = "reading"
          const reader = ShardReader.readShard(options.stream, shard.shardId, start, { ...options.read, untilCaughtUp: !shard.closed })
          let last: Position | undefined = checkpoint?.position
          yield* Stream.runForEachWhile(reader, (batch) =>
            Effect.tap(processBatch(shard, tally, batch), () => {
              const records = batch.records
              if (records.length > 0 && tally.cut !== true) last = Chunk.unsafeLast(records)
            }))
          // A closed shard read to its end is done for good: a run again passes it over.
          if (tally.state === "reading" && shard.closed && tally.cut !== true && last !== undefined) {
            yield* saveCheckpoint(shard, tally, { position: last, ended: true })
          }
          if (tally.state === "reading") tally.state = "done"
        }))
        yield* Deferred.succeed(done, tally.state === "done")
        yield* options.onProgress(Progress.Shard({ shard: reportOf(shard.shardId, tally) }))
      })

    yield* Effect.forEach(shards.values(), replayShard, { concurrency: "unbounded", discard: true })
    const millis = (yield* Clock.currentTimeMillis) - started
    return {
      shards: Array.from(tallies, ([id, t]) => reportOf(id, t)),
      totals: totalsOf(tallies),
      millis,
      deadLetterReasons: reasons
    } satisfies Report
  }))

const percent = (t: Totals): string => `${Math.floor((100 * t.finished) / Math.max(1, t.shards))}%`

/** A progress line as `eddy replay run` prints it. */
export const renderProgress = (progress: Progress): string =>
  Progress.$match(progress, {
    Shard: ({ shard }) =>
      `${shard.shardId}: ${shard.state}, ${shard.read} records read (applied ${shard.applied}, duplicate ${shard.duplicate}, dead-lettered ${shard.deadLettered}` +
      `${shard.failed > 0 ? `, failed ${shard.failed}` : ""})${shard.resumed ? " from its checkpoint" : ""}${shard.reason !== undefined ? `: ${shard.reason}` : ""}`,
    Totals: ({ millis, totals }) =>
      `progress: ${totals.finished}/${totals.shards} shards finished (${percent(totals)}), ${totals.read} records read in ${(millis / 1000).toFixed(1)} s, ` +
      `applied ${totals.applied}, duplicate ${totals.duplicate}, dead-lettered ${totals.deadLettered}`
  })

/** The last line: totals and speed. */
export const renderReport = (report: Report): string => {
  const t = report.totals
  const seconds = report.millis / 1000
  return `replayed ${t.read} records of ${t.shards} shards in ${seconds.toFixed(1)} s (${Math.round(t.read / Math.max(seconds, 0.001))} records/s): ` +
    `applied ${t.applied}, duplicate ${t.duplicate}, dead-lettered ${t.deadLettered}, failed ${t.failed}; ${t.finished}/${t.shards} shards finished (${percent(t)})`
}
