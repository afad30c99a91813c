/**
 * The producer's synchronous core: records waiting per partition key, shards
 * as lanes with their own pacing, and the assembly of PutRecords batches.
 * Nothing here allocates an Effect; the producer calls it once per batch.
 *
 * Ordering rule: a partition key has at most one Kinesis record in flight or
 * awaiting a retry. Its later records wait in its queue until that one is
 * written (or has failed for good), so a rejected record is never overtaken
 * by a later one of the same key, neither inside one PutRecords nor across
 * concurrent ones. With aggregation, consecutive records of a key travel in
 * one aggregated record, which Kinesis accepts or rejects as a whole (a KPL
 * aggregate also carries other keys of its shard; NDJSON and netstring
 * aggregates carry one key each).
 */
import * as Aggregation from "../Aggregation"
import { type Aggregate, hashKeyOf } from "../Kpl"
import { PUT_RECORDS_MAX_RECORDS, RECORD_MAX_BYTES } from "../Limits"
import type { Shard, ShardMap } from "../Shards"
import { TokenBucket } from "../TokenBucket"
import { Fifo } from "./fifo"
import { lastAtOrBelow } from "./search"
import type { Ticket } from "./ticket"

/**
 * An upper bound on what a user record adds to an aggregate beyond its data
 * and partition key: protobuf tags, lengths, indexes and an explicit hash key.
 */
const AGGREGATE_OVERHEAD = 64

/** One user record inside the producer, from admission until its outcome. */
export interface Entry {
  readonly partitionKey: string
  readonly explicitHashKey?: string
  readonly data: Uint8Array
  /** Data plus UTF-8 partition key: what Kinesis counts against its limits. */
  readonly size: number
  /** The explicit hash key as a number; without one, the partition key's hash is kept on its queue. */
  readonly explicitHash: bigint | undefined
  /** Who awaits the outcome, and at which position; none for fire-and-forget offers. */
  readonly ticket: Ticket | undefined
  readonly index: number
  /** PutRecords calls that carried it so far. */
  attempts: number
  /** Its retry schedule's state, shared by reference among records that failed together. */
  retryState: unknown
  /** When it may be sent again (Clock milliseconds). */
  due: number
  /** Its sequence number in the producer's write-ahead log; -1 without one. */
  logSeq: number
}

/** One Kinesis record of a PutRecords call. */
export interface Outgoing {
  readonly partitionKey: string
  readonly explicitHashKey?: string
  readonly data: Uint8Array
  /** The user records it carries: one, or several in an aggregate. */
  readonly entries: ReadonlyArray<Entry>
  readonly aggregated: boolean
  /** The shard it was packed for. */
  readonly shardId: string
  readonly size: number
}

export interface Batch {
  readonly records: ReadonlyArray<Outgoing>
  readonly userRecords: number
}

export interface BatcherOptions {
  readonly aggregation: Aggregation.Format
  readonly shardRecordsPerSecond: number
  readonly shardBytesPerSecond: number
  /** The overall insert limit, in user records. */
  readonly rateLimit: { readonly records: number; readonly periodMillis: number } | undefined
  readonly maxRequestBytes: number
}

/** `fill` found the batch full. */
export const FULL = -1

class KeyQueue {
  entries: Array<Entry> = []
  head = 0
  /** How many entries at the head are in flight or awaiting a retry; 0 when the key may send. */
  inFlight = 0
  due = 0

  constructor(readonly key: string, readonly hash: bigint) {}

  get size(): number {
    return this.entries.length - this.head
  }

  first(): Entry {
    return this.entries[this.head]!
  }
}

class Lane {
  /** Keys whose head is due for a retry go before keys with fresh records. */
  readonly retry = new Fifo<KeyQueue>()
  readonly fresh = new Fifo<KeyQueue>()

  constructor(
    readonly shard: Shard,
    readonly records: TokenBucket,
    readonly bytes: TokenBucket,
    readonly aggregator: Aggregation.Aggregator<Entry> | undefined
  ) {}

  peek(): KeyQueue | undefined {
    return this.retry.peek() ?? this.fresh.peek()
  }

  pop(): void {
    if (this.retry.size > 0) this.retry.shift()
    else this.fresh.shift()
  }
}

const laneStart = (lane: Lane): bigint => lane.shard.hashKeyRange.start

const openShards = (shards: ShardMap): Array<Shard> =>
  [...shards.values()].filter((s) => !s.closed).sort((a, b) => (a.hashKeyRange.start < b.hashKeyRange.start ? -1 : 1))

/** Partition keys' hashes, kept across the key's idle spells; cleared when it grows past this many. */
const HASH_CACHE_SIZE = 65_536

export class Batcher {
  private readonly keys = new Map<string, KeyQueue>()
  private readonly hashes = new Map<string, bigint>()
  private lanes: Array<Lane> = []
  private readonly rate: TokenBucket | undefined
  private readonly waitingRetry: Array<KeyQueue> = []
  private nextRetryAt = Infinity
  private rotation = 0
  // The open batch.
  private records: Array<Outgoing> = []
  private bytes = 0
  private userRecords = 0
  private openAggregates = 0
  private openBytes = 0
  /**
   * When the open batch's first record joined it; minus infinity once it
   * holds a retried record, which waited its backoff already and does not
   * linger again.
   */
  openedAt = 0

  constructor(shards: ShardMap, private readonly options: BatcherOptions, now: number) {
    const limit = options.rateLimit
    this.rate = limit && new TokenBucket(limit.records, limit.periodMillis, now)
    this.refresh(shards, now)
  }

  get isEmpty(): boolean {
    return this.userRecords === 0
  }

  /** Queues an admitted record behind the earlier ones of its partition key. */
  add(entry: Entry): void {
    let queue = this.keys.get(entry.partitionKey)
    if (queue === undefined) {
      queue = new KeyQueue(entry.partitionKey, this.hashOf(entry.partitionKey))
      this.keys.set(entry.partitionKey, queue)
    }
    queue.entries.push(entry)
    if (queue.size === 1 && queue.inFlight === 0) this.ready(queue, false)
  }

  /**
   * Moves records that may be sent now (their key free, their shard and the
   * rate limit having room) into the open batch. Returns `FULL`, or the time
   * at which waiting records may move (a retry falls due or a pacing bucket
   * refills; `Infinity` when nothing waits on time).
   */
  fill(now: number): number {
    if (now >= this.nextRetryAt) this.releaseRetries(now)
    let wakeAt = this.nextRetryAt
    const n = this.lanes.length
    for (let k = 0; k < n; k++) {
      const lane = this.lanes[(this.rotation + k) % n]!
      const result = lane.aggregator ? this.fillAggregated(lane, lane.aggregator, now) : this.fillPlain(lane, now)
      if (result === FULL) return FULL
      if (result < wakeAt) wakeAt = result
    }
    return this.records.length + this.openAggregates >= PUT_RECORDS_MAX_RECORDS ? FULL : wakeAt
  }

  /** Closes the open batch and hands it over for sending. */
  take(): Batch {
    for (const lane of this.lanes) {
      if (lane.aggregator && lane.aggregator.count > 0) this.closeAggregate(lane, lane.aggregator)
    }
    const batch: Batch = { records: this.records, userRecords: this.userRecords }
    this.records = []
    this.bytes = 0
    this.userRecords = 0
    this.rotation = (this.rotation + 1) % this.lanes.length
    return batch
  }

  /**
   * Settles one sent Kinesis record: the entries in `retrying` (with their
   * `due` set) stay at the head of their keys and are sent again once due;
   * the others are done, written or failed for good, and their keys move on.
   */
  finish(out: Outgoing, retrying: ReadonlySet<Entry> | undefined): void {
    const entries = out.entries
    for (let i = 0; i < entries.length;) {
      const queue = this.keys.get(entries[i]!.partitionKey)!
      // A key's in-flight entries sit together in one Kinesis record, in queue order.
      const m = queue.inFlight
      let kept = 0
      let due = 0
      for (let j = i; j < i + m; j++) {
        if (retrying?.has(entries[j]!)) {
          kept++
          due = Math.max(due, entries[j]!.due)
        }
      }
      // Keep the retried ones, in order, at the end of the head segment and drop the rest.
      let to = queue.head + m - kept
      for (let j = i; j < i + m; j++) {
        if (retrying?.has(entries[j]!)) queue.entries[to++] = entries[j]!
      }
      for (let p = queue.head; p < queue.head + m - kept; p++) queue.entries[p] = undefined as unknown as Entry
      queue.head += m - kept
      if (queue.head > 64 && queue.head * 2 > queue.entries.length) {
        queue.entries = queue.entries.slice(queue.head)
        queue.head = 0
      }
      i += m
      if (kept > 0) {
        queue.inFlight = kept
        queue.due = due
        this.waitingRetry.push(queue)
        this.nextRetryAt = Math.min(this.nextRetryAt, due)
      } else {
        queue.inFlight = 0
        if (queue.size > 0) this.ready(queue, false)
        else this.keys.delete(queue.key)
      }
    }
  }

  /** Kinesis throttled a record of this shard: stop sending to it until its buckets refill. */
  throttled(shardId: string, now: number): void {
    const lane = this.lanes.find((l) => l.shard.shardId === shardId)
    lane?.records.drain(now)
    lane?.bytes.drain(now)
  }

  /**
   * Adopts a new shard map (after a reshard): open shards become the lanes,
   * and waiting keys are placed again by their hash. Only between batches.
   */
  refresh(shards: ShardMap, now: number): void {
    const previous = new Map(this.lanes.map((l) => [l.shard.shardId, l]))
    const second = 1_000
    this.lanes = openShards(shards).map((shard) => {
      const old = previous.get(shard.shardId)
      return new Lane(
        shard,
        old?.records ?? new TokenBucket(this.options.shardRecordsPerSecond, second, now),
        old?.bytes ?? new TokenBucket(this.options.shardBytesPerSecond, second, now),
        Aggregation.aggregator<Entry>(this.options.aggregation, RECORD_MAX_BYTES)
      )
    })
    if (this.lanes.length === 0) throw new Error("a stream has at least one open shard")
    this.rotation = 0
    for (const lane of previous.values()) {
      for (const queue of lane.retry.takeAll()) this.ready(queue, true)
      for (const queue of lane.fresh.takeAll()) this.ready(queue, false)
    }
  }

  /** Removes and returns every record still held, oldest first per key; the batcher is empty after. */
  drain(): Array<Entry> {
    const all: Array<Entry> = []
    for (const queue of this.keys.values()) {
      for (let p = queue.head; p < queue.entries.length; p++) all.push(queue.entries[p]!)
    }
    this.keys.clear()
    this.waitingRetry.length = 0
    this.nextRetryAt = Infinity
    for (const lane of this.lanes) {
      lane.retry.takeAll()
      lane.fresh.takeAll()
      lane.aggregator?.flush()
    }
    this.records = []
    this.bytes = 0
    this.userRecords = 0
    this.openAggregates = 0
    this.openBytes = 0
    return all
  }

  private fillPlain(lane: Lane, now: number): number {
    for (let queue = lane.peek(); queue !== undefined; queue = lane.peek()) {
      const e = queue.first()
      if (this.records.length >= PUT_RECORDS_MAX_RECORDS || this.bytes + e.size > this.options.maxRequestBytes) return FULL
      const wait = this.blockedUntil(lane, 1, e.size, now)
      if (wait !== undefined) return wait
      lane.pop()
      queue.inFlight = 1
      this.accept(e, now)
      const shardId = lane.shard.shardId
      this.push(
        lane,
        e.explicitHashKey === undefined
          ? { partitionKey: e.partitionKey, data: e.data, entries: [e], aggregated: false, shardId, size: e.size }
          : {
            partitionKey: e.partitionKey,
            explicitHashKey: e.explicitHashKey,
            data: e.data,
            entries: [e],
            aggregated: false,
            shardId,
            size: e.size
          }
      )
    }
    return Infinity
  }

  private fillAggregated(lane: Lane, aggregator: Aggregation.Aggregator<Entry>, now: number): number {
    for (let queue = lane.peek(); queue !== undefined; queue = lane.peek()) {
      let taken = 0
      let stop: number | undefined
      while (taken < queue.size) {
        const e = queue.entries[queue.head + taken]!
        const growth = e.size + AGGREGATE_OVERHEAD
        if (aggregator.count > 0 && (aggregator.size + growth > aggregator.maxBytes || !aggregator.joins(e))) {
          // The key's other records go in a later batch: one Kinesis record per key in flight.
          if (taken > 0) break
          this.closeAggregate(lane, aggregator)
        }
        if (aggregator.count === 0 && this.records.length + this.openAggregates >= PUT_RECORDS_MAX_RECORDS) {
          stop = FULL
          break
        }
        if (this.bytes + this.openBytes + growth > this.options.maxRequestBytes) {
          stop = FULL
          break
        }
        stop = this.blockedUntil(lane, aggregator.count === 0 ? 1 : 0, aggregator.size + growth, now)
        if (stop !== undefined) break
        this.accept(e, now)
        const before = aggregator.size
        // With the room checked above, `add` only hands back a record too big for any aggregate, alone.
        const alone = aggregator.add(e)
        if (before === 0 && aggregator.count > 0) this.openAggregates++
        this.openBytes += aggregator.size - before
        taken++
        if (alone.length > 0) {
          this.push(lane, this.outgoing(lane, alone[0]!))
          break
        }
      }
      if (taken > 0) {
        lane.pop()
        queue.inFlight = taken
      }
      if (stop !== undefined) return stop
    }
    return Infinity
  }

  /** The time when the shard's and the overall buckets allow `records` Kinesis records of `bytes`, or undefined if now. */
  private blockedUntil(lane: Lane, records: number, bytes: number, now: number): number | undefined {
    if (this.rate && !this.rate.canTake(1, now)) return this.rate.readyAt(1, now)
    const recordsOk = lane.records.canTake(records, now)
    const bytesOk = lane.bytes.canTake(bytes, now)
    if (recordsOk && bytesOk) return undefined
    return Math.max(lane.records.readyAt(records, now), lane.bytes.readyAt(bytes, now))
  }

  private accept(e: Entry, now: number): void {
    if (e.attempts > 0) this.openedAt = -Infinity
    else if (this.userRecords === 0) this.openedAt = now
    this.userRecords++
    this.rate?.take(1)
    e.attempts++
  }

  private closeAggregate(lane: Lane, aggregator: Aggregation.Aggregator<Entry>): void {
    this.openBytes -= aggregator.size
    this.openAggregates--
    for (const finished of aggregator.flush()) this.push(lane, this.outgoing(lane, finished))
  }

  private outgoing(lane: Lane, aggregate: Aggregate<Entry>): Outgoing {
    const first = aggregate.records[0]!
    return {
      partitionKey: aggregate.partitionKey,
      ...(aggregate.explicitHashKey === undefined ? {} : { explicitHashKey: aggregate.explicitHashKey }),
      data: aggregate.data,
      entries: aggregate.records,
      // A record sent alone keeps its own data; an aggregate is newly encoded.
      aggregated: aggregate.data !== first.data,
      shardId: lane.shard.shardId,
      // The outer partition key is the first record's.
      size: aggregate.data.length + first.size - first.data.length
    }
  }

  /** Adds a finished Kinesis record to the batch and charges its shard. */
  private push(lane: Lane, out: Outgoing): void {
    lane.records.take(1)
    lane.bytes.take(out.size)
    this.bytes += out.size
    this.records.push(out)
  }

  private ready(queue: KeyQueue, retry: boolean): void {
    const lane = this.laneFor(queue.first().explicitHash ?? queue.hash)
    if (retry) lane.retry.push(queue)
    else lane.fresh.push(queue)
  }

  private releaseRetries(now: number): void {
    let next = Infinity
    let kept = 0
    for (const queue of this.waitingRetry) {
      if (queue.due <= now) {
        queue.inFlight = 0
        this.ready(queue, true)
      } else {
        this.waitingRetry[kept++] = queue
        next = Math.min(next, queue.due)
      }
    }
    this.waitingRetry.length = kept
    this.nextRetryAt = next
  }

  private hashOf(partitionKey: string): bigint {
    let hash = this.hashes.get(partitionKey)
    if (hash === undefined) {
      if (this.hashes.size >= HASH_CACHE_SIZE) this.hashes.clear()
      hash = hashKeyOf(partitionKey)
      this.hashes.set(partitionKey, hash)
    }
    return hash
  }

  /** The lane whose hash key range holds `hash` (the last starting at or below it). */
  private laneFor(hash: bigint): Lane {
    return this.lanes[lastAtOrBelow(this.lanes, laneStart, hash)]!
  }
}
