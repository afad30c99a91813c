/** eddy's durable state on DynamoDB: aggregates, dedup claims and KCL-style leases. */
export * as DynamoClient from "./DynamoClient"
export * as DynamoDeduper from "./DynamoDeduper"
export * as DynamoLeases from "./DynamoLeases"
export * as DynamoStore from "./DynamoStore"
export * as Tables from "./Tables"
