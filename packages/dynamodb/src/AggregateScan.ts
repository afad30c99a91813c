/**
 * Every item of an aggregate table, decoded with its pipeline's monoid: what
 * `eddy replay compare` reads from the live and the shadow table. A Scan, so
 * it reads the whole table (in parallel segments); items of other pipelines,
 * the reader alias and items past their expiry (which DynamoDB's TTL deletes
 * some time after) are passed over. The sub-items of spread pipelines
 * (`Store.spread`) are folded into their item.
 */
import { type AttributeValue, ScanCommand } from "@aws-sdk/client-dynamodb"
import type { Monoid } from "@eddy/core/Monoid"
import { baseOf, StoreMisconfiguredError, StoreUnavailableError } from "@eddy/core/Store"
import { Chunk, Effect, Option, Stream } from "effect"
import { DynamoClient } from "./DynamoClient"
import { call, remedy } from "./internal/sdk"
import { decodeValue } from "./internal/value"
import { attributes } from "./Tables"

/** One stored aggregate. */
export interface Item {
  readonly pipeline: string
  readonly key: string
  readonly bucket: string
  /** The state, decoded with the pipeline's monoid. */
  readonly value: unknown
}

/** The pipelines to read, by name. */
export type Pipelines = ReadonlyMap<string, Monoid<unknown>>

/** Options of `scan`. */
export interface Options {
  /** Parallel Scan segments (default 4). */
  readonly segments?: number
  /** Epoch milliseconds: items expiring before it are passed over (default now). */
  readonly now?: number
  /**
   * Pipelines spread over sub-items (`subItemsPerKey`): each item of theirs
   * comes once, its sub-items and plain item merged, after the scan ends.
   */
  readonly spread?: ReadonlySet<string>
}

const itemOf = (table: string, pipelines: Pipelines, nowSeconds: number, raw: Record<string, AttributeValue>): Item | undefined | StoreMisconfiguredError => {
  const pk = raw[attributes.partitionKey]?.S
  const sk = raw[attributes.sortKey]?.S
  const v = raw[attributes.value]
  if (pk === undefined || sk === undefined || v === undefined) return undefined
  const hash = pk.indexOf("#")
  if (hash <= 0) return undefined
  const pipeline = pk.slice(0, hash)
  const monoid = pipelines.get(pipeline)
  if (monoid === undefined) return undefined
  const expires = raw[attributes.expiresAt]?.N
  if (expires !== undefined && Number(expires) < nowSeconds) return undefined
  try {
    return { pipeline, key: pk.slice(hash + 1), bucket: sk, value: decodeValue(monoid, v) }
  } catch (cause) {
    return new StoreMisconfiguredError({
      code: "AggregateChanged",
      message: `${table}: ${pipeline}/${pk.slice(hash + 1)}/${sk} holds a state that is not a ${monoid.name}; compare tables of the same pipeline definition`,
      cause
    })
  }
}

/** The items of `pipelines` in `table`, in no particular order. */
export const scan = (table: string, pipelines: Pipelines, options: Options = {}): Stream.Stream<Item, StoreUnavailableError | StoreMisconfiguredError, DynamoClient> => {
  const segments = options.segments ?? 4
  const segment = (n: number) =>
    Stream.paginateChunkEffect(undefined as Record<string, AttributeValue> | undefined, (start) =>
      Effect.flatMap(DynamoClient, (client) =>
        call("Scan", (signal) =>
          client.send(
            new ScanCommand({
              TableName: table,
              Segment: n,
              TotalSegments: segments,
              ConsistentRead: true,
              ...(start ? { ExclusiveStartKey: start } : {})
            }),
            { abortSignal: signal }
          ))
      ).pipe(
        Effect.mapError((e) =>
          e.kind === "rejected"
            ? new StoreMisconfiguredError({ code: e.name, message: `scanning ${table}: ${remedy(e, table, "dynamodb:Scan")}`, cause: e.cause })
            : new StoreUnavailableError({ message: `scanning ${table}: ${e.message}; try again`, cause: e.cause })
        ),
        Effect.flatMap((out) => {
          const now = Math.floor((options.now ?? Date.now()) / 1000)
          const items: Array<Item> = []
          for (const raw of out.Items ?? []) {
            const item = itemOf(table, pipelines, now, raw)
            if (item instanceof StoreMisconfiguredError) return Effect.fail(item)
            if (item !== undefined) items.push(item)
          }
          return Effect.succeed([Chunk.unsafeFromArray(items), out.LastEvaluatedKey ? Option.some(out.LastEvaluatedKey) : Option.none()] as const)
        })
      ))
  const items = Stream.mergeAll(Array.from({ length: segments }, (_, n) => segment(n)), { concurrency: segments })
  const spread = options.spread ?? new Set<string>()
  if (spread.size === 0) return items
  return Stream.suspend(() => {
    const held = new Map<string, Item>()
    const hold = (item: Item): boolean => {
      if (!spread.has(item.pipeline)) return true
      const base = baseOf(item)
      const id = `${base.pipeline}\u0000${base.key}\u0000${base.bucket}`
      const known = held.get(id)
      held.set(id, { ...base, value: known === undefined ? item.value : pipelines.get(item.pipeline)!.combine(known.value, item.value) })
      return false
    }
    return Stream.concat(Stream.filter(items, hold), Stream.suspend(() => Stream.fromIterable(held.values())))
  })
}
