/**
 * How a consumer names a stream: by name, or by ARN (which carries the
 * account and region, so a stream of another account can be read), and how
 * its shards' leases are keyed in a lease table that several streams share.
 *
 * Lease keys are `<stream>:<shardId>`, as KCL's multi-stream mode keys them
 * (`<stream identifier>:<shardId>`), where the stream part is the name, or
 * `<account>:<name>` for a stream given by ARN. A table keyed by bare shard
 * ids (the single-stream format) cannot tell two streams' shards apart, and
 * is refused (`LegacyLeaseTableError`).
 */
import { Data, Either } from "effect"

/** A stream, by name or ARN. */
export interface StreamId {
  readonly name: string
  /** Present when the stream was given by ARN: SDK calls then name it by `StreamARN`. */
  readonly arn?: string
  readonly account?: string
  readonly region?: string
}

/** The stream could not be named: an empty name, or an ARN that is not a Kinesis stream's. */
export class StreamIdError extends Data.TaggedError("StreamIdError")<{
  readonly input: string
  readonly message: string
}> {}

const ARN = /^arn:(aws[a-zA-Z-]*):kinesis:([a-z0-9-]+):(\d{12}):stream\/([a-zA-Z0-9_.-]{1,128})$/
const NAME = /^[a-zA-Z0-9_.-]{1,128}$/

/** A stream name or stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`). */
export const parse = (input: string): Either.Either<StreamId, StreamIdError> => {
  const text = input.trim()
  const arn = ARN.exec(text)
  if (arn !== null) return Either.right({ name: arn[4]!, arn: text, account: arn[3]!, region: arn[2]! })
  if (text.startsWith("arn:")) {
    return Either.left(new StreamIdError({ input, message: `${input} is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)` }))
  }
  if (!NAME.test(text)) {
    return Either.left(new StreamIdError({ input, message: `${JSON.stringify(input)} is not a Kinesis stream name (1 to 128 of a-z A-Z 0-9 _ . -)` }))
  }
  return Either.right({ name: text })
}

/** A comma-separated list of stream names or ARNs, each once. */
export const parseList = (input: string): Either.Either<ReadonlyArray<StreamId>, StreamIdError> =>
  Either.flatMap(Either.all(input.split(",").filter((s) => s.trim() !== "").map(parse)), (ids) => {
    if (ids.length === 0) return Either.left(new StreamIdError({ input, message: "no stream given" }))
    const prefixes = ids.map(leasePrefix)
    const twice = prefixes.find((p, i) => prefixes.indexOf(p) !== i)
    return twice === undefined ? Either.right(ids) : Either.left(new StreamIdError({ input, message: `stream ${twice} is listed twice` }))
  })

/** A stream as callers may give it: a `StreamId`, or a name or ARN. */
export type Input = StreamId | string

/** A string is parsed as an ARN when it is one, else taken as a name. */
export const of = (input: Input): StreamId => typeof input === "string" ? Either.getOrElse(parse(input), () => ({ name: input })) : input

/** How SDK calls name the stream: `StreamARN` when known, else `StreamName`. */
export const sdkParams = (id: StreamId): { readonly StreamName: string } | { readonly StreamARN: string } =>
  id.arn !== undefined ? { StreamARN: id.arn } : { StreamName: id.name }

/** The stream part of its lease keys. */
export const leasePrefix = (id: StreamId): string => id.account !== undefined ? `${id.account}:${id.name}` : id.name

/** The lease key of a shard of a stream. */
export const leaseKey = (id: StreamId, shardId: string): string => `${leasePrefix(id)}:${shardId}`

/** The shard id of one of the stream's lease keys, or undefined for another stream's. */
export const shardIdOf = (id: StreamId, key: string): string | undefined => {
  const prefix = `${leasePrefix(id)}:`
  if (!key.startsWith(prefix)) return undefined
  const rest = key.slice(prefix.length)
  // `a:b:shardId-1` is stream `a:b`'s, not stream `a`'s.
  return rest.includes(":") ? undefined : rest
}

/** A key in the single-stream format: a bare shard id. */
export const isLegacyKey = (key: string): boolean => /^shardId-\d+$/.test(key)

/** The lease table holds leases keyed by bare shard ids: written by a version of eddy that knew one stream per table. */
export class LegacyLeaseTableError extends Data.TaggedError("LegacyLeaseTableError")<{
  readonly table: string
  readonly leaseKeys: ReadonlyArray<string>
  readonly message: string
}> {}

/** The error for a lease table whose keys are in an older format. */
export const legacyLeaseTableError = (table: string, leaseKeys: ReadonlyArray<string>, stream: StreamId) =>
  new LegacyLeaseTableError({
    table,
    leaseKeys,
    message: `${table} holds ${leaseKeys.length} lease(s) keyed by bare shard ids (${leaseKeys.slice(0, 3).join(", ")}${
      leaseKeys.length > 3 ? ", ..." : ""
    }), the single-stream format, which cannot tell two streams' shards apart. Stop every worker on this table, then either ` +
      `point the service at a new, empty lease table (shards start again from the initial position; the store's watermarks make re-reading idempotent), ` +
      `or rewrite each key as "${leasePrefix(stream)}:<shardId>" (and each parentShardId the same way) for the stream they belong to.`
  })
