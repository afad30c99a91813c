import { type DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import type { OrderCreated } from "@eddy/commerce/CommerceEvent"
import { Effect } from "effect"
import { createHash } from "node:crypto"

/**
 * The usual per-record handler, for comparison: per event, the Powertools
 * idempotency utility's two writes (the record put as INPROGRESS on condition
 * it is new or expired, later updated to COMPLETED) around one `ADD` per order
 * line into the same aggregate items eddy writes.
 */
export const perRecordBaseline = (
  client: DynamoDBClient,
  tables: { readonly aggregate: string; readonly idempotency: string; readonly pipeline: string; readonly bucket: string },
  orders: ReadonlyArray<OrderCreated>
) =>
  Effect.forEach(orders, (order) => {
    const id = `commerce-analytics#${createHash("md5").update(JSON.stringify(order)).digest("hex")}`
    const now = Math.floor(Date.now() / 1000)
    return Effect.promise(async () => {
      await client.send(
        new PutItemCommand({
          TableName: tables.idempotency,
          Item: { id: { S: id }, expiration: { N: String(now + 3600) }, in_progress_expiration: { N: String(now * 1000 + 60_000) }, status: { S: "INPROGRESS" } },
          ConditionExpression: "attribute_not_exists(#id) OR #expiry < :now",
          ExpressionAttributeNames: { "#id": "id", "#expiry": "expiration" },
          ExpressionAttributeValues: { ":now": { N: String(now) } }
        })
      )
      for (const line of order.order.lineItems) {
        await client.send(
          new UpdateItemCommand({
            TableName: tables.aggregate,
            Key: { pk: { S: `${tables.pipeline}#${line.productId}` }, sk: { S: tables.bucket } },
            UpdateExpression: "ADD #v :d",
            ExpressionAttributeNames: { "#v": "v" },
            ExpressionAttributeValues: { ":d": { N: String(line.quantity * line.unitPrice) } }
          })
        )
      }
      await client.send(
        new UpdateItemCommand({
          TableName: tables.idempotency,
          Key: { id: { S: id } },
          UpdateExpression: "SET #status = :status, #data = :data, #expiry = :expiry",
          ExpressionAttributeNames: { "#status": "status", "#data": "data", "#expiry": "expiration" },
          ExpressionAttributeValues: { ":status": { S: "COMPLETED" }, ":data": { S: "null" }, ":expiry": { N: String(now + 3600) } }
        })
      )
    })
  }, { concurrency: 16, discard: true })
