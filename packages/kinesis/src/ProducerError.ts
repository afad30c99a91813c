/**
 * Why the Kinesis producer refused a record at `put`, or gave up on one it
 * had taken.
 */
import { Data } from "effect"
import type { KinesisError } from "./Kinesis"
import type { UserRecord } from "./Kpl"
import { PARTITION_KEY_MAX_LENGTH } from "./Limits"

/** Refused at `put`: data plus partition key exceed what Kinesis accepts in one record. */
export class RecordTooLargeError extends Data.TaggedError("RecordTooLargeError")<{
  /** The record's position in the `putAll`/`offerAll` call. */
  readonly index: number
  readonly size: number
  readonly limit: number
}> {
  override get message(): string {
    return `record ${this.index} is ${this.size} bytes (data plus partition key), over Kinesis's ${this.limit}: split it or store the payload elsewhere and send a reference`
  }
}

/** Why a partition key is refused. */
export type PartitionKeyProblem = "Missing" | "Empty" | "TooLong" | "LoneSurrogate"

/** A UTF-16 surrogate without its pair: `u` regexes see paired ones as a single code point. */
const loneSurrogate = /\p{Surrogate}/u

/**
 * Why Kinesis would refuse `partitionKey` (it needs 1 to 256 UTF-16 code
 * units, all of them valid Unicode), or `undefined` when it accepts it.
 */
export const partitionKeyProblem = (partitionKey: string): Exclude<PartitionKeyProblem, "Missing"> | undefined =>
  partitionKey.length === 0
    ? "Empty"
    : partitionKey.length > PARTITION_KEY_MAX_LENGTH
    ? "TooLong"
    : loneSurrogate.test(partitionKey)
    ? "LoneSurrogate"
    : undefined

const problemText: Record<Exclude<PartitionKeyProblem, "Missing">, string> = {
  Empty: "an empty partition key: Kinesis needs 1 to 256 (UTF-16 code units)",
  TooLong: "a partition key over 256 characters: Kinesis needs 1 to 256 (UTF-16 code units)",
  LoneSurrogate: "a partition key with a lone UTF-16 surrogate: Kinesis keys are UTF-8, which cannot encode it"
}

/**
 * Refused at `put`: the partition key is missing, empty, longer than 256
 * characters (UTF-16 code units), or not valid Unicode (a lone surrogate).
 */
export class InvalidPartitionKeyError extends Data.TaggedError("InvalidPartitionKeyError")<{
  readonly index: number
  readonly partitionKey: string | undefined
  readonly reason: PartitionKeyProblem
}> {
  override get message(): string {
    return this.reason === "Missing"
      ? `record ${this.index} has no partition key: set one, or give the producer a \`partitionKey\` function`
      : `record ${this.index} has ${problemText[this.reason]}`
  }
}

/** Refused at `put`: the explicit hash key is not a decimal integer in [0, 2^128). */
export class InvalidExplicitHashKeyError extends Data.TaggedError("InvalidExplicitHashKeyError")<{
  readonly index: number
  readonly explicitHashKey: string
}> {
  override get message(): string {
    return `record ${this.index} has explicit hash key ${JSON.stringify(this.explicitHashKey)}: it must be a decimal integer from 0 to 2^128 - 1`
  }
}

/** Refused at `put` by an NDJSON producer: the data holds a line feed, which NDJSON uses to separate records. */
export class MultilineRecordError extends Data.TaggedError("MultilineRecordError")<{ readonly index: number }> {
  override get message(): string {
    return `record ${this.index} holds a line feed, but NDJSON aggregation separates records by line feeds: write it with JSON.stringify without indentation, or aggregate with kpl or msgpack`
  }
}

/** A record Kinesis would refuse as it is. */
export type InvalidRecordError = RecordTooLargeError | InvalidPartitionKeyError | InvalidExplicitHashKeyError | MultilineRecordError

/**
 * Kinesis rejected the record inside a successful PutRecords (per-record
 * `ErrorCode`), on its last attempt: the retry budget ran out, or the code is
 * one retrying cannot fix (e.g. a KMS access error).
 */
export class RecordRejectedError extends Data.TaggedError("RecordRejectedError")<{
  readonly errorCode: string
  readonly errorMessage: string
  readonly attempts: number
}> {
  override get message(): string {
    return `Kinesis rejected the record ${this.attempts} time(s), last with ${this.errorCode}: ${this.errorMessage}`
  }
}

/** The PutRecords call carrying the record failed: with an error retrying cannot fix, or retryably until the budget ran out. */
export class PutRecordsFailedError extends Data.TaggedError("PutRecordsFailedError")<{
  readonly cause: KinesisError
  readonly attempts: number
}> {
  override get message(): string {
    return `PutRecords failed after ${this.attempts} attempt(s): ${this.cause.message}`
  }
}

/**
 * The producer closed before the record was known to be written: put after
 * close, or still unwritten at the close deadline. With `attempts` > 0 a
 * call carrying it may have reached Kinesis, so it may have been written.
 */
export class ProducerClosedError extends Data.TaggedError("ProducerClosedError")<{
  readonly attempts: number
}> {
  override get message(): string {
    return this.attempts === 0
      ? "the producer closed before the record was sent"
      : `the producer closed before Kinesis confirmed the record (${this.attempts} attempt(s)); it may or may not have been written`
  }
}

/** Why a record was not written. */
export type PutFailure = RecordRejectedError | PutRecordsFailedError | ProducerClosedError

/** What the retry schedule is stepped with: the whole call's error, or the record's rejection. */
export type RetryCause = KinesisError | RecordRejectedError

/** A record the producer gave up on, as the failure sink receives it. */
export interface FailedRecord extends UserRecord {
  readonly error: PutFailure
}
