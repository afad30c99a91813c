import { Data, Either, ParseResult, Schema } from "effect"
import type { ParseOptions } from "effect/SchemaAST"
import { compile, invalid, parseOptions, PredicateId } from "./internal/compile"

/**
 * Turns the bytes of one record into a typed value. Decoding runs once per
 * record on the hot path, so it is a plain synchronous function: no Effect is
 * allocated per record, and every failure is a value the caller routes (to a
 * dead-letter sink, say) without stopping its neighbours.
 */
export interface Decoder<A> {
  readonly decode: (bytes: Uint8Array) => Either.Either<A, DecodeError>
}

/** The record's data is not valid UTF-8. */
export class NotUtf8Error extends Data.TaggedError("NotUtf8Error")<{}> {
  get reason(): string {
    return "data is not valid UTF-8"
  }
  override get message(): string {
    return "record data is not valid UTF-8; events must be UTF-8 encoded JSON objects"
  }
}

/** The record's data is empty, is not JSON, or is JSON but not an object. */
export class NotJsonError extends Data.TaggedError("NotJsonError")<{
  /** What was found instead of a JSON object, e.g. `empty data`, `a JSON array`. */
  readonly found: string
}> {
  get reason(): string {
    return `not a JSON object: ${this.found}`
  }
  override get message(): string {
    return `record data must be one JSON object (an event), found ${this.found}`
  }
}

/** The record's data is not one MessagePack value, or the value is not a map (an event). */
export class NotMsgpackError extends Data.TaggedError("NotMsgpackError")<{
  /** What was found instead of one MessagePack map, e.g. `truncated data`, `an array`. */
  readonly found: string
}> {
  get reason(): string {
    return `not a MessagePack map: ${this.found}`
  }
  override get message(): string {
    return `record data must be one MessagePack map (an event), found ${this.found}`
  }
}

/** A JSON object whose `type` is not an event this decoder knows. */
export class UnknownEventError extends Data.TaggedError("UnknownEventError")<{
  /** The `schemaVersion` it carried. */
  readonly schemaVersion: number
  /** The `type` it carried, when that was a string. */
  readonly type: string | undefined
  /** The types this decoder knows, for the message. */
  readonly known: ReadonlyArray<string>
}> {
  get reason(): string {
    return `unknown event type ${JSON.stringify(this.type)}`
  }
  override get message(): string {
    return `type ${JSON.stringify(this.type)} is not a known event type; expected one of ${this.known.join(", ")}`
  }
}

/**
 * A JSON object of a `schemaVersion` this decoder does not know: typically a
 * producer that rolled out a newer version before this consumer. It is valid
 * data this consumer cannot read yet, so the Processor's `unknownVersion`
 * policy decides: hold its shard until a consumer that knows the version is
 * deployed ("block"), or dead-letter it for a redrive then ("deadLetter").
 */
export class UnknownSchemaVersionError extends Data.TaggedError("UnknownSchemaVersionError")<{
  readonly schemaVersion: number
  /** The versions this decoder reads, oldest first. */
  readonly known: ReadonlyArray<number>
}> {
  get reason(): string {
    return `unknown schemaVersion ${this.schemaVersion}`
  }
  override get message(): string {
    return `schemaVersion is ${this.schemaVersion}, but this consumer reads only version ${this.known.join(", ")}; ` +
      `deploy a consumer that knows version ${this.schemaVersion} (then redrive what was dead-lettered) before producers send it`
  }
}

/** An event of a known type that breaks a rule of the contract; `path` names the field. */
export class InvalidEventError extends Data.TaggedError("InvalidEventError")<{
  /** The offending field, e.g. `order.lineItems[0].quantity`; empty for the record as a whole. */
  readonly path: string
  /** The rule it breaks, e.g. `must be an integer >= 1`. */
  readonly rule: string
}> {
  get reason(): string {
    return this.message
  }
  override get message(): string {
    return this.path === "" ? `event ${this.rule}` : `${this.path} ${this.rule}`
  }
}

/** Why a record is not an event: each is a poison reason, dead-lettered with its tag. */
export type DecodeError = NotUtf8Error | NotJsonError | NotMsgpackError | UnknownEventError | UnknownSchemaVersionError | InvalidEventError

// Fatal, so malformed bytes are an error instead of silently becoming U+FFFD; created once since decoding is stateless.
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** What a JSON value is, for `NotJsonError`. */
const kindOf = (value: unknown): string =>
  value === null ? "JSON null" : Array.isArray(value) ? "a JSON array" : `a JSON ${typeof value}`

/**
 * JSON.parse's complaint without the excerpt of the input it quotes: reasons
 * end up in logs and dead-letter entries, and payloads carry customer data.
 */
const parseProblem = (message: string): string => {
  const at = /position (\d+)/.exec(message)
  return at !== null ? `invalid JSON at position ${at[1]}` : /end of JSON/.test(message) ? "invalid JSON (it ends too early)" : "invalid JSON"
}

/** Parses the bytes as one JSON object; every decoder starts here. */
export const parseObject = (bytes: Uint8Array): Either.Either<Record<string, unknown>, NotUtf8Error | NotJsonError> => {
  if (bytes.length === 0) return Either.left(new NotJsonError({ found: "empty data" }))
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return Either.left(new NotUtf8Error())
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Either.left(new NotJsonError({ found: parseProblem((e as Error).message) }))
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Either.right(value as Record<string, unknown>)
    : Either.left(new NotJsonError({ found: kindOf(value) }))
}

const identifier = /^[A-Za-z_$][\w$]*$/

/** `order.lineItems[0].quantity`, `attributes["shoe size"]`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "string" && identifier.test(key)) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

/** The first issue of a parse failure as an `InvalidEventError`; schemas annotate their leaves with the rule as message. */
export const fromParseIssue = (issue: ParseResult.ParseIssue): InvalidEventError => {
  const first = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]
  return first === undefined
    ? new InvalidEventError({ path: "", rule: "is invalid" })
    : new InvalidEventError({ path: formatPath(first.path), rule: first.message })
}

/**
 * Validates an already parsed value with a schema, compiled once. Valid input
 * takes a compiled fast path where the schema allows one; only invalid input
 * pays for Effect's parser, which then names the first broken rule (a dead
 * letter needs one reason).
 */
export const validator = <A, I>(
  schema: Schema.Schema<A, I, never>
): (input: unknown) => Either.Either<A, InvalidEventError> => {
  const decode = Schema.decodeUnknownEither(schema, parseOptions)
  const explain = (input: unknown): Either.Either<A, InvalidEventError> => {
    const result = decode(input)
    // A Right carries no error, so it is reused as is rather than reallocated.
    return Either.isRight(result) ? result as Either.Either<A, never> : Either.left(fromParseIssue(result.left.issue))
  }
  const fast = compile(schema.ast)
  if (fast === undefined) return explain
  return (input) => {
    const output = fast(input)
    return output === invalid ? explain(input) : Either.right(output as A)
  }
}

/**
 * `Schema.filter` with a boolean predicate, which compiled decoders call
 * directly rather than through the filter (a few calls less per field on the
 * hot path). Effect's parser runs the same predicate, so both agree.
 */
export const filter = <A>(
  predicate: (a: A, options: ParseOptions) => boolean,
  annotations?: Schema.Annotations.Filter<A>
): <I, R>(self: Schema.Schema<A, I, R>) => Schema.filter<Schema.Schema<A, I, R>> =>
  Schema.filter(predicate, { ...annotations, [PredicateId]: predicate })

/**
 * A decoder of the objects `parse` reads from a record's data, validated by
 * `schema`: how `json`, and decoders of other wire formats, are made.
 */
export const ofObjects = <A, I>(
  parse: (bytes: Uint8Array) => Either.Either<Record<string, unknown>, DecodeError>,
  schema: Schema.Schema<A, I, never>
): Decoder<A> => {
  const validate = validator(schema)
  return {
    decode: (bytes) => {
      const parsed = parse(bytes)
      return Either.isLeft(parsed) ? Either.left(parsed.left) : validate(parsed.right)
    }
  }
}

/** A decoder of UTF-8 JSON objects validated by `schema`; unknown fields are ignored. */
export const json = <A, I>(schema: Schema.Schema<A, I, never>): Decoder<A> => ofObjects(parseObject, schema)

/**
 * Reads one accepted version of an event from its parsed JSON object:
 * validates it as that version and returns the current type.
 */
export type Version<A> = (input: Record<string, unknown>) => Either.Either<A, DecodeError>

/** A version read as `Old`, then upcast to the current type with `f` (a pure, total function). */
export const upcast = <Old, A>(read: (input: Record<string, unknown>) => Either.Either<Old, DecodeError>, f: (old: Old) => A): Version<A> => (input) =>
  Either.map(read(input), f)

/**
 * A decoder that accepts several versions of an event side by side, told
 * apart by a numeric field (`schemaVersion` unless `field` says otherwise),
 * each read by its own `Version` and upcast to the current type, so that
 * consumers upgrade first and producers move to the new version at their own
 * pace. A version not listed is an `UnknownSchemaVersionError` (its policy
 * is the Processor's `unknownVersion`); a missing or non-numeric field is an
 * `InvalidEventError` naming it.
 *
 * ```ts
 * const decoder = Decoder.versioned({
 *   1: Decoder.upcast(validateV1, (v1) => ({ ...v1, schemaVersion: 2 as const, unit: "celsius" as const })),
 *   2: validateV2
 * })
 * ```
 */
export const versioned = <A>(
  versions: { readonly [version: number]: Version<A> },
  options: { readonly field?: string } = {}
): Decoder<A> => {
  const field = options.field ?? "schemaVersion"
  const readers = new Map<number, Version<A>>(Object.entries(versions).map(([v, read]) => [Number(v), read]))
  const known = Array.from(readers.keys()).sort((a, b) => a - b)
  const rule = `must be one of the numbers ${known.join(", ")}`
  return {
    decode: (bytes) => {
      const parsed = parseObject(bytes)
      if (Either.isLeft(parsed)) return Either.left(parsed.left)
      const version = parsed.right[field]
      const read = typeof version === "number" ? readers.get(version) : undefined
      if (read !== undefined) return read(parsed.right)
      return Either.left(
        typeof version === "number" && Number.isSafeInteger(version)
          ? new UnknownSchemaVersionError({ schemaVersion: version, known })
          : new InvalidEventError({ path: formatPath([field]), rule: version === undefined ? "is missing" : rule })
      )
    }
  }
}
