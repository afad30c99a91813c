/**
 * The service's lease table: only the service takes leases, so the Lambda
 * bundle leaves this module (and the lease code) out.
 */
import type * as Leases from "@eddy/core/Leases"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import { Config, type ConfigError, Duration, Effect, Layer } from "effect"
import { dynamoClientConfig, tableCheck } from "./state"

/**
 * The service's lease table from `EDDY_LEASE_TABLE` (failover after
 * `EDDY_FAILOVER_TIME`, default 10 seconds). Leases are keyed
 * `<stream>:<shardId>`, so the services of several streams may share one
 * table; a table of the old single-stream format is refused at start. Unlike the runtime's default it
 * does not ensure the table (describe, create if missing), so the task role
 * needs only the lease operations: the stack creates the table (see
 * template.yaml).
 */
export const leaseSettingsConfig = Config.all({
  tableName: Config.nonEmptyString("EDDY_LEASE_TABLE"),
  failoverTime: Config.duration("EDDY_FAILOVER_TIME").pipe(Config.withDefault(Duration.seconds(10)))
})

export const leasesConfig: Layer.Layer<Leases.Leases, ConfigError.ConfigError> = DynamoLeases.layerConfig(leaseSettingsConfig).pipe(
  Layer.provide(dynamoClientConfig)
)

/** The start-up check of the lease table. */
export const tableCheckConfig = Effect.map(leaseSettingsConfig, (settings) => tableCheck(DynamoLeases.leaseTable(settings.tableName), "EDDY_LEASE_TABLE"))
