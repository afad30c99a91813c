/**
 * The HTTP API of commerce-sync: product and order changes in, commerce
 * events out to Kinesis.
 *
 * | request | body | event |
 * |---|---|---|
 * | `POST /products` | a product (wire format), optionally with `"change": "created"` or `"updated"` | `product.created` or `product.updated` |
 * | `POST /orders` | an order (wire format; its sums must add up) | `order.created` |
 * | `POST /orders/{id}/status` | `{ "status": "paid" }` (any status but `cancelled`) | `order.status_changed` |
 * | `POST /orders/{id}/cancel` | `{ "reason": "..." }` or empty | `order.cancelled` |
 * | `GET /healthz` | | |
 * | `GET /metrics` | | the Prometheus metrics: the producers' (`kinesis_producer_*`) and this service's (`commerce_sync_*`) |
 *
 * Each request is logged as one JSON line (`http request`, with method, path,
 * status and duration).
 * Answers:
 * - `202 Accepted` with `{ eventId, type, stream, shardId, sequenceNumber }`
 *   once Kinesis has durably written the event.
 * - `400` with a JSON problem (`application/problem+json`) whose `path` names
 *   the field (relative to the body, e.g. `lineItems[0].quantity`) and `rule`
 *   the rule it breaks; also for malformed JSON (`path` empty). It never
 *   quotes the request unless `errorInputExcerpts` is on.
 * - `401` without the bearer token, when one is configured.
 * - `404` for an order this instance does not know; `409` for a change that
 *   conflicts with what it knows: creating a known order, a status the order
 *   already has, or a transition its lifecycle forbids (`OrderLifecycle`;
 *   the problem names `currentStatus` and the `allowed` statuses).
 * - `413` for a body over the size limit; `415` for a body that is not
 *   `application/json` (so a web page cannot post one without a CORS
 *   preflight, which this API never grants: it sends no CORS headers).
 * - `422` for an `Idempotency-Key` already used for a different request.
 * - `429` (insert rate limit used up) or `503` (too many requests waiting for
 *   Kinesis, the producer's buffer full, or Kinesis failing), each with
 *   `Retry-After` in seconds. Requests are never queued without bound: at
 *   most `maxInFlight` wait for Kinesis at once, the rest are refused at once.
 *
 * Idempotency: an `Idempotency-Key` header (1 to 128 characters) becomes the
 * event id and is bound to the request (method, path and body). The same
 * request again resends the very event the first one made (same type, id and
 * time), whatever happened since, so consumers drop it as a duplicate; a
 * different request with that key is refused with 422. The keys are
 * remembered per instance, bounded, least recently used forgotten first.
 *
 * Created or updated: a product body may say which with `"change"`. Without
 * it, the server decides from the product ids it has accepted before: new
 * means created. That memory is per instance and bounded, so with several
 * instances, or after a restart, clients should send `"change"`.
 *
 * Orders: a status change or cancellation needs the whole order, which the
 * event carries. This API keeps a bounded, in-memory view of the orders it
 * created or changed (least recently used forgotten first) and answers 404 for
 * others. The view is per instance and lost on restart; a deployment with
 * several instances would read the order from the order system of record.
 *
 * Stopping: closing the server's scope drains it (see `internal/drain`):
 * in-flight requests are answered with `Connection: close`, idle keep-alive
 * connections closed, and after `shutdownGrace` the rest are cut.
 */
import { HttpRouter, HttpServer, type HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { type CommerceEvent, Order, type OrderEvent, OrderStatus, Product } from "@eddy/commerce/CommerceEvent"
import * as OrderLifecycle from "@eddy/commerce/OrderLifecycle"
import { type InvalidEventError, type NotJsonError, type NotUtf8Error, parseObject, validator } from "@eddy/core/Decoder"
import * as AccessLog from "@eddy/runtime/AccessLog"
import * as Prometheus from "@eddy/runtime/Prometheus"
import { type ConfigError, Context, Data, Duration, Effect, Either, Layer, LogLevel, Redacted, Schema, type Scope, Stream } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import * as Changes from "./Changes"
import * as HttpConfig from "./HttpConfig"
import { track } from "./internal/drain"
import { fingerprint } from "./internal/fingerprint"
import { Lru } from "./internal/lru"
import { CommerceSync, type Synced, type TrySyncError } from "./Sync"

export interface Options {
  /** Orders the view remembers. Default 100,000. */
  readonly orderViewCapacity?: number
  /** Product ids remembered to tell created from updated. Default 100,000. */
  readonly productViewCapacity?: number
  /** Idempotency keys remembered, each with its request's hash and event. Default 100,000. */
  readonly idempotencyCapacity?: number
  /** Largest request body accepted, in bytes. Default 1 MiB (a Kinesis record's limit). */
  readonly maxBodyBytes?: number
  /** When set, every request but `GET /healthz` must carry `Authorization: Bearer <token>`. */
  readonly authToken?: Redacted.Redacted<string>
  /** Whether a 400 may quote the request body (the JSON parser's excerpt). Default false. */
  readonly errorInputExcerpts?: boolean
}

// ---------------------------------------------------------------------------
// Problems: every answer that is not a 2xx
// ---------------------------------------------------------------------------

class Problem extends Data.TaggedError("Problem")<{
  readonly status: number
  readonly title: string
  readonly detail: string
  /** The failing field, relative to the body (or the header name). */
  readonly path?: string
  readonly rule?: string
  readonly retryAfterMillis?: number
  /** More members of the problem, e.g. the allowed transitions. */
  readonly extensions?: Record<string, unknown>
  readonly headers?: Record<string, string>
}> {}

const problemResponse = (p: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    {
      type: "about:blank",
      title: p.title,
      status: p.status,
      detail: p.detail,
      ...(p.path !== undefined ? { path: p.path, rule: p.rule } : {}),
      ...p.extensions
    },
    {
      status: p.status,
      contentType: "application/problem+json",
      headers: {
        ...p.headers,
        ...(p.retryAfterMillis !== undefined ? { "retry-after": String(Math.max(1, Math.ceil(p.retryAfterMillis / 1000))) } : {})
      }
    }
  )

const invalid = (path: string, rule: string) =>
  new Problem({ status: 400, title: "Invalid request", detail: path === "" ? rule : `${path} ${rule}`, path, rule })

/** The JSON parser's own message for `bytes`, which quotes a few characters of them around the error. */
const parserMessage = (bytes: Uint8Array): string | undefined => {
  try {
    JSON.parse(new TextDecoder().decode(bytes))
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

/**
 * A decode error of the body as a 400; `root` is the event field the body is
 * (`order`), stripped from paths. The rules name what a field must be, never
 * its value; only the JSON parser's message quotes the input, so it is given
 * only when `excerptsOf` is (the body, when configured to quote it).
 */
const badBody = (error: NotUtf8Error | NotJsonError | InvalidEventError, excerptsOf?: Uint8Array, root?: string): Problem => {
  if (error._tag === "NotUtf8Error") return invalid("", "must be UTF-8 encoded JSON")
  if (error._tag === "NotJsonError") {
    const excerpt = excerptsOf !== undefined && error.found.startsWith("invalid JSON") ? parserMessage(excerptsOf) : undefined
    return invalid("", `must be one JSON object, found ${excerpt === undefined ? error.found : `invalid JSON (${excerpt})`}`)
  }
  const path = root !== undefined && error.path.startsWith(`${root}.`) ? error.path.slice(root.length + 1) : error.path
  return invalid(path, error.rule)
}

const WRITE_RETRY_AFTER_MILLIS = 5_000

const fromSyncError = (error: TrySyncError, root: string): Problem => {
  switch (error._tag) {
    case "InvalidEventError":
      return badBody(error, undefined, root)
    case "EventTooLargeError":
      return new Problem({ status: 413, title: "Event too large", detail: error.message })
    case "RateLimitedError":
      return new Problem({ status: 429, title: "Rate limit exceeded", detail: error.message, retryAfterMillis: error.retryAfterMillis })
    case "OverloadedError":
      return new Problem({ status: 503, title: "Overloaded", detail: error.message, retryAfterMillis: error.retryAfterMillis })
    case "WriteFailedError":
      return new Problem({ status: 503, title: "Kinesis write failed", detail: error.message, retryAfterMillis: WRITE_RETRY_AFTER_MILLIS })
  }
}

const accepted = (synced: Synced) =>
  HttpServerResponse.unsafeJson(
    { eventId: synced.eventId, type: synced.type, stream: synced.stream, shardId: synced.shardId, sequenceNumber: synced.sequenceNumber },
    { status: 202 }
  )

// ---------------------------------------------------------------------------
// Guards: authentication and content type, before any route
// ---------------------------------------------------------------------------

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Whether the request carries the bearer token; compared in constant time. */
const authorized = (request: HttpServerRequest.HttpServerRequest, token: Redacted.Redacted<string>): boolean => {
  const header = request.headers["authorization"]
  if (header === undefined || !header.startsWith("Bearer ")) return false
  return timingSafeEqual(digest(header.slice("Bearer ".length)), digest(Redacted.value(token)))
}

const unauthorized = new Problem({
  status: 401,
  title: "Unauthorized",
  detail: "send the API token as Authorization: Bearer <token>",
  headers: { "www-authenticate": "Bearer" }
})

/** A body must be JSON; an empty one (a cancel without a reason) may say nothing. */
const acceptableContentType = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const type = request.headers["content-type"]
  if (type === undefined) return request.headers["transfer-encoding"] === undefined && Number(request.headers["content-length"] ?? 0) === 0
  return type.split(";")[0]!.trim().toLowerCase() === "application/json"
}

const unsupportedMediaType = new Problem({
  status: 415,
  title: "Unsupported media type",
  detail: "send the body as Content-Type: application/json"
})

/** Refuses what no route may see: a request without the token, a POST body that is not JSON. */
const guarded = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest>,
  token: Redacted.Redacted<string> | undefined
) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const health = request.method === "GET" && request.url.split("?")[0] === "/healthz"
    if (token !== undefined && !health && !authorized(request, token)) return Effect.succeed(problemResponse(unauthorized))
    if (request.method === "POST" && !acceptableContentType(request)) return Effect.succeed(problemResponse(unsupportedMediaType))
    return app
  })

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

const validateProduct = validator(Product)
const validateOrder = validator(Order)

const tooLarge = (max: number) => new Problem({ status: 413, title: "Body too large", detail: `the request body is over ${max} bytes` })

/**
 * Reads the body, keeping at most `max` bytes. A larger one is refused by its
 * Content-Length before reading, or, sent chunked, read to its end while
 * dropping the excess: stopping midway would reset the connection before the
 * 413 could be sent.
 */
const readBody = (max: number) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (Number(request.headers["content-length"] ?? 0) > max) return Effect.fail(tooLarge(max))
    return request.stream.pipe(
      Stream.mapError(() => new Problem({ status: 400, title: "Unreadable body", detail: "the request body could not be read" })),
      Stream.runFold({ chunks: new Array<Uint8Array>(), size: 0 }, (acc, chunk) => {
        acc.size += chunk.byteLength
        if (acc.size <= max) acc.chunks.push(chunk)
        return acc
      }),
      Effect.flatMap(({ chunks, size }) => (size > max ? Effect.fail(tooLarge(max)) : Effect.succeed(Buffer.concat(chunks))))
    )
  })

const StatusBody = Schema.Struct({
  status: OrderStatus.pipe(
    Schema.filter((s) => s !== "cancelled" || "must not be cancelled here: cancel with POST /orders/{id}/cancel")
  )
})
const validateStatusBody = validator(StatusBody)

const CancelBody = Schema.Struct({
  reason: Schema.optionalWith(Schema.String.annotations({ message: () => "must be a string" }), { exact: true })
})
const validateCancelBody = validator(CancelBody)

const changes = ["created", "updated"] as const
type ProductChange = typeof changes[number]

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

/** A request's identity: its `Idempotency-Key`, if any, and what the key is bound to. */
interface Keyed {
  readonly key: string | undefined
  readonly fingerprint: string
}

/** What an `Idempotency-Key` was first used for. */
interface Claim {
  readonly fingerprint: string
  readonly event: CommerceEvent
}

const keyReused = (key: string) =>
  new Problem({
    status: 422,
    title: "Idempotency-Key reused",
    detail:
      `Idempotency-Key ${key} was used for a different request: send a new key for a new request, or repeat the first request exactly to retry it`
  })

const respond = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Problem, R>) =>
  Effect.catchAll(handler, (p) => Effect.succeed(problemResponse(p)))

/** The routes, with fresh (empty) product, order and idempotency-key views. */
export const makeApp = (options: Options = {}) =>
  Effect.gen(function*() {
    const sync = yield* CommerceSync
    const max = options.maxBodyBytes ?? 1024 * 1024
    const excerpts = options.errorInputExcerpts ?? false
    const orders = new Lru<string, Order>(options.orderViewCapacity ?? 100_000)
    const products = new Lru<string, true>(options.productViewCapacity ?? 100_000)
    const claims = new Lru<string, Claim>(options.idempotencyCapacity ?? 100_000)

    /** The body as a JSON object; an empty body is `{}` when `emptyAllowed`. */
    const jsonBody = (emptyAllowed = false) =>
      Effect.flatMap(readBody(max), (bytes) =>
        emptyAllowed && bytes.byteLength === 0
          ? Effect.succeed<Record<string, unknown>>({})
          : Either.mapLeft(parseObject(bytes), (e) => badBody(e, excerpts ? bytes : undefined)))

    const validate = <A>(check: (input: unknown) => Either.Either<A, InvalidEventError>, input: unknown) =>
      Either.mapLeft(check(input), (e) => badBody(e))

    /** The request's `Idempotency-Key`, checked, bound to its method, path and `body`. */
    const keyed = (body: unknown) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request): Effect.Effect<Keyed, Problem> => {
        const key = request.headers["idempotency-key"]
        if (key !== undefined && (key.length === 0 || key.length > 128)) {
          return Effect.fail(invalid("Idempotency-Key", "must be 1 to 128 characters: it becomes the event id"))
        }
        return Effect.succeed({ key, fingerprint: fingerprint(request.method, request.url.split("?")[0]!, body) })
      })

    /**
     * Records `event` in the views when it applies to them, returning how to
     * take it back: a product is known from then on; an order's creation
     * applies to an order not in the view, a change to the order in the status
     * the change starts from (a replay of an older change leaves the view be).
     */
    const applyToViews = (event: CommerceEvent): () => void => {
      if (event.type === "product.created" || event.type === "product.updated") {
        const known = products.has(event.product.id)
        products.set(event.product.id, true)
        return () => (known ? undefined : products.delete(event.product.id))
      }
      const id = event.order.id
      const previous = orders.get(id)
      const applies = event.type === "order.created" ? previous === undefined : previous?.status === event.previousStatus
      if (!applies) return () => {}
      orders.set(id, event.order)
      return () => {
        if (orders.get(id) !== event.order) return
        if (previous === undefined) orders.delete(id)
        else orders.set(id, previous)
      }
    }

    /**
     * Decides the event and updates the views in one synchronous step, so
     * concurrent requests see each other; then writes it, taking the views
     * back if the write fails. A key used before replays its first event, or
     * is refused if it was used for another request.
     */
    const write = (request: Keyed, root: string, decide: (stamp: Changes.Stamp) => Either.Either<CommerceEvent, Problem>) =>
      Effect.flatMap(Changes.stamp(request.key), (stamp) =>
        Effect.suspend(() => {
          const claim = request.key === undefined ? undefined : claims.get(request.key)
          if (claim !== undefined && claim.fingerprint !== request.fingerprint) return Effect.fail(keyReused(request.key!))
          const decided = claim !== undefined ? Either.right(claim.event) : decide(stamp)
          if (Either.isLeft(decided)) return Effect.fail(decided.left)
          const event = decided.right
          // Claimed before the write: whether or not it lands, a retry must send this very event.
          if (request.key !== undefined && claim === undefined) claims.set(request.key, { fingerprint: request.fingerprint, event })
          const undo = applyToViews(event)
          return sync.trySync(event).pipe(
            Effect.mapError((e) => fromSyncError(e, root)),
            Effect.tapError(() => Effect.sync(undo)),
            Effect.map(accepted)
          )
        })
      )

    const unknownOrder = (id: string) =>
      new Problem({ status: 404, title: "Unknown order", detail: `order ${id} is not known to this instance: create it with POST /orders first` })

    /** 409 unless the lifecycle lets the order move to `to`. */
    const transition = (order: Order, to: OrderStatus): Either.Either<Order, Problem> => {
      if (OrderLifecycle.canMove(order.status, to)) return Either.right(order)
      const allowed = OrderLifecycle.allowedFrom(order.status)
      const detail = order.status === to
        ? `order ${order.id} is already ${to}`
        : `order ${order.id} is ${order.status} and cannot become ${to}: ${
          allowed.length === 0 ? "no status follows it" : `it can become ${allowed.join(", ")}`
        }`
      return Either.left(
        new Problem({
          status: 409,
          title: order.status === to ? "No change" : "Transition not allowed",
          detail,
          extensions: { currentStatus: order.status, allowed }
        })
      )
    }

    const postProduct = Effect.gen(function*() {
      const body = yield* jsonBody()
      const change = body.change
      if (change !== undefined && !changes.includes(change as ProductChange)) {
        return yield* invalid("change", `must be "created" or "updated" when given`)
      }
      const product = yield* validate(validateProduct, body)
      if (product.parentId === product.id) return yield* invalid("parentId", "must not name the product itself")
      return yield* write(yield* keyed(body), "product", (stamp) => {
        const type = (change as ProductChange | undefined) ?? (products.has(product.id) ? "updated" : "created")
        return Either.right(type === "created" ? Changes.productCreated(stamp, product) : Changes.productUpdated(stamp, product))
      })
    })

    const postOrder = Effect.gen(function*() {
      const body = yield* jsonBody()
      const order = yield* validate(validateOrder, body)
      return yield* write(yield* keyed(body), "order", (stamp) =>
        orders.has(order.id)
          ? Either.left(
            new Problem({
              status: 409,
              title: "Order exists",
              detail: `order ${order.id} exists: change it with POST /orders/${order.id}/status or /cancel`
            })
          )
          : Either.right(Changes.orderCreated(stamp, order)))
    })

    const changeOrder = (id: string, body: unknown, decide: (stamp: Changes.Stamp, order: Order) => Either.Either<OrderEvent, Problem>) =>
      Effect.flatMap(keyed(body), (request) =>
        write(request, "order", (stamp) => {
          const order = orders.get(id)
          return order === undefined ? Either.left(unknownOrder(id)) : decide(stamp, order)
        }))

    const postStatus = Effect.gen(function*() {
      const { id } = yield* HttpRouter.params
      const body = yield* jsonBody()
      const { status } = yield* validate(validateStatusBody, body)
      return yield* changeOrder(id!, body, (stamp, order) =>
        Either.map(transition(order, status), (o) => Changes.orderStatusChanged(stamp, o, status as Changes.ChangeableStatus)))
    })

    const postCancel = Effect.gen(function*() {
      const { id } = yield* HttpRouter.params
      const body = yield* jsonBody(true)
      const { reason } = yield* validate(validateCancelBody, body)
      return yield* changeOrder(id!, body, (stamp, order) =>
        Either.map(transition(order, "cancelled"), (o) => Changes.orderCancelled(stamp, o, reason)))
    })

    const health = Effect.map(sync.load, (load) => HttpServerResponse.unsafeJson({ status: "ok", ...load }))

    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/healthz", health),
      HttpRouter.get("/metrics", Effect.map(Prometheus.snapshot, (text) => HttpServerResponse.text(text, { contentType: Prometheus.contentType }))),
      HttpRouter.post("/products", respond(postProduct)),
      HttpRouter.post("/orders", respond(postOrder)),
      HttpRouter.post("/orders/:id/status", respond(postStatus)),
      HttpRouter.post("/orders/:id/cancel", respond(postCancel)),
      Effect.catchTag("RouteNotFound", (e) =>
        Effect.succeed(
          problemResponse(new Problem({ status: 404, title: "Not found", detail: `no route for ${e.request.method} ${e.request.url}` }))
        ))
    )
    return AccessLog.middleware(LogLevel.Info)(guarded(router, options.authToken))
  })

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

export interface ServerOptions extends Options {
  /** Default 8080; 0 picks a free port. */
  readonly port?: number
  /** Default loopback (`127.0.0.1`); `0.0.0.0` for every interface. */
  readonly host?: string
  /** How long closing waits for in-flight requests before cutting their connections. Default 10 seconds. */
  readonly shutdownGrace?: Duration.DurationInput
  /** Default 10 s for the headers, 30 s for the whole request, 5 s for an idle keep-alive connection. */
  readonly timeouts?: Partial<HttpConfig.Timeouts>
}

const millis = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

/** A Node server with every timeout explicit, so a slow or idle client cannot hold a connection for long. */
const nodeServer = (timeouts: Partial<HttpConfig.Timeouts> = {}) => {
  const headersTimeout = millis(timeouts.headers ?? HttpConfig.defaultTimeouts.headers)
  const requestTimeout = Math.max(headersTimeout, millis(timeouts.request ?? HttpConfig.defaultTimeouts.request))
  const server = createServer({
    headersTimeout,
    requestTimeout,
    // How often Node checks the two above: its default of 30 s would let them run long.
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, headersTimeout / 2))
  })
  server.keepAliveTimeout = millis(timeouts.keepAlive ?? HttpConfig.defaultTimeouts.keepAlive)
  return server
}

/**
 * The API on a Node HTTP server for the layer's lifetime; closing it drains
 * the server within the grace period (logged as `http server drained`).
 */
export const layer = (options: ServerOptions = {}): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, CommerceSync> =>
  Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function*() {
      const node = nodeServer(options.timeouts)
      const drainer = track(node)
      const server = yield* NodeHttpServer.make(() => node, { port: options.port ?? 8080, host: options.host ?? HttpConfig.defaultHost })
      yield* server.serve(yield* makeApp(options))
      // Added last, so it runs first: the app still answers while the server drains.
      const grace = millis(options.shutdownGrace ?? HttpConfig.defaultShutdownGrace)
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => drainer.drain(grace)).pipe(
          Effect.flatMap((report) =>
            Effect.logInfo("http server drained").pipe(
              Effect.annotateLogs({ inFlight: report.inFlight, forcedConnections: report.forced, tookMillis: report.tookMillis })
            )
          )
        )
      )
      return server
    })
  )

/** Like `layer`, configured by `HttpConfig.config` (`HOST`, `PORT`, `HTTP_AUTH_TOKEN`, ...). */
export const layerConfig = (options: Options = {}): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | ConfigError.ConfigError, CommerceSync> =>
  Layer.unwrapEffect(Effect.map(HttpConfig.config, (settings) => layer({ ...settings, ...options })))

/**
 * Serves the API in this process for the scope's lifetime, on a free
 * loopback port unless told otherwise; succeeds with its base URL.
 */
export const start = (
  options: ServerOptions = {}
): Effect.Effect<{ readonly url: string; readonly port: number }, HttpServerError.ServeError, CommerceSync | Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? HttpConfig.defaultHost
    const server = yield* Layer.build(layer({ ...options, port: options.port ?? 0, host })).pipe(
      Effect.map(Context.get(HttpServer.HttpServer))
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return { url: `http://${host}:${port}`, port }
  })
