import { type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb"
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency"
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb"
import type { Context } from "aws-lambda"
import type { OrderCreated } from "@eddy/commerce/CommerceEvent"
import { Effect } from "effect"

/**
 * The usual per-record handler, for comparison: each event through the
 * Powertools idempotency utility (`makeIdempotent` with its DynamoDB
 * persistence layer, which puts the record as INPROGRESS on condition it is
 * new or expired and updates it to COMPLETED after the function), around one
 * `ADD` per order line into the same aggregate items eddy writes.
 */
export const perRecordBaseline = (
  client: DynamoDBClient,
  tables: { readonly aggregate: string; readonly idempotency: string; readonly pipeline: string; readonly bucket: string },
  orders: ReadonlyArray<OrderCreated>
) => {
  const addLines = async (order: OrderCreated) => {
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
    return null
  }
  const config = new IdempotencyConfig({ expiresAfterSeconds: 3600 })
  // As in a Lambda invocation: the utility reads the time left to expire an INPROGRESS record.
  config.registerLambdaContext({ getRemainingTimeInMillis: () => 900_000 } as Context)
  const handle = makeIdempotent(addLines, {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: tables.idempotency, awsSdkV3Client: client }),
    config
  })
  return Effect.forEach(orders, (order) => Effect.promise(() => handle(order)), { concurrency: 16, discard: true })
}
