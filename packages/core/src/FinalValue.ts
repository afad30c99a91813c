/**
 * Final values of closed window buckets: once a bucket's allowed lateness
 * has passed, no event can change it any more (a later one is late and left
 * out, under the default "deadLetter" policy), so its stored value per key is
 * final and can be reported once, as Lambda's tumbling windows report
 * `isFinalInvokeForWindow`. A driver decides *when* a bucket is final (the
 * service: see its `finalValues` option); this module reads each value from
 * the store, sends it to the `Sink` and records in the store that it did.
 *
 * Delivery is at least once, with a stable `id` (`pipeline/key/bucket`) to
 * deduplicate on. The record is two marks on the item itself, written as the
 * store writes every delta (an empty one, under a watermark of its own, so
 * the value is unchanged and the write is conditional like any other):
 * "claimed" before the send and "sent" after it. An item marked sent is never
 * sent again, by this worker after a restart or by another. A claim holds the
 * item for the rest of its `claimSlotMillis` slot: another worker checking
 * then leaves it to the claimant, and one claimed but never marked sent (a
 * crash or a failed send in between) is sent again in a later slot.
 */
import { Clock, Context, Data, Effect, Layer, Metric, Option } from "effect"
import type { Json } from "./Json"
import * as Metrics from "./Metrics"
import type * as Pipeline from "./Pipeline"
import * as Query from "./Query"
import { comparePosition, type Position } from "./SourceRecord"
import * as Store from "./Store"
import * as Window from "./Window"

/** One key's value in a bucket that can no longer change. */
export interface FinalValue<A = unknown> {
  /** `pipeline/key/bucket`: the same for every delivery of this value, to deduplicate on downstream. */
  readonly id: string
  readonly pipeline: string
  readonly key: string
  readonly bucket: string
  /** The bucket's start and end, epoch milliseconds (end exclusive). */
  readonly start: number
  readonly end: number
  /** The stored state, as the pipeline's monoid holds it. */
  readonly value: A
  /** The value as a person reads it (`Query.readable`): a sketch's estimate, a ranking. */
  readonly readable: Json
}

/** The sink could not take the final values now; they are sent again once their claim lapses (`claimSlotMillis`). */
export class FinalValueSinkError extends Data.TaggedError("FinalValueSinkError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where final values go. */
export class Sink extends Context.Tag("@eddy/core/FinalValue/Sink")<Sink, {
  readonly send: (finals: ReadonlyArray<FinalValue>) => Effect.Effect<void, FinalValueSinkError>
}>() {}

/** A sink calling `f` for each final value in turn. */
export const callback = (f: (final: FinalValue) => Effect.Effect<void, FinalValueSinkError>): Layer.Layer<Sink> =>
  Layer.succeed(Sink, { send: (finals) => Effect.forEach(finals, f, { discard: true }) })

/** The final value as one JSON object (`value` is its `readable` form): what the Kinesis sink writes. */
export const toJson = (final: FinalValue): Json => ({
  id: final.id,
  pipeline: final.pipeline,
  key: final.key,
  bucket: final.bucket,
  start: new Date(final.start).toISOString(),
  end: new Date(final.end).toISOString(),
  value: final.readable
})

/** Final values sent, tagged with `pipeline`. */
export const sent = Metrics.counter("eddy_final_values_total", "final values of closed window buckets sent to the final-value sink")

/** The watermark scope of the marks: a name no shard id takes (those carry a stream's name and a `/`). */
export const markShard = "eddy:final-value"
const marked: Position = { sequenceNumber: "2", subSequenceNumber: 0 }

/**
 * How long a claim holds an item for its claimant. A claim is a position
 * below `marked` numbered by its slot of this length, so a second claim in
 * the same slot is not applied (the item is being sent), and one in a later
 * slot is (the claimant did not mark it sent).
 */
export const claimSlotMillis = 30_000
const claimIn = (now: number): Position => ({ sequenceNumber: "1", subSequenceNumber: Math.floor(now / claimSlotMillis) })

/** An item of a closed bucket to report. */
export interface Due extends Store.ItemRef {
  /** The bucket's start, epoch milliseconds. */
  readonly start: number
}

/** What `emit` did. */
export interface Emitted {
  /** Items sent now. */
  readonly sent: number
  /** Items found sent before (by this worker before a restart, or by another). */
  readonly skipped: number
  /** Items claimed in this slot and not marked sent yet (another worker sending them, or a failed send): check again later. */
  readonly pending: number
}

const mark = (pipeline: Pipeline.Pipeline, due: Due, position: Position): Store.DeltaWrite => ({
  pipeline: due.pipeline,
  key: due.key,
  bucket: due.bucket,
  monoid: pipeline.aggregate,
  shardId: markShard,
  delta: pipeline.aggregate.empty,
  contributions: [{ position, value: pipeline.aggregate.empty }],
  expiresAt: Window.expiresAt(pipeline.window, due.start)
})

/**
 * Claims, reads, sends and marks the items `due` (items of closed buckets of
 * `pipelines`, by name). Fails, sending nothing of what is left, when the
 * store or the sink fails: the caller tries again later, and what was claimed
 * and not marked sent is sent then.
 */
export const emit = (
  given: Store.Service,
  pipelines: ReadonlyMap<string, Pipeline.Pipeline>,
  due: ReadonlyArray<Due>
): Effect.Effect<Emitted, Store.StoreError | FinalValueSinkError, Sink> =>
  Effect.gen(function*() {
    if (due.length === 0) return { sent: 0, skipped: 0, pending: 0 }
    // A spread pipeline's value is its sub-items merged (a no-op on a store that spreads already).
    const store = Store.spread(given, Array.from(pipelines.values()))
    const sink = yield* Sink
    const pipelineOf = (d: Due) => pipelines.get(d.pipeline)!
    const claim = claimIn(yield* Clock.currentTimeMillis)
    const claims = yield* store.apply(due.map((d) => mark(pipelineOf(d), d, claim)))
    const todo: Array<Due> = []
    let skipped = 0
    claims.forEach((result, i) => {
      if (Store.isFailure(result)) return
      if (result?._tag !== "AlreadyApplied") todo.push(due[i]!)
      else if (result.watermark !== undefined && comparePosition(result.watermark, marked) >= 0) skipped++
    })
    const failed = claims.find(Store.isFailure)
    if (failed !== undefined) return yield* Effect.fail(failed)
    const finals: Array<FinalValue> = []
    for (const [pipeline, items] of groupBy(todo, (d) => d.pipeline)) {
      const p = pipelines.get(pipeline)!
      const values = yield* store.getMany(p.aggregate, items)
      items.forEach((d, i) => {
        const value = values[i]!
        if (Option.isNone(value)) return
        const start = d.start
        const end = Window.bucketEnd(p.window, start)
        finals.push({
          id: `${d.pipeline}/${d.key}/${d.bucket}`,
          pipeline: d.pipeline,
          key: d.key,
          bucket: d.bucket,
          start,
          end,
          value: value.value,
          readable: Query.readable(p.aggregate, value.value)
        })
      })
    }
    if (finals.length > 0) yield* sink.send(finals)
    const marks = yield* store.apply(todo.map((d) => mark(pipelineOf(d), d, marked)))
    const unmarked = marks.find(Store.isFailure)
    for (const [pipeline, group] of groupBy(finals, (f) => f.pipeline)) yield* Metric.incrementBy(Metric.tagged(sent, "pipeline", pipeline), group.length)
    // Sent but not marked: sent again next time, with the same id.
    if (unmarked !== undefined) return yield* Effect.fail(unmarked)
    return { sent: finals.length, skipped, pending: due.length - todo.length - skipped }
  })

const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group === undefined) groups.set(k, [item])
    else group.push(item)
  }
  return groups
}
