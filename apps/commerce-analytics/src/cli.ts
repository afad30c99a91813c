/**
 * `eddy-analytics`: the commerce aggregates as tables, read from the DynamoDB
 * table `EDDY_AGGREGATE_TABLE` (region and endpoint from `AWS_REGION` and
 * `AWS_ENDPOINT_URL_DYNAMODB`). Needs only `dynamodb:BatchGetItem` on it.
 * Run it with `pnpm --filter @eddy/commerce-analytics eddy-analytics <command>`,
 * or bundled: `node dist/cli.mjs <command>`.
 */
import * as DynamoClient from "@eddy/dynamodb/DynamoClient"
import * as DynamoStore from "@eddy/dynamodb/DynamoStore"
import * as AwsClientOptions from "@eddy/aws/AwsClientOptions"
import * as ConfigReport from "@eddy/runtime/ConfigReport"
import * as Window from "@eddy/core/Window"
import { Args, CliConfig, Command as CliCommand, CommandDescriptor, CommandDirective, HelpDoc, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Data, Effect, Either, Layer, Option } from "effect"
import { orderStatusTransitionsDaily, pipelines, revenueHourly, topProductsDaily, uniqueCustomersDaily } from "./pipelines"
import * as Query from "./query"
import * as Render from "./render"

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

const usageError = (message: string) => new UsageError({ message })

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

const positiveInteger = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("N"),
    Options.mapEffect((text) => (/^[1-9][0-9]*$/.test(text) ? Effect.succeed(Number(text)) : Effect.fail(invalid(`--${name} takes a whole number >= 1, got ${JSON.stringify(text)}`)))),
    Options.optional
  )

const rangeOptions = {
  last: positiveInteger("last").pipe(Options.withDescription("The last N buckets up to now (default: 24 hours, 7 days, 60 minutes).")),
  from: Options.text("from").pipe(Options.withPseudoName("TIME"), Options.withDescription("With --to: the buckets from TIME, as 2026-11-21 or 2026-11-21T10:00Z."), Options.optional),
  to: Options.text("to").pipe(Options.withPseudoName("TIME"), Options.withDescription("With --from: the buckets up to TIME; a date without a time means the end of that day."), Options.optional)
}

interface RangeOptions {
  readonly last: Option.Option<number>
  readonly from: Option.Option<string>
  readonly to: Option.Option<string>
}

const rangeOf = (o: RangeOptions): Either.Either<Query.Range | undefined, UsageError> =>
  Either.gen(function*() {
    if (Option.isSome(o.last)) {
      if (Option.isSome(o.from) || Option.isSome(o.to)) return yield* Either.left(usageError("give --last or --from/--to, not both"))
      return Query.last(o.last.value)
    }
    if (Option.isNone(o.from) && Option.isNone(o.to)) return undefined
    if (Option.isNone(o.from) || Option.isNone(o.to)) return yield* Either.left(usageError("--from and --to go together"))
    return Query.between(yield* parseTime(o.from.value, false), yield* parseTime(o.to.value, true))
  })

const currency = Options.text("currency").pipe(
  Options.withPseudoName("CODE"),
  Options.withDescription("The currency of the amounts of a money pipeline (default: minor units)."),
  Options.mapEffect((code) => (/^[A-Z]{3}$/.test(code) ? Effect.succeed(code) : Effect.fail(invalid(`--currency takes an ISO-4217 code such as EUR, got ${JSON.stringify(code)}`)))),
  Options.optional
)

const queryCommand = CliCommand.make("query", {
  ...rangeOptions,
  currency,
  pipeline: Args.text({ name: "pipeline" }).pipe(Args.withDescription("The pipeline (see `pipelines`).")),
  key: Args.text({ name: "key" })
}).pipe(CliCommand.withDescription("One pipeline's value for a key, per bucket and merged."))
const topProductsCommand = CliCommand.make("top-products", {
  ...rangeOptions,
  limit: positiveInteger("limit").pipe(Options.withDescription("Rows (default 10)."))
}).pipe(CliCommand.withDescription("Best-selling products by units, with their revenue (daily buckets)."))
const revenueCommand = CliCommand.make("revenue", rangeOptions).pipe(CliCommand.withDescription("Gross revenue per hour and currency (hourly buckets)."))
const customersCommand = CliCommand.make("customers", rangeOptions).pipe(CliCommand.withDescription("Unique customers per day (daily buckets)."))
const statusesCommand = CliCommand.make("statuses", rangeOptions).pipe(CliCommand.withDescription("Orders entering each status per day (daily buckets)."))
const updatesCommand = CliCommand.make("updates", { products: Args.text({ name: "product" }).pipe(Args.atLeast(1)) }).pipe(
  CliCommand.withDescription("How often each product was updated (all time).")
)
const pipelinesCommand = CliCommand.make("pipelines").pipe(CliCommand.withDescription("The pipelines, their windows and aggregates."))

const subcommands = [queryCommand, topProductsCommand, revenueCommand, customersCommand, statusesCommand, updatesCommand, pipelinesCommand] as const

export const command = CliCommand.make("eddy-analytics").pipe(
  CliCommand.withDescription(
    "The commerce aggregates as tables, read from the DynamoDB table $EDDY_AGGREGATE_TABLE (region and endpoint from $AWS_REGION and $AWS_ENDPOINT_URL_DYNAMODB)."
  ),
  CliCommand.withSubcommands(subcommands)
)

/** A subcommand's parsed options and arguments as a `Command`. */
const toCommand = (name: string, o: any): Either.Either<Command, UsageError> =>
  Either.gen(function*() {
    switch (name) {
      case "query": {
        const range = yield* rangeOf(o)
        return { _tag: "Query", pipeline: o.pipeline, key: o.key, range, ...(Option.isSome(o.currency) ? { currency: o.currency.value } : {}) } as const
      }
      case "top-products":
        return { _tag: "TopProducts", range: yield* rangeOf(o), limit: Option.getOrElse(o.limit as Option.Option<number>, () => 10) } as const
      case "revenue":
      case "customers":
      case "statuses":
        return { _tag: name === "revenue" ? "Revenue" : name === "customers" ? "Customers" : "Statuses", range: yield* rangeOf(o) } as const
      case "updates":
        return { _tag: "Updates", products: o.products } as const
      default:
        return { _tag: "Pipelines" } as const
    }
  })

const plain = (doc: HelpDoc.HelpDoc): string => HelpDoc.toAnsiText(doc).replace(/\x1b\[[0-9;]*m/g, "").trim()

/** Parses `argv` (without the program name) as the process does. */
export const parse = (argv: ReadonlyArray<string>): Either.Either<Command, UsageError> =>
  CommandDescriptor.parse(command.descriptor, ["eddy-analytics", ...argv], CliConfig.defaultConfig).pipe(
    Effect.provide(NodeContext.layer),
    Effect.either,
    Effect.runSync,
    Either.mapLeft((e) => {
      if (e._tag === "CommandMismatch") return usageError(argv[0] === undefined ? "give a command" : `unknown command ${JSON.stringify(argv[0])}`)
      if (e._tag === "MissingValue" && argv[0] === "query") return usageError("query takes a pipeline and a key")
      return usageError(plain(e.error))
    }),
    Either.flatMap((directive): Either.Either<Command, UsageError> => {
      if (CommandDirective.isBuiltIn(directive)) return Either.left(usageError("give a command"))
      const sub = directive.value.subcommand
      if (Option.isNone(sub)) return Either.left(usageError("give a command"))
      if (directive.leftover.length > 0) return Either.left(usageError(`unexpected argument ${JSON.stringify(directive.leftover[0])}`))
      // A subcommand's value comes as its context tag and its options.
      const [, options] = sub.value as unknown as readonly [unknown, unknown]
      return toCommand(argv[0]!, options)
    })
  )

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

/** What each variable the commands read is for. */
export const variables: ConfigReport.Variables = {
  EDDY_AGGREGATE_TABLE: "the DynamoDB table of the aggregates (key pk, sk)",
  AWS_ENDPOINT_URL_DYNAMODB: "the DynamoDB endpoint, for a local stand-in (default: the SDK's)",
  AWS_ENDPOINT_URL: "the endpoint of every AWS service, for local stand-ins (default: the SDK's)",
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true to ignore the AWS_ENDPOINT_URL variables"
}

/** Everything a query command reads from its environment: the aggregate table and its client. */
export const config = Config.all({ table: Config.string("EDDY_AGGREGATE_TABLE"), client: AwsClientOptions.config("DYNAMODB") })

/** The store the commands read, from the whole configuration checked at once (see `ConfigReport`). */
export const storeLayer = Layer.unwrapEffect(
  Effect.map(ConfigReport.load(config, variables), ({ client, table }) => DynamoStore.layer({ table }).pipe(Layer.provide(DynamoClient.layer(client))))
)

type RunError = UsageError | Query.QueryError | Query.UnknownPipelineError | ConfigReport.ConfigurationError

/** Runs what `parse` would give for subcommand `name`, printing its table. */
const handle = (name: string, options: unknown): Effect.Effect<void, RunError> =>
  Either.match(toCommand(name, options), {
    onLeft: (error) => Effect.fail(error),
    onRight: (c) =>
      Effect.map(c._tag === "Pipelines" ? Effect.succeed(Render.render(pipelinesTable)) : Effect.provide(execute(c), storeLayer), (text) => {
        process.stdout.write(text)
      })
  })

const withRun = <N extends string, A>(sub: CliCommand.Command<N, never, never, A>, name: N) => CliCommand.withHandler(sub, (o: A) => handle(name, o))

/** The command with its handlers. */
const runnable = CliCommand.make("eddy-analytics").pipe(
  CliCommand.withDescription(
    "The commerce aggregates as tables, read from the DynamoDB table $EDDY_AGGREGATE_TABLE (region and endpoint from $AWS_REGION and $AWS_ENDPOINT_URL_DYNAMODB)."
  ),
  CliCommand.withSubcommands([
    withRun(queryCommand, "query"),
    withRun(topProductsCommand, "top-products"),
    withRun(revenueCommand, "revenue"),
    withRun(customersCommand, "customers"),
    withRun(statusesCommand, "statuses"),
    withRun(updatesCommand, "updates"),
    withRun(pipelinesCommand, "pipelines")
  ])
)

const isMain = process.argv[1] !== undefined && import.meta.filename === process.argv[1]

if (isMain) {
  const program = CliCommand.run(runnable, { name: "eddy-analytics", version: "0.1.0" })(process.argv).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has printed a usage error, with the usage.
        if (!ValidationError.isValidationError(error)) process.stderr.write(`eddy-analytics: ${error.message}\n`)
        process.exitCode = ValidationError.isValidationError(error) || error._tag === "UsageError" ? 2 : 1
      })
    ),
    Effect.provide(NodeContext.layer)
  )
  NodeRuntime.runMain(program, { disableErrorReporting: true, teardown: (_, onExit) => onExit(typeof process.exitCode === "number" ? process.exitCode : 0) })
}
