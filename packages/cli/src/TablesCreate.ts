/**
 * Creating eddy's DynamoDB tables: the aggregate table, the dedup table (both
 * with TTL on `expiresAt`) and one lease table per stream (no TTL: leases
 * never expire). Idempotent: tables that exist are checked, not changed.
 */
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb"
import { DynamoClient } from "@eddy/dynamodb/DynamoClient"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as Tables from "@eddy/dynamodb/Tables"
import { Effect } from "effect"

/** The tables to ensure. */
export interface Names {
  readonly aggregate: string
  readonly dedup: string
  /** One per stream the service reads. */
  readonly leases: ReadonlyArray<string>
}

/** One table `ensure` created or found. */
export interface Created {
  readonly table: string
  readonly kind: "aggregate" | "dedup" | "lease"
  /** Whether this run created it (otherwise it existed and was checked). */
  readonly created: boolean
}

const exists = (table: string) =>
  Effect.flatMap(DynamoClient, (client) =>
    Effect.tryPromise(() => client.send(new DescribeTableCommand({ TableName: table }))).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    ))

const ensureOne = (table: string, kind: Created["kind"]) =>
  Effect.gen(function*() {
    const existed = yield* exists(table)
    if (kind === "lease") yield* DynamoLeases.createTable(table)
    else yield* Tables.ensureTable(kind === "aggregate" ? Tables.aggregateTable(table) : Tables.dedupTable(table))
    return { table, kind, created: !existed } satisfies Created
  })

/** Ensures every named table, one after the other; fails with the first table that is not what eddy needs. */
export const ensure = (names: Names) =>
  Effect.all([
    ensureOne(names.aggregate, "aggregate"),
    ensureOne(names.dedup, "dedup"),
    ...names.leases.map((t) => ensureOne(t, "lease"))
  ])

const what = { aggregate: "aggregate table, TTL on expiresAt", dedup: "dedup table, TTL on expiresAt", lease: "lease table, no TTL" } as const

/** One line per table, as `eddy tables create` prints them. */
export const render = (created: ReadonlyArray<Created>): string =>
  created.map((c) => `${c.created ? "created" : "exists "}  ${c.table}  (${what[c.kind]})`).join("\n") + "\n"
