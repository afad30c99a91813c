/**
 * `eddy-analytics`: the commerce aggregates as tables, read from the DynamoDB
 * table `EDDY_AGGREGATE_TABLE` (region and endpoint from `AWS_REGION` and
 * `AWS_ENDPOINT_URL_DYNAMODB`). Needs only `dynamodb:BatchGetItem` on it.
 * Run it with `pnpm --filter @eddy/commerce-analytics eddy-analytics <command>`,
 * or bundled: `node dist/cli.mjs <command>`.
 */
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as Window from "@eddy/core/Window"
import { Config, Data, Effect, Either, Layer } from "effect"
import { parseArgs } from "node:util"
import { orderStatusTransitionsDaily, pipelines, revenueHourly, topProductsDaily, uniqueCustomersDaily } from "./pipelines"
import * as Query from "./query"
import * as Render from "./render"

export const usage = `usage: eddy-analytics <command> [options]

commands:
  query <pipeline> <key>   one pipeline's value for a key, per bucket and merged
  top-products             best-selling products by units, with their revenue (daily buckets)
  revenue                  gross revenue per hour and currency (hourly buckets)
  customers                unique customers per day (daily buckets)
  statuses                 orders entering each status per day (daily buckets)
  updates <product>...     how often each product was updated (all time)
  pipelines                the pipelines, their windows and aggregates

range options (windowed pipelines):
  --last N                 the last N buckets up to now (default: 24 hours, 7 days, 60 minutes)
  --from TIME --to TIME    the buckets covering TIME to TIME, as 2026-11-21 or 2026-11-21T10:00Z;
                           a --to date without a time means the end of that day
other options:
  --limit N                rows of top-products (default 10)
  --currency CODE          currency of the amounts of a money pipeline in query (default: minor units)
`

export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

export type Command =
  | { readonly _tag: "Query"; readonly pipeline: string; readonly key: string; readonly range: Query.Range | undefined; readonly currency?: string }
  | { readonly _tag: "TopProducts"; readonly range: Query.Range | undefined; readonly limit: number }
  | { readonly _tag: "Revenue" | "Customers" | "Statuses"; readonly range: Query.Range | undefined }
  | { readonly _tag: "Updates"; readonly products: ReadonlyArray<string> }
  | { readonly _tag: "Pipelines" }

const datePattern = /^\d{4}-\d{2}-\d{2}$/
const timePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/

/** `2026-11-21` (the day's start, or its end when `end`) or `2026-11-21T10:00[:00[.000]]Z`, in epoch milliseconds. */
export const parseTime = (text: string, end: boolean): Either.Either<number, UsageError> => {
  const millis = datePattern.test(text) ? Date.parse(`${text}T00:00:00Z`) + (end ? 86_400_000 - 1 : 0) : timePattern.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(millis)
    ? Either.left(new UsageError({ message: `${JSON.stringify(text)} is not a UTC date or time; write 2026-11-21 or 2026-11-21T10:00Z` }))
    : Either.right(millis)
}

const positiveInteger = (name: string, text: string): Either.Either<number, UsageError> =>
  /^[1-9][0-9]*$/.test(text) ? Either.right(Number(text)) : Either.left(new UsageError({ message: `${name} takes a whole number >= 1, got ${JSON.stringify(text)}` }))

export const parse = (argv: ReadonlyArray<string>): Either.Either<Command, UsageError> =>
  Either.gen(function*() {
    const { positionals, values } = yield* Either.try({
      try: () =>
        parseArgs({
          args: [...argv],
          allowPositionals: true,
          options: { last: { type: "string" }, from: { type: "string" }, to: { type: "string" }, limit: { type: "string" }, currency: { type: "string" } }
        }),
      catch: (e) => new UsageError({ message: e instanceof Error ? e.message : String(e) })
    })
    const [name, ...rest] = positionals
    let range: Query.Range | undefined
    if (values.last !== undefined) {
      if (values.from !== undefined || values.to !== undefined) return yield* Either.left(new UsageError({ message: "give --last or --from/--to, not both" }))
      range = Query.last(yield* positiveInteger("--last", values.last))
    } else if (values.from !== undefined || values.to !== undefined) {
      if (values.from === undefined || values.to === undefined) return yield* Either.left(new UsageError({ message: "--from and --to go together" }))
      range = Query.between(yield* parseTime(values.from, false), yield* parseTime(values.to, true))
    }
    const args = (count: number, what: string) =>
      rest.length === count ? Either.right(rest) : Either.left(new UsageError({ message: `${name} takes ${what}, got ${rest.length} arguments` }))
    switch (name) {
      case "query": {
        const [pipeline, key] = yield* args(2, "a pipeline and a key")
        if (values.currency !== undefined && !/^[A-Z]{3}$/.test(values.currency)) {
          return yield* Either.left(new UsageError({ message: `--currency takes an ISO-4217 code such as EUR, got ${JSON.stringify(values.currency)}` }))
        }
        return { _tag: "Query", pipeline: pipeline!, key: key!, range, ...(values.currency !== undefined ? { currency: values.currency } : {}) }
      }
      case "top-products":
        yield* args(0, "no arguments")
        return { _tag: "TopProducts", range, limit: values.limit === undefined ? 10 : yield* positiveInteger("--limit", values.limit) }
      case "revenue":
      case "customers":
      case "statuses":
        yield* args(0, "no arguments")
        return { _tag: name === "revenue" ? "Revenue" : name === "customers" ? "Customers" : "Statuses", range }
      case "updates":
        if (rest.length === 0) return yield* Either.left(new UsageError({ message: "updates takes one or more product ids" }))
        return { _tag: "Updates", products: rest }
      case "pipelines":
        yield* args(0, "no arguments")
        return { _tag: "Pipelines" }
      default:
        return yield* Either.left(new UsageError({ message: name === undefined ? "give a command" : `unknown command ${JSON.stringify(name)}` }))
    }
  })

/** What `--last` means when it is not given: a day of hours, a week of days, an hour of minutes. */
const defaultRange = (window: Window.Window): Query.Range =>
  Query.last(window._tag === "Tumbling" ? { minute: 60, hour: 24, day: 7 }[window.unit] : 1)

/** The pipelines, their windows and aggregates. */
export const pipelinesTable: Render.Table = {
  title: "Pipelines",
  columns: [{ header: "name" }, { header: "events" }, { header: "aggregate" }, { header: "window" }],
  rows: pipelines.map((p) => [p.name, [...p.events].join(", "), p.aggregate.name, Window.describe(p.window)])
}

/** Runs a command; the text to print. */
export const execute = (command: Exclude<Command, { readonly _tag: "Pipelines" }>) =>
  Effect.gen(function*() {
    switch (command._tag) {
      case "Query": {
        const pipeline = yield* Query.pipelineNamed(command.pipeline)
        const result = yield* Query.value(pipeline, command.key, command.range ?? defaultRange(pipeline.window))
        return Render.valueTable(result, command.currency !== undefined ? { currency: command.currency } : {})
      }
      case "TopProducts":
        return Render.topProductsTable(yield* Query.topProductsReport(command.range ?? defaultRange(topProductsDaily.window), command.limit))
      case "Revenue":
        return Render.revenuePerHourTable(yield* Query.revenuePerHourReport(command.range ?? defaultRange(revenueHourly.window)))
      case "Customers":
        return Render.uniqueCustomersTable(yield* Query.uniqueCustomersReport(command.range ?? defaultRange(uniqueCustomersDaily.window)))
      case "Statuses":
        return Render.statusTransitionsTable(yield* Query.statusTransitionsReport(command.range ?? defaultRange(orderStatusTransitionsDaily.window)))
      case "Updates":
        return Render.productUpdatesTable(yield* Query.productUpdatesReport(command.products), command.products.length)
    }
  }).pipe(Effect.map(Render.render))

/** The aggregate table from `EDDY_AGGREGATE_TABLE`, its client from `AWS_REGION` and `AWS_ENDPOINT_URL_DYNAMODB`. */
const storeConfig = DynamoStore.layerConfig({ table: Config.string("EDDY_AGGREGATE_TABLE") }).pipe(Layer.provide(DynamoClient.layerConfig()))

const isMain = process.argv[1] !== undefined && import.meta.filename === process.argv[1]

if (isMain) {
  const program = Effect.suspend(() => parse(process.argv.slice(2))).pipe(
    Effect.flatMap((command) =>
      command._tag === "Pipelines" ? Effect.succeed(Render.render(pipelinesTable)) : Effect.provide(execute(command), storeConfig)
    ),
    Effect.match({
      onSuccess: (text) => process.stdout.write(text),
      onFailure: (error) => {
        process.stderr.write(`eddy-analytics: ${error.message}\n${error._tag === "UsageError" ? `\n${usage}` : ""}`)
        process.exitCode = error._tag === "UsageError" ? 2 : 1
      }
    })
  )
  await Effect.runPromise(program)
}
