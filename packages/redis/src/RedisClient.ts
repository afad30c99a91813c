import { Redis } from "ioredis"
import { Config, type ConfigError, Context, Data, Effect, Layer, Redacted, Runtime } from "effect"

/**
 * The ioredis client, connected once and disconnected with its scope. After a
 * connection loss it reconnects by itself (every 50 ms growing to 2 s); until
 * then commands fail at once.
 */
export class RedisClient extends Context.Tag("@eddy/redis/RedisClient")<RedisClient, Redis>() {}

/** The first connection failed: check the URL and that the server is reachable. */
export class RedisConnectionError extends Data.TaggedError("RedisConnectionError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where Redis is: a `redis://` URL. */
export interface Options {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS; default `redis://127.0.0.1:6379`. */
  readonly url?: Redacted.Redacted<string> | string
  /** A command unanswered for this long fails (default 5 s). */
  readonly commandTimeoutMillis?: number
}

/** Redis on this machine's default port. */
export const defaultUrl = "redis://127.0.0.1:6379"

/** The host and port of a URL, for messages: never its credentials. */
const host = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return "an unparsable URL"
  }
}

/** A connected Redis client, closed with the scope. */
export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const url = options.url === undefined ? defaultUrl : Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const redis = new Redis(url, {
            lazyConnect: true,
            // Fail fast while disconnected instead of queueing: callers retry on their own Schedules,
            // and a dedup check must fail rather than hang while the server is away.
            enableOfflineQueue: false,
            commandTimeout: options.commandTimeoutMillis ?? 5_000
          })
          // Connection errors surface on the commands that meet them; the event itself is only worth a debug line.
          redis.on("error", (error: Error) => Runtime.runFork(runtime)(Effect.logDebug("redis connection error", error.message)))
          try {
            await redis.connect()
          } catch (cause) {
            redis.disconnect()
            throw cause
          }
          return redis
        },
        catch: (cause) =>
          new RedisConnectionError({
            message: `cannot connect to Redis at ${host(url)}: ${(cause as Error)?.message ?? String(cause)}; check the Redis URL and that the server is reachable`,
            cause
          })
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    )
  })

/** `make` as a layer. */
export const layer = (options?: Options): Layer.Layer<RedisClient, RedisConnectionError> => Layer.scoped(RedisClient, make(options))

/** Like `layer`, with the options from `config`, e.g. `{ url: Config.redacted("REDIS_URL") }`. */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<RedisClient, RedisConnectionError | ConfigError.ConfigError> => Layer.scoped(RedisClient, Effect.flatMap(Config.unwrap(config), make))
