/**
 * The service's HTTP endpoint, for the load balancer, the orchestrator and
 * Prometheus:
 *
 * - `GET /healthz`: liveness, `200 {"status":"ok"}` while the process serves.
 * - `GET /readyz`: `200` when `readiness` says ready, else `503`; the body is
 *   the readiness report as JSON.
 * - `GET /metrics`: every Effect metric in the Prometheus text format.
 * - with `EDDY_QUERY_API` on, the query API and its `/openapi.json` (see `QueryApi`).
 *
 * Each request is logged at DEBUG (see `AccessLog`): probes come every few seconds.
 */
import { type HttpApp, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, LogLevel, type Scope } from "effect"
import { createServer } from "node:http"
import * as AccessLog from "./AccessLog"
import * as Prometheus from "./Prometheus"

export interface Readiness {
  readonly ready: boolean
}

export const router = <R extends Readiness>(readiness: Effect.Effect<R>, api?: HttpApp.Default) => {
  const own = HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))),
    HttpRouter.get("/readyz", Effect.map(readiness, (r) => HttpServerResponse.unsafeJson(r, { status: r.ready ? 200 : 503 }))),
    HttpRouter.get("/metrics", Effect.map(Prometheus.snapshot, (text) => HttpServerResponse.text(text, { contentType: Prometheus.contentType })))
  )
  return api === undefined ? own : HttpRouter.all(own, "*", api)
}

/**
 * Serves the endpoints on `port` (0: any free port) until the scope closes;
 * returns the address it listens on.
 */
export const serve = <R extends Readiness>(options: {
  readonly port: number
  readonly readiness: Effect.Effect<R>
  /** Answers every other path (the query API). */
  readonly api?: HttpApp.Default
}): Effect.Effect<HttpServer.Address, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: options.port })
    yield* server.serve(AccessLog.middleware(LogLevel.Debug)(router(options.readiness, options.api)))
    return server.address
  })
