import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { type ConfigError, Context, Effect, Layer } from "effect"

export type Options = AwsClientOptions.Options

/** The AWS SDK DynamoDB client, built once and destroyed with its scope. */
export class DynamoClient extends Context.Tag("@eddy/dynamodb/DynamoClient")<DynamoClient, DynamoDBClient>() {}

export const make = (options: Options = {}) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new DynamoDBClient({
        ...AwsClientOptions.clientConfig(options),
        requestHandler: new NodeHttpHandler(AwsClientOptions.httpHandlerOptions)
      })
    ),
    (client) => Effect.sync(() => client.destroy())
  )

export const layer = (options?: Options): Layer.Layer<DynamoClient> => Layer.scoped(DynamoClient, make(options))

/** Reads `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB` (falling back to `AWS_ENDPOINT_URL`), as the AWS SDKs do. */
export const layerConfig: Layer.Layer<DynamoClient, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(AwsClientOptions.config("DYNAMODB"), layer)
)
