/**
 * When the service reports a bucket's final values, across a cluster of
 * workers and across restarts.
 *
 * Per shard it follows the arrival time up to which every record is
 * processed (the records' own, or the read's when it is at the tip with
 * nothing in hand at two checks in a row: its reader's lag gauge is 0, so an
 * idle shard moves on with the wall clock, less `idleMargin` for the
 * reader's waits; a failed batch holds the clock until a re-read passes it), and
 * publishes that clock in the shard's lease (`Lease.processedUpTo`, written
 * with the lease's next checkpoint or renewal: no write of its own). A bucket
 * is final once every lease of the worker's streams that is not finished
 * (SHARD_END) is past its close (`Window.closesAt`): its own shards by the
 * clock in memory, the others by the clock in the lease table as of the
 * worker's last listing (which its lease rounds read anyway; a clock only
 * moves forward, so an old listing only delays). A lease never read (a new
 * shard, a reshard's child) has no clock and holds every bucket back until it
 * is read; a finished parent no longer does.
 *
 * The keys: each shard's keys written since its last checkpoint are recorded
 * in the store (`keyIndex`) just before the checkpoint, and the clock it
 * publishes is the one they were recorded at. So whoever closes a bucket
 * finds all its keys: in the index, for every record before the clocks that
 * closed it, and in its own memory for what it wrote since its checkpoints.
 * A worker learns of the buckets its shards write, and, on taking a lease
 * with a clock (a restart, a failover, a rebalance), of the buckets closing
 * around that clock, which a previous owner may have written and not reported.
 */
import { isDone } from "@eddy/core/Acknowledgement"
import * as FinalValue from "@eddy/core/FinalValue"
import * as Leases from "@eddy/core/Leases"
import type * as Pipeline from "@eddy/core/Pipeline"
import type * as Processor from "@eddy/core/Processor"
import type { Position } from "@eddy/core/SourceRecord"
import type * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import type * as Consumer from "@eddy/kinesis/Consumer"
import { Clock, Effect, Stream } from "effect"
import * as KeyIndex from "./keyIndex"

interface ShardProgress {
  /** Every record of the shard that arrived before this is processed. */
  upTo: number
  /** Arrival time up to which the shard has been read. */
  readTo: number
  /** Records read and not yet processed. */
  pending: number
  /** The reader's lag gauge (`millisBehindLatest`), where the read mode keeps one by shard. */
  readonly lag: Effect.Effect<number> | undefined
  /** Keys written since the last checkpoint, by bucket id: recorded in the index before the next one. */
  unindexed: Map<string, KeyIndex.Entry & { readonly keys: Set<string> }>
  /** The last record processed, the position the index writes are made at. */
  last: Position | undefined
  /** The last batch stopped at a record not done: nothing after it counts until a re-read gets past it. */
  failed: boolean
  /** The last check found the shard idle, and no batch came since: a batch read but not yet handed on cannot be in between. */
  quiet: boolean
}

interface Bucket {
  readonly pipeline: Pipeline.Pipeline
  readonly bucket: string
  readonly start: number
  readonly closesAt: number
  /** The keys this worker's shards wrote. */
  readonly keys: Set<string>
}

/** What the tracker needs of the lease worker: the clocks to publish and the table as last listed. */
export type LeaseClocks = Pick<Leases.LeaseWorker, "advance" | "view">

/** Follows a worker's shards and writes; `check` sends the final values of the buckets that closed. */
export interface Tracker {
  /** `shard`, its reads followed and its checkpoints preceded by its keys' record; `lag` reads its reader's lag gauge. */
  readonly watch: (shard: Consumer.ShardStream, lag?: Effect.Effect<number>) => Consumer.ShardStream
  readonly processorFor: (leaseKey: string, processor: Processor.Processor["Type"]) => Processor.Processor["Type"]
  readonly forget: (leaseKey: string) => void
  readonly check: Effect.Effect<FinalValue.Emitted, Store.StoreError | FinalValue.FinalValueSinkError>
}

/** The pipelines whose buckets have final values: windows with an allowed lateness whose late events are left out. */
export const reporting = (pipelines: ReadonlyArray<Pipeline.Pipeline>): ReadonlyArray<Pipeline.Pipeline> =>
  pipelines.filter((p) => p.window._tag === "Tumbling" && p.window.allowedLateness !== undefined && p.window.late === "deadLetter")

/** How far before a taken lease's clock buckets are looked at again: a previous owner may have stopped before reporting them. */
const lookbackMillis = 10 * 60_000
/** Buckets looked at per pipeline on taking a lease, at most. */
const lookbackBuckets = 1_000

/** A tracker of `pipelines` (see `reporting`), sending to `sink` what it reads from `store`. */
export const make = (
  pipelines: ReadonlyArray<Pipeline.Pipeline>,
  store: Store.Service,
  sink: FinalValue.Sink["Type"],
  /** How long an idle reader waits between reads at most, and its call: what an idle shard's "now" is short of. */
  idleMargin: number,
  leases: LeaseClocks
): Tracker => {
  const byName = new Map(reporting(pipelines).map((p) => [p.name, p]))
  const shards = new Map<string, ShardProgress>()
  const buckets = new Map<string, Bucket>()
  /** Clocks of leases taken since the last check, to look back from. */
  let taken: Array<number> = []
  const progressOf = (leaseKey: string, lag?: Effect.Effect<number>, from?: number): ShardProgress => {
    let p = shards.get(leaseKey)
    if (p === undefined) {
      const upTo = from ?? Number.NEGATIVE_INFINITY
      shards.set(leaseKey, p = { upTo, readTo: upTo, pending: 0, lag, unindexed: new Map(), last: undefined, failed: false, quiet: false })
    }
    return p
  }
  const bucketOf = (pipeline: Pipeline.Pipeline, bucket: string, start: number): Bucket | undefined => {
    const id = `${pipeline.name}\u0000${bucket}`
    let b = buckets.get(id)
    if (b === undefined) {
      const closesAt = Window.closesAt(pipeline.window, start)
      if (closesAt === undefined || Number.isNaN(start)) return undefined
      buckets.set(id, b = { pipeline, bucket, start, closesAt, keys: new Set() })
    }
    return b
  }
  const note = (p: ShardProgress, refs: ReadonlyArray<Store.ItemRef>) => {
    for (const ref of refs) {
      const pipeline = byName.get(ref.pipeline)
      if (pipeline === undefined) continue
      const bucket = bucketOf(pipeline, ref.bucket, Window.startOfBucket(pipeline.window, ref.bucket))
      if (bucket === undefined) continue
      bucket.keys.add(ref.key)
      const id = `${ref.pipeline}\u0000${ref.bucket}`
      let entry = p.unindexed.get(id)
      if (entry === undefined) p.unindexed.set(id, entry = { pipeline, bucket: ref.bucket, start: bucket.start, keys: new Set() })
      entry.keys.add(ref.key)
    }
  }
  /** The buckets a previous owner of a lease may have written: those closing from a while before its clock up to now. */
  const lookBack = (clock: number, now: number) => {
    for (const pipeline of byName.values()) {
      const size = Window.bucketEnd(pipeline.window, 0) - Window.bucketStart(pipeline.window, 0)
      let start = Window.bucketStart(pipeline.window, Math.max(clock - lookbackMillis - (Window.closesAt(pipeline.window, 0) ?? 0), now - lookbackBuckets * size))
      for (; start <= now; start = Window.bucketEnd(pipeline.window, start)) bucketOf(pipeline, Window.bucketIdAt(pipeline.window, start), start)
    }
  }
  /** Records the shard's keys noted since its last checkpoint, then notes the clock they were noted at for the lease. */
  const recordKeys = (leaseKey: string) =>
    Effect.suspend(() => {
      const p = shards.get(leaseKey)
      if (p === undefined) return Effect.void
      const entries = Array.from(p.unindexed.values())
      const clock = p.upTo
      const publish = Number.isFinite(clock) ? leases.advance(leaseKey, clock) : Effect.void
      if (entries.length === 0 || p.last === undefined) return publish
      p.unindexed = new Map()
      return store.apply(KeyIndex.writes(entries, leaseKey, p.last)).pipe(
        Effect.flatMap((results) => {
          const failed = results.find((r) => r !== undefined && r._tag !== "AlreadyApplied")
          return failed === undefined ? Effect.void : Effect.fail(failed)
        }),
        Effect.tapError(() => Effect.sync(() => restore(p, entries))),
        Effect.mapError((e) =>
          new Leases.LeaseStoreError({
            message: `the keys of open window buckets could not be recorded before the checkpoint (${e.message}); the shard is read again from its checkpoint`,
            cause: e
          })
        ),
        Effect.zipRight(publish)
      )
    })
  const restore = (p: ShardProgress, entries: ReadonlyArray<KeyIndex.Entry>) => {
    for (const e of entries) {
      const id = `${e.pipeline.name}\u0000${e.bucket}`
      const entry = p.unindexed.get(id)
      if (entry === undefined) p.unindexed.set(id, { ...e, keys: new Set(e.keys) })
      else for (const k of e.keys) entry.keys.add(k)
    }
  }
  /** Every shard's clock: this worker's own from memory, the others' from the lease table; `undefined` before the first listing. */
  const clusterClock = (now: number) =>
    Effect.map(leases.view, (view) => {
      if (view === undefined) return undefined
      let upTo = now
      const seen = new Set<string>()
      for (const lease of view) {
        seen.add(lease.leaseKey)
        // A finished shard holds nothing back: its children's leases do.
        if (Leases.isShardEnd(lease.checkpoint)) continue
        const own = shards.get(lease.leaseKey)
        upTo = Math.min(upTo, own !== undefined ? own.upTo : lease.processedUpTo ?? Number.NEGATIVE_INFINITY)
      }
      for (const [key, p] of shards) if (!seen.has(key)) upTo = Math.min(upTo, p.upTo)
      return upTo
    })
  /** Reports one closed bucket: every key in the index and in memory, unless it was reported in full before. */
  const report = (b: Bucket) =>
    Effect.gen(function*() {
      const recorded = yield* KeyIndex.read(store, b.pipeline.name, b.bucket)
      if (recorded.overflowed) {
        yield* Effect.logWarning("a bucket has more keys than its index holds; only those recorded and written here are reported").pipe(
          Effect.annotateLogs({ pipeline: b.pipeline.name, bucket: b.bucket, limit: KeyIndex.parts * KeyIndex.capacity })
        )
      }
      const keys = new Set([...recorded.keys, ...b.keys])
      if (keys.size === 0) return { sent: 0, skipped: 0, pending: 0 }
      if (yield* KeyIndex.wasReported(store, b.pipeline, b.bucket, b.start)) return { sent: 0, skipped: keys.size, pending: 0 }
      const due = Array.from(keys, (key) => ({ pipeline: b.pipeline.name, key, bucket: b.bucket, start: b.start }))
      const emitted = yield* Effect.provideService(FinalValue.emit(store, byName, due), FinalValue.Sink, sink)
      // Items claimed elsewhere keep the bucket open: it is checked again until they are marked sent.
      if (emitted.pending === 0) yield* KeyIndex.markReported(store, b.pipeline, b.bucket, b.start)
      return emitted
    })
  return {
    watch: (shard, lag) => {
      const from = shard.lease.processedUpTo
      progressOf(shard.lease.leaseKey, lag, from)
      if (from !== undefined) taken.push(from)
      const leaseKey = shard.lease.leaseKey
      return {
        ...shard,
        batches: Stream.tap(shard.batches, (batch) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const p = progressOf(leaseKey)
            p.quiet = false
            p.readTo = Math.max(p.readTo, now - batch.millisBehindLatest)
            p.pending += batch.records.length
            if (p.pending === 0 && !p.failed) p.upTo = Math.max(p.upTo, p.readTo)
          })),
        checkpointer: {
          ...shard.checkpointer,
          checkpoint: (position) => Effect.zipRight(recordKeys(leaseKey), shard.checkpointer.checkpoint(position)),
          checkpointShardEnd: Effect.zipRight(recordKeys(leaseKey), shard.checkpointer.checkpointShardEnd)
        }
      }
    },
    processorFor: (leaseKey, processor) => ({
      ...processor,
      process: (records, context) =>
        Effect.tap(processor.process(records, context), (result) =>
          Effect.sync(() => {
            const p = progressOf(leaseKey)
            note(p, result.written)
            let i = 0
            for (; i < records.length && isDone(result.outcomes[i]); i++) {
              const r = records[i]!
              p.upTo = Math.max(p.upTo, r.arrivalTime)
              p.last = { sequenceNumber: r.sequenceNumber, subSequenceNumber: r.subSequenceNumber }
            }
            // The rest of the batch is read again, and counted again, from the checkpoint.
            p.pending = Math.max(0, p.pending - records.length)
            p.failed = i < records.length
            if (p.pending === 0 && !p.failed) p.upTo = Math.max(p.upTo, p.readTo)
          }))
    }),
    forget: (leaseKey) => void shards.delete(leaseKey),
    check: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const clock of taken) lookBack(clock, now)
      taken = []
      for (const [leaseKey, p] of shards) {
        // Empty reads bring no batch: an idle shard at the tip with nothing in hand is read up to its last poll.
        // The gauge is set as a batch is read, before it is handed on: idle only when two checks in a row say so.
        const idle = p.pending === 0 && !p.failed && p.lag !== undefined && (yield* p.lag) === 0
        if (idle && p.quiet) p.upTo = Math.max(p.upTo, now - idleMargin)
        p.quiet = idle
        // With no keys waiting for their record, the clock can go out with the next renewal.
        if (p.unindexed.size === 0 && Number.isFinite(p.upTo)) yield* leases.advance(leaseKey, p.upTo)
      }
      const upTo = yield* clusterClock(now)
      if (upTo === undefined) return { sent: 0, skipped: 0, pending: 0 }
      let sent = 0
      let skipped = 0
      let pending = 0
      for (const [id, b] of Array.from(buckets).filter(([, b]) => b.closesAt < upTo)) {
        const emitted = yield* report(b)
        sent += emitted.sent
        skipped += emitted.skipped
        pending += emitted.pending
        if (emitted.pending === 0) buckets.delete(id)
      }
      return { sent, skipped, pending }
    })
  }
}
