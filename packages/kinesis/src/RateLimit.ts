/**
 * Insert rate limits: a number of records per second, minute or hour, such
 * as `1000/s` or `100/m`.
 */
import { Config, ConfigError, Data, Either } from "effect"

/** The unit of a rate: per second, minute or hour. */
export type Unit = "s" | "m" | "h"

/** A number of records per unit of time. */
export interface RateLimit {
  /** Records allowed per `per`; a burst of up to this many is allowed at once. */
  readonly records: number
  readonly per: Unit
}

const unitMillis: Record<Unit, number> = { s: 1_000, m: 60_000, h: 3_600_000 }

/** The length of the limit's period in milliseconds. */
export const periodMillis = (limit: RateLimit): number => unitMillis[limit.per]

/** How a rate limit is written, for messages. */
export const FORMAT = `"<records>/<s|m|h>", e.g. "1000/s", "100/m" or "50000/h"`

/** A rate limit that is not written as `FORMAT`. */
export class InvalidRateLimitError extends Data.TaggedError("InvalidRateLimitError")<{
  readonly input: string
}> {
  override get message(): string {
    return `invalid rate limit ${JSON.stringify(this.input)}: write it as ${FORMAT}, with a positive whole number of records`
  }
}

const pattern = /^\s*([0-9]+)\s*\/\s*([smh])\s*$/

/** Reads a rate limit such as `100/s`. */
export const parse = (input: string): Either.Either<RateLimit, InvalidRateLimitError> => {
  const match = pattern.exec(input)
  const records = match ? Number(match[1]) : NaN
  return Number.isSafeInteger(records) && records > 0
    ? Either.right({ records, per: match![2] as Unit })
    : Either.left(new InvalidRateLimitError({ input }))
}

/** A rate limit as `parse` reads it. */
export const format = (limit: RateLimit): string => `${limit.records}/${limit.per}`

/**
 * Reads a rate limit from the configuration key `name`; a value that does
 * not parse is a `ConfigError` naming the key and the format.
 */
export const config = (name: string): Config.Config<RateLimit> =>
  Config.string(name).pipe(
    Config.mapOrFail((input) =>
      // The path is relative: Config prefixes the variable's name.
      Either.mapLeft(parse(input), (e) => ConfigError.InvalidData([], e.message))
    )
  )
