/**
 * One log line per HTTP request, for any `@effect/platform` HTTP app:
 * `{"message":"http request","http_method":"GET","http_path":"/orders","http_status":201,"duration_ms":4,...}`
 * (the query string left out, as it may carry what should not be logged).
 */
import { HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Exit, type LogLevel } from "effect"

/** Wraps `app` so that each request it answers is logged at `level`. */
export const middleware = (level: LogLevel.LogLevel) =>
<E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(app)
    const status = Exit.isSuccess(exit)
      ? exit.value.status
      : (Exit.causeOption(exit).pipe((c) => c._tag === "Some" && JSON.stringify(c.value).includes("RouteNotFound"))) ? 404 : 500
    yield* Effect.logWithLevel(level, "http request").pipe(
      Effect.annotateLogs({
        http_method: request.method,
        http_path: request.url.split("?")[0]!,
        http_status: status,
        duration_ms: (yield* Clock.currentTimeMillis) - started
      })
    )
    return yield* exit
  })
