/**
 * How the HTTP server of commerce-sync listens, guards and stops, from the
 * environment:
 *
 * | variable | default | |
 * |---|---|---|
 * | `HOST` | `127.0.0.1` | the address to listen on; `0.0.0.0` in a container behind a load balancer |
 * | `PORT` | `8080` | |
 * | `HTTP_AUTH_TOKEN` | none | when set, every request but `GET /healthz` needs `Authorization: Bearer <token>` |
 * | `HTTP_SHUTDOWN_GRACE` | `10 seconds` | how long SIGTERM waits for in-flight requests before closing their connections |
 * | `HTTP_HEADERS_TIMEOUT` | `10 seconds` | a client must send the request headers within this |
 * | `HTTP_REQUEST_TIMEOUT` | `30 seconds` | ... and the whole request within this |
 * | `HTTP_KEEP_ALIVE_TIMEOUT` | `5 seconds` | an idle keep-alive connection is closed after this |
 * | `HTTP_ERROR_INPUT_EXCERPTS` | `false` | whether a 400 may quote the request (say, the JSON parser's excerpt) |
 */
import { Config, Duration, type Redacted } from "effect"

export interface Timeouts {
  readonly headers: Duration.DurationInput
  readonly request: Duration.DurationInput
  readonly keepAlive: Duration.DurationInput
}

export interface HttpSettings {
  readonly host: string
  readonly port: number
  readonly authToken?: Redacted.Redacted<string>
  readonly shutdownGrace: Duration.DurationInput
  readonly timeouts: Timeouts
  readonly errorInputExcerpts: boolean
}

/** Loopback: a local run is not reachable from the network unless asked to be. */
export const defaultHost = "127.0.0.1"
export const defaultShutdownGrace: Duration.DurationInput = "10 seconds"
export const defaultTimeouts: Timeouts = { headers: "10 seconds", request: "30 seconds", keepAlive: "5 seconds" }

/** What each variable is for, for the start-up configuration report. */
export const variables = {
  HOST: "the address to listen on (default 127.0.0.1; 0.0.0.0 in a container)",
  PORT: "the port to listen on (default 8080)",
  HTTP_AUTH_TOKEN: "the bearer token every request but GET /healthz needs",
  HTTP_SHUTDOWN_GRACE: "how long SIGTERM waits for in-flight requests, e.g. \"10 seconds\"",
  HTTP_HEADERS_TIMEOUT: "the time a client has to send the request headers, e.g. \"10 seconds\"",
  HTTP_REQUEST_TIMEOUT: "the time a client has to send the whole request, e.g. \"30 seconds\"",
  HTTP_KEEP_ALIVE_TIMEOUT: "how long an idle keep-alive connection stays open, e.g. \"5 seconds\"",
  HTTP_ERROR_INPUT_EXCERPTS: "true to let a 400 quote the request"
} as const

const duration = (name: string, fallback: Duration.DurationInput) => Config.duration(name).pipe(Config.withDefault(Duration.decode(fallback)))

export const config: Config.Config<HttpSettings> = Config.all({
  host: Config.nonEmptyString("HOST").pipe(Config.withDefault(defaultHost)),
  port: Config.port("PORT").pipe(Config.withDefault(8080)),
  authToken: Config.option(Config.redacted("HTTP_AUTH_TOKEN")),
  shutdownGrace: duration("HTTP_SHUTDOWN_GRACE", defaultShutdownGrace),
  headers: duration("HTTP_HEADERS_TIMEOUT", defaultTimeouts.headers),
  request: duration("HTTP_REQUEST_TIMEOUT", defaultTimeouts.request),
  keepAlive: duration("HTTP_KEEP_ALIVE_TIMEOUT", defaultTimeouts.keepAlive),
  errorInputExcerpts: Config.boolean("HTTP_ERROR_INPUT_EXCERPTS").pipe(Config.withDefault(false))
}).pipe(
  Config.map(({ authToken, headers, keepAlive, request, ...rest }) => ({
    ...rest,
    ...(authToken._tag === "Some" ? { authToken: authToken.value } : {}),
    timeouts: { headers, request, keepAlive }
  }))
)
