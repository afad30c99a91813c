/**
 * Where the commerce analytics keep their state: the DynamoDB aggregate and
 * dedup tables both entries write, and the lease table the service shares
 * among its workers, and where dead letters go. Each has a layer from
 * explicit names (the demo, tests) and one from the environment (the deployed
 * entries): the environment's names live here, not in the libraries.
 */
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb"
import type { Deduper } from "@eddy/core/Deduper"
import type { Store } from "@eddy/core/Store"
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoDeduper from "@eddy/dynamodb/DynamoDeduper"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as DynamoTables from "@eddy/dynamodb/Tables"
import type * as DeadLetter from "@eddy/core/DeadLetter"
import * as DeadLetterSinks from "@eddy/runtime/DeadLetterSinks"
import * as Preflight from "@eddy/runtime/Preflight"
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
export const deadLetterConfig: Layer.Layer<DeadLetter.DeadLetter, ConfigError.ConfigError> = DeadLetterSinks.layerConfig({
  target: Config.suspend(() => deadLetterTargetConfig)
})

/** `EDDY_DEAD_LETTER`, checked with the rest of the configuration at start. */
export const deadLetterTargetConfig = DeadLetterSinks.targetConfig("EDDY_DEAD_LETTER").pipe(Config.withDefault<DeadLetterSinks.Target>({ _tag: "Stdout" }))

/** What each variable the entries read is for, for the start-up configuration report. */
export const variables = {
  EDDY_AGGREGATE_TABLE: "the DynamoDB table of the aggregates (key pk, sk)",
  EDDY_DEDUP_TABLE: "the DynamoDB table of the event-id claims (key id)",
  EDDY_DEDUP_NAMESPACE: "the prefix of dedup claim ids (default commerce)",
  EDDY_DEDUP_RETENTION: "how long an event id is remembered, e.g. \"1 day\"",
  EDDY_LEASE_TABLE: "the DynamoDB lease table the service's workers share (key leaseKey)",
  EDDY_FAILOVER_TIME: "how long a lease lasts without renewal before another worker takes it, e.g. \"10 seconds\"",
  EDDY_DEAD_LETTER: "where poison records go: sqs:<queue URL>, kinesis:<stream name> or stdout (the default)",
  EDDY_STREAM_NAME: "the Kinesis stream the service reads",
  EDDY_WORKER_ID: "this worker's id among the stream's workers (default hostname-pid)",
  EDDY_INITIAL_POSITION: "where a shard without a checkpoint starts: TRIM_HORIZON or LATEST",
  EDDY_GRACE_PERIOD: "the longest time from SIGTERM to exit, e.g. \"25 seconds\"",
  EDDY_READ_LIMIT: "the most records per GetRecords call, 1 to 10000",
  EDDY_POLL_INTERVAL: "the least time between two GetRecords calls on a shard, e.g. \"200 millis\"",
  EDDY_DISCOVERY_INTERVAL: "the time between two shard listings, e.g. \"10 seconds\"",
  EDDY_STUCK_AFTER: "how long a shard may keep failing before /readyz reports it stuck, e.g. \"60 seconds\"",
  EDDY_READ_MODE: "poll (GetRecords, the default) or efo (enhanced fan-out: SubscribeToShard with a stream consumer of the service's own)",
  EDDY_CONSUMER_NAME: "needed with efo: the stream consumer's name, the same for every worker of the service",
  EDDY_READ_FALLBACK: "with efo, poll to go on polling when enhanced fan-out fails for good, none (the default) to fail",
  EDDY_QUERY_API: "true to answer range queries over the aggregates on the endpoint (/v1/pipelines, /openapi.json); default false",
  PORT: "the port of /healthz, /readyz and /metrics",
  EDDY_STRICT_ORDER: "true to hold a shard at a poison record instead of dead-lettering it",
  EDDY_AGGREGATION: "how each stream's records are packed: kpl, ndjson, msgpack or none, or stream=format pairs such as orders=ndjson,kpl",
  EDDY_TIMEOUT_MARGIN_MS: "milliseconds before the Lambda timeout at which the handler stops taking chunks",
  EDDY_CHUNK_SIZE: "records processed together, at least 1",
  EDDY_METRICS_NAMESPACE: "the CloudWatch namespace of the EMF metrics"
} as const

const describeTable = (client: DynamoDBClient, name: string) =>
  Effect.tryPromise({
    try: (signal) => client.send(new DescribeTableCommand({ TableName: name }), { abortSignal: signal }),
    catch: (cause) => cause
  })

const keysOf = (keys: ReadonlyArray<{ readonly AttributeName?: string | undefined; readonly KeyType?: string | undefined }> | undefined) =>
  (keys ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(", ")

/**
 * A start-up check: `definition`'s table exists (DescribeTable) with its key
 * schema. `variable` names the setting to fix.
 */
export const tableCheck = (definition: { readonly TableName?: string | undefined; readonly KeySchema?: ReadonlyArray<{ AttributeName?: string | undefined; KeyType?: string | undefined }> | undefined }, variable: string) =>
  Effect.flatMap(DynamoClient.DynamoClient, (client) => {
    const name = definition.TableName!
    return describeTable(client, name).pipe(
      Effect.mapError((cause) =>
        (cause as { name?: string }).name === "ResourceNotFoundException"
          ? new Preflight.CheckFailed({
            transient: false,
            problem: `the DynamoDB table ${name} does not exist: create it (key ${keysOf(definition.KeySchema)}, see template.yaml) or set ${variable} to the right table`
          })
          : Preflight.fromSdkFailure("DescribeTable", `the DynamoDB table ${name}`, "AWS_ENDPOINT_URL_DYNAMODB and the region", cause)
      ),
      Effect.flatMap((out) => {
        const expected = keysOf(definition.KeySchema)
        const actual = keysOf(out.Table?.KeySchema)
        return expected === actual ? Effect.void : Effect.fail(
          new Preflight.CheckFailed({
            transient: false,
            problem: `the DynamoDB table ${name} (${variable}) has the key schema ${actual}, but eddy needs ${expected}: point ${variable} at a table made for it`
          })
        )
      })
    )
  })

/** The start-up checks of the aggregate and dedup tables, on one DynamoDB client from the environment. */
export const tableChecks = Effect.map(tablesConfig, (tables) => [
  tableCheck(DynamoTables.aggregateTable(tables.aggregate), "EDDY_AGGREGATE_TABLE"),
  tableCheck(DynamoTables.dedupTable(tables.dedup), "EDDY_DEDUP_TABLE")
])
