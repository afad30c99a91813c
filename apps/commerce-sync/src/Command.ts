/**
 * The `eddy-commerce` command line: parsing and help. Parsing is pure, so a
 * bad argument is a `UsageError` that says what is wrong and what was given.
 */
import { Data, Duration, Either } from "effect"
import { parseArgs } from "node:util"

export const help = `Usage: eddy-commerce generate [options]

Sends realistic commerce traffic to Kinesis: products (some with variants)
created and later updated, orders over them that get paid, shipped and
delivered, some cancelled. Prints progress on stderr and a summary.

Options:
  --orders N      orders to create (default 1000)
  --products M    products to create, variants included (default 100)
  --rate R        records per second (default: as fast as Kinesis takes them)
  --invalid K     invalid records to mix in, to see consumers dead-letter them (default 0)
  --span D        event time the traffic covers, ending now: 90s, 30m, 12h or 2d (default 2d)
  --seed S        the same seed gives the same traffic (default random)
  -h, --help      show this help

Environment:
  KINESIS_PRODUCT_STREAM, KINESIS_ORDERS_STREAM    streams (required)
  SEPARATE_SKU_CREATE_UPDATE_STREAM=true           send product.updated to
  KINESIS_PRODUCT_UPDATE_STREAM                    this stream instead
  KINESIS_INSERT_RATE_LIMIT                        e.g. 100/m or 50/s
  AWS_REGION, AWS_ENDPOINT_URL_KINESIS             where Kinesis is
`

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

const wholeNumber = (name: string, text: string | undefined, fallback: number): Either.Either<number, UsageError> => {
  if (text === undefined) return Either.right(fallback)
  const n = Number(text)
  return /^\d+$/.test(text) && Number.isSafeInteger(n)
    ? Either.right(n)
    : Either.left(new UsageError({ reason: `--${name} must be a whole number >= 0, got ${JSON.stringify(text)}` }))
}

const positiveNumber = (name: string, text: string): Either.Either<number, UsageError> => {
  const n = Number(text)
  return /^\d+(\.\d+)?$/.test(text) && n > 0 && Number.isFinite(n)
    ? Either.right(n)
    : Either.left(new UsageError({ reason: `--${name} must be a number of records per second > 0, got ${JSON.stringify(text)}` }))
}

const units = { s: "seconds", m: "minutes", h: "hours", d: "days" } as const

const span = (text: string | undefined): Either.Either<Duration.Duration, UsageError> => {
  if (text === undefined) return Either.right(Duration.days(2))
  const match = /^(\d+)([smhd])$/.exec(text)
  const amount = match ? Number(match[1]) : 0
  return match && amount > 0
    ? Either.right(Duration.decode(`${amount} ${units[match[2] as keyof typeof units]}`))
    : Either.left(new UsageError({ reason: `--span must be a positive whole number with s, m, h or d, e.g. 12h, got ${JSON.stringify(text)}` }))
}

const options = {
  help: { type: "boolean", short: "h" },
  orders: { type: "string" },
  products: { type: "string" },
  rate: { type: "string" },
  invalid: { type: "string" },
  span: { type: "string" },
  seed: { type: "string" }
} as const

export const parse = (argv: ReadonlyArray<string>): Either.Either<Command, UsageError> =>
  Either.gen(function*() {
    const parsed = yield* Either.try({
      try: () => parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }),
      catch: (e) => new UsageError({ reason: (e as Error).message })
    })
    const { positionals, values } = parsed
    if (values.help) return { _tag: "Help" } as const
    const [command, ...rest] = positionals
    if (command === undefined) return yield* Either.left(new UsageError({ reason: "no command given; the command is generate" }))
    if (command !== "generate") return yield* Either.left(new UsageError({ reason: `unknown command ${JSON.stringify(command)}; the command is generate` }))
    if (rest.length > 0) return yield* Either.left(new UsageError({ reason: `unexpected argument ${JSON.stringify(rest[0])}` }))
    const orders = yield* wholeNumber("orders", values.orders, 1_000)
    const products = yield* wholeNumber("products", values.products, 100)
    if (orders > 0 && products === 0) return yield* Either.left(new UsageError({ reason: "--products must be at least 1 when there are orders" }))
    const args: GenerateArgs = {
      orders,
      products,
      invalid: yield* wholeNumber("invalid", values.invalid, 0),
      span: yield* span(values.span),
      ...(values.rate !== undefined ? { rate: yield* positiveNumber("rate", values.rate) } : {}),
      ...(values.seed !== undefined ? { seed: yield* wholeNumber("seed", values.seed, 0) } : {})
    }
    return { _tag: "Generate", args } as const
  })
