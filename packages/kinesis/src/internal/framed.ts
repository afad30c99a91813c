/**
 * The producer side of the framed aggregation formats (NDJSON, netstrings):
 * user records of one partition key, each framed and concatenated, up to a
 * size limit. These formats carry no key of their own, so an aggregate never
 * mixes keys: every user record takes the outer record's key when read.
 */
import type { Aggregate, UserRecord } from "../Kpl"
import { RECORD_MAX_BYTES } from "../Limits"

/** How a format frames one user record. */
export interface Framing {
  /** Bytes the frame adds around `dataLength` bytes of data. */
  readonly overhead: (dataLength: number) => number
  /** Writes the framed `data` at `offset` of `out`; returns the offset after it. */
  readonly write: (out: Uint8Array, offset: number, data: Uint8Array) => number
}

const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")

const NOTHING: ReadonlyArray<never> = []

/** Frames `records` one after the other. */
export const encode = (framing: Framing, records: ReadonlyArray<UserRecord>): Uint8Array => {
  let total = 0
  for (const r of records) total += r.data.length + framing.overhead(r.data.length)
  const out = new Uint8Array(total)
  let o = 0
  for (const r of records) o = framing.write(out, o, r.data)
  return out
}

/**
 * Packs consecutive user records of one partition key (and explicit hash key)
 * into aggregates of at most `maxBytes`, data plus partition key as Kinesis
 * counts them. Unlike the KPL's, an aggregate of one record is still framed:
 * a reader of these formats expects every record framed.
 */
// An `Aggregation.Aggregator` by shape; not declared, which would make the modules import each other.
export class FramedAggregator<A extends UserRecord> {
  private records: Array<A> = []
  private bytes = 0

  constructor(private readonly framing: Framing, readonly maxBytes: number = RECORD_MAX_BYTES) {}

  get count(): number {
    return this.records.length
  }

  get size(): number {
    return this.records.length === 0 ? 0 : this.bytes + utf8Length(this.records[0]!.partitionKey)
  }

  joins(record: A): boolean {
    const first = this.records[0]
    return first === undefined || (first.partitionKey === record.partitionKey && first.explicitHashKey === record.explicitHashKey)
  }

  /** Adds `record`; returns the current aggregate when `record` does not join it or would push it over `maxBytes`. */
  add(record: A): ReadonlyArray<Aggregate<A>> {
    const growth = record.data.length + this.framing.overhead(record.data.length)
    if (this.records.length > 0 && this.joins(record) && this.size + growth <= this.maxBytes) {
      this.records.push(record)
      this.bytes += growth
      return NOTHING
    }
    const finished = this.flush()
    this.records.push(record)
    this.bytes = growth
    return finished
  }

  flush(): ReadonlyArray<Aggregate<A>> {
    const records = this.records
    if (records.length === 0) return NOTHING
    const first = records[0]!
    const data = encode(this.framing, records)
    this.records = []
    this.bytes = 0
    return [
      first.explicitHashKey === undefined
        ? { partitionKey: first.partitionKey, data, records }
        : { partitionKey: first.partitionKey, explicitHashKey: first.explicitHashKey, data, records }
    ]
  }
}
