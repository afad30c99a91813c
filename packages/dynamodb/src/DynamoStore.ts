import {
  type AttributeValue,
  BatchGetItemCommand,
  GetItemCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput
} from "@aws-sdk/client-dynamodb"
import * as Backoff from "@eddy/core/Backoff"
import type { Json } from "@eddy/core/Json"
import type { Monoid } from "@eddy/core/Monoid"
import type { Position } from "@eddy/core/SourceRecord"
import {
  type AlreadyApplied,
  byPosition,
  deltaAfter,
  type DeltaWrite,
  type ItemRef,
  isMark,
  itemId,
  skipped,
  Store,
  type StoreError,
  StoreMisconfiguredError,
  StoreRejectedError,
  StoreUnavailableError,
  Tag,
  type WriteResult
} from "@eddy/core/Store"
import { Clock, Config, type ConfigError, Duration, Effect, Layer, Option, Schedule } from "effect"
import * as DynamoClient from "./DynamoClient"
import { itemBytes, maxItemBytes } from "./internal/itemSize"
import { decodeValue } from "./internal/value"
import { call, remedy, SdkFailure } from "./internal/sdk"
import * as Watermark from "./internal/watermark"
import * as TableAlias from "./TableAlias"
import { attributes } from "./Tables"

type Item = Record<string, AttributeValue>

/** Aggregates in DynamoDB as a placement: name it as a pipeline's `store`, provide it with `layer(...).pipe(Store.as(DynamoStore))`. */
export class DynamoStore extends Tag("@eddy/dynamodb/DynamoStore")<DynamoStore>() {}

/** The aggregate table, write concurrency, retries and read consistency. */
export interface Options {
  /** The aggregate table (see `Tables.aggregateTable`). */
  readonly table: string
  /** Items written at once; writes to one item are always sequential. Default 16. */
  readonly concurrency?: number
  /** Retries of a conditional write that lost a race (a concurrent compare-and-set, a moved watermark). */
  readonly conflictRetry?: Schedule.Schedule<unknown, unknown>
  /** Retries of the keys BatchGetItem leaves unprocessed (throttling). */
  readonly readRetry?: Schedule.Schedule<unknown, unknown>
  /** Strongly consistent reads in `getMany` (twice the read units). Default true. */
  readonly consistentReads?: boolean
  /**
   * Whether `getMany` reads the table the reader alias names (see
   * `TableAlias`, written by `eddy replay switch`) instead of `table`. Writes
   * always go to `table`. Default true.
   */
  readonly followAlias?: boolean
  /** How long a resolved alias is used before it is read again. Default 10 seconds. */
  readonly aliasRefresh?: Duration.DurationInput
  /**
   * How long a record's claim (the "partitionKey" ordering's exactly-once
   * record) is kept, at most: longer than a record can be redelivered (the
   * mapping's maximum record age). A window's retention shortens it. Default 8 days.
   */
  readonly claimRetention?: Duration.DurationInput
  /**
   * Actions per TransactWriteItems (claims and the aggregate's update), at
   * most. Default 100, DynamoDB's limit; DynamoDB Local before 2.x takes 10.
   */
  readonly transactionItems?: number
}

/** Conflicts: from 10 ms, jittered, each delay at most 500 ms, at most 8 retries. */
export const defaultConflictRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "10 millis", cap: "500 millis", times: 8 })

/** Unprocessed keys: from 50 ms, jittered, each delay at most 2 s, at most 8 retries. */
export const defaultReadRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "50 millis", cap: "2 seconds", times: 8 })

/** How a write reaches DynamoDB, chosen by the monoid's kind (see README, "Writes"). */
type Strategy = "add" | "mark" | "extremum" | "cas"

interface Plan {
  readonly write: DeltaWrite
  readonly key: Item
  readonly strategy: Strategy
  readonly watermark: string
}

/** A conditional write lost a race; retried with `conflictRetry`. */
class Conflict {
  readonly _tag = "Conflict"
}

type WriteFailure = SdkFailure | Conflict | StoreRejectedError | StoreMisconfiguredError

/** BatchGetItem left keys unprocessed; retried with `readRetry`. */
class Unprocessed {
  readonly _tag = "Unprocessed"
  constructor(readonly count: number) {}
}

const S = (s: string): AttributeValue => ({ S: s })
const N = (n: number): AttributeValue => ({ N: String(n) })
const bytes = (s: string): number => Buffer.byteLength(s, "utf8")
const keyString = (key: Item): string => `${key[attributes.partitionKey]!.S}\u0000${key[attributes.sortKey]!.S}`
const describe = (ref: ItemRef): string => `${ref.pipeline}/${ref.key}/${ref.bucket}`

/** The item key, or why the reference cannot be stored. */
const keyOf = (ref: ItemRef): Item | string => {
  if (ref.pipeline.length === 0 || ref.pipeline.includes("#")) {
    return `pipeline name ${JSON.stringify(ref.pipeline)} must be non-empty without '#' (it prefixes the partition key)`
  }
  const pk = `${ref.pipeline}#${ref.key}`
  if (bytes(pk) > 2048) return `key of ${ref.pipeline} is ${bytes(ref.key)} bytes; DynamoDB partition keys hold at most 2048 bytes with the pipeline name`
  if (ref.bucket.length === 0 || bytes(ref.bucket) > 1024) return `bucket ${JSON.stringify(ref.bucket)} must be 1..1024 bytes`
  return { [attributes.partitionKey]: S(pk), [attributes.sortKey]: S(ref.bucket) }
}

/** The strategy, or why the delta cannot be stored. */
const strategyOf = (w: DeltaWrite): Strategy | { readonly rejected: string } => {
  let encoded: Json
  try {
    encoded = w.monoid.encode(w.delta)
  } catch (cause) {
    return { rejected: `the ${w.monoid.name} delta cannot be encoded: ${cause instanceof Error ? cause.message : String(cause)}` }
  }
  const kind = w.monoid.kind
  if (isMark(w)) return "mark"
  if (typeof encoded !== "number") return "cas"
  if (kind === "sum" || kind === "count") return "add"
  if ((kind === "min" || kind === "max") && w.monoid.idempotent) return "extremum"
  return "cas"
}

const numberValue = (monoid: Monoid<unknown>, value: unknown): AttributeValue | string => {
  const n = monoid.encode(value) as number
  if (!Number.isFinite(n)) return `${monoid.name} value ${n} is not a finite number`
  // DynamoDB numbers reach 9.99e125 in magnitude.
  return Math.abs(n) < 1e126 ? N(n) : `${monoid.name} value ${n} is beyond DynamoDB's number range`
}

const toStoreError = (table: string, what: string) => (e: SdkFailure | Conflict | Unprocessed | StoreError): StoreError => {
  switch (e._tag) {
    case "StoreRejectedError":
    case "StoreUnavailableError":
    case "StoreMisconfiguredError":
      return e
    case "Conflict":
      return new StoreUnavailableError({ message: `${what}: concurrent writes kept changing the item; retry the write` })
    case "Unprocessed":
      return new StoreUnavailableError({ message: `${what}: ${e.count} keys stayed unprocessed by BatchGetItem (throttled); retry later` })
    case "SdkFailure":
      // A request DynamoDB refuses is the deployment's fault, not the record's: every check of record content is made before sending.
      return e.kind === "rejected"
        ? new StoreMisconfiguredError({ code: e.name, message: `${what}: ${remedy(e, table, "dynamodb:UpdateItem, PutItem, GetItem and BatchGetItem")}`, cause: e.cause })
        : new StoreUnavailableError({ message: `${what}: ${e.message}`, cause: e.cause })
  }
}

const rejectDecode = (ref: ItemRef, monoid: Monoid<unknown>, cause: unknown) =>
  new StoreMisconfiguredError({
    code: "AggregateChanged",
    message: `${describe(ref)} holds a state that is not a ${monoid.name} (${cause instanceof Error ? cause.message : String(cause)}); ` +
      `a pipeline whose aggregate changed needs a new name`,
    cause
  })

/** The item's stored state (the monoid's empty one when none), that state combined with `delta`, and the result as stored JSON. */
const combined = (
  w: DeltaWrite,
  storedValue: AttributeValue | undefined,
  delta: unknown
): { readonly current: unknown; readonly next: unknown; readonly json: string } | StoreMisconfiguredError | StoreRejectedError => {
  let current: unknown
  try {
    current = storedValue === undefined ? w.monoid.empty : decodeValue(w.monoid, storedValue)
  } catch (cause) {
    return rejectDecode(w, w.monoid, cause)
  }
  try {
    const next = w.monoid.combine(current, delta)
    return { current, next, json: JSON.stringify(w.monoid.encode(next)) }
  } catch (cause) {
    return new StoreRejectedError({ message: `${describe(w)}: the new ${w.monoid.name} state cannot be encoded: ${String(cause)}`, cause })
  }
}

/**
 * A `Store` on one DynamoDB table. Each `(pipeline, key, bucket)` is one item;
 * every write is one conditional UpdateItem that applies the delta and moves the
 * shard's watermark together, so a redelivered write applies only what is new.
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const { table } = options
    const concurrency = options.concurrency ?? 16
    const conflictRetry = options.conflictRetry ?? defaultConflictRetry
    const readRetry = options.readRetry ?? defaultReadRetry
    const consistentReads = options.consistentReads ?? true
    const aliasRefreshMs = Duration.toMillis(options.aliasRefresh ?? "10 seconds")

    const update = (input: Omit<UpdateItemCommandInput, "TableName">) =>
      call("UpdateItem", (signal) => client.send(new UpdateItemCommand({ TableName: table, ...input }), { abortSignal: signal }))

    const readItem = (key: Item) =>
      call("GetItem", (signal) => client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }), { abortSignal: signal })).pipe(
        Effect.map((out) => out.Item)
      )

    /** Items by `keyString`; absent items are missing from the map. BatchGetItem takes 100 distinct keys a call. */
    const readMany = (keys: ReadonlyArray<Item>, consistent: boolean, valueOnly: boolean, from: string = table) =>
      Effect.suspend(() => {
        const unique = new Map<string, Item>()
        for (const key of keys) unique.set(keyString(key), key)
        const all = Array.from(unique.values())
        const chunks: Array<Array<Item>> = []
        for (let i = 0; i < all.length; i += 100) chunks.push(all.slice(i, i + 100))
        const found = new Map<string, Item>()
        const projection = valueOnly
          ? { ProjectionExpression: "#pk, #sk, #v", ExpressionAttributeNames: { "#pk": attributes.partitionKey, "#sk": attributes.sortKey, "#v": attributes.value } }
          : {}
        const readChunk = (chunk: Array<Item>) => {
          let pending = chunk
          const once = Effect.suspend(() =>
            call("BatchGetItem", (signal) =>
              client.send(
                new BatchGetItemCommand({ RequestItems: { [from]: { Keys: pending, ConsistentRead: consistent, ...projection } } }),
                { abortSignal: signal }
              ))
          ).pipe(
            Effect.flatMap((out) => {
              for (const item of out.Responses?.[from] ?? []) found.set(keyString(item), item)
              pending = out.UnprocessedKeys?.[from]?.Keys ?? []
              return pending.length === 0 ? Effect.void : Effect.fail(new Unprocessed(pending.length))
            })
          )
          return Effect.retry(once, { schedule: readRetry, while: (e) => e._tag === "Unprocessed" })
        }
        return Effect.forEach(chunks, readChunk, { concurrency: 4, discard: true }).pipe(
          Effect.as(found),
          Effect.mapError(toStoreError(from, `reading ${all.length} items of ${from}`))
        )
      })

    /** The table reads go to: the alias's target, read again after `aliasRefresh`. */
    let resolved: { readonly table: string; readonly at: number } | undefined
    const readingTable: Effect.Effect<string, StoreError> = options.followAlias === false ? Effect.succeed(table) : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      resolved !== undefined && now - resolved.at < aliasRefreshMs
        ? Effect.succeed(resolved.table)
        : readItem(TableAlias.key).pipe(
          Effect.map((item) => item?.table?.S ?? table),
          Effect.tap((target) => Effect.sync(() => (resolved = { table: target, at: now }))),
          Effect.mapError(toStoreError(table, `reading the reader alias of ${table}`))
        ))

    const retryConflicts = <A, E>(effect: Effect.Effect<A, E | Conflict>) =>
      Effect.retry(effect, { schedule: conflictRetry, while: (e) => (e as { _tag?: string })._tag === "Conflict" })

    const conflictOnCondition = <A>(effect: Effect.Effect<A, SdkFailure>) =>
      Effect.catchIf(effect, (e) => e.kind === "condition", () => Effect.fail(new Conflict()))

    const ttl = (w: DeltaWrite) =>
      w.expiresAt === undefined ? { set: "", names: {}, values: {} } : {
        set: ", #t = :t",
        names: { "#t": attributes.expiresAt },
        values: { ":t": N(w.expiresAt) }
      }

    /**
     * sum, count: `ADD` the delta and set the watermark, on condition the
     * watermark is below the first contribution. When it is not (a redelivery),
     * read the watermark and add only the contributions after it, on condition
     * the watermark is still exactly what was read. A mark (an idempotent
     * monoid's identity) does the same with nothing to add: the watermark only.
     */
    const writeAdd = (p: Plan): Effect.Effect<AlreadyApplied | undefined, WriteFailure> => {
      const w = p.write
      const t = ttl(w)
      const add = (delta: AttributeValue, last: Position, condition: string, values: Item) =>
        update({
          Key: p.key,
          ...(p.strategy === "mark"
            ? {
              UpdateExpression: `SET #w = :last${t.set}`,
              ExpressionAttributeNames: { "#w": p.watermark, ...t.names },
              ExpressionAttributeValues: { ":last": S(Watermark.encode(last)), ...t.values, ...values }
            }
            : {
              UpdateExpression: `ADD #v :d SET #w = :last${t.set}`,
              ExpressionAttributeNames: { "#v": attributes.value, "#w": p.watermark, ...t.names },
              ExpressionAttributeValues: { ":d": delta, ":last": S(Watermark.encode(last)), ...t.values, ...values }
            }),
          ConditionExpression: condition
        })
      const deltaOf = (delta: unknown) => p.strategy === "mark" ? N(0) : numberValue(w.monoid, delta)
      const catchUp = Effect.gen(function*() {
        const item = yield* readItem(p.key)
        const stored = item?.[p.watermark]?.S
        const watermark = stored === undefined ? undefined : Watermark.decode(stored)
        const todo = deltaAfter(w, watermark)
        if (todo === undefined) return skipped(w, watermark)
        const delta = deltaOf(todo.delta)
        if (typeof delta === "string") return yield* new StoreRejectedError({ message: `${describe(w)}: ${delta}` })
        yield* conflictOnCondition(
          stored === undefined
            ? add(delta, todo.last, "attribute_not_exists(#w)", {})
            : add(delta, todo.last, "#w = :stored", { ":stored": S(stored) })
        )
        return skipped(w, watermark)
      })
      const delta = deltaOf(w.delta)
      if (typeof delta === "string") return Effect.fail(new StoreRejectedError({ message: `${describe(w)}: ${delta}` }))
      const last = w.contributions[w.contributions.length - 1]!.position
      return add(delta, last, "attribute_not_exists(#w) OR #w < :first", { ":first": S(Watermark.encode(w.contributions[0]!.position)) }).pipe(
        Effect.as(undefined),
        Effect.catchIf((e) => e.kind === "condition", () => retryConflicts(catchUp))
      )
    }

    /**
     * min, max: idempotent, so a redelivered delta cannot change the result and
     * no watermark is needed. `SET` the value on condition it improves on the
     * stored one; a failed condition means the stored value already dominates.
     */
    const writeExtremum = (p: Plan): Effect.Effect<void, WriteFailure> => {
      const w = p.write
      const t = ttl(w)
      const delta = numberValue(w.monoid, w.delta)
      if (typeof delta === "string") return Effect.fail(new StoreRejectedError({ message: `${describe(w)}: ${delta}` }))
      return update({
        Key: p.key,
        UpdateExpression: `SET #v = :d${t.set}`,
        ConditionExpression: `attribute_not_exists(#v) OR #v ${w.monoid.kind === "max" ? "<" : ">"} :d`,
        ExpressionAttributeNames: { "#v": attributes.value, ...t.names },
        ExpressionAttributeValues: { ":d": delta, ...t.values }
      }).pipe(Effect.asVoid, Effect.catchIf((e) => e.kind === "condition", () => Effect.void))
    }

    /**
     * The shard's watermark alone, for a compare-and-set whose state already
     * holds the delta: on condition the watermark is still what was read (the
     * value needs no condition: it already holds the delta, and any later
     * state of an idempotent monoid does too). A moved watermark reads again.
     */
    const watermarkOnly = (p: Plan, item: Item, stored: string | undefined, last: Position, before: AlreadyApplied | undefined) => {
      const t = ttl(p.write)
      const watermark = S(Watermark.encode(last))
      return update({
        Key: p.key,
        UpdateExpression: `SET #w = :last${t.set}`,
        ConditionExpression: stored === undefined ? "attribute_exists(#v) AND attribute_not_exists(#w)" : "#w = :stored",
        ExpressionAttributeNames: { "#w": p.watermark, ...(stored === undefined ? { "#v": attributes.value } : {}), ...t.names },
        ExpressionAttributeValues: { ":last": watermark, ...(stored === undefined ? {} : { ":stored": S(stored) }), ...t.values }
      }).pipe(
        conflictOnCondition,
        Effect.as([{ ...item, [p.watermark]: watermark, ...(p.write.expiresAt === undefined ? {} : { [attributes.expiresAt]: N(p.write.expiresAt) }) }, before] as const)
      )
    }

    /**
     * Sketches, sets, maps, first/last: read (or reuse the prefetched item),
     * fold in the contributions after the watermark, and write the new state
     * with the watermark on condition the version is unchanged. Returns the item
     * as written, so a later write to the same item needs no read, and whether
     * some contributions were applied before.
     */
    const writeCas = (
      p: Plan,
      prefetched: Item | undefined | null
    ): Effect.Effect<readonly [Item | undefined, AlreadyApplied | undefined], WriteFailure> => {
      const w = p.write
      const t = ttl(w)
      let known = prefetched
      const once = (item: Item | undefined) =>
        Effect.suspend((): Effect.Effect<readonly [Item | undefined, AlreadyApplied | undefined], WriteFailure> => {
          const stored = item?.[p.watermark]?.S
          const watermark = stored === undefined ? undefined : Watermark.decode(stored)
          const before = skipped(w, watermark)
          const todo = deltaAfter(w, watermark)
          if (todo === undefined) return Effect.succeed([item, before] as const)
          const storedValue = item?.[attributes.value]
          const state = combined(w, storedValue, todo.delta)
          if (!("json" in state)) return Effect.fail(state)
          const { current, next, json } = state
          // An idempotent state that already holds the delta keeps its value, but the watermark must move past these
          // records, or their redelivery would be counted as applied again.
          if (w.monoid.idempotent && storedValue !== undefined && w.monoid.equals(next, current)) return watermarkOnly(p, item!, stored, todo.last, before)
          const version = item?.[attributes.version]?.N
          const written: Item = {
            ...(item ?? p.key),
            [attributes.value]: S(json),
            [attributes.version]: N(version === undefined ? 1 : Number(version) + 1),
            [p.watermark]: S(Watermark.encode(todo.last)),
            ...(w.expiresAt === undefined ? {} : { [attributes.expiresAt]: N(w.expiresAt) })
          }
          const size = itemBytes(written)
          if (size > maxItemBytes) {
            // The state alone too large is the records' doing; a state that fits but not with the shards' watermarks is the write pattern's.
            const stateSize = itemBytes({ ...p.key, [attributes.value]: written[attributes.value]! })
            return Effect.fail(
              stateSize > maxItemBytes
                ? new StoreRejectedError({
                  message: `${describe(w)}: the ${w.monoid.name} state would make the item ${size} bytes, over DynamoDB's ${maxItemBytes}; ` +
                    `bound the aggregate (a smaller capacity) or window it so fewer values share an item`
                })
                : new StoreMisconfiguredError({
                  code: "ItemTooLarge",
                  message: `${describe(w)}: the watermarks of the shards writing this item make it ${size} bytes, over DynamoDB's ${maxItemBytes}; ` +
                    `too many shards or streams write one item: window the pipeline or spread its items (subItemsPerKey)`
                })
            )
          }
          return update({
            Key: p.key,
            UpdateExpression: `SET #v = :v, #ver = :ver, #w = :last${t.set}`,
            ConditionExpression: version === undefined ? "attribute_not_exists(#ver)" : "#ver = :old",
            ExpressionAttributeNames: { "#v": attributes.value, "#ver": attributes.version, "#w": p.watermark, ...t.names },
            ExpressionAttributeValues: {
              ":v": written[attributes.value]!,
              ":ver": written[attributes.version]!,
              ":last": written[p.watermark]!,
              ...t.values,
              ...(version === undefined ? {} : { ":old": { N: version } })
            }
          }).pipe(conflictOnCondition, Effect.as([written, before] as const))
        })
      const attempt = Effect.suspend(() => known === null ? readItem(p.key) : Effect.succeed(known)).pipe(
        Effect.flatMap(once),
        Effect.tapError(() => Effect.sync(() => (known = null)))
      )
      return retryConflicts(attempt)
    }

    const claimRetentionSeconds = Math.ceil(Duration.toSeconds(options.claimRetention ?? "8 days"))
    // One action of each transaction is the aggregate's update.
    const claimsPerTransaction = Math.max(1, (options.transactionItems ?? 100) - 1)

    const transact = (items: Array<TransactWriteItem>) =>
      call("TransactWriteItems", (signal) => client.send(new TransactWriteItemsCommand({ TransactItems: items }), { abortSignal: signal }))

    /**
     * The "partitionKey" ordering: the write's positions are claimed, each an
     * item `<bucket>#c#<shard>#<position>` beside the aggregate (no value, so
     * reads and scans pass it over), in one transaction with the aggregate's
     * update: `attribute_not_exists` on each claim, so a position claimed
     * before cancels the transaction and its reasons name it. Those positions
     * are dropped (applied before) and the rest sent again. More positions
     * than a transaction takes go in several, each atomic on its own share.
     */
    const writeClaimed = (
      p: Plan,
      prefetched: Item | undefined | null
    ): Effect.Effect<readonly [Item | undefined | null, AlreadyApplied | undefined], WriteFailure> => {
      const w = p.write
      const pk = p.key[attributes.partitionKey]!
      let pending = byPosition(w)
      const claimed: Array<Position> = []
      let known = p.strategy === "cas" ? prefetched : null
      const invalidClaim = pending.map(({ position }) => Watermark.invalid(position)).find((e) => e !== undefined)
      if (invalidClaim !== undefined) return Effect.fail(new StoreRejectedError({ message: `${describe(w)}: ${invalidClaim}` }))
      const claimKey = (position: Position): Item => ({ [attributes.partitionKey]: pk, [attributes.sortKey]: S(`${w.bucket}#c#${w.shardId}#${Watermark.encode(position)}`) })
      const claimPuts = (share: ReadonlyArray<{ readonly position: Position }>, now: number): Array<TransactWriteItem> => {
        const expires = Math.min(Math.floor(now / 1000) + claimRetentionSeconds, w.expiresAt ?? Number.POSITIVE_INFINITY)
        return share.map(({ position }) => ({
          Put: {
            TableName: table,
            Item: { ...claimKey(position), [attributes.expiresAt]: N(expires) },
            ConditionExpression: "attribute_not_exists(#pk)",
            ExpressionAttributeNames: { "#pk": attributes.partitionKey }
          }
        }))
      }
      const t = ttl(w)
      /** The aggregate's update for `delta`, and the item as it will be (compare-and-set), or why it cannot be stored; `undefined`: nothing to update. */
      const updateOf = (delta: unknown): Effect.Effect<readonly [TransactWriteItem | undefined, Item | undefined | null], WriteFailure> => {
        if (p.strategy === "mark") return Effect.succeed([undefined, null] as const)
        if (p.strategy === "add") {
          const d = numberValue(w.monoid, delta)
          if (typeof d === "string") return Effect.fail(new StoreRejectedError({ message: `${describe(w)}: ${d}` }))
          return Effect.succeed([{
            Update: {
              TableName: table,
              Key: p.key,
              UpdateExpression: `ADD #v :d${t.set.length > 0 ? ` SET${t.set.slice(1)}` : ""}`,
              ExpressionAttributeNames: { "#v": attributes.value, ...t.names },
              ExpressionAttributeValues: { ":d": d, ...t.values }
            }
          }, null] as const)
        }
        return Effect.flatMap(known === null ? readItem(p.key) : Effect.succeed(known), (item): Effect.Effect<readonly [TransactWriteItem, Item], WriteFailure> => {
          known = item
          const state = combined(w, item?.[attributes.value], delta)
          if (!("json" in state)) return Effect.fail(state)
          const { json } = state
          const version = item?.[attributes.version]?.N
          const written: Item = {
            ...(item ?? p.key),
            [attributes.value]: S(json),
            [attributes.version]: N(version === undefined ? 1 : Number(version) + 1),
            ...(w.expiresAt === undefined ? {} : { [attributes.expiresAt]: N(w.expiresAt) })
          }
          const size = itemBytes(written)
          if (size > maxItemBytes) {
            return Effect.fail(
              new StoreRejectedError({
                message: `${describe(w)}: the ${w.monoid.name} state would make the item ${size} bytes, over DynamoDB's ${maxItemBytes}; ` +
                  `bound the aggregate (a smaller capacity) or window it so fewer values share an item`
              })
            )
          }
          return Effect.succeed([{
            Update: {
              TableName: table,
              Key: p.key,
              UpdateExpression: `SET #v = :v, #ver = :ver${t.set}`,
              ConditionExpression: version === undefined ? "attribute_not_exists(#ver)" : "#ver = :old",
              ExpressionAttributeNames: { "#v": attributes.value, "#ver": attributes.version, ...t.names },
              ExpressionAttributeValues: {
                ":v": written[attributes.value]!,
                ":ver": written[attributes.version]!,
                ...t.values,
                ...(version === undefined ? {} : { ":old": { N: version } })
              }
            }
          }, written] as const)
        })
      }
      /** One transaction for the first share of `pending`; drops what it applied or found claimed. */
      const once: Effect.Effect<void, WriteFailure> = Effect.gen(function*() {
        const share = pending.slice(0, claimsPerTransaction)
        let delta = w.monoid.empty
        for (const c of share) delta = w.monoid.combine(delta, c.delta)
        const [update, written] = yield* updateOf(delta)
        const now = yield* Clock.currentTimeMillis
        const items = claimPuts(share, now)
        if (update !== undefined) items.push(update)
        const sent = yield* Effect.either(transact(items))
        if (sent._tag === "Right") {
          pending = pending.slice(share.length)
          if (written !== null) known = written
          return
        }
        const failure = sent.left
        if (failure.name !== "TransactionCanceledException") return yield* Effect.fail(failure)
        const reasons = ((failure.cause as { CancellationReasons?: ReadonlyArray<{ Code?: string }> }).CancellationReasons) ?? []
        const taken = new Set<number>()
        share.forEach((_, i) => reasons[i]?.Code === "ConditionalCheckFailed" && taken.add(i))
        if (taken.size > 0) {
          // Applied by an earlier delivery: leave them out and send the rest again at once.
          for (const i of taken) claimed.push(share[i]!.position)
          pending = [...share.filter((_, i) => !taken.has(i)), ...pending.slice(share.length)]
          return
        }
        // The compare-and-set lost a race, or another transaction held an item: read again after a pause.
        known = null
        if (reasons.some((r) => r.Code === "ConditionalCheckFailed" || r.Code === "TransactionConflict")) return yield* Effect.fail(new Conflict())
        const code = reasons.find((r) => r.Code !== undefined && r.Code !== "None")?.Code
        return yield* Effect.fail(
          code === "ThrottlingError" || code === "ProvisionedThroughputExceeded"
            ? new SdkFailure({ operation: failure.operation, kind: "transient", name: failure.name, message: failure.message, cause: failure.cause })
            : failure
        )
      })
      const loop: Effect.Effect<void, WriteFailure> = Effect.suspend(() => pending.length === 0 ? Effect.void : Effect.zipRight(retryConflicts(once), loop))
      return Effect.map(loop, () => [known ?? null, claimed.length === 0 ? undefined : { _tag: "AlreadyApplied", claimed }] as const)
    }

    const apply = (writes: ReadonlyArray<DeltaWrite>) =>
      Effect.suspend(() => {
        const results: Array<WriteResult> = new Array(writes.length).fill(undefined)
        const plans: Array<Plan | undefined> = new Array(writes.length)
        const groups = new Map<string, Array<number>>()
        const casKeys: Array<Item> = []
        writes.forEach((write, i) => {
          const key = keyOf(write)
          // Only the first and last positions are stored (as watermarks); they must encode in order.
          const cs = write.contributions
          const strategy = strategyOf(write)
          const invalid = typeof key === "string"
            ? key
            : typeof strategy === "object"
            ? strategy.rejected
            : Watermark.invalid(cs[0]!.position) ?? Watermark.invalid(cs[cs.length - 1]!.position)
          if (invalid !== undefined || typeof key === "string" || typeof strategy === "object") {
            results[i] = new StoreRejectedError({ message: `${describe(write)}: ${invalid}` })
            return
          }
          plans[i] = { write, key, strategy, watermark: Watermark.attribute(write.shardId) }
          if (strategy === "cas") casKeys.push(key)
          const id = itemId(write)
          const group = groups.get(id)
          if (group === undefined) groups.set(id, [i])
          else group.push(i)
        })
        const prefetch = casKeys.length === 0 ? Effect.succeed(new Map<string, Item>()) : readMany(casKeys, true, false)
        return Effect.either(prefetch).pipe(
          Effect.flatMap((prefetched) =>
            Effect.forEach(groups.values(), (indices) => {
              // The item as last seen (`undefined`: absent); `null` when unknown, so a compare-and-set reads it first.
              let known: Item | undefined | null = prefetched._tag === "Right" ? prefetched.right.get(keyString(plans[indices[0]!]!.key)) : null
              return Effect.forEach(indices, (i) => {
                const p = plans[i]!
                const write: Effect.Effect<readonly [Item | undefined | null, AlreadyApplied | undefined], WriteFailure> = p.write.ordering === "partitionKey" && p.strategy !== "extremum"
                  ? writeClaimed(p, known)
                  : p.strategy === "add" || p.strategy === "mark"
                  ? Effect.map(writeAdd(p), (before) => [null, before] as const)
                  : p.strategy === "extremum"
                  ? Effect.as(writeExtremum(p), [null, undefined] as const)
                  : writeCas(p, known)
                return Effect.match(write, {
                  onFailure: (e) => {
                    results[i] = toStoreError(table, `writing ${describe(p.write)} to ${table}`)(e)
                    known = null
                  },
                  onSuccess: ([item, before]) => {
                    known = item
                    results[i] = before
                  }
                })
              }, { discard: true })
            }, { concurrency, discard: true })
          ),
          Effect.as(results as ReadonlyArray<WriteResult>)
        )
      })

    const getMany = <A>(monoid: Monoid<A>, refs: ReadonlyArray<ItemRef>) =>
      Effect.suspend(() => {
        const keys: Array<Item> = []
        for (const ref of refs) {
          const key = keyOf(ref)
          if (typeof key === "string") return Effect.fail(new StoreRejectedError({ message: `${describe(ref)}: ${key}` }))
          keys.push(key)
        }
        return readingTable.pipe(
          Effect.flatMap((from) => readMany(keys, consistentReads, true, from)),
          Effect.flatMap((found) => {
            const values: Array<Option.Option<A>> = new Array(keys.length)
            for (let i = 0; i < keys.length; i++) {
              const v = found.get(keyString(keys[i]!))?.[attributes.value]
              try {
                values[i] = v === undefined ? Option.none() : Option.some(decodeValue(monoid, v))
              } catch (cause) {
                return Effect.fail(rejectDecode(refs[i]!, monoid as Monoid<unknown>, cause))
              }
            }
            return Effect.succeed(values as ReadonlyArray<Option.Option<A>>)
          })
        )
      })

    return Store.of({ orderings: ["shard", "partitionKey"], apply, getMany })
  })

/** Needs a `DynamoClient`. */
export const layer = (options: Options): Layer.Layer<Store, never, DynamoClient.DynamoClient> => Layer.effect(Store, make(options))

/** Like `layer`, with the options from `config`, e.g. `{ table: Config.string("AGGREGATE_TABLE") }`. Needs a `DynamoClient`. */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Store, ConfigError.ConfigError, DynamoClient.DynamoClient> => Layer.effect(Store, Effect.flatMap(Config.unwrap(config), make))
