/**
 * Where the commerce analytics keep their state: the DynamoDB aggregate and
 * dedup tables both entries write, and the lease table the service shares
 * among its workers, and where dead letters go. Each has a layer from
 * explicit names (the demo, tests) and one from the environment (the deployed
 * entries): the environment's names live here, not in the libraries.
 */
import type { Deduper } from "@eddy/core/Deduper"
import type * as Leases from "@eddy/core/Leases"
import type { Store } from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoLeases from "@eddy/dynamodb/DynamoLeases"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import type { KinesisError } from "@eddy/kinesis/Kinesis"
import type * as DeadLetter from "@eddy/core/DeadLetter"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
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

/** One DynamoDB client from `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`), as the AWS SDKs read them. */
export const dynamoClientConfig: Layer.Layer<DynamoClient.DynamoClient, ConfigError.ConfigError> = DynamoClient.layerConfig()

/** The store and deduper from `tablesConfig`, with one DynamoDB client (`dynamoClientConfig`). */
export const layerConfig: Layer.Layer<Store | Deduper, ConfigError.ConfigError> = Layer.unwrapEffect(Effect.map(tablesConfig, layer)).pipe(
  Layer.provide(dynamoClientConfig)
)

/**
 * Where dead letters go, from `EDDY_DEAD_LETTER`: `sqs:<queue URL>`,
 * `kinesis:<stream name>` or `stdout` (the default).
 */
export const deadLetterConfig: Layer.Layer<DeadLetter.DeadLetter, ConfigError.ConfigError | KinesisError> = DeadLetterSinks.layerConfig({
  target: DeadLetterSinks.targetConfig("EDDY_DEAD_LETTER").pipe(Config.withDefault<DeadLetterSinks.Target>({ _tag: "Stdout" }))
})

/**
 * The service's lease table from `EDDY_LEASE_TABLE` (failover after
 * `EDDY_FAILOVER_TIME`, default 10 seconds). Leases are keyed
 * `<stream>:<shardId>`, so the services of several streams may share one
 * table; a table of the old single-stream format is refused at start. Unlike the runtime's default it
 * does not ensure the table (describe, create if missing), so the task role
 * needs only the lease operations: the stack creates the table (see
 * template.yaml).
 */
export const leasesConfig: Layer.Layer<Leases.Leases, ConfigError.ConfigError> = DynamoLeases.layerConfig(
  Config.all({
    tableName: Config.nonEmptyString("EDDY_LEASE_TABLE"),
    failoverTime: Config.duration("EDDY_FAILOVER_TIME").pipe(Config.withDefault(Duration.seconds(10)))
  })
).pipe(Layer.provide(dynamoClientConfig))
