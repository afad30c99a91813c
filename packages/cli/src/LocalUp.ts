/**
 * A local eddy environment: kinesalite and dynalite in this process on fixed
 * ports, the streams and tables created, and the environment block that
 * points eddy's entries (and the AWS SDKs) at them.
 */
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as Kinesis from "@eddy/kinesis/Kinesis"
import * as Dynalite from "@eddy/local/Dynalite"
import * as Kinesalite from "@eddy/local/Kinesalite"
import { Effect, Schedule } from "effect"
import * as TablesCreate from "./TablesCreate"

/** `eddy local up`'s options: the emulators' ports, the streams and the tables to create. */
export interface Options {
  readonly kinesisPort: number
  readonly dynamodbPort: number
  /** Streams to create, each with a lease table `<stream>-leases`. */
  readonly streams: ReadonlyArray<string>
  readonly shards: number
  readonly aggregateTable: string
  readonly dedupTable: string
}

/** The lease table `local up` creates for a stream. */
export const leaseTableOf = (stream: string): string => `${stream}-leases`

/** The running emulators' endpoints and the tables made on them. */
export interface Environment {
  readonly kinesisEndpoint: string
  readonly dynamodbEndpoint: string
  readonly tables: ReadonlyArray<TablesCreate.Created>
  readonly options: Options
}

const createStream = (stream: string, shards: number) =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis.Kinesis
    yield* kinesis.createStream({ StreamName: stream, ShardCount: shards })
    yield* kinesis.describeStreamSummary({ StreamName: stream }).pipe(
      Effect.filterOrFail((s) => s.StreamDescriptionSummary?.StreamStatus === "ACTIVE", () => new Error(`stream ${stream} is not ACTIVE yet`)),
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
    )
  })

/** Starts both emulators (closed with the scope) and creates the streams and tables. */
export const up = (options: Options) =>
  Effect.gen(function*() {
    const kinesalite = yield* Kinesalite.start({ port: options.kinesisPort })
    const dynalite = yield* Dynalite.start({ port: options.dynamodbPort })
    const local = { region: "us-east-1" }
    yield* Effect.forEach(options.streams, (s) => createStream(s, options.shards), { discard: true }).pipe(
      Effect.provide(Kinesis.layer({ ...local, endpoint: kinesalite.endpoint }))
    )
    const tables = yield* TablesCreate.ensure({
      aggregate: options.aggregateTable,
      dedup: options.dedupTable,
      leases: options.streams.map(leaseTableOf)
    }).pipe(Effect.provide(DynamoClient.layer({ ...local, endpoint: dynalite.endpoint })))
    return { kinesisEndpoint: kinesalite.endpoint, dynamodbEndpoint: dynalite.endpoint, tables, options } satisfies Environment
  })

/** The `export` lines to paste into a shell. */
export const environmentBlock = (env: Environment): string =>
  [
    `export AWS_REGION=us-east-1`,
    `export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local`,
    `export AWS_ENDPOINT_URL_KINESIS=${env.kinesisEndpoint}`,
    `export AWS_ENDPOINT_URL_DYNAMODB=${env.dynamodbEndpoint}`,
    `export EDDY_STREAM_NAME=${env.options.streams[0] ?? ""}`,
    `export EDDY_AGGREGATE_TABLE=${env.options.aggregateTable}`,
    `export EDDY_DEDUP_TABLE=${env.options.dedupTable}`,
    `export EDDY_LEASE_TABLE=${leaseTableOf(env.options.streams[0] ?? "")}`
  ].join("\n") + "\n"
