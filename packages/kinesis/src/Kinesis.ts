import {
  CreateStreamCommand,
  type CreateStreamInput,
  DescribeStreamSummaryCommand,
  type DescribeStreamSummaryInput,
  type DescribeStreamSummaryOutput,
  GetRecordsCommand,
  type GetRecordsInput,
  type GetRecordsOutput,
  GetShardIteratorCommand,
  type GetShardIteratorInput,
  type GetShardIteratorOutput,
  KinesisClient,
  ListShardsCommand,
  type ListShardsInput,
  type ListShardsOutput,
  MergeShardsCommand,
  type MergeShardsInput,
  PutRecordCommand,
  type PutRecordInput,
  type PutRecordOutput,
  PutRecordsCommand,
  type PutRecordsInput,
  type PutRecordsOutput,
  SplitShardCommand,
  type SplitShardInput
} from "@aws-sdk/client-kinesis"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as AwsSdkError from "@eddy/aws/AwsSdkError"
import { Config, type ConfigError, Context, Data, Effect, Layer } from "effect"

/** Kinesis or the network pushed back (throttling, limits, 5xx, timeouts): retry with backoff. */
export class KinesisThrottledError extends Data.TaggedError("KinesisThrottledError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Kinesis did not answer or refused for now (throttling, faults, network): retry. */
export class KinesisUnavailableError extends Data.TaggedError("KinesisUnavailableError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The stream or shard does not exist (or no longer does): check the stream name and region. */
export class KinesisNotFoundError extends Data.TaggedError("KinesisNotFoundError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** A shard iterator older than five minutes; the consumer asks for a new one. */
export class KinesisExpiredIteratorError extends Data.TaggedError("KinesisExpiredIteratorError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The stream is being created, updated or resharded; try again once it is ACTIVE. */
export class KinesisResourceInUseError extends Data.TaggedError("KinesisResourceInUseError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** The request itself is wrong (invalid argument, access denied, validation): retrying cannot help. */
export class KinesisRequestError extends Data.TaggedError("KinesisRequestError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** What a Kinesis call can fail with. */
export type KinesisError =
  | KinesisThrottledError
  | KinesisUnavailableError
  | KinesisNotFoundError
  | KinesisExpiredIteratorError
  | KinesisResourceInUseError
  | KinesisRequestError

/** Whether retrying the call may help. */
export const isRetryable = (e: KinesisError): boolean =>
  e._tag === "KinesisThrottledError" || e._tag === "KinesisUnavailableError" || e._tag === "KinesisResourceInUseError"

const retryableRecordCodes = new Set([
  "ProvisionedThroughputExceededException",
  "InternalFailure",
  "ServiceUnavailable",
  "ThrottlingException",
  "KMSThrottlingException"
])
/**
 * Whether a record that PutRecords answered with this `ErrorCode` may go
 * through if put again (throttling, an internal failure); a KMS access error
 * will not.
 */
export const isRetryableRecordError = (errorCode: string): boolean => retryableRecordCodes.has(errorCode)

const throttling = new Set([
  "ProvisionedThroughputExceededException",
  "LimitExceededException",
  "ThrottlingException",
  "KMSThrottlingException"
])
/** Maps an AWS SDK exception to our error by its `name` (and HTTP status for unnamed faults). */
export const fromSdkError = (operation: string, cause: unknown): KinesisError => {
  const sdk = AwsSdkError.fieldsOf(operation, cause)
  const args = { operation, message: sdk.message, cause }
  if (throttling.has(sdk.name)) return new KinesisThrottledError(args)
  if (sdk.name === "ResourceNotFoundException") return new KinesisNotFoundError(args)
  if (sdk.name === "ExpiredIteratorException") return new KinesisExpiredIteratorError(args)
  if (sdk.name === "ResourceInUseException") return new KinesisResourceInUseError(args)
  return AwsSdkError.isTransientFault(sdk) ? new KinesisUnavailableError(args) : new KinesisRequestError(args)
}

const commands = {
  putRecord: [PutRecordCommand, {} as PutRecordInput, {} as PutRecordOutput],
  putRecords: [PutRecordsCommand, {} as PutRecordsInput, {} as PutRecordsOutput],
  getRecords: [GetRecordsCommand, {} as GetRecordsInput, {} as GetRecordsOutput],
  getShardIterator: [GetShardIteratorCommand, {} as GetShardIteratorInput, {} as GetShardIteratorOutput],
  listShards: [ListShardsCommand, {} as ListShardsInput, {} as ListShardsOutput],
  describeStreamSummary: [DescribeStreamSummaryCommand, {} as DescribeStreamSummaryInput, {} as DescribeStreamSummaryOutput],
  createStream: [CreateStreamCommand, {} as CreateStreamInput, {} as unknown],
  splitShard: [SplitShardCommand, {} as SplitShardInput, {} as unknown],
  mergeShards: [MergeShardsCommand, {} as MergeShardsInput, {} as unknown]
} as const

type Commands = typeof commands
/** A Kinesis operation eddy calls. */
export type Operation = keyof Commands

/** The Kinesis API as Effects: each call passes its abort signal (interruption cancels the request) and fails with a `KinesisError`. */
export type KinesisApi = {
  readonly [K in Operation]: (input: Commands[K][1]) => Effect.Effect<Commands[K][2], KinesisError>
}

/** The Kinesis API as effects with typed errors. */
export class Kinesis extends Context.Tag("@eddy/kinesis/Kinesis")<Kinesis, KinesisApi>() {}

/** Wraps an SDK client; every operation becomes an interruptible Effect. */
export const fromClient = (client: KinesisClient): KinesisApi => {
  const api: Record<string, unknown> = {}
  for (const [operation, [Command]] of Object.entries(commands)) {
    const Cmd = Command as unknown as new(input: unknown) => Parameters<KinesisClient["send"]>[0]
    api[operation] = (input: unknown) =>
      Effect.tryPromise({
        try: (signal) => client.send(new Cmd(input), { abortSignal: signal }),
        catch: (cause) => fromSdkError(operation, cause)
      })
  }
  return api as KinesisApi
}

/** Options of the Kinesis client (see `AwsClientOptions`). */
export type Options = AwsClientOptions.Options

/** Builds the SDK client (see `AwsClient`) and destroys it with the scope. */
export const makeClient = (options: Options = {}) => AwsClient.scoped((config) => new KinesisClient(config), options)

/** The Kinesis API on a new client, destroyed with the scope. */
export const make = (options?: Options) => Effect.map(makeClient(options), fromClient)

/** `make` as a layer. */
export const layer = (options?: Options): Layer.Layer<Kinesis> => Layer.scoped(Kinesis, make(options))

/**
 * Like `layer`, with the options from `config`; by default `AWS_REGION` and
 * `AWS_ENDPOINT_URL_KINESIS` (falling back to `AWS_ENDPOINT_URL`), as the AWS SDKs read them.
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = AwsClientOptions.config("KINESIS")
): Layer.Layer<Kinesis, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
