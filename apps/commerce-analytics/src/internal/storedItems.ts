/**
 * Every aggregate in a DynamoDB aggregate table, read back whole: the demo
 * compares two tables item by item, so it lists them (a Scan of the keys)
 * rather than reading only the items it expects, which would miss extra ones.
 */
import { type AttributeValue, ScanCommand } from "@aws-sdk/client-dynamodb"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import { attributes } from "@eddy/dynamodb/Tables"
import { Data, Effect, Option } from "effect"

export interface Item {
  readonly ref: Store.ItemRef
  readonly value: unknown
}

/** Items by `Store.itemId`. */
export type Items = ReadonlyMap<string, Item>

export class ScanError extends Data.TaggedError("ScanError")<{ readonly table: string; readonly message: string; readonly cause?: unknown }> {}

/** The keys of every item in `table`: `pk` is `<pipeline>#<key>` (pipeline names hold no `#`), `sk` the bucket. */
export const scanRefs = (table: string): Effect.Effect<ReadonlyArray<Store.ItemRef>, ScanError, DynamoClient.DynamoClient> =>
  Effect.gen(function*() {
    const client = yield* DynamoClient.DynamoClient
    const refs: Array<Store.ItemRef> = []
    let start: Record<string, AttributeValue> | undefined
    do {
      const page = yield* Effect.tryPromise({
        try: (signal) =>
          client.send(
            new ScanCommand({
              TableName: table,
              ProjectionExpression: "#pk, #sk",
              ExpressionAttributeNames: { "#pk": attributes.partitionKey, "#sk": attributes.sortKey },
              ...(start !== undefined ? { ExclusiveStartKey: start } : {})
            }),
            { abortSignal: signal }
          ),
        catch: (cause) => new ScanError({ table, message: `scanning ${table}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
      })
      for (const item of page.Items ?? []) {
        const pk = item[attributes.partitionKey]?.S ?? ""
        const hash = pk.indexOf("#")
        refs.push({ pipeline: pk.slice(0, hash), key: pk.slice(hash + 1), bucket: item[attributes.sortKey]?.S ?? "" })
      }
      start = page.LastEvaluatedKey
    } while (start !== undefined)
    return refs
  })

/**
 * Every item of `table` with its value, read through the store with its
 * pipeline's monoid; a spread pipeline's sub-items are one item, merged. An
 * item of no known pipeline is an error: it means the table holds something
 * the pipelines did not write.
 */
export const readAll = (
  table: string,
  pipelines: ReadonlyArray<Pipeline.Pipeline>
): Effect.Effect<Items, ScanError | Store.StoreError, DynamoClient.DynamoClient | Store.Store> =>
  Effect.gen(function*() {
    const store = Store.spread(yield* Store.Store, pipelines)
    const scanned = yield* scanRefs(table)
    const refs = Array.from(new Map(scanned.map((r) => Store.baseOf(r)).map((r) => [Store.itemId(r), r])).values())
    const items = new Map<string, Item>()
    for (const pipeline of pipelines) {
      const mine = refs.filter((r) => r.pipeline === pipeline.name)
      const values = mine.length === 0 ? [] : yield* store.getMany(pipeline.aggregate, mine)
      mine.forEach((ref, i) => {
        const value = values[i]!
        if (Option.isSome(value)) items.set(Store.itemId(ref), { ref, value: value.value })
      })
    }
    const stray = refs.find((r) => !pipelines.some((p) => p.name === r.pipeline))
    if (stray !== undefined) {
      return yield* new ScanError({ table, message: `${table} holds an item of no known pipeline: ${stray.pipeline}/${stray.key}/${stray.bucket}` })
    }
    return items
  })
