/** eddy's durable state on DynamoDB: aggregates, dedup claims and KCL-style leases. */
/** The DynamoDB client. */
export * as DynamoClient from "./DynamoClient"
/** Event-id claims on DynamoDB. */
export * as DynamoDeduper from "./DynamoDeduper"
/** Shard leases on DynamoDB. */
export * as DynamoLeases from "./DynamoLeases"
/** The store of aggregates on DynamoDB. */
export * as DynamoStore from "./DynamoStore"
/** Creating the DynamoDB tables. */
export * as Tables from "./Tables"
