/**
 * The keys written per open bucket, recorded in the store so that whichever
 * worker closes a bucket reports every key of it: those written by other
 * workers, and by this one before a restart. One write per bucket part per
 * checkpoint (not per event): the keys noted since the last one, as a set
 * union, which a repeated write cannot change. A bucket's keys are spread
 * over `parts` items by a hash, each holding at most `capacity` keys, so that
 * no item outgrows a DynamoDB item. A `done` mark (a watermark alone, as the
 * final values' own marks) says the bucket was reported in full.
 */
import * as FinalValue from "@eddy/core/FinalValue"
import * as Monoid from "@eddy/core/Monoid"
import type * as Pipeline from "@eddy/core/Pipeline"
import type { Position } from "@eddy/core/SourceRecord"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Effect, Option } from "effect"

/** Items a bucket's keys are spread over. */
export const parts = 16
/** Keys one part holds: 16 parts hold 65,536 keys of a bucket. */
export const capacity = 4_096

const set = Monoid.set(capacity)
const keys = set as unknown as Monoid.Monoid<unknown>

/** The index's pipeline name: not a pipeline's (no pipeline is named with `:`), so scans and queries pass it over. */
export const indexPipeline = (pipeline: string): string => `eddy:keys:${pipeline}`

const partOf = (key: string): number => {
  // FNV-1a: stable across processes.
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % parts
}

/** One bucket's keys to record. */
export interface Entry {
  readonly pipeline: Pipeline.Pipeline
  readonly bucket: string
  readonly start: number
  readonly keys: ReadonlySet<string>
}

/** The writes recording `entries`, from shard `shardId` up to `position`. */
export const writes = (entries: ReadonlyArray<Entry>, shardId: string, position: Position): ReadonlyArray<Store.DeltaWrite> =>
  entries.flatMap((e) => {
    const byPart = new Map<number, Array<string>>()
    for (const key of e.keys) {
      const n = partOf(key)
      const group = byPart.get(n)
      if (group === undefined) byPart.set(n, [key])
      else group.push(key)
    }
    return Array.from(byPart, ([n, ks]): Store.DeltaWrite => {
      const delta = set.combineAll(ks.map(set.of))
      return {
        pipeline: indexPipeline(e.pipeline.name),
        key: `part-${n}`,
        bucket: e.bucket,
        monoid: keys,
        shardId,
        delta,
        contributions: [{ position, value: delta }],
        expiresAt: Window.expiresAt(e.pipeline.window, e.start)
      }
    })
  })

/** Every key recorded for the bucket, and whether a part held more than it could keep. */
export const read = (store: Store.Service, pipeline: string, bucket: string) =>
  Effect.map(
    store.getMany(keys, Array.from({ length: parts }, (_, n) => ({ pipeline: indexPipeline(pipeline), key: `part-${n}`, bucket }))),
    (values) => {
      const found = new Set<string>()
      let overflowed = false
      for (const value of values) {
        if (Option.isNone(value)) continue
        const state = value.value as Monoid.SetState
        for (const k of state.items) found.add(k)
        overflowed ||= state.overflowed
      }
      return { keys: found, overflowed }
    }
  )

const claimed: Position = { sequenceNumber: "1", subSequenceNumber: 0 }
const reported: Position = { sequenceNumber: "2", subSequenceNumber: 0 }

const doneMark = (pipeline: Pipeline.Pipeline, bucket: string, start: number, position: Position): Store.DeltaWrite => ({
  pipeline: indexPipeline(pipeline.name),
  key: "done",
  bucket,
  monoid: keys,
  shardId: FinalValue.markShard,
  delta: keys.empty,
  contributions: [{ position, value: keys.empty }],
  expiresAt: Window.expiresAt(pipeline.window, start)
})

/** Whether the bucket was reported in full before (by this worker or another); a claim, written as a mark. */
export const wasReported = (store: Store.Service, pipeline: Pipeline.Pipeline, bucket: string, start: number) =>
  Effect.flatMap(store.apply([doneMark(pipeline, bucket, start, claimed)]), ([result]) =>
    Store.isFailure(result) ? Effect.fail(result) : Effect.succeed(result?._tag === "AlreadyApplied" && Store.wasSkipped(result, reported)))

/** Records that the bucket was reported in full. */
export const markReported = (store: Store.Service, pipeline: Pipeline.Pipeline, bucket: string, start: number) =>
  Effect.flatMap(store.apply([doneMark(pipeline, bucket, start, reported)]), ([result]) => Store.isFailure(result) ? Effect.fail(result) : Effect.void)
