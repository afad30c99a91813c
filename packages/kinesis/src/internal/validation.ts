/**
 * What `put` checks before a record enters the producer, synchronously and
 * once per record: the partition key, the size, the explicit hash key.
 */
import { Effect, Option } from "effect"
import { type Format, framingOverhead } from "../Aggregation"
import { effectiveHashKey } from "../Kpl"
import { fits as oneLine } from "../Ndjson"
import { RECORD_MAX_BYTES } from "../Limits"
import {
  InvalidExplicitHashKeyError,
  InvalidPartitionKeyError,
  type InvalidRecordError,
  MultilineRecordError,
  partitionKeyProblem,
  RecordTooLargeError
} from "../ProducerError"
import type { Entry } from "./batcher"
import type { Ticket } from "./ticket"

/** A record as `put` takes it. */
interface PutRecord {
  readonly data: Uint8Array
  readonly partitionKey?: string
  readonly explicitHashKey?: string
}

/** What a record needs from the producer's options to become an entry. */
export interface Admit<R extends PutRecord> {
  /** Derives the key of a record put without one. */
  readonly partitionKey: ((record: R) => string) | undefined
  /** The retry schedule's initial state, which every new entry starts from. */
  readonly retryState: unknown
  /** How records are packed: a framed format's frame counts against the record limit. */
  readonly aggregation: Format
}

/** The entry for `record`, or why it is refused. */
export const toEntry = <R extends PutRecord>(
  admit: Admit<R>,
  record: R,
  index: number,
  ticket: Ticket | undefined
): Entry | InvalidRecordError => {
  const partitionKey = record.partitionKey ?? admit.partitionKey?.(record)
  if (partitionKey === undefined) return new InvalidPartitionKeyError({ index, partitionKey, reason: "Missing" })
  const problem = partitionKeyProblem(partitionKey)
  if (problem !== undefined) return new InvalidPartitionKeyError({ index, partitionKey, reason: problem })
  const size = record.data.byteLength + Buffer.byteLength(partitionKey, "utf8")
  // A framed record travels framed even alone: its frame must fit too.
  const limit = RECORD_MAX_BYTES - framingOverhead(admit.aggregation, record.data.byteLength)
  if (size > limit) return new RecordTooLargeError({ index, size, limit })
  if (admit.aggregation === "ndjson" && !oneLine(record.data)) return new MultilineRecordError({ index })
  const retryState = admit.retryState
  if (record.explicitHashKey === undefined) {
    return { partitionKey, data: record.data, size, explicitHash: undefined, ticket, index, attempts: 0, retryState, due: 0, logSeq: -1 }
  }
  const explicitHashKey = record.explicitHashKey
  const hash = effectiveHashKey({ partitionKey, explicitHashKey, data: record.data })
  return Option.isSome(hash)
    ? { partitionKey, explicitHashKey, data: record.data, size, explicitHash: hash.value, ticket, index, attempts: 0, retryState, due: 0, logSeq: -1 }
    : new InvalidExplicitHashKeyError({ index, explicitHashKey })
}

/** Every record's entry, or the first refusal: an invalid record refuses the whole call. */
export const toEntries = <R extends PutRecord>(
  admit: Admit<R>,
  records: ReadonlyArray<R>,
  ticket: Ticket | undefined
): Effect.Effect<Array<Entry>, InvalidRecordError> =>
  Effect.suspend(() => {
    const entries = new Array<Entry>(records.length)
    for (let i = 0; i < records.length; i++) {
      const entry = toEntry(admit, records[i]!, i, ticket)
      if ("_tag" in entry) return Effect.fail(entry)
      entries[i] = entry
    }
    return Effect.succeed(entries)
  })
