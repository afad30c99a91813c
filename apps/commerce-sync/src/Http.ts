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
 *
 * Answers:
 * - `202 Accepted` with `{ eventId, type, stream, shardId, sequenceNumber }`
 *   once Kinesis has durably written the event.
 * - `400` with a JSON problem (`application/problem+json`) whose `path` names
 *   the field (relative to the body, e.g. `lineItems[0].quantity`) and `rule`
 *   the rule it breaks; also for malformed JSON (`path` empty).
 * - `404` for an order this instance does not know; `409` for a change that
 *   conflicts with what it knows (creating a known order, a status the order
 *   already has); `413` for a body over the size limit.
 * - `429` (insert rate limit used up) or `503` (too many requests waiting for
 *   Kinesis, the producer's buffer full, or Kinesis failing), each with
 *   `Retry-After` in seconds. Requests are never queued without bound: at
 *   most `maxInFlight` wait for Kinesis at once, the rest are refused at once.
 *
 * An `Idempotency-Key` header (1 to 128 characters) becomes the event id, so
 * a client retrying a request after a timeout produces the same event, which
 * consumers drop as a duplicate.
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
 */
import { HttpRouter, HttpServer, type HttpServerError, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Order, type OrderEvent, OrderStatus, Product } from "@eddy/commerce/CommerceEvent"
import { type InvalidEventError, type NotJsonError, type NotUtf8Error, parseObject, validator } from "@eddy/core/Decoder"
import { Config, type ConfigError, Context, Data, Effect, Either, Layer, Schema, type Scope, Stream } from "effect"
import { createServer } from "node:http"
import * as Changes from "./Changes"
import { Lru } from "./internal/lru"
import { CommerceSync, type Synced, type TrySyncError } from "./Sync"

export interface Options {
  /** Orders the view remembers. Default 100,000. */
  readonly orderViewCapacity?: number
  /** Product ids remembered to tell created from updated. Default 100,000. */
  readonly productViewCapacity?: number
  /** Largest request body accepted, in bytes. Default 1 MiB (a Kinesis record's limit). */
  readonly maxBodyBytes?: number
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
}> {}

const problemResponse = (p: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    {
      type: "about:blank",
      title: p.title,
      status: p.status,
      detail: p.detail,
      ...(p.path !== undefined ? { path: p.path, rule: p.rule } : {})
    },
    {
      status: p.status,
      contentType: "application/problem+json",
      ...(p.retryAfterMillis !== undefined ? { headers: { "retry-after": String(Math.max(1, Math.ceil(p.retryAfterMillis / 1000))) } } : {})
    }
  )

const invalid = (path: string, rule: string) =>
  new Problem({ status: 400, title: "Invalid request", detail: path === "" ? rule : `${path} ${rule}`, path, rule })

/** A decode error of the body as a 400; `root` is the event field the body is (`order`), stripped from paths. */
const badBody = (error: NotUtf8Error | NotJsonError | InvalidEventError, root?: string): Problem => {
  if (error._tag === "NotUtf8Error") return invalid("", "must be UTF-8 encoded JSON")
  if (error._tag === "NotJsonError") return invalid("", `must be one JSON object, found ${error.found}`)
  const path = root !== undefined && error.path.startsWith(`${root}.`) ? error.path.slice(root.length + 1) : error.path
  return invalid(path, error.rule)
}

const WRITE_RETRY_AFTER_MILLIS = 5_000

const fromSyncError = (error: TrySyncError, root: string): Problem => {
  switch (error._tag) {
    case "InvalidEventError":
      return badBody(error, root)
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

/** The body as a JSON object; an empty body is `{}` when `emptyAllowed`. */
const jsonBody = (max: number, emptyAllowed = false) =>
  Effect.flatMap(readBody(max), (bytes) =>
    emptyAllowed && bytes.byteLength === 0
      ? Effect.succeed<Record<string, unknown>>({})
      : Either.mapLeft(parseObject(bytes), (e) => badBody(e)))

const validate = <A>(check: (input: unknown) => Either.Either<A, InvalidEventError>, input: unknown) =>
  Either.mapLeft(check(input), (e) => badBody(e))

/** The `Idempotency-Key` header as the event id, or a fresh one. */
const stampOf = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const key = request.headers["idempotency-key"]
  if (key !== undefined && (key.length === 0 || key.length > 128)) {
    return Effect.fail(invalid("Idempotency-Key", "must be 1 to 128 characters: it becomes the event id"))
  }
  return Changes.stamp(key)
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

interface OrderEntry {
  readonly order: Order
  /** The event id of its `order.created`, to recognize a retried create. */
  readonly createdBy: string
}

const respond = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Problem, R>) =>
  Effect.catchAll(handler, (p) => Effect.succeed(problemResponse(p)))

/** The routes, with fresh (empty) product and order views. */
export const makeApp = (options: Options = {}) =>
  Effect.gen(function*() {
    const sync = yield* CommerceSync
    const max = options.maxBodyBytes ?? 1024 * 1024
    const orders = new Lru<string, OrderEntry>(options.orderViewCapacity ?? 100_000)
    const products = new Lru<string, true>(options.productViewCapacity ?? 100_000)

    const send = (event: Parameters<typeof sync.trySync>[0], root: string) =>
      Effect.mapError(sync.trySync(event), (e) => fromSyncError(e, root))

    /**
     * Reads the order, decides the change and updates the view in one
     * synchronous step, so concurrent changes of one order see each other;
     * then writes the event, putting the view back if the write fails and
     * nothing changed the entry meanwhile.
     */
    const changeOrder = (
      id: string,
      decide: (current: OrderEntry | undefined) => Either.Either<readonly [OrderEvent, OrderEntry], Problem>
    ) =>
      Effect.suspend(() => {
        const previous = orders.get(id)
        const decided = decide(previous)
        if (Either.isLeft(decided)) return Effect.fail(decided.left)
        const [event, next] = decided.right
        orders.set(id, next)
        return send(event, "order").pipe(
          Effect.tapError(() =>
            Effect.sync(() => {
              if (orders.get(id) !== next) return
              if (previous === undefined) orders.delete(id)
              else orders.set(id, previous)
            })
          ),
          Effect.map(accepted)
        )
      })

    const unknownOrder = (id: string) =>
      new Problem({ status: 404, title: "Unknown order", detail: `order ${id} is not known to this instance: create it with POST /orders first` })
    const unchanged = (id: string, status: string) =>
      new Problem({ status: 409, title: "No change", detail: `order ${id} is already ${status}` })

    const postProduct = Effect.gen(function*() {
      const body = yield* jsonBody(max)
      const change = body.change
      if (change !== undefined && !changes.includes(change as ProductChange)) {
        return yield* invalid("change", `must be "created" or "updated" when given`)
      }
      const product = yield* validate(validateProduct, body)
      if (product.parentId === product.id) return yield* invalid("parentId", "must not name the product itself")
      const stamp = yield* stampOf
      const type = (change as ProductChange | undefined) ?? (products.has(product.id) ? "updated" : "created")
      const event = type === "created" ? Changes.productCreated(stamp, product) : Changes.productUpdated(stamp, product)
      const synced = yield* send(event, "product")
      products.set(product.id, true)
      return accepted(synced)
    })

    const postOrder = Effect.gen(function*() {
      const order = yield* validate(validateOrder, yield* jsonBody(max))
      const stamp = yield* stampOf
      return yield* changeOrder(order.id, (existing) =>
        // The same event id again is a client's retry: written again, the duplicate is dropped downstream.
        existing !== undefined && existing.createdBy !== stamp.eventId
          ? Either.left(
            new Problem({
              status: 409,
              title: "Order exists",
              detail: `order ${order.id} exists: change it with POST /orders/${order.id}/status or /cancel`
            })
          )
          : Either.right([Changes.orderCreated(stamp, order), { order, createdBy: stamp.eventId }]))
    })

    const postStatus = Effect.gen(function*() {
      const { id } = yield* HttpRouter.params
      const { status } = yield* validate(validateStatusBody, yield* jsonBody(max))
      const stamp = yield* stampOf
      return yield* changeOrder(id!, (entry) => {
        if (entry === undefined) return Either.left(unknownOrder(id!))
        if (entry.order.status === status) return Either.left(unchanged(id!, status))
        const event = Changes.orderStatusChanged(stamp, entry.order, status as Changes.ChangeableStatus)
        return Either.right([event, { ...entry, order: event.order }])
      })
    })

    const postCancel = Effect.gen(function*() {
      const { id } = yield* HttpRouter.params
      const { reason } = yield* validate(validateCancelBody, yield* jsonBody(max, true))
      const stamp = yield* stampOf
      return yield* changeOrder(id!, (entry) => {
        if (entry === undefined) return Either.left(unknownOrder(id!))
        if (entry.order.status === "cancelled") return Either.left(unchanged(id!, "cancelled"))
        const event = Changes.orderCancelled(stamp, entry.order, reason)
        return Either.right([event, { ...entry, order: event.order }])
      })
    })

    const health = Effect.map(sync.load, (load) => HttpServerResponse.unsafeJson({ status: "ok", ...load }))

    return HttpRouter.empty.pipe(
      HttpRouter.get("/healthz", health),
      HttpRouter.post("/products", respond(postProduct)),
      HttpRouter.post("/orders", respond(postOrder)),
      HttpRouter.post("/orders/:id/status", respond(postStatus)),
      HttpRouter.post("/orders/:id/cancel", respond(postCancel)),
      Effect.catchTag("RouteNotFound", (e) =>
        Effect.succeed(
          problemResponse(new Problem({ status: 404, title: "Not found", detail: `no route for ${e.request.method} ${e.request.url}` }))
        ))
    )
  })

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

export interface ServerOptions extends Options {
  /** Default 8080; 0 picks a free port. */
  readonly port?: number
  /** Default all interfaces. */
  readonly host?: string
}

/** The API on a Node HTTP server for the layer's lifetime; closing it stops accepting and ends open connections. */
export const layer = (options: ServerOptions = {}): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, CommerceSync> =>
  Layer.unwrapEffect(Effect.map(makeApp(options), (app) => HttpServer.serve(app))).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port ?? 8080, ...(options.host !== undefined ? { host: options.host } : {}) })),
    Layer.map((context) => Context.make(HttpServer.HttpServer, Context.get(context, HttpServer.HttpServer)))
  )

/** Like `layer`, listening on `PORT` (default 8080). */
export const layerConfig = (options: Options = {}): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | ConfigError.ConfigError, CommerceSync> =>
  Layer.unwrapEffect(Effect.map(Config.port("PORT").pipe(Config.withDefault(8080)), (port) => layer({ ...options, port })))

/**
 * Serves the API in this process for the scope's lifetime, on a free
 * loopback port unless told otherwise; succeeds with its base URL.
 */
export const start = (
  options: ServerOptions = {}
): Effect.Effect<{ readonly url: string; readonly port: number }, HttpServerError.ServeError, CommerceSync | Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const context = yield* Layer.build(layer({ ...options, port: options.port ?? 0, host }))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return { url: `http://${host}:${port}`, port }
  })
