/**
 * A record as a driver hands it to the Processor: the bytes of one user record
 * plus where it came from. Lambda and the service consumer both produce these.
 */
export interface SourceRecord {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly shardId: string
  /** Kinesis sequence number: a decimal string of up to 128 digits. */
  readonly sequenceNumber: string
  /** Index of the user record inside a KPL-aggregated record; 0 when not aggregated. */
  readonly subSequenceNumber: number
  /** Approximate arrival time in the stream, epoch milliseconds. */
  readonly arrivalTime: number
  /**
   * Set by a driver when it could not unpack the record (a corrupt KPL
   * aggregate, say): the processor dead-letters it with this reason.
   */
  readonly unreadable?: { readonly error: string; readonly reason: string }
}

/** A point in one shard: sequence number plus KPL sub-sequence number. */
export interface Position {
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
}

/**
 * Orders positions within one shard. Sequence numbers are unbounded decimal
 * strings, so compare by length first, then lexicographically.
 */
export const comparePosition = (a: Position, b: Position): -1 | 0 | 1 => {
  const x = a.sequenceNumber
  const y = b.sequenceNumber
  if (x.length !== y.length) return x.length < y.length ? -1 : 1
  if (x !== y) return x < y ? -1 : 1
  if (a.subSequenceNumber !== b.subSequenceNumber) return a.subSequenceNumber < b.subSequenceNumber ? -1 : 1
  return 0
}

/** Compact, comparable-by-`comparePosition` text form used as a dedup owner id. */
export const positionId = (shardId: string, p: Position): string =>
  `${shardId}/${p.sequenceNumber}/${p.subSequenceNumber}`

/** `orders` for `arn:aws:kinesis:eu-west-1:123456789012:stream/orders` or `orders`. */
export const streamNameOf = (source: string): string => {
  const at = source.lastIndexOf(":stream/")
  return at < 0 ? source : source.slice(at + ":stream/".length)
}
