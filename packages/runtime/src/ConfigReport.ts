/**
 * A configuration error in plain words, all problems at once: walks a
 * `ConfigError` (its `And`, `Or`, `InvalidData`, `MissingData`, ... tree) and
 * lists every variable that is missing or invalid, each with what it is for.
 *
 * ```ts
 * const variables = { EDDY_STREAM_NAME: "the Kinesis stream to read", ... }
 * // Config.all reads every part, so one run reports every problem.
 * yield* ConfigReport.load(Config.all([settings, tables]), variables)
 * ```
 *
 * prints, as one message:
 *
 * ```text
 * the configuration is invalid (2 problems):
 *   - EDDY_STREAM_NAME is not set: the Kinesis stream to read
 *   - PORT must be a port number from 0 to 65535 (got "99999"): the port of /healthz, /readyz and /metrics
 * ```
 */
import { type Config, ConfigError, Data, Effect } from "effect"

/** What each variable is for, by name. */
export type Variables = Readonly<Record<string, string>>

/** One missing or invalid variable. */
export interface Problem {
  /** The variable (a config path joined with `_`), or several alternatives: `A or B`. */
  readonly variable: string
  readonly kind: "missing" | "invalid" | "unavailable"
  /** What is wrong with it, in plain words. */
  readonly detail: string
  /** What it is for, when known. */
  readonly meaning?: string
}

/** The configuration could not be loaded; `message` lists every problem. */
export class ConfigurationError extends Data.TaggedError("ConfigurationError")<{
  readonly problems: ReadonlyArray<Problem>
  readonly message: string
}> {}

const pathName = (path: ReadonlyArray<string>): string => path.join("_")

/** Effect's wording ("Expected an integer value but received abc") as a short phrase. */
const plain = (message: string): string => {
  const received = /^Expected (.+?) but received (.*)$/s.exec(message)
  if (received) {
    const got = received[2]!
    return `must be ${received[1]!.replace(/ (value|property)$/, "")} (got ${got.startsWith("\"") ? got : JSON.stringify(got)})`
  }
  if (/^Expected .* to exist in the /.test(message)) return "is not set"
  if (message === "Expected a non-empty string") return "is empty"
  return /^expected /i.test(message) ? `is wrong: ${message}` : message
}

type Raw = { readonly kind: Problem["kind"]; readonly variable: string; readonly detail: string }

const walk = (error: ConfigError.ConfigError): Array<Raw> => {
  switch (error._op) {
    case "And":
      return [...walk(error.left), ...walk(error.right)]
    case "Or": {
      const left = walk(error.left)
      const right = walk(error.right)
      // Alternatives (`A` or else `B`) that are both unset: one problem naming both; otherwise what is wrong.
      const invalid = [...left, ...right].filter((p) => p.kind !== "missing")
      if (invalid.length > 0) return invalid
      const names = Array.from(new Set([...left, ...right].map((p) => p.variable)))
      return [{ kind: "missing", variable: names.join(" or "), detail: names.length > 1 ? "are not set (one of them is needed)" : "is not set" }]
    }
    case "MissingData":
      return [{ kind: "missing", variable: pathName(error.path), detail: plain(error.message) }]
    case "InvalidData":
      return [{ kind: "invalid", variable: pathName(error.path), detail: plain(error.message) }]
    case "SourceUnavailable":
      return [{ kind: "unavailable", variable: pathName(error.path), detail: `could not be read: ${error.message}` }]
    case "Unsupported":
      return [{ kind: "invalid", variable: pathName(error.path), detail: error.message }]
  }
}

/** Every problem in `error`, each variable once, with its meaning from `variables`. */
export const problems = (error: ConfigError.ConfigError, variables: Variables = {}): Array<Problem> => {
  const seen = new Set<string>()
  const out: Array<Problem> = []
  for (const raw of walk(error)) {
    const key = `${raw.variable}\u0000${raw.detail}`
    if (seen.has(key)) continue
    seen.add(key)
    const meaning = raw.variable.split(" or ").map((v) => variables[v]).find((m) => m !== undefined)
    out.push(meaning !== undefined ? { ...raw, meaning } : raw)
  }
  return out
}

/** One line per problem: `NAME detail: meaning`. */
export const describe = (problem: Problem): string =>
  `${problem.variable === "" ? "the configuration" : problem.variable} ${problem.detail}${problem.meaning !== undefined ? `: ${problem.meaning}` : ""}`

/** The whole report as one message. */
export const format = (list: ReadonlyArray<Problem>): string =>
  `the configuration is invalid (${list.length} problem${list.length === 1 ? "" : "s"}):\n${list.map((p) => `  - ${describe(p)}`).join("\n")}`

/** A `ConfigurationError` listing every problem of `error`. */
export const fromConfigError = (error: ConfigError.ConfigError, variables: Variables = {}): ConfigurationError => {
  const list = problems(error, variables)
  return new ConfigurationError({ problems: list, message: format(list) })
}

/** Loads `config`, failing with every problem at once, in plain words. */
export const load = <A>(config: Config.Config<A>, variables: Variables = {}): Effect.Effect<A, ConfigurationError> =>
  Effect.mapError(config, (error) => fromConfigError(error, variables))

/** Like `load`, synchronously from the process environment, throwing the report: for a module's init (a Lambda handler). */
export const loadSync = <A>(config: Config.Config<A>, variables: Variables = {}): A => {
  const exit = Effect.runSyncExit(load(config, variables))
  if (exit._tag === "Success") return exit.value
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  throw failure !== undefined ? new Error(failure.message) : new Error("the configuration could not be read")
}

/** Whether a value is an Effect `ConfigError`. */
export const isConfigError = ConfigError.isConfigError
