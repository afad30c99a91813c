/**
 * Which aggregate table readers read: an alias item in the table they are
 * configured with. `eddy replay switch` writes it once a recomputed (shadow)
 * table is ready; `DynamoStore` reads (the CLI's `query`, the service's query
 * API) follow it, writes never do.
 *
 * The item is `pk = "#alias"`, `sk = "readers"` with the target in `table`. No
 * pipeline can write that key: pipeline names are non-empty and the partition
 * key is `<pipeline>#<key>`. One hop only: an alias in the target is not
 * followed, so always switch on the table readers are configured with.
 */
import { DescribeTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb"
import { Data, Effect } from "effect"
import { DynamoClient } from "./DynamoClient"
import { call, remedy } from "./internal/sdk"
import { aggregateTable, attributes } from "./Tables"

/** The alias item's key, in the table readers are configured with. */
export const key = { [attributes.partitionKey]: { S: "#alias" }, [attributes.sortKey]: { S: "readers" } } as const

/** The alias could not be read or written; the message says what to fix. */
export class TableAliasError extends Data.TaggedError("TableAliasError")<{ readonly message: string; readonly cause?: unknown }> {}

/** Another switch changed the alias since it was read: nothing was written. */
export class AliasChangedError extends Data.TaggedError("AliasChangedError")<{ readonly message: string }> {}

/** The table readers of `table` read: the alias's target, or `table` itself when it has none. */
export const resolve = (table: string): Effect.Effect<string, TableAliasError, DynamoClient> =>
  Effect.flatMap(DynamoClient, (client) =>
    call("GetItem", (signal) => client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }), { abortSignal: signal })).pipe(
      Effect.map((out) => out.Item?.table?.S ?? table),
      Effect.mapError((e) =>
        new TableAliasError({
          message: `cannot read the reader alias of ${table}: ${e.kind === "transient" ? `${e.message}; try again` : remedy(e, table, "dynamodb:GetItem")}`,
          cause: e
        })
      )
    ))

/** What a switch did. */
export interface Switched {
  /** The table readers are configured with, holding the alias. */
  readonly table: string
  /** What its readers read before. */
  readonly from: string
  /** What they read now. */
  readonly to: string
}

/**
 * Points the readers of `table` at `to`, atomically: one conditional PutItem
 * that holds only if the alias still names what was read (or is absent), so
 * two concurrent switches cannot both win. `to` must be an aggregate table;
 * `to === table` switches back to the table itself.
 */
export const switchTo = (table: string, to: string): Effect.Effect<Switched, TableAliasError | AliasChangedError, DynamoClient> =>
  Effect.gen(function*() {
    const client = yield* DynamoClient
    const target = yield* call("DescribeTable", (signal) => client.send(new DescribeTableCommand({ TableName: to }), { abortSignal: signal })).pipe(
      Effect.mapError((e) =>
        new TableAliasError({
          message: e.name === "ResourceNotFoundException" ? `there is no table ${to} to switch to; run eddy replay run --shadow-table ${to} first` : `cannot describe ${to}: ${e.message}`,
          cause: e
        })
      )
    )
    const expected = JSON.stringify(aggregateTable(to).KeySchema)
    const actual = JSON.stringify(target.Table?.KeySchema?.map((k) => ({ AttributeName: k.AttributeName, KeyType: k.KeyType })))
    if (expected !== actual) return yield* new TableAliasError({ message: `${to} is not an aggregate table (its key schema is ${actual}); switch to a table eddy replay wrote` })
    const from = yield* resolve(table)
    const current = from === table ? {} : { ":current": { S: from } }
    yield* call("PutItem", (signal) =>
      client.send(
        new PutItemCommand({
          TableName: table,
          Item: { ...key, table: { S: to }, previous: { S: from }, switchedAt: { S: new Date().toISOString() } },
          ConditionExpression: from === table ? "attribute_not_exists(#table) OR #table = :self" : "#table = :current",
          ExpressionAttributeNames: { "#table": "table" },
          ExpressionAttributeValues: from === table ? { ":self": { S: table } } : current
        }),
        { abortSignal: signal }
      )).pipe(
        Effect.mapError((e) =>
          e.kind === "condition"
            ? new AliasChangedError({ message: `the readers of ${table} were switched by someone else meanwhile; see where they read now (eddy replay switch without --to) and switch again` })
            : new TableAliasError({ message: `cannot write the reader alias of ${table}: ${remedy(e, table, "dynamodb:PutItem")}`, cause: e })
        )
      )
    return { table, from, to }
  })
