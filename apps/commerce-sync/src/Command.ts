/**
 * The `eddy-commerce` command line on `@effect/cli`: its options, help and
 * parsing. A bad argument is a `UsageError` that says what is wrong and what
 * was given; `parse` runs the same parser the process runs.
 */
import { CliConfig, Command as CliCommand, CommandDescriptor, CommandDirective, HelpDoc, Options, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Data, Duration, Effect, Either, Option } from "effect"

export interface GenerateArgs {
  readonly orders: number
  readonly products: number
  readonly rate?: number
  readonly invalid: number
  readonly span: Duration.Duration
  readonly seed?: number
}

export type Command =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Generate"; readonly args: GenerateArgs }

export class UsageError extends Data.TaggedError("UsageError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

const invalid = (reason: string) => ValidationError.invalidValue(HelpDoc.p(reason))

const wholeNumber = (name: string, fallback: number) =>
  Options.text(name).pipe(
    Options.withPseudoName("N"),
    Options.mapEffect((text) => {
      const n = Number(text)
      return /^\d+$/.test(text) && Number.isSafeInteger(n) ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be a whole number >= 0, got ${JSON.stringify(text)}`))
    }),
    Options.withDefault(fallback)
  )

const rate = Options.text("rate").pipe(
  Options.withPseudoName("R"),
  Options.withDescription("Records per second (default: as fast as Kinesis takes them)."),
  Options.mapEffect((text) => {
    const n = Number(text)
    return /^\d+(\.\d+)?$/.test(text) && n > 0 && Number.isFinite(n)
      ? Effect.succeed(n)
      : Effect.fail(invalid(`--rate must be a number of records per second > 0, got ${JSON.stringify(text)}`))
  }),
  Options.optional
)

const units = { s: "seconds", m: "minutes", h: "hours", d: "days" } as const

const span = Options.text("span").pipe(
  Options.withPseudoName("D"),
  Options.withDescription("Event time the traffic covers, ending now: 90s, 30m, 12h or 2d (default 2d)."),
  Options.mapEffect((text) => {
    const match = /^(\d+)([smhd])$/.exec(text)
    const amount = match ? Number(match[1]) : 0
    return match && amount > 0
      ? Effect.succeed(Duration.decode(`${amount} ${units[match[2] as keyof typeof units]}`))
      : Effect.fail(invalid(`--span must be a positive whole number with s, m, h or d, e.g. 12h, got ${JSON.stringify(text)}`))
  }),
  Options.withDefault(Duration.days(2))
)

const generateOptions = {
  orders: wholeNumber("orders", 1_000).pipe(Options.withDescription("Orders to create (default 1000).")),
  products: wholeNumber("products", 100).pipe(Options.withDescription("Products to create, variants included (default 100).")),
  rate,
  invalid: wholeNumber("invalid", 0).pipe(Options.withDescription("Invalid records to mix in, to see consumers dead-letter them (default 0).")),
  span,
  seed: wholeNumber("seed", -1).pipe(Options.withPseudoName("S"), Options.withDescription("The same seed gives the same traffic (default random)."))
}

const environment = "Environment: KINESIS_PRODUCT_STREAM and KINESIS_ORDERS_STREAM name the streams (required); " +
  "SEPARATE_SKU_CREATE_UPDATE_STREAM=true sends product.updated to KINESIS_PRODUCT_UPDATE_STREAM instead; " +
  "KINESIS_INSERT_RATE_LIMIT, e.g. 100/m or 50/s; AWS_REGION and AWS_ENDPOINT_URL_KINESIS say where Kinesis is."

/** `eddy-commerce generate`: its handler is given by the process (see `cli.ts`). */
export const generate = CliCommand.make("generate", generateOptions).pipe(CliCommand.withDescription(
  "Sends realistic commerce traffic to Kinesis: products (some with variants) created and later updated, orders over them " +
    "that get paid, shipped and delivered, some cancelled. Prints progress on stderr and a summary. " + environment
))

export const command = CliCommand.make("eddy-commerce").pipe(
  CliCommand.withDescription(`Commerce traffic for eddy's pipelines. ${environment}`),
  CliCommand.withSubcommands([generate])
)

interface Parsed {
  readonly orders: number
  readonly products: number
  readonly rate: Option.Option<number>
  readonly invalid: number
  readonly span: Duration.Duration
  readonly seed: number
}

/** The arguments of `generate`, checked together. */
export const generateArgs = (o: Parsed): Either.Either<GenerateArgs, UsageError> =>
  o.orders > 0 && o.products === 0
    ? Either.left(new UsageError({ reason: "--products must be at least 1 when there are orders" }))
    : Either.right({
      orders: o.orders,
      products: o.products,
      invalid: o.invalid,
      span: o.span,
      ...(Option.isSome(o.rate) ? { rate: o.rate.value } : {}),
      ...(o.seed >= 0 ? { seed: o.seed } : {})
    })

/** The help text of eddy-commerce, as `--help` prints it. */
const plain = (doc: HelpDoc.HelpDoc): string => HelpDoc.toAnsiText(doc).replace(/\x1b\[[0-9;]*m/g, "").trim()

export const help: string = `Usage: eddy-commerce generate [options]\n\n${plain(CommandDescriptor.getHelp(generate.descriptor, CliConfig.defaultConfig))}\n`

const textOf = (error: ValidationError.ValidationError): string => plain(error.error)

/** Parses `argv` (without the program name) as the process does. */
export const parse = (argv: ReadonlyArray<string>): Either.Either<Command, UsageError> =>
  argv.includes("--help") || argv.includes("-h") ? Either.right({ _tag: "Help" }) : CommandDescriptor.parse(command.descriptor, ["eddy-commerce", ...argv], CliConfig.defaultConfig).pipe(
    Effect.provide(NodeContext.layer),
    Effect.either,
    Effect.runSync,
    Either.mapLeft((e) =>
      new UsageError({ reason: e._tag === "CommandMismatch" ? `unknown command ${JSON.stringify(argv[0])}; the command is generate` : textOf(e) })
    ),
    Either.flatMap((directive): Either.Either<Command, UsageError> => {
      if (CommandDirective.isBuiltIn(directive)) return Either.right({ _tag: "Help" })
      const sub = directive.value.subcommand
      if (Option.isNone(sub)) return Either.left(new UsageError({ reason: "no command given; the command is generate" }))
      if (directive.leftover.length > 0) return Either.left(new UsageError({ reason: `unexpected argument ${JSON.stringify(directive.leftover[0])}` }))
      // A subcommand's value comes as its context tag and its options.
      const [, options] = sub.value as unknown as readonly [unknown, Parsed]
      return Either.map(generateArgs(options), (args) => ({ _tag: "Generate", args }) as const)
    })
  )
