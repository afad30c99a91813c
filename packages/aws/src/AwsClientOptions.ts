/**
 * How eddy sets up every AWS SDK client it builds (Kinesis, DynamoDB, SQS):
 * region, endpoint, credentials and SDK attempts, and where they come from in
 * the environment. `AwsClient.scoped` turns them into an SDK client's
 * configuration, with the HTTP/1.1 handler `httpHandlerOptions` sets up.
 */
import { Config, Option, Redacted } from "effect"

export interface Options {
  /** Default `us-east-1`. */
  readonly region?: string
  /** Overrides the endpoint, e.g. a local emulator; plain `http:` endpoints get static dummy credentials. */
  readonly endpoint?: string
  /** Default: the SDK's credential chain (environment, profile, task or instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: Redacted.Redacted<string> }
  /** SDK-level attempts per call; eddy retries with its own Schedules, so the default is 1. */
  readonly maxAttempts?: number
}

/** The part of an SDK client's configuration that `Options` decide. */
export interface ClientConfig {
  readonly region: string
  readonly maxAttempts: number
  readonly endpoint?: string
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string }
}

/**
 * Timeouts for `NodeHttpHandler`: a dead endpoint fails the call in seconds,
 * as a retryable error, instead of hanging until the caller's own deadline.
 */
export const httpHandlerOptions = { connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true } as const

/** Local emulators accept any credentials, and the SDK's chain may find none on a developer's machine. */
const localCredentials = { accessKeyId: "local", secretAccessKey: "local" }

export const clientConfig = (options: Options): ClientConfig => {
  const credentials = options.credentials
    ? { accessKeyId: options.credentials.accessKeyId, secretAccessKey: Redacted.value(options.credentials.secretAccessKey) }
    : options.endpoint?.startsWith("http:")
    ? localCredentials
    : undefined
  return {
    region: options.region ?? "us-east-1",
    maxAttempts: options.maxAttempts ?? 1,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(credentials ? { credentials } : {})
  }
}

/**
 * Region and endpoint of one service from the environment, as the AWS SDKs
 * read them: `AWS_REGION` (default `us-east-1`) and
 * `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`), falling
 * back to `AWS_ENDPOINT_URL`.
 */
export const config = (service: string): Config.Config<Options> =>
  Config.all({
    region: Config.string("AWS_REGION").pipe(Config.withDefault("us-east-1")),
    endpoint: Config.option(Config.string(`AWS_ENDPOINT_URL_${service}`).pipe(Config.orElse(() => Config.string("AWS_ENDPOINT_URL"))))
  }).pipe(Config.map(({ endpoint, region }) => (Option.isSome(endpoint) ? { region, endpoint: endpoint.value } : { region })))
