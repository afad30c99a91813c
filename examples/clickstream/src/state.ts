/**
 * Where the deployed entries keep their state, from the environment the eddy
 * CDK constructs set: aggregates and event-id claims in DynamoDB
 * (`EDDY_AGGREGATE_TABLE`, `EDDY_DEDUP_TABLE`, `EDDY_DEDUP_NAMESPACE`), dead letters where
 * `EDDY_DEAD_LETTER` says (`sqs:<queue URL>`, `kinesis:<stream>`, or
 * `stdout`, the default), and, for the service, the lease table
 * `EDDY_LEASE_TABLE`.
 */
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import { Config, Layer } from "effect"

const dynamo = DynamoClient.layerConfig()

/** The store, the deduper and the dead-letter sink. */
export const layer = Layer.mergeAll(
  DynamoStore.layerConfig({ table: Config.nonEmptyString("EDDY_AGGREGATE_TABLE") }),
  DynamoDeduper.layerConfig({ table: Config.nonEmptyString("EDDY_DEDUP_TABLE"), namespace: Config.nonEmptyString("EDDY_DEDUP_NAMESPACE").pipe(Config.withDefault("clickstream")) })
).pipe(
  Layer.provide(dynamo),
  Layer.merge(DeadLetterSinks.layerConfig({
    target: DeadLetterSinks.targetConfig("EDDY_DEAD_LETTER").pipe(Config.withDefault<DeadLetterSinks.Target>({ _tag: "Stdout" }))
  }))
)

/** The lease table the service's tasks share the shards through. */
export const leases = DynamoLeases.layerConfig(Config.all({ tableName: Config.nonEmptyString("EDDY_LEASE_TABLE") })).pipe(Layer.provide(dynamo))
