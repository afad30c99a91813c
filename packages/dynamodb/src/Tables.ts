import {
  type CreateTableCommandInput,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand
} from "@aws-sdk/client-dynamodb"
import { Data, Duration, Effect, Schedule } from "effect"
import { DynamoClient } from "./DynamoClient"
import { call, type SdkFailure } from "./internal/sdk"

/**
 * The tables eddy's DynamoDB backends use (see README, "Tables"):
 *
 * | table     | key                                   | other attributes                                   |
 * |-----------|---------------------------------------|----------------------------------------------------|
 * | aggregate | `pk` = `<pipeline>#<key>`, `sk` = bucket | `v` value, `ver` version, `wm:<shardId>` watermarks |
 * | dedup     | `id` = `<namespace>#<eventId>`        | `owner` claiming record                            |
 *
 * Both have TTL on `expiresAt` (epoch seconds) and on-demand billing.
 */
export const attributes = {
  partitionKey: "pk",
  sortKey: "sk",
  value: "v",
  version: "ver",
  claimId: "id",
  owner: "owner",
  expiresAt: "expiresAt"
} as const

/** CreateTable input of an aggregate table (key pk, sk; TTL attribute expiresAt). */
export const aggregateTable = (name: string): CreateTableCommandInput => ({
  TableName: name,
  KeySchema: [{ AttributeName: attributes.partitionKey, KeyType: "HASH" }, { AttributeName: attributes.sortKey, KeyType: "RANGE" }],
  AttributeDefinitions: [{ AttributeName: attributes.partitionKey, AttributeType: "S" }, { AttributeName: attributes.sortKey, AttributeType: "S" }],
  BillingMode: "PAY_PER_REQUEST"
})

/** CreateTable input of a dedup table (key id). */
export const dedupTable = (name: string): CreateTableCommandInput => ({
  TableName: name,
  KeySchema: [{ AttributeName: attributes.claimId, KeyType: "HASH" }],
  AttributeDefinitions: [{ AttributeName: attributes.claimId, AttributeType: "S" }],
  BillingMode: "PAY_PER_REQUEST"
})

/** A table could not be created or is not what eddy expects; the message says what to fix. */
export class TableError extends Data.TaggedError("TableError")<{
  readonly table: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The names of a deployment's aggregate and dedup tables. */
export interface Names {
  readonly aggregate?: string
  readonly dedup?: string
}

/** Polls a table being created: every 200 ms growing to 5 s, for about two minutes. */
export const defaultActiveSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis").pipe(
  Schedule.modifyDelay((_, d) => Duration.min(d, Duration.seconds(5))),
  Schedule.upTo("2 minutes")
)

class NotActive {
  readonly _tag = "NotActive"
}

const sameKeys = (expected: CreateTableCommandInput, actual: ReadonlyArray<{ AttributeName?: string | undefined; KeyType?: string | undefined }>): boolean =>
  JSON.stringify(expected.KeySchema?.map((k) => [k.AttributeName, k.KeyType])) === JSON.stringify(actual.map((k) => [k.AttributeName, k.KeyType]))

/** Options of `ensure`. */
export interface EnsureOptions {
  /** How to poll a table until it is ACTIVE. Default `defaultActiveSchedule`. */
  readonly activeSchedule?: Schedule.Schedule<unknown, unknown>
  /** Turn TTL on `expiresAt` on. Default true; false for tables whose items must never expire, such as leases. */
  readonly timeToLive?: boolean
}

/**
 * Creates a table unless it exists, waits until it is ACTIVE, checks its key
 * schema and turns TTL on `expiresAt` on (unless `timeToLive: false`).
 * Idempotent: safe on every start. Tables that exist need only
 * dynamodb:DescribeTable, and DescribeTimeToLive when TTL is wanted.
 */
export const ensureTable = (definition: CreateTableCommandInput, options: EnsureOptions = {}) =>
  Effect.gen(function*() {
    const client = yield* DynamoClient
    const table = definition.TableName!
    const fail = (message: string) => (cause: SdkFailure) => new TableError({ table, message: `${message}: ${cause.message}`, cause })

    const describe = call("DescribeTable", (signal) => client.send(new DescribeTableCommand({ TableName: table }), { abortSignal: signal })).pipe(
      Effect.map((out) => out.Table),
      Effect.catchIf((e) => e.name === "ResourceNotFoundException", () => Effect.succeed(undefined)),
      Effect.mapError(fail(`cannot describe table ${table}; allow dynamodb:DescribeTable`))
    )
    // Describe first, so a role that may not create tables works with tables made by cloudformation.yaml.
    if ((yield* describe) === undefined) {
      yield* call("CreateTable", (signal) => client.send(new CreateTableCommand(definition), { abortSignal: signal })).pipe(
        Effect.catchIf((e) => e.name === "ResourceInUseException", () => Effect.void),
        Effect.mapError(fail(`cannot create table ${table}; allow dynamodb:CreateTable, or create it from cloudformation.yaml`))
      )
    }
    const description = yield* describe.pipe(
      Effect.flatMap((t) => t?.TableStatus === "ACTIVE" ? Effect.succeed(t) : Effect.fail(new NotActive())),
      Effect.retry({ schedule: options.activeSchedule ?? defaultActiveSchedule, while: (e) => e._tag === "NotActive" }),
      Effect.catchTag("NotActive", () => Effect.fail(new TableError({ table, message: `table ${table} did not become ACTIVE in time; check it in the console` })))
    )
    if (!sameKeys(definition, description.KeySchema ?? [])) {
      return yield* new TableError({
        table,
        message: `table ${table} exists with key schema ${JSON.stringify(description.KeySchema)}, but eddy needs ${JSON.stringify(definition.KeySchema)}; use another table name`
      })
    }
    if (options.timeToLive === false) return

    const ttl = yield* call("DescribeTimeToLive", (signal) => client.send(new DescribeTimeToLiveCommand({ TableName: table }), { abortSignal: signal })).pipe(
      Effect.mapError(fail(`cannot read the TTL setting of ${table}`))
    )
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus
    const attribute = ttl.TimeToLiveDescription?.AttributeName
    if ((status === "ENABLED" || status === "ENABLING") && attribute === attributes.expiresAt) return
    if (status === "ENABLED" || status === "ENABLING") {
      return yield* new TableError({ table, message: `table ${table} has TTL on ${attribute}, but eddy writes expiry to ${attributes.expiresAt}; use another table name` })
    }
    yield* call("UpdateTimeToLive", (signal) =>
      client.send(
        new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: attributes.expiresAt, Enabled: true } }),
        { abortSignal: signal }
      )).pipe(
        // Only emulators lack the operation (dynalite does); their items never expire anyway.
        Effect.catchIf((e) => e.name === "UnknownOperationException", () =>
          Effect.logWarning(`the DynamoDB endpoint has no UpdateTimeToLive; items in ${table} will not expire`)),
        Effect.mapError(fail(`cannot turn TTL on for ${table}; allow dynamodb:UpdateTimeToLive or set it in cloudformation.yaml`))
      )
  })

/** Ensures the aggregate and dedup tables that are named. */
export const ensure = (names: Names, options?: Pick<EnsureOptions, "activeSchedule">) =>
  Effect.all([
    names.aggregate === undefined ? Effect.void : ensureTable(aggregateTable(names.aggregate), options),
    names.dedup === undefined ? Effect.void : ensureTable(dedupTable(names.dedup), options)
  ], { discard: true })
