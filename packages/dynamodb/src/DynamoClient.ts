import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import * as AwsClient from "@eddy/aws/AwsClient"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import { Config, type ConfigError, Context, Effect, Layer } from "effect"

/** Options of the DynamoDB client (see `AwsClientOptions`). */
export type Options = AwsClientOptions.Options

/** The AWS SDK DynamoDB client, built once and destroyed with its scope. */
export class DynamoClient extends Context.Tag("@eddy/dynamodb/DynamoClient")<DynamoClient, DynamoDBClient>() {}

/** Builds the SDK client (see `AwsClient`) and destroys it with the scope. */
export const make = (options: Options = {}) => AwsClient.scoped((config) => new DynamoDBClient(config), options)

/** A DynamoDB client, destroyed with the layer. */
export const layer = (options?: Options): Layer.Layer<DynamoClient> => Layer.scoped(DynamoClient, make(options))

/**
 * Like `layer`, with the options from `config`; by default `AWS_REGION` and
 * `AWS_ENDPOINT_URL_DYNAMODB` (falling back to `AWS_ENDPOINT_URL`), as the AWS SDKs read them.
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = AwsClientOptions.config("DYNAMODB")
): Layer.Layer<DynamoClient, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
