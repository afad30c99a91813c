/**
 * The service's query endpoint, an `@effect/platform` `HttpApi` with its
 * OpenAPI document at `/openapi.json`:
 *
 * - `GET /v1/pipelines`: the pipelines, their monoid and window.
 * - `GET /v1/pipelines/{pipeline}/keys/{key}?last=7` (or `from`/`to`, epoch
 *   milliseconds or ISO-8601, or `bucket` repeated): the key's value per
 *   bucket holding one and their merge with the pipeline's monoid
 *   (`@eddy/core/Query`), each as a person reads it (a sketch's estimate, a
 *   ranking). Pages of at most `limit` buckets (default 100, at most 1,000);
 *   `next` is the `cursor` of the next page, and `total` merges the page's
 *   buckets, the whole range when `next` is absent.
 *
 * A bad range is a 400 that says what to fix, an unknown pipeline a 404 that
 * names the known ones, a store that cannot answer a 503.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, type HttpApp, HttpApiSchema, OpenApi } from "@effect/platform"
import type * as Pipeline from "@eddy/core/Pipeline"
import * as Query from "@eddy/core/Query"
import { NodeHttpServer } from "@effect/platform-node"
import * as Store from "@eddy/core/Store"
import * as Window from "@eddy/core/Window"
import { Effect, Layer, Option, Schema, type Scope } from "effect"

/** One pipeline as the endpoint describes it. */
export const PipelineInfo = Schema.Struct({
  name: Schema.String,
  aggregate: Schema.String,
  window: Schema.String
})

const Readable = Schema.Unknown.annotations({ description: "the value as a person reads it: a number, { estimate } for a HyperLogLog, a ranking for a TopK" })

/** One page of a key's values. */
export const ValuePage = Schema.Struct({
  pipeline: Schema.String,
  key: Schema.String,
  aggregate: Schema.String,
  /** The buckets this page read, oldest first. */
  read: Schema.Array(Schema.String),
  buckets: Schema.Array(Schema.Struct({ bucket: Schema.String, value: Readable })),
  total: Schema.NullOr(Readable),
  next: Schema.optional(Schema.String).annotations({ description: "the cursor of the next page; absent on the last" })
})

/** A millisecond timestamp or an ISO-8601 time. */
const Time = Schema.Union(Schema.NumberFromString, Schema.DateFromString.pipe(Schema.transform(Schema.Number, { decode: (d) => d.getTime(), encode: (n) => new Date(n) })))

const RangeParams = Schema.Struct({
  last: Schema.optional(Schema.NumberFromString),
  from: Schema.optional(Time),
  to: Schema.optional(Time),
  bucket: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  limit: Schema.optional(Schema.NumberFromString),
  cursor: Schema.optional(Schema.NumberFromString)
})

export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", { message: Schema.String }, HttpApiSchema.annotations({ status: 400 })) {}
export class UnknownPipeline extends Schema.TaggedError<UnknownPipeline>()("UnknownPipeline", { message: Schema.String }, HttpApiSchema.annotations({ status: 404 })) {}
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", { message: Schema.String }, HttpApiSchema.annotations({ status: 503 })) {}

export class Aggregates extends HttpApiGroup.make("aggregates")
  .add(HttpApiEndpoint.get("pipelines", "/v1/pipelines").addSuccess(Schema.Array(PipelineInfo)))
  .add(
    HttpApiEndpoint.get("value", "/v1/pipelines/:pipeline/keys/:key")
      .setPath(Schema.Struct({ pipeline: Schema.String, key: Schema.String }))
      .setUrlParams(RangeParams)
      .addSuccess(ValuePage)
      .addError(InvalidQuery)
      .addError(UnknownPipeline)
      .addError(StoreUnavailable)
  )
{}

/** The API: its OpenAPI document is `OpenApi.fromApi(Api)`. */
export class Api extends HttpApi.make("eddy").add(Aggregates).annotate(OpenApi.Title, "eddy aggregates").annotate(OpenApi.Version, "1") {}

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1_000

type Params = typeof RangeParams.Type

const rangeOf = (window: Window.Window, params: Params): Effect.Effect<Query.Range, InvalidQuery> => {
  const bucketIds = params.bucket === undefined ? [] : typeof params.bucket === "string" ? [params.bucket] : params.bucket
  const given = [params.last !== undefined, params.from !== undefined || params.to !== undefined, bucketIds.length > 0].filter(Boolean).length
  if (given > 1) return Effect.fail(new InvalidQuery({ message: "give one of last, from and to, or bucket" }))
  if (params.last !== undefined) return Effect.succeed(Query.last(params.last))
  if (bucketIds.length > 0) return Effect.succeed(Query.buckets(bucketIds))
  if (params.from !== undefined && params.to !== undefined) return Effect.succeed(Query.between(params.from, params.to))
  if (params.from !== undefined || params.to !== undefined) return Effect.fail(new InvalidQuery({ message: "from and to go together" }))
  return Effect.succeed(Query.defaultRange(window))
}

/** The `limit` buckets of `all` from `cursor` (an index), and the next cursor when more remain. */
const pageOf = (all: ReadonlyArray<string>, params: Params): Effect.Effect<{ readonly page: ReadonlyArray<string>; readonly next?: string }, InvalidQuery> => {
  const limit = params.limit ?? DEFAULT_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) return Effect.fail(new InvalidQuery({ message: `limit takes a whole number from 1 to ${MAX_LIMIT}, got ${limit}` }))
  const start = params.cursor ?? 0
  if (!Number.isSafeInteger(start) || start < 0 || start > all.length) return Effect.fail(new InvalidQuery({ message: `cursor ${start} is not one this range gave; start without it` }))
  const end = Math.min(all.length, start + limit)
  return Effect.succeed({ page: all.slice(start, end), ...(end < all.length ? { next: String(end) } : {}) })
}

const valuePage = (pipeline: Pipeline.Pipeline, key: string, params: Params) =>
  Effect.gen(function*() {
    const range = yield* rangeOf(pipeline.window, params)
    const all = yield* Query.bucketsOf(pipeline.window, range).pipe(Effect.mapError((e) => new InvalidQuery({ message: e.message })))
    const { next, page } = yield* pageOf(all, params)
    const result = yield* Query.value(pipeline, key, Query.buckets(page)).pipe(
      Effect.catchTags({
        InvalidRangeError: (e) => Effect.fail(new InvalidQuery({ message: e.message })),
        StoreUnavailableError: (e) => Effect.fail(new StoreUnavailable({ message: e.message })),
        StoreRejectedError: (e) => Effect.fail(new StoreUnavailable({ message: e.message })),
        StoreMisconfiguredError: (e) => Effect.fail(new StoreUnavailable({ message: e.message }))
      })
    )
    const read = (v: unknown) => Query.readable(pipeline.aggregate, v)
    return {
      pipeline: pipeline.name,
      key,
      aggregate: pipeline.aggregate.name,
      read: result.buckets,
      buckets: result.points.map((p) => ({ bucket: p.bucket, value: read(p.value) })),
      total: Option.match(result.total, { onNone: () => null, onSome: read }),
      ...(next === undefined ? {} : { next })
    }
  })

/** The handlers over `pipelines`, reading from the `Store`. */
export const layer = (pipelines: ReadonlyArray<Pipeline.Pipeline>): Layer.Layer<HttpApi.Api, never, Store.Store> => {
  const byName = new Map(pipelines.map((p) => [p.name, p]))
  const named = (name: string) => {
    const found = byName.get(name)
    return found === undefined
      ? Effect.fail(new UnknownPipeline({ message: `there is no pipeline ${JSON.stringify(name)}; the pipelines are ${[...byName.keys()].join(", ")}` }))
      : Effect.succeed(found)
  }
  const handlers = HttpApiBuilder.group(Api, "aggregates", (h) =>
    Effect.gen(function*() {
      const store = yield* Store.Store
      return h
        .handle("pipelines", () => Effect.succeed(pipelines.map((p) => ({ name: p.name, aggregate: p.aggregate.name, window: Window.describe(p.window) }))))
        .handle("value", ({ path, urlParams }) =>
          Effect.flatMap(named(path.pipeline), (p) => valuePage(p, path.key, urlParams)).pipe(Effect.provideService(Store.Store, store)))
    }))
  return HttpApiBuilder.api(Api).pipe(Layer.provide(handlers))
}

/** The API as an `HttpApp`, with `/openapi.json`, for a server that routes other paths itself. */
export const httpApp = (pipelines: ReadonlyArray<Pipeline.Pipeline>): Effect.Effect<HttpApp.Default, never, Store.Store | Scope.Scope> =>
  Effect.gen(function*() {
    const routes = Layer.merge(HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer)
    const api = HttpApiBuilder.middlewareOpenApi().pipe(Layer.provideMerge(routes), Layer.provideMerge(layer(pipelines)))
    const app = yield* Effect.provide(HttpApiBuilder.httpApp, yield* Layer.build(api))
    // What the API's router may use of the platform (file system, paths, ETags), built once, not per request.
    const platform = yield* Layer.build(NodeHttpServer.layerContext)
    return Effect.provide(app, platform)
  })
