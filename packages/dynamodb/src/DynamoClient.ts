import { DynamoDBClient } from "@aws-sdk/client-dynamodb"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted } from "effect"

export interface Options {
  readonly region?: string
  /** Overrides the endpoint, e.g. a local emulator; plain `http:` endpoints get static dummy credentials. */
  readonly endpoint?: string
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: Redacted.Redacted<string> }
  /** SDK-level attempts per call; eddy retries with its own Schedules, so the default is 1. */
  readonly maxAttempts?: number
}

/** The AWS SDK DynamoDB client, built once and destroyed with its scope. */
export class DynamoClient extends Context.Tag("@eddy/dynamodb/DynamoClient")<DynamoClient, DynamoDBClient>() {}

export const make = (options: Options = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const local = options.endpoint?.startsWith("http:") ?? false
      return new DynamoDBClient({
        region: options.region ?? "us-east-1",
        maxAttempts: options.maxAttempts ?? 1,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials
          ? { credentials: { accessKeyId: options.credentials.accessKeyId, secretAccessKey: Redacted.value(options.credentials.secretAccessKey) } }
          : local ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
        requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true })
      })
    }),
    (client) => Effect.sync(() => client.destroy())
  )

export const layer = (options?: Options): Layer.Layer<DynamoClient> => Layer.scoped(DynamoClient, make(options))

/** Reads `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB` (falling back to `AWS_ENDPOINT_URL`), as the AWS SDKs do. */
export const layerConfig: Layer.Layer<DynamoClient, ConfigError.ConfigError> = Layer.unwrapScoped(
  Effect.gen(function*() {
    const region = yield* Config.string("AWS_REGION").pipe(Config.withDefault("us-east-1"))
    const endpoint = yield* Config.option(Config.string("AWS_ENDPOINT_URL_DYNAMODB").pipe(Config.orElse(() => Config.string("AWS_ENDPOINT_URL"))))
    return layer({ region, ...(Option.isSome(endpoint) ? { endpoint: endpoint.value } : {}) })
  })
)
