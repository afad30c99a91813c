import type { ShardIteratorType } from "@aws-sdk/client-kinesis"

/** Where a read starts, as GetShardIterator and SubscribeToShard both take it. */
export interface StartingPoint {
  readonly type: ShardIteratorType
  readonly sequenceNumber?: string
  readonly timestamp?: Date
}

/** A `ShardReader.StartPosition` (by shape: this module is below it). */
type From =
  | { readonly _tag: "TrimHorizon" | "Latest" }
  | { readonly _tag: "AtSequenceNumber"; readonly sequenceNumber: string }
  | { readonly _tag: "AfterSequenceNumber"; readonly sequenceNumber: string; readonly subSequenceNumber?: number }
  | { readonly _tag: "AtTimestamp"; readonly timestamp: number }

export const startingPoint = (from: From): StartingPoint => {
  switch (from._tag) {
    case "TrimHorizon":
      return { type: "TRIM_HORIZON" }
    case "Latest":
      return { type: "LATEST" }
    case "AtSequenceNumber":
      return { type: "AT_SEQUENCE_NUMBER", sequenceNumber: from.sequenceNumber }
    case "AfterSequenceNumber":
      // Inside an aggregate the record itself is read again and its consumed user records skipped.
      return { type: from.subSequenceNumber === undefined ? "AFTER_SEQUENCE_NUMBER" : "AT_SEQUENCE_NUMBER", sequenceNumber: from.sequenceNumber }
    case "AtTimestamp":
      return { type: "AT_TIMESTAMP", timestamp: new Date(from.timestamp) }
  }
}
