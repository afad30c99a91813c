import {
  type AttributeValue,
  type CreateTableCommandInput,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand
} from "@aws-sdk/client-dynamodb"
import { Data, Effect } from "effect"
import type * as LeaseTable from "@eddy/core/LeaseTable"
import { LeaseStoreError } from "@eddy/core/LeaseTable"
import * as Leases from "@eddy/core/Leases"
import { DynamoClient } from "./DynamoClient"
import { call, type SdkFailure } from "./internal/sdk"
import * as Tables from "./Tables"

/**
 * The KCL lease table on DynamoDB: one item per shard keyed by `leaseKey`,
 * with KCL's attributes (`leaseOwner`, `leaseCounter`, `checkpoint`,
 * `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint` and the
 * string set `parentShardId`), and `processedUpTo`, the shard's arrival
 * clock, where the service reports final values. Every write is conditional as in KCL: create on
 * `attribute_not_exists(leaseKey)`, take on the observed `leaseCounter`, and
 * renew, checkpoint and release on both `leaseCounter` and `leaseOwner`.
 *
 * Failover is measured the KCL way, by each worker observing that a lease's
 * counter has not changed for the failover time on its own clock (see
 * `@eddy/core/Leases`): no expiry timestamp is written, so clock skew between
 * workers cannot make a live lease look expired.
 *
 * Leases are keyed `<stream>:<shardId>` by the Kinesis consumer, so several
 * streams' services can share one table. The item `eddy:changes` holds the
 * table's change counter (`LeaseTable.changes`); it is not a lease and is
 * never listed.
 *
 * Cost: a worker's round is one small GetItem (the change counter, eventually
 * consistent: half a read unit) plus one write per held lease not
 * checkpointed in the last heartbeat, about a third of the failover time
 * apart. A worker scans the whole table only about once per failover time, or
 * each round while it holds fewer than its fair share, or when the change
 * counter moved (a release, a finished shard, new leases). Finished leases
 * are deleted once their children started, so the table holds about one item
 * per open shard. No index is needed: renewals and checkpoints go by key.
 *
 * CloudFormation:
 *
 * ```yaml
 * LeaseTable:
 *   Type: AWS::DynamoDB::Table
 *   Properties:
 *     TableName: my-app-leases
 *     BillingMode: PAY_PER_REQUEST
 *     AttributeDefinitions: [{ AttributeName: leaseKey, AttributeType: S }]
 *     KeySchema: [{ AttributeName: leaseKey, KeyType: HASH }]
 * ```
 */

export const leaseTable = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  KeySchema: [{ AttributeName: "leaseKey", KeyType: "HASH" }],
  AttributeDefinitions: [{ AttributeName: "leaseKey", AttributeType: "S" }],
  BillingMode: "PAY_PER_REQUEST"
})

/** The lease table could not be created, or did not become ACTIVE. */
export class LeaseTableError extends Data.TaggedError("LeaseTableError")<{
  readonly table: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Creates the lease table unless it exists and waits until it is ACTIVE,
 * without TTL (leases must never expire). Idempotent; a table that exists
 * needs only dynamodb:DescribeTable, so a role without CreateTable works with
 * a table made by CloudFormation.
 */
export const createTable = (tableName: string) =>
  Tables.ensureTable(leaseTable(tableName), { timeToLive: false }).pipe(
    Effect.mapError((e) => new LeaseTableError({ table: e.table, message: e.message, cause: e }))
  )

const toItem = (l: LeaseTable.Lease): Record<string, AttributeValue> => ({
  leaseKey: { S: l.leaseKey },
  leaseCounter: { N: String(l.leaseCounter) },
  checkpoint: { S: l.checkpoint.sequenceNumber },
  checkpointSubSequenceNumber: { N: String(l.checkpoint.subSequenceNumber) },
  ownerSwitchesSinceCheckpoint: { N: String(l.ownerSwitchesSinceCheckpoint) },
  ...(l.leaseOwner === undefined ? {} : { leaseOwner: { S: l.leaseOwner } }),
  ...(l.processedUpTo === undefined ? {} : { processedUpTo: { N: String(l.processedUpTo) } }),
  // DynamoDB has no empty sets: shards without parents have no attribute.
  ...(l.parentShardIds.length === 0 ? {} : { parentShardId: { SS: [...l.parentShardIds] } })
})

const fromItem = (item: Record<string, AttributeValue>): LeaseTable.Lease => ({
  leaseKey: item.leaseKey?.S ?? "",
  leaseOwner: item.leaseOwner?.S,
  leaseCounter: Number(item.leaseCounter?.N ?? 0),
  checkpoint: { sequenceNumber: item.checkpoint?.S ?? Leases.TRIM_HORIZON.sequenceNumber, subSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? 0) },
  ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? 0),
  parentShardIds: item.parentShardId?.SS ?? [],
  ...(item.processedUpTo?.N !== undefined ? { processedUpTo: Number(item.processedUpTo.N) } : {})
})

/** The item holding the table's change counter (`LeaseTable.changes`); not a lease, never listed. */
export const CHANGES_KEY = "eddy:changes"

/** The lease table (`@eddy/core/LeaseTable`) on one DynamoDB table. */
export const makeTable = (tableName: string) =>
  Effect.map(DynamoClient, (client): LeaseTable.LeaseTable => {
    const storeError = (e: SdkFailure) =>
      new LeaseStoreError({
        message: e.name === "ResourceNotFoundException"
          ? `lease table ${tableName} does not exist: create it with DynamoLeases.createTable or CloudFormation (${e.message})`
          : `lease table ${tableName}: ${e.message}`,
        cause: e
      })
    /** A conditional write: `false` when its condition did not hold. */
    const conditional = (operation: string, send: (signal: AbortSignal) => Promise<unknown>) =>
      call(operation, send).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e.kind === "condition", () => Effect.succeed(false)),
        Effect.mapError(storeError)
      )

    const scanPage = (start: Record<string, AttributeValue> | undefined): Effect.Effect<ReadonlyArray<LeaseTable.Lease>, LeaseStoreError> =>
      call("Scan", (signal) =>
        client.send(
          new ScanCommand({ TableName: tableName, ConsistentRead: true, ...(start === undefined ? {} : { ExclusiveStartKey: start }) }),
          { abortSignal: signal }
        )).pipe(
          Effect.mapError(storeError),
          Effect.flatMap((out) => {
            const page = (out.Items ?? []).filter((item) => item.leaseKey?.S !== CHANGES_KEY).map(fromItem)
            return out.LastEvaluatedKey === undefined ? Effect.succeed(page) : Effect.map(scanPage(out.LastEvaluatedKey), (rest) => [...page, ...rest])
          })
        )

    return {
      name: `DynamoDB table ${tableName}`,
      changes: call("GetItem", (signal) =>
        // Eventually consistent: a change seen a moment late only delays a takeover by a heartbeat.
        client.send(new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: CHANGES_KEY } } }), { abortSignal: signal })).pipe(
          Effect.mapError(storeError),
          Effect.map((out) => Number(out.Item?.changes?.N ?? 0))
        ),
      touch: call("UpdateItem", (signal) =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { leaseKey: { S: CHANGES_KEY } },
            UpdateExpression: "ADD changes :one",
            ExpressionAttributeValues: { ":one": { N: "1" } }
          }),
          { abortSignal: signal }
        )).pipe(Effect.mapError(storeError), Effect.asVoid),
      list: scanPage(undefined),
      get: (leaseKey) =>
        call("GetItem", (signal) =>
          client.send(new GetItemCommand({ TableName: tableName, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }), { abortSignal: signal })).pipe(
            Effect.mapError(storeError),
            Effect.map((out) => out.Item === undefined ? undefined : fromItem(out.Item))
          ),
      create: (lease) =>
        conditional("PutItem", (signal) =>
          client.send(
            new PutItemCommand({ TableName: tableName, Item: toItem(lease), ConditionExpression: "attribute_not_exists(leaseKey)" }),
            { abortSignal: signal }
          )),
      take: (observed, owner) => {
        const switched = observed.leaseOwner !== undefined && observed.leaseOwner !== owner
        return conditional("UpdateItem", (signal) =>
          client.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: { leaseKey: { S: observed.leaseKey } },
              ConditionExpression: "leaseCounter = :expected",
              UpdateExpression: `SET leaseOwner = :owner, leaseCounter = :next${switched ? " ADD ownerSwitchesSinceCheckpoint :one" : ""}`,
              ExpressionAttributeValues: {
                ":expected": { N: String(observed.leaseCounter) },
                ":next": { N: String(observed.leaseCounter + 1) },
                ":owner": { S: owner },
                ...(switched ? { ":one": { N: "1" } } : {})
              }
            }),
            { abortSignal: signal }
          ))
      },
      update: (leaseKey, owner, leaseCounter, update) => {
        const sets = ["leaseCounter = :next"]
        const values: Record<string, AttributeValue> = {
          ":expected": { N: String(leaseCounter) },
          ":next": { N: String(leaseCounter + 1) },
          ":owner": { S: owner }
        }
        if (update.checkpoint !== undefined) {
          sets.push("checkpoint = :checkpoint", "checkpointSubSequenceNumber = :sub", "ownerSwitchesSinceCheckpoint = :zero")
          values[":checkpoint"] = { S: update.checkpoint.sequenceNumber }
          values[":sub"] = { N: String(update.checkpoint.subSequenceNumber) }
          values[":zero"] = { N: "0" }
        }
        if (update.processedUpTo !== undefined) {
          sets.push("processedUpTo = :processedUpTo")
          values[":processedUpTo"] = { N: String(update.processedUpTo) }
        }
        return conditional("UpdateItem", (signal) =>
          client.send(
            new UpdateItemCommand({
              TableName: tableName,
              Key: { leaseKey: { S: leaseKey } },
              ConditionExpression: "leaseCounter = :expected AND leaseOwner = :owner",
              UpdateExpression: `SET ${sets.join(", ")}${update.release === true ? " REMOVE leaseOwner" : ""}`,
              ExpressionAttributeValues: values
            }),
            { abortSignal: signal }
          ))
      },
      remove: (leaseKey, leaseCounter) =>
        conditional("DeleteItem", (signal) =>
          client.send(
            new DeleteItemCommand({
              TableName: tableName,
              Key: { leaseKey: { S: leaseKey } },
              ConditionExpression: "leaseCounter = :expected AND attribute_not_exists(leaseOwner)",
              ExpressionAttributeValues: { ":expected": { N: String(leaseCounter) } }
            }),
            { abortSignal: signal }
          ))
    }
  })

/** The lease table's name, and the lease service's options. */
export interface Options extends Leases.Options {
  readonly tableName: string
}

/**
 * The lease service on a DynamoDB lease table: `make`, `layer` (needs a `DynamoClient`) and
 * `layerConfig` (the options from a `Config`).
 */
export const { layer, layerConfig, make } = Leases.on((options: Options) => makeTable(options.tableName))
