import { Data } from "effect"
import type { Decoder } from "./Decoder"
import type { HllState, Monoid, MonoidKind, SetState, Timed, TopKState } from "./Monoid"
import * as Store from "./Store"
import * as Window from "./Window"

/**
 * Where a pipeline's events come from: how to decode a record and how to read
 * an event's id (the dedup key), time (for windows) and type.
 */
export interface EventSource<E extends { readonly type: string }> {
  readonly name: string
  readonly decoder: Decoder<E>
  readonly eventId: (event: E) => string
  /** Event time, epoch milliseconds. */
  readonly eventTime: (event: E) => number
}

/** Receives the `(key, value)` pairs a pipeline emits for one event. */
export type Emit<A> = (key: string, value: A) => void

/**
 * A compiled aggregation: which events it takes, how each becomes `(key,
 * value)` pairs, and where the aggregates live. `R` is the service its store
 * needs (`Store.Store` unless the definition names a placement); `any` when
 * erased, as in `ReadonlyArray<Pipeline>`.
 */
export interface Pipeline<E extends { readonly type: string } = any, A = any, R = any> {
  readonly name: string
  readonly source: EventSource<E>
  readonly events: ReadonlySet<E["type"]>
  readonly aggregate: Monoid<A>
  readonly window: Window.Window
  /** Where its aggregates live: `Store.Store` (the driver's default store) or the placement the definition names. */
  readonly store: Store.Placement<R>
  /** Sub-items each key's item is spread over (see `Store.spread`); absent when not spread. */
  readonly subItemsPerKey?: number
  /**
   * Calls `emit` for every pair the event yields. Synchronous; may throw on a
   * bug in user code, and the Processor then treats the event as poison
   * (dead-lettered or blocking its shard, as its `poison` option says).
   */
  readonly run: (event: E, emit: Emit<A>) => void
}

/** The services the stores of `P` need: what a driver's layer must provide for them. */
export type StoresOf<P extends ReadonlyArray<Pipeline>> = P[number] extends infer X ? X extends Pipeline<any, any, infer R> ? R : never : never

/** A pipeline definition that cannot run: a bad name, no events, pipelines that cannot run together. */
export class PipelineDefinitionError extends Data.TaggedError("PipelineDefinitionError")<{ readonly message: string }> {}

type Of<E, T> = Extract<E, { readonly type: T }>

/**
 * The type of `emit` in a key/value definition: never given, but giving it
 * with `key` and `value` fails with a message that says what to do.
 */
export type KeyValueOrEmit = "give either key+value or emit, not both"

/** A hint that appears in the type error when a raw value is given where a monoid wants its own states. */
type Hint<Text extends string> = { readonly [K in Text]?: never }

/**
 * The value type a pipeline must give for a monoid's state `A`. It is `A`;
 * for the monoids whose states are built by a constructor, `A` with a hint
 * naming that constructor, so that returning a raw item (a user id for a
 * HyperLogLog) fails with a message that says what to write instead. A
 * helper generic in its monoid types the value it passes on as `ValueOf<A>`.
 */
export type ValueOf<A> = [A] extends [HllState] ? HllState & Hint<"a HyperLogLog takes sketches: give hll.of(item), not the raw item">
  : [A] extends [TopKState] ? TopKState & Hint<"a TopK takes counters: give topK.of(item) or topK.of(item, count), not the raw item">
  : [A] extends [SetState] ? SetState & Hint<"a set takes sets: give set.of(item), not the raw item">
  : [A] extends [ReadonlyMap<string, infer V>] ? ReadonlyMap<string, V> & Hint<"a map takes maps: give map.of(key, value)">
  : [A] extends [Timed | null] ? (Timed & Hint<"first/last take timed values: give Monoid.timed(eventTime, value)">) | null
  : A

/**
 * What a placement must be to hold aggregates of kind `K`: itself when it
 * holds `K`, otherwise a type that names the kind it cannot hold, so the
 * definition fails to compile with that in the message.
 */
export type Holding<P, K extends MonoidKind> = P extends { readonly holds: ReadonlyArray<infer H> } ? [K] extends [H] ? unknown
  : { readonly [X in `this store cannot hold a ${Exclude<K, H>} aggregate`]: never }
  : unknown

interface Common<E extends { readonly type: string }, T extends E["type"], A, K extends MonoidKind, P> {
  /** Stable name: the store keys aggregates by it. Letters, digits, `_`, `-`, `.`. */
  readonly name: string
  readonly source: EventSource<E>
  readonly events: readonly [T, ...Array<T>]
  /** The monoid decides the value type: a `value` that does not fit it does not compile. */
  readonly aggregate: Monoid<A, K>
  readonly window?: Window.Window
  /**
   * Where the aggregates live (default `Store.Store`, the driver's store): a
   * placement such as `DynamoStore.DynamoStore`, `RedisStore.RedisStore`,
   * `Store.Memory` or one of your own (`Store.Tag`). One that cannot hold the
   * aggregate's kind does not compile.
   */
  readonly store?: P & Holding<P, K>
  /**
   * Spreads each key's item over this many sub-items (2..64), merged on read:
   * for a hot key that every shard writes, such as one value per bucket. Each
   * shard always writes the same sub-item (see `Store.spread`), so fewer
   * shards compare-and-set one item. Not for sum, count, min and max, whose
   * writes do not conflict. Default: one item per key.
   */
  readonly subItemsPerKey?: number
}

/** One `(key, value)` per event. */
export interface KeyValue<E extends { readonly type: string }, T extends E["type"], A, K extends MonoidKind = MonoidKind, P = typeof Store.Store>
  extends Common<E, T, A, K, P>
{
  readonly key: (event: Of<E, T>) => string
  readonly value: (event: Of<E, T>) => NoInfer<ValueOf<A>>
  readonly emit?: KeyValueOrEmit
}

/** Any number of `(key, value)` pairs per event, e.g. one per order line. */
export interface Emitting<E extends { readonly type: string }, T extends E["type"], A, K extends MonoidKind = MonoidKind, P = typeof Store.Store>
  extends Common<E, T, A, K, P>
{
  readonly emit: (event: Of<E, T>) => Iterable<readonly [string, NoInfer<ValueOf<A>>]>
  readonly key?: never
  readonly value?: never
}

/** The kinds whose writes the stores apply as atomic updates, without compare-and-set: nothing to spread. */
const unspreadKinds: ReadonlyArray<MonoidKind> = ["sum", "count", "min", "max"]

const validName = /^[A-Za-z0-9_.-]{1,128}$/

/**
 * Defines a pipeline:
 *
 * ```ts
 * Pipeline.make({
 *   name: "revenue_by_product_hourly",
 *   source: CommerceEvents,
 *   events: ["order.created"],
 *   emit: (e) => e.order.lineItems.map((line) => [line.productId, line.quantity * line.unitPrice] as const),
 *   aggregate: Monoid.sum,
 *   window: Window.hour({ retention: "90 days" })
 * })
 * ```
 *
 * Throws `PipelineDefinitionError` for what types cannot catch (a bad name, no
 * events, a store that cannot hold the aggregate given through a cast).
 */
export const make = <
  E extends { readonly type: string },
  const T extends E["type"],
  A,
  K extends MonoidKind,
  P extends Store.Placement = typeof Store.Store
>(
  definition: KeyValue<E, T, A, K, P> | Emitting<E, T, A, K, P>
): Pipeline<E, A, P["Identifier"]> => {
  const { name, source, events, aggregate } = definition
  const store = (definition.store ?? Store.Store) as Store.Placement<P["Identifier"]>
  if (!validName.test(name)) {
    throw new PipelineDefinitionError({ message: `pipeline name ${JSON.stringify(name)} must be 1..128 letters, digits, '_', '-' or '.'` })
  }
  if (events.length === 0) throw new PipelineDefinitionError({ message: `pipeline ${name} must take at least one event type` })
  if (!store.holds.includes(aggregate.kind)) {
    throw new PipelineDefinitionError({
      message: `pipeline ${name} aggregates with ${aggregate.name}, but its store ${store.key} holds only ${store.holds.join(", ")}: choose another store or monoid`
    })
  }
  const { subItemsPerKey } = definition
  if (subItemsPerKey !== undefined) {
    if (!Number.isInteger(subItemsPerKey) || subItemsPerKey < 2 || subItemsPerKey > Store.MAX_SUB_ITEMS) {
      throw new PipelineDefinitionError({ message: `pipeline ${name}: subItemsPerKey must be a whole number from 2 to ${Store.MAX_SUB_ITEMS}, got ${subItemsPerKey}` })
    }
    if (unspreadKinds.includes(aggregate.kind)) {
      throw new PipelineDefinitionError({
        message: `pipeline ${name} aggregates with ${aggregate.name}, whose writes are atomic updates that do not conflict: spreading buys nothing, drop subItemsPerKey`
      })
    }
  }
  let run: Pipeline<E, A>["run"]
  if (typeof definition.emit === "function") {
    const emitAll = definition.emit
    run = (event, emit) => {
      for (const [key, value] of emitAll(event as Of<E, T>)) emit(key, value as A)
    }
  } else {
    const { key, value } = definition as KeyValue<E, T, A, K, P>
    run = (event, emit) => emit(key(event as Of<E, T>), value(event as Of<E, T>) as A)
  }
  return {
    name,
    source,
    events: new Set(events),
    aggregate,
    window: definition.window ?? Window.none,
    run,
    store,
    ...(subItemsPerKey !== undefined ? { subItemsPerKey } : {})
  }
}

/** Checks a set of pipelines can run together: distinct names, one event source. */
export const validate = (pipelines: ReadonlyArray<Pipeline>): void => {
  if (pipelines.length === 0) throw new PipelineDefinitionError({ message: "give at least one pipeline to run" })
  const seen = new Set<string>()
  for (const p of pipelines) {
    if (seen.has(p.name)) throw new PipelineDefinitionError({ message: `two pipelines are named ${p.name}; names key the stored aggregates and must be unique` })
    seen.add(p.name)
    if (p.source !== pipelines[0]!.source) {
      throw new PipelineDefinitionError({
        message: `pipeline ${p.name} reads ${p.source.name} but ${pipelines[0]!.name} reads ${pipelines[0]!.source.name}; run pipelines of different sources in separate processors`
      })
    }
  }
}
