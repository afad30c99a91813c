/**
 * How eddy sets up every AWS SDK client it builds (Kinesis, DynamoDB, SQS).
 * Region, endpoint and credentials are the SDK's own business: its chains
 * read `AWS_REGION`, the profile (`AWS_PROFILE`, `AWS_CONFIG_FILE`: `region`,
 * `endpoint_url`, `services` sections), `AWS_ENDPOINT_URL_<SERVICE>` and
 * `AWS_ENDPOINT_URL`, and honour `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`. eddy
 * passes a region or an endpoint only when the code sets one (a test on a
 * local emulator, say). `AwsClient.scoped` turns these options into an SDK
 * client's configuration, with the HTTP/1.1 handler `httpHandlerOptions` sets up.
 *
 * Retries are eddy's own (`Schedule`s, see `@eddy/core/Backoff`), so every
 * client makes one attempt per call and `AWS_MAX_ATTEMPTS` is not used.
 */
import { Config, Option, Redacted } from "effect"

/** What an AWS SDK client of eddy is built with; every field is optional. */
export interface Options {
  /** Default: the SDK's region chain (`AWS_REGION`, the profile, the instance metadata); `us-east-1` when only `endpoint` is set. */
  readonly region?: string
  /** Overrides every configured endpoint, e.g. a local emulator; plain `http:` endpoints get static dummy credentials. */
  readonly endpoint?: string
  /** Default: the SDK's credential chain (environment, profile, task or instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: Redacted.Redacted<string> }
  /** SDK-level attempts per call; eddy retries with its own Schedules, so the default is 1. */
  readonly maxAttempts?: number
}

/** The part of an SDK client's configuration that `Options` decide. */
export interface ClientConfig {
  readonly region?: string
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
export const localCredentials = { accessKeyId: "local", secretAccessKey: Redacted.make("local") }

/** The SDK client configuration for `options`: dummy credentials and a signing region for a plain `http:` endpoint, SDK retries off by default. */
export const clientConfig = (options: Options): ClientConfig => {
  const credentials = options.credentials ?? (options.endpoint?.startsWith("http:") ? localCredentials : undefined)
  // An explicit endpoint is an emulator or a private endpoint: a region is still needed to sign, and any will do for an emulator.
  const region = options.region ?? (options.endpoint !== undefined ? "us-east-1" : undefined)
  return {
    maxAttempts: options.maxAttempts ?? 1,
    ...(region !== undefined ? { region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(credentials ? { credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: Redacted.value(credentials.secretAccessKey) } } : {})
  }
}

/**
 * The options of one service's client from the environment. Region and
 * endpoint are left to the SDK; only when the endpoint the SDK will use is a
 * plain `http:` one from `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`
 * (a local emulator) and no credentials are configured (`AWS_ACCESS_KEY_ID`,
 * `AWS_PROFILE`), the client gets dummy credentials, as emulators accept any.
 */
export const config = (service: string): Config.Config<Options> =>
  Config.all({
    endpoint: Config.option(Config.string(`AWS_ENDPOINT_URL_${service}`).pipe(Config.orElse(() => Config.string("AWS_ENDPOINT_URL")))),
    ignoreEndpoints: Config.boolean("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").pipe(Config.withDefault(false)),
    accessKeyId: Config.option(Config.string("AWS_ACCESS_KEY_ID")),
    profile: Config.option(Config.string("AWS_PROFILE"))
  }).pipe(
    Config.map(({ accessKeyId, endpoint, ignoreEndpoints, profile }): Options => {
      const local = !ignoreEndpoints && Option.exists(endpoint, (url) => url.startsWith("http:"))
      return local && Option.isNone(accessKeyId) && Option.isNone(profile) ? { credentials: localCredentials } : {}
    })
  )
