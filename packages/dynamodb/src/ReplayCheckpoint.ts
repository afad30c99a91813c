/**
 * Where a replay stands, per shard, kept in the table it writes (the shadow
 * table): `eddy replay run` run again goes on from here instead of reading the
 * stream again from the start, so a shadow table catches up with the events
 * that arrived since in the time they take, not the stream's.
 *
 * One item per stream and shard: `pk = "#replay"`, `sk = "<stream>/<shardId>"`,
 * holding the position of the last record the replay is done with and whether
 * the shard (closed) was read to its end. No pipeline can write that key
 * (pipeline names are non-empty), and `AggregateScan` passes over it.
 *
 * A checkpoint only saves reading: the writes' per-shard watermarks are what
 * make a replay exactly once, so a checkpoint that lags (a kill between a
 * write and its checkpoint) reads a few records again, which find themselves
 * applied and count as duplicates.
 */
import { type AttributeValue, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb"
import type { Position } from "@eddy/core/SourceRecord"
import { Data, Effect } from "effect"
import { DynamoClient } from "./DynamoClient"
import { call, remedy } from "./internal/sdk"
import { attributes } from "./Tables"

/** The partition key of every replay checkpoint. */
export const partitionKey = "#replay"

/** One shard's checkpoint. */
export interface Checkpoint {
  /** The last record the replay is done with (applied, a duplicate or dead-lettered). */
  readonly position: Position
  /** The shard is closed and was read to its end: nothing is left to read. */
  readonly ended: boolean
}

/** The checkpoint could not be read or written; the message says what to fix. */
export class ReplayCheckpointError extends Data.TaggedError("ReplayCheckpointError")<{ readonly message: string; readonly cause?: unknown }> {}

const prefixOf = (stream: string): string => `${stream}/`

/** The checkpoints of `stream` in `table`, by shard id; empty when the replay never ran there. */
export const load = (table: string, stream: string): Effect.Effect<ReadonlyMap<string, Checkpoint>, ReplayCheckpointError, DynamoClient> =>
  Effect.gen(function*() {
    const client = yield* DynamoClient
    const found = new Map<string, Checkpoint>()
    let start: Record<string, AttributeValue> | undefined
    do {
      const page = yield* call("Query", (signal) =>
        client.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames: { "#pk": attributes.partitionKey, "#sk": attributes.sortKey },
            ExpressionAttributeValues: { ":pk": { S: partitionKey }, ":prefix": { S: prefixOf(stream) } },
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start })
          }),
          { abortSignal: signal }
        )).pipe(
          Effect.mapError((e) => new ReplayCheckpointError({ message: `cannot read the replay's checkpoint in ${table}: ${remedy(e, table, "dynamodb:Query")}`, cause: e }))
        )
      for (const item of page.Items ?? []) {
        const shardId = item[attributes.sortKey]?.S?.slice(prefixOf(stream).length)
        const sequenceNumber = item.sequenceNumber?.S
        if (shardId === undefined || sequenceNumber === undefined) continue
        found.set(shardId, { position: { sequenceNumber, subSequenceNumber: Number(item.subSequenceNumber?.N ?? 0) }, ended: item.ended?.BOOL === true })
      }
      start = page.LastEvaluatedKey
    } while (start !== undefined)
    return found as ReadonlyMap<string, Checkpoint>
  })

/** Saves one shard's checkpoint (one PutItem). */
export const save = (table: string, stream: string, shardId: string, checkpoint: Checkpoint): Effect.Effect<void, ReplayCheckpointError, DynamoClient> =>
  Effect.flatMap(DynamoClient, (client) =>
    call("PutItem", (signal) =>
      client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            [attributes.partitionKey]: { S: partitionKey },
            [attributes.sortKey]: { S: `${prefixOf(stream)}${shardId}` },
            sequenceNumber: { S: checkpoint.position.sequenceNumber },
            subSequenceNumber: { N: String(checkpoint.position.subSequenceNumber) },
            ended: { BOOL: checkpoint.ended },
            savedAt: { S: new Date().toISOString() }
          }
        }),
        { abortSignal: signal }
      )).pipe(
        Effect.asVoid,
        Effect.mapError((e) =>
          new ReplayCheckpointError({
            message: `cannot save the replay's checkpoint of ${shardId} in ${table}: ${e.kind === "transient" ? `${e.message}; run the replay again` : remedy(e, table, "dynamodb:PutItem")}`,
            cause: e
          })
        )
      ))
