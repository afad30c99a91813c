/** eddy's durable state on DynamoDB: aggregates, dedup claims and KCL-style leases. */
/** Every item of an aggregate table, decoded. */
export * as AggregateScan from "./AggregateScan"
/** The DynamoDB client. */
export * as DynamoClient from "./DynamoClient"
/** Event-id claims on DynamoDB. */
export * as DynamoDeduper from "./DynamoDeduper"
/** Shard leases on DynamoDB. */
export * as DynamoLeases from "./DynamoLeases"
/** The store of aggregates on DynamoDB. */
export * as DynamoStore from "./DynamoStore"
/** Where a replay stands per shard, kept in its shadow table. */
export * as ReplayCheckpoint from "./ReplayCheckpoint"
/** Which aggregate table readers read: the alias `eddy replay switch` writes. */
export * as TableAlias from "./TableAlias"
/** Creating the DynamoDB tables. */
export * as Tables from "./Tables"
