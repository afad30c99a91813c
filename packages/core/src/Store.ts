import { Context, Data, Effect, Either, Layer, Option } from "effect"
import type { Json } from "./Json"
import type { Monoid, MonoidKind } from "./Monoid"
import { comparePosition, type Position, positionId } from "./SourceRecord"

/** Identifies one aggregate: a pipeline's value for one key in one window bucket. */
export interface ItemRef {
  readonly pipeline: string
  readonly key: string
  /** Window bucket id (see `Window`); `all` for unwindowed pipelines. */
  readonly bucket: string
}

/** One record's share of a delta, kept so a store can re-fold on redelivery. */
export interface Contribution {
  readonly position: Position
  readonly value: unknown
}

/**
 * The folded delta of one chunk for one item, from one shard.
 *
 * Exactly-once contract: a store applies a write atomically per item and keeps,
 * per item and shard, the position of the last contribution it applied (the
 * watermark). Kinesis orders records within a shard, so on redelivery every
 * contribution at or below the watermark was applied before and is skipped;
 * only the rest is folded in. Applying the same write twice is a no-op.
 *
 * Under the "partitionKey" `ordering` a shard's records come in order per
 * partition key only (concurrent Lambda batches of one shard), so no
 * watermark can say what was applied: the store claims each contribution's
 * position for the item, in the same atomic step that folds it in, and skips
 * the positions claimed before.
 */
export interface DeltaWrite extends ItemRef {
  readonly monoid: Monoid<unknown>
  /** The shard the contributions come from, scoped by stream (`orders/shardId-000000000000`) when the processor knows it. */
  readonly shardId: string
  /** Fold of all `contributions`. */
  readonly delta: unknown
  /** Ascending by position; never empty. */
  readonly contributions: ReadonlyArray<Contribution>
  /** Epoch seconds after which the item may be deleted (window retention), if any. */
  readonly expiresAt: number | undefined
  /** What the source orders: "shard" (the default) or "partitionKey" (see above). */
  readonly ordering?: Ordering
}

/**
 * What the source keeps in order, and so how a store makes writes
 * exactly-once. "shard": every record of a shard in order (Kinesis, Lambda
 * with ParallelizationFactor 1); a per-item-and-shard watermark suffices.
 * "partitionKey": only the records of one partition key in order (Lambda
 * with ParallelizationFactor above 1, which runs up to ten batches of one
 * shard at once); the store claims each record it applies, per item, which
 * costs a claim item per record and a transaction per write on DynamoDB.
 */
export type Ordering = "shard" | "partitionKey"

/** Retryable: throttling, conflicts, network. The processor retries these with a Schedule. */
export class StoreUnavailableError extends Data.TaggedError("StoreUnavailableError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The record's fault: this write can never succeed because of what the
 * records carry (a key too long, a value the monoid cannot take, a state
 * grown over the item limit). Its records are poison.
 */
export class StoreRejectedError extends Data.TaggedError("StoreRejectedError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The deployment's fault, not the record's: a missing table, access denied,
 * missing or expired credentials, a request the backend refuses as we build
 * it. Retrying soon cannot help and dead-lettering would lose valid events:
 * the processor leaves the records failed (unacknowledged), so the shard
 * waits where it is, and raises the deployment-fault alarm. `message` says
 * what to fix.
 */
export class StoreMisconfiguredError extends Data.TaggedError("StoreMisconfiguredError")<{
  readonly message: string
  /** The backend's name for it, e.g. `AccessDeniedException`: the alarm's `error` tag. */
  readonly code: string
  readonly cause?: unknown
}> {}

/** What a store call can fail with. */
export type StoreError = StoreUnavailableError | StoreRejectedError | StoreMisconfiguredError

/** A store that was unavailable may answer a retry; a rejected write never will. */
export const isRetryable = (e: StoreError): boolean => e._tag === "StoreUnavailableError"

/**
 * A write the store had, at least in part, applied before: the item's
 * watermark for the shard was at or past its first contribution, so every
 * contribution at or below `watermark` was skipped (an earlier delivery wrote
 * it) and only the rest, if any, was folded in now. The processor counts a
 * record all of whose writes it skipped as a duplicate, not as applied again.
 */
export interface AlreadyApplied {
  readonly _tag: "AlreadyApplied"
  /** Under "shard" ordering: every contribution at or below it was skipped. */
  readonly watermark?: Position
  /** Under "partitionKey" ordering: the positions skipped, claimed by an earlier delivery. */
  readonly claimed?: ReadonlyArray<Position>
}

/**
 * Whether the write that answered `result` skipped the contributions at a
 * position (applied before): built once per result, as a chunk asks it for
 * each of the write's records; the claimed positions become one set.
 */
export const skippedBy = (result: AlreadyApplied): (position: Position) => boolean => {
  const { claimed, watermark } = result
  const ids = claimed === undefined ? undefined : new Set(claimed.map(sequenceId))
  return (position) =>
    (watermark !== undefined && comparePosition(position, watermark) <= 0) || (ids !== undefined && ids.has(sequenceId(position)))
}

const sequenceId = (p: Position): string => `${p.sequenceNumber}/${p.subSequenceNumber}`

/** Whether the write that answered `result` skipped the contributions at `position` (see `skippedBy`). */
export const wasSkipped = (result: AlreadyApplied, position: Position): boolean => skippedBy(result)(position)

/** The distinct positions of a write's contributions, each with the fold of its values, ascending. */
export const byPosition = (write: DeltaWrite): Array<{ readonly position: Position; readonly delta: unknown }> => {
  const out: Array<{ position: Position; delta: unknown }> = []
  for (const c of write.contributions) {
    const last = out[out.length - 1]
    if (last !== undefined && comparePosition(last.position, c.position) === 0) last.delta = write.monoid.combine(last.delta, c.value)
    else out.push({ position: c.position, delta: c.value })
  }
  return out
}

/** Result of one write in a batch: `undefined` when the delta is durably applied now, `AlreadyApplied` when some of it was before, else why not. */
export type WriteResult = StoreError | AlreadyApplied | undefined

/**
 * Whether `delta` of `write` is a mark: the identity of an idempotent monoid
 * (as a final value's claim and sent marks write). It changes no value and
 * stores none, but a store must record its watermark like any write's.
 */
export const isMark = (write: DeltaWrite, delta: unknown = write.delta): boolean => write.monoid.idempotent && write.monoid.equals(delta, write.monoid.empty)

/** What a store answers for `write` given the watermark it found: `AlreadyApplied` when it skipped some of the contributions. */
export const skipped = (write: DeltaWrite, watermark: Position | undefined): AlreadyApplied | undefined =>
  watermark !== undefined && comparePosition(write.contributions[0]!.position, watermark) <= 0 ? { _tag: "AlreadyApplied", watermark } : undefined

/** The write failed (it is not durably applied): a `StoreError`, not `undefined` or `AlreadyApplied`. */
export const isFailure = (result: WriteResult): result is StoreError => result !== undefined && result._tag !== "AlreadyApplied"

/** What a store does: the service behind `Store` and behind every placement tag (see `Tag`). */
export interface Service {
  /** Applies a chunk's folded deltas, one atomic write per item. Results align with `writes`. */
  readonly apply: (writes: ReadonlyArray<DeltaWrite>) => Effect.Effect<ReadonlyArray<WriteResult>, StoreError>
  /** Reads items; results align with `refs`, `None` where nothing is stored. */
  readonly getMany: <A>(monoid: Monoid<A>, refs: ReadonlyArray<ItemRef>) => Effect.Effect<ReadonlyArray<Option.Option<A>>, StoreError>
  /** The orderings whose writes this store keeps exactly-once (see `Ordering`); absent: "shard" only. */
  readonly orderings?: ReadonlyArray<Ordering>
}

/** Whether `store` keeps writes of `ordering` exactly-once. */
export const keeps = (store: Service, ordering: Ordering): boolean => ordering === "shard" || (store.orderings ?? ["shard"]).includes(ordering)

/** Every monoid kind: what the built-in stores (memory, DynamoDB, Redis) hold. */
export const allKinds: ReadonlyArray<MonoidKind> = ["sum", "count", "min", "max", "first", "last", "set", "hll", "topk", "map"]

/**
 * Where a pipeline's aggregates live: a tag for a store service, and the
 * monoid kinds that store can hold. A pipeline names it as its `store`; a
 * pipeline whose aggregate is of a kind the placement does not hold does not
 * compile (and `Pipeline.make` refuses it at run time too).
 */
export interface Placement<Id = any, Holds extends MonoidKind = MonoidKind> {
  /** The tag's key. */
  readonly key: string
  readonly Identifier: Id
  readonly Service: Service
  readonly holds: ReadonlyArray<Holds>
}

/** The placement's service tag: a placement is a tag with the kinds it holds. */
export const tagOf = <Id>(placement: Placement<Id>): Context.Tag<Id, Service> => placement as unknown as Context.Tag<Id, Service>

/** The store of the pipelines that name none: one item per `(pipeline, key, bucket)`, written as folded deltas with per-shard watermarks. */
export class Store extends Context.Tag("@eddy/core/Store")<Store, Service>() {
  static readonly holds = allKinds
}

/**
 * Declares a placement, as `Context.Tag` declares a service:
 *
 * ```ts
 * // A store of counters only: sums and counts.
 * class Counters extends Store.Tag("app/Counters", { holds: ["sum", "count"] })<Counters>() {}
 * ```
 *
 * `holds` defaults to every kind. Provide it with `Store.as(Counters)` on a
 * store layer, or `Layer.succeed(Counters, service)` for a store of your own.
 */
export const Tag = <const Key extends string, const Holds extends MonoidKind = MonoidKind>(
  key: Key,
  options?: { readonly holds: ReadonlyArray<Holds> }
) =>
<Self>(): Context.TagClass<Self, Key, Service> & { readonly holds: ReadonlyArray<Holds> } =>
  Object.assign(Context.Tag(key)<Self, Service>(), { holds: options?.holds ?? (allKinds as ReadonlyArray<Holds>) })

/** The in-memory store as a placement: for pipelines whose aggregates need not outlive the process, and for tests. */
export class Memory extends Tag("@eddy/core/Store/Memory")<Memory>() {}

/**
 * Makes a store layer serve a placement instead of the default `Store`:
 * `RedisStore.layer(options).pipe(Store.as(RedisStore.RedisStore))`.
 */
export const as = <Id>(placement: Placement<Id>) => <E, R>(layer: Layer.Layer<Store, E, R>): Layer.Layer<Id, E, R> =>
  Layer.project(layer, Store, tagOf(placement), (service) => service)

/**
 * One store over several, by pipeline name: each write goes to its pipeline's
 * store, the stores are called concurrently, and results come back aligned
 * with the writes. A store call that fails fails only its own writes.
 */
export const routed = (byPipeline: ReadonlyMap<string, Service>): Service => {
  const distinct = new Set(byPipeline.values())
  if (distinct.size === 1) return distinct.values().next().value!
  const storeOf = (pipeline: string): Service => {
    const store = byPipeline.get(pipeline)
    if (store === undefined) throw new Error(`no store for pipeline ${pipeline}`)
    return store
  }
  /** Indices of `refs` by the store of their pipeline. */
  const byStore = (refs: ReadonlyArray<ItemRef>): Map<Service, Array<number>> => {
    const groups = new Map<Service, Array<number>>()
    refs.forEach((ref, i) => {
      const store = storeOf(ref.pipeline)
      const group = groups.get(store)
      if (group === undefined) groups.set(store, [i])
      else group.push(i)
    })
    return groups
  }
  const all = Array.from(distinct)
  return {
    orderings: (["shard", "partitionKey"] as const).filter((o) => all.every((store) => keeps(store, o))),
    apply: (writes) =>
      Effect.suspend(() => {
        const results: Array<WriteResult> = new Array(writes.length)
        return Effect.forEach(byStore(writes), ([store, indices]) =>
          Effect.map(Effect.either(store.apply(indices.map((i) => writes[i]!))), (r) => {
            indices.forEach((i, j) => (results[i] = Either.isLeft(r) ? r.left : r.right[j]))
          }), { concurrency: "unbounded", discard: true }).pipe(Effect.as(results as ReadonlyArray<WriteResult>))
      }),
    getMany: <A>(monoid: Monoid<A>, refs: ReadonlyArray<ItemRef>) =>
      Effect.suspend(() => {
        const values: Array<Option.Option<A>> = new Array(refs.length)
        return Effect.forEach(byStore(refs), ([store, indices]) =>
          Effect.map(store.getMany(monoid, indices.map((i) => refs[i]!)), (found) => {
            indices.forEach((i, j) => (values[i] = found[j]!))
          }), { concurrency: "unbounded", discard: true }).pipe(Effect.as(values as ReadonlyArray<Option.Option<A>>))
      })
  }
}

/** Reads one item with its monoid; `None` when nothing is stored. */
export const get = <A>(monoid: Monoid<A>, ref: ItemRef): Effect.Effect<Option.Option<A>, StoreError, Store> =>
  Effect.flatMap(Store, (store) => store.getMany(monoid, [ref])).pipe(Effect.map((values) => values[0] ?? Option.none()))

/** Merges several buckets of one key with the monoid; absent buckets are skipped, not folded as zeros. */
export const getRange = <A>(
  monoid: Monoid<A>,
  pipeline: string,
  key: string,
  buckets: ReadonlyArray<string>
): Effect.Effect<Option.Option<A>, StoreError, Store> =>
  Effect.flatMap(Store, (store) => store.getMany(monoid, buckets.map((bucket) => ({ pipeline, key, bucket })))).pipe(
    Effect.map((values) =>
      values.reduce<Option.Option<A>>(
        (acc, v) => Option.isNone(v) ? acc : Option.some(Option.isNone(acc) ? v.value : monoid.combine(acc.value, v.value)),
        Option.none()
      )
    )
  )

/** The contributions of a write that lie strictly after `watermark`, folded; `undefined` when none do. */
export const deltaAfter = (write: DeltaWrite, watermark: Position | undefined): { delta: unknown; last: Position } | undefined => {
  const cs = write.contributions
  const last = cs[cs.length - 1]!.position
  if (watermark === undefined || comparePosition(cs[0]!.position, watermark) > 0) return { delta: write.delta, last }
  if (comparePosition(last, watermark) <= 0) return undefined
  let delta = write.monoid.empty
  for (const c of cs) if (comparePosition(c.position, watermark) > 0) delta = write.monoid.combine(delta, c.value)
  return { delta, last }
}

/** One string for an item's `(pipeline, key, bucket)`, for maps keyed by item. */
export const itemId = (ref: ItemRef): string => `${ref.pipeline}\u0000${ref.key}\u0000${ref.bucket}`

interface MemoryItem {
  state: Json
  readonly watermarks: Map<string, Position>
  /** Positions claimed under "partitionKey" ordering, as `shard/sequence/subsequence`. */
  readonly claims: Set<string>
  expiresAt: number | undefined
}

/**
 * An in-memory store with the same exactly-once semantics as the durable ones.
 * Items are found by pipeline, bucket, then key: the processor hands over the
 * same key strings it grouped by, whose hashes are then already known, where
 * a joined id would be a new string to hash per write.
 */
export const makeMemory = Effect.sync(() => {
  const items = new Map<string, Map<string, Map<string, MemoryItem>>>()
  const keysOf = (ref: ItemRef, create: boolean): Map<string, MemoryItem> | undefined => {
    let buckets = items.get(ref.pipeline)
    if (buckets === undefined) {
      if (!create) return undefined
      items.set(ref.pipeline, buckets = new Map())
    }
    let keys = buckets.get(ref.bucket)
    if (keys === undefined && create) buckets.set(ref.bucket, keys = new Map())
    return keys
  }
  /** Folds in the positions not claimed before, claiming them. */
  const applyClaimed = (w: DeltaWrite): WriteResult => {
    const keys = keysOf(w, true)!
    let item = keys.get(w.key)
    if (item === undefined) keys.set(w.key, item = { state: w.monoid.encode(w.monoid.empty), watermarks: new Map(), claims: new Set(), expiresAt: w.expiresAt })
    const claimed: Array<Position> = []
    let current = w.monoid.decode(item.state)
    for (const { delta, position } of byPosition(w)) {
      const id = positionId(w.shardId, position)
      if (item.claims.has(id)) claimed.push(position)
      else {
        item.claims.add(id)
        current = w.monoid.combine(current, delta)
      }
    }
    item.state = w.monoid.encode(current)
    item.expiresAt = w.expiresAt
    return claimed.length === 0 ? undefined : { _tag: "AlreadyApplied", claimed }
  }
  const applyOne = (w: DeltaWrite): WriteResult => {
    if (w.ordering === "partitionKey") return applyClaimed(w)
    const keys = keysOf(w, true)!
    const item = keys.get(w.key)
    const watermark = item?.watermarks.get(w.shardId)
    const result = skipped(w, watermark)
    const todo = deltaAfter(w, watermark)
    if (todo === undefined) return result
    const current = item === undefined ? w.monoid.empty : w.monoid.decode(item.state)
    const state = w.monoid.encode(w.monoid.combine(current, todo.delta))
    if (item === undefined) keys.set(w.key, { state, watermarks: new Map([[w.shardId, todo.last]]), claims: new Set(), expiresAt: w.expiresAt })
    else {
      item.state = state
      item.watermarks.set(w.shardId, todo.last)
      item.expiresAt = w.expiresAt
    }
    return result
  }
  return Store.of({
    orderings: ["shard", "partitionKey"],
    apply: (writes) =>
      Effect.sync(() => writes.map(applyOne)),
    getMany: (monoid, refs) =>
      Effect.try({
        try: () =>
          refs.map((ref) => {
            const item = keysOf(ref, false)?.get(ref.key)
            return item === undefined ? Option.none() : Option.some(monoid.decode(item.state))
          }),
        catch: (cause) =>
          new StoreMisconfiguredError({
            code: "AggregateChanged",
            message: `a stored state is not a ${monoid.name} (${cause instanceof Error ? cause.message : String(cause)}); a pipeline whose aggregate changed needs a new name`,
            cause
          })
      })
  })
})

/** The in-memory store as a layer (see `makeMemory`). */
export const layerMemory: Layer.Layer<Store> = Layer.effect(Store, makeMemory)

/** The in-memory store as the `Memory` placement. */
export const layerMemoryPlacement: Layer.Layer<Memory> = Layer.effect(Memory, makeMemory)

/** The most sub-items a key's item can be spread over (`Pipeline.make`'s `subItemsPerKey`). */
export const MAX_SUB_ITEMS = 64

const subBucket = /~\d+$/

/** Whether a bucket names a sub-item (`<bucket>~<i>`, see `subItemOf`); window buckets never hold a `~`. */
export const isSubItem = (ref: ItemRef): boolean => subBucket.test(ref.bucket)

/** The item a sub-item is part of (itself for an item that is not a sub-item). */
export const baseOf = <R extends ItemRef>(ref: R): ItemRef =>
  isSubItem(ref) ? { pipeline: ref.pipeline, key: ref.key, bucket: ref.bucket.replace(subBucket, "") } : ref

/** The `i`th sub-item of an item: the same pipeline and key, bucket `<bucket>~<i>`. */
export const subItem = (ref: ItemRef, i: number): ItemRef => ({ pipeline: ref.pipeline, key: ref.key, bucket: `${ref.bucket}~${i}` })

const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * The sub-item (of `n`) that a shard writes: chosen from the shard alone, so
 * a shard always writes the same sub-item and the per-item-and-shard
 * watermarks that make writes exactly-once hold as for one item. Kinesis
 * numbers shards (`shardId-000000000003`): the number picks the sub-item, so
 * `n` consecutive shards write `n` different ones; the rest of the id (the
 * stream) is hashed in, so two streams' first shards do not share one.
 */
export const subItemOf = (ref: ItemRef, n: number, shardId: string): ItemRef => {
  const digits = /\d{1,15}$/.exec(shardId)
  const stream = digits === null ? shardId : shardId.slice(0, digits.index)
  const number = digits === null ? 0 : Number(digits[0])
  return subItem(ref, (fnv1a(stream) % n + number % n) % n)
}

/** The refs a spread store itself reads as they are: the plain item beside its sub-items. */
const exact = new WeakSet<ItemRef>()

/**
 * A store that spreads the items of the pipelines with `subItemsPerKey` over
 * sub-items: `apply` writes each write to its shard's sub-item (`subItemOf`);
 * `getMany` reads an item's sub-items and the plain item (written before the
 * pipeline was spread) in the one batched read and merges them with the
 * monoid, `None` when none holds a value. Refs of sub-items, and writes to
 * them, pass through, so spreading a store twice spreads it once.
 */
export const spread = (inner: Service, pipelines: ReadonlyArray<{ readonly name: string; readonly subItemsPerKey?: number | undefined }>): Service => {
  const counts = new Map<string, number>()
  for (const p of pipelines) if (p.subItemsPerKey !== undefined && p.subItemsPerKey > 1) counts.set(p.name, p.subItemsPerKey)
  if (counts.size === 0) return inner
  const countOf = (ref: ItemRef): number | undefined => {
    const n = counts.get(ref.pipeline)
    return n === undefined || exact.has(ref) || isSubItem(ref) ? undefined : n
  }
  return {
    ...(inner.orderings === undefined ? {} : { orderings: inner.orderings }),
    apply: (writes) =>
      Effect.suspend(() =>
        inner.apply(writes.map((w) => {
          const n = countOf(w)
          return n === undefined ? w : { ...w, ...subItemOf(w, n, w.shardId) }
        }))
      ),
    getMany: <A>(monoid: Monoid<A>, refs: ReadonlyArray<ItemRef>) =>
      Effect.suspend(() => {
        const read: Array<ItemRef> = []
        const spans = refs.map((ref) => {
          const n = countOf(ref)
          if (n === undefined) {
            read.push(ref)
            return 1
          }
          const plain: ItemRef = { pipeline: ref.pipeline, key: ref.key, bucket: ref.bucket }
          exact.add(plain)
          read.push(plain)
          for (let i = 0; i < n; i++) read.push(subItem(ref, i))
          return n + 1
        })
        if (read.length === refs.length) return inner.getMany(monoid, refs)
        return Effect.map(inner.getMany(monoid, read), (values) => {
          let at = 0
          return spans.map((span) => {
            let merged: Option.Option<A> = Option.none()
            for (const v of values.slice(at, at += span)) {
              if (Option.isSome(v)) merged = Option.isNone(merged) ? v : Option.some(monoid.combine(merged.value, v.value))
            }
            return merged
          })
        })
      })
  }
}

/** `spread` on the `Store` in context. */
export const layerSpread = (pipelines: ReadonlyArray<{ readonly name: string; readonly subItemsPerKey?: number | undefined }>): Layer.Layer<Store, never, Store> =>
  Layer.effect(Store, Effect.map(Store, (inner) => spread(inner, pipelines)))
