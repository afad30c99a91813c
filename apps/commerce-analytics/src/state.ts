/**
 * Where the commerce analytics keep their state: the DynamoDB aggregate and
 * dedup tables both entries write, and the lease table the service shares
 * among its workers. Each has a layer from explicit names (the demo, tests)
 * and one from the environment (the deployed entries).
 */
import type { Deduper } from "@eddy/core/Deduper"
import type * as Leases from "@eddy/core/Leases"
import type { Store } from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import { Config, type ConfigError, Duration, Effect, Layer } from "effect"

/** The dedup namespace: event ids are unique across all commerce events, so one namespace serves every stream. */
export const DEFAULT_NAMESPACE = "commerce"

export interface Tables {
  readonly aggregate: string
  readonly dedup: string
  /** Prefix of dedup claim ids (default `commerce`). */
  readonly namespace?: string
  /** How long an event id is remembered (default one day). */
  readonly dedupRetention?: Duration.DurationInput
}

/** The store and deduper on existing tables. */
export const layer = (tables: Tables): Layer.Layer<Store | Deduper, never, DynamoClient.DynamoClient> =>
  Layer.merge(
    DynamoStore.layer({ table: tables.aggregate }),
    DynamoDeduper.layer({
      table: tables.dedup,
      namespace: tables.namespace ?? DEFAULT_NAMESPACE,
      ...(tables.dedupRetention !== undefined ? { retention: tables.dedupRetention } : {})
    })
  )

/**
 * `EDDY_AGGREGATE_TABLE`, `EDDY_DEDUP_TABLE`, `EDDY_DEDUP_NAMESPACE` (default
 * `commerce`) and `EDDY_DEDUP_RETENTION` (default `1 day`).
 */
export const tablesConfig: Config.Config<Tables> = Config.all({
  aggregate: Config.nonEmptyString("EDDY_AGGREGATE_TABLE"),
  dedup: Config.nonEmptyString("EDDY_DEDUP_TABLE"),
  namespace: Config.nonEmptyString("EDDY_DEDUP_NAMESPACE").pipe(Config.withDefault(DEFAULT_NAMESPACE)),
  dedupRetention: Config.duration("EDDY_DEDUP_RETENTION").pipe(Config.withDefault(Duration.days(1)))
})

/** The store and deduper from `tablesConfig`, with one DynamoDB client from `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB`. */
export const layerConfig: Layer.Layer<Store | Deduper, ConfigError.ConfigError> = Layer.unwrapEffect(Effect.map(tablesConfig, layer)).pipe(
  Layer.provide(DynamoClient.layerConfig)
)

/**
 * The service's lease table from `EDDY_LEASE_TABLE` (failover after
 * `EDDY_FAILOVER_TIME`, default 10 seconds). Unlike the runtime's default it
 * does not ensure the table (describe, create if missing), so the task role
 * needs only the lease operations: the stack creates the table (see
 * template.yaml).
 */
export const leasesConfig: Layer.Layer<Leases.Leases, ConfigError.ConfigError> = DynamoLeases.layerConfig(
  Config.all({
    tableName: Config.nonEmptyString("EDDY_LEASE_TABLE"),
    failoverTime: Config.duration("EDDY_FAILOVER_TIME").pipe(Config.withDefault(Duration.seconds(10)))
  })
).pipe(Layer.provide(DynamoClient.layerConfig))
