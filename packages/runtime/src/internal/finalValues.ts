/**
 * When the service reports a bucket's final values: it follows the items its
 * shards wrote and, per shard, the arrival time up to which every record is
 * processed (the records' own, or the read's when it is at the tip with
 * nothing in hand: its reader's lag gauge is 0, so an idle shard moves on
 * with the wall clock, less `idleMargin` for the reader's waits). A bucket
 * is final once every shard the worker holds is past its close
 * (`Window.closesAt`): nothing that arrived in time is left to write.
 */
import { isDone } from "@eddy/core/Acknowledgement"
import * as FinalValue from "@eddy/core/FinalValue"
import type * as Pipeline from "@eddy/core/Pipeline"
import type * as Processor from "@eddy/core/Processor"
import type * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import type * as Consumer from "@eddy/kinesis/Consumer"
import { Clock, Effect, Stream } from "effect"

interface ShardProgress {
  /** Every record of the shard that arrived before this is processed. */
  upTo: number
  /** Arrival time up to which the shard has been read. */
  readTo: number
  /** Records read and not yet processed. */
  pending: number
  /** The reader's lag gauge (`millisBehindLatest`), where the read mode keeps one by shard. */
  readonly lag: Effect.Effect<number> | undefined
}

interface Bucket {
  readonly pipeline: string
  readonly bucket: string
  readonly start: number
  readonly closesAt: number
  readonly keys: Set<string>
}

/** Follows a worker's shards and writes; `check` sends the final values of the buckets that closed. */
export interface Tracker {
  /** `shard`, its reads followed; `lag` reads its reader's lag gauge. */
  readonly watch: (shard: Consumer.ShardStream, lag?: Effect.Effect<number>) => Consumer.ShardStream
  readonly processorFor: (leaseKey: string, processor: Processor.Processor["Type"]) => Processor.Processor["Type"]
  readonly forget: (leaseKey: string) => void
  readonly check: Effect.Effect<FinalValue.Emitted, Store.StoreError | FinalValue.FinalValueSinkError>
}

/** The pipelines whose buckets have final values: windows with an allowed lateness whose late events are left out. */
export const reporting = (pipelines: ReadonlyArray<Pipeline.Pipeline>): ReadonlyArray<Pipeline.Pipeline> =>
  pipelines.filter((p) => p.window._tag === "Tumbling" && p.window.allowedLateness !== undefined && p.window.late === "deadLetter")

/** A tracker of `pipelines` (see `reporting`), sending to `sink` what it reads from `store`. */
export const make = (
  pipelines: ReadonlyArray<Pipeline.Pipeline>,
  store: Store.Service,
  sink: FinalValue.Sink["Type"],
  /** How long an idle reader waits between reads at most, and its call: what an idle shard's "now" is short of. */
  idleMargin: number
): Tracker => {
  const byName = new Map(reporting(pipelines).map((p) => [p.name, p]))
  const shards = new Map<string, ShardProgress>()
  const buckets = new Map<string, Bucket>()
  const progressOf = (leaseKey: string, lag?: Effect.Effect<number>): ShardProgress => {
    let p = shards.get(leaseKey)
    if (p === undefined) shards.set(leaseKey, p = { upTo: Number.NEGATIVE_INFINITY, readTo: Number.NEGATIVE_INFINITY, pending: 0, lag })
    return p
  }
  const note = (refs: ReadonlyArray<Store.ItemRef>) => {
    for (const ref of refs) {
      const pipeline = byName.get(ref.pipeline)
      if (pipeline === undefined) continue
      const id = `${ref.pipeline}\u0000${ref.bucket}`
      let bucket = buckets.get(id)
      if (bucket === undefined) {
        const start = Window.startOfBucket(pipeline.window, ref.bucket)
        const closesAt = Window.closesAt(pipeline.window, start)
        if (closesAt === undefined || Number.isNaN(start)) continue
        buckets.set(id, bucket = { pipeline: ref.pipeline, bucket: ref.bucket, start, closesAt, keys: new Set() })
      }
      bucket.keys.add(ref.key)
    }
  }
  return {
    watch: (shard, lag) => {
      progressOf(shard.lease.leaseKey, lag)
      return {
        ...shard,
        batches: Stream.tap(shard.batches, (batch) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const p = progressOf(shard.lease.leaseKey)
            p.readTo = Math.max(p.readTo, now - batch.millisBehindLatest)
            p.pending += batch.records.length
            if (p.pending === 0) p.upTo = Math.max(p.upTo, p.readTo)
          }))
      }
    },
    processorFor: (leaseKey, processor) => ({
      ...processor,
      process: (records, context) =>
        Effect.tap(processor.process(records, context), (result) =>
          Effect.sync(() => {
            note(result.written)
            const p = progressOf(leaseKey)
            let i = 0
            for (; i < records.length && isDone(result.outcomes[i]); i++) p.upTo = Math.max(p.upTo, records[i]!.arrivalTime)
            if (i < records.length) return
            p.pending = Math.max(0, p.pending - records.length)
            if (p.pending === 0) p.upTo = Math.max(p.upTo, p.readTo)
          }))
    }),
    forget: (leaseKey) => void shards.delete(leaseKey),
    check: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      let upTo = now
      for (const p of shards.values()) {
        // Empty reads bring no batch: an idle shard at the tip with nothing in hand is read up to its last poll.
        if (p.pending === 0 && p.lag !== undefined && (yield* p.lag) === 0) p.upTo = Math.max(p.upTo, now - idleMargin)
        upTo = Math.min(upTo, p.upTo)
      }
      const closed = Array.from(buckets.entries())
        .filter(([, b]) => b.closesAt < upTo)
        .map(([id, b]) => ({ id, bucket: b, keys: Array.from(b.keys) }))
      const due = closed.flatMap(({ bucket: b, keys }) => keys.map((key) => ({ pipeline: b.pipeline, key, bucket: b.bucket, start: b.start })))
      const emitted = yield* Effect.provideService(FinalValue.emit(store, byName, due), FinalValue.Sink, sink)
      // Only the keys sent: a shard taken over meanwhile may have written more.
      for (const { id, bucket, keys } of closed) {
        for (const key of keys) bucket.keys.delete(key)
        if (bucket.keys.size === 0) buckets.delete(id)
      }
      return emitted
    })
  }
}
