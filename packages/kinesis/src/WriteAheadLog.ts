/**
 * The Kinesis producer's optional write-ahead log: records are appended to
 * local segment files before the producer takes them, sent from memory as
 * usual, marked done once Kinesis acknowledged them (or the failure sink took
 * them), and sent again by the next producer to open the directory after a
 * crash.
 *
 * - Segments (`<first sequence>.wal`) are append-only; each frame is its
 *   length and CRC-32 followed by a record or a list of acknowledged
 *   sequence numbers. Opening the log reads every segment, truncates a torn
 *   last frame (a write cut short by a crash), and hands the producer the
 *   records with no acknowledgement, oldest first.
 * - A segment is deleted once every record in it is acknowledged. Lost
 *   acknowledgements (they are never fsynced) only mean a record is sent
 *   again after a crash: delivery stays at least once, and eddy's consumers
 *   drop duplicates by event id.
 * - The log holds at most `maxBytes` of segment files; a full log makes
 *   `put` and `offer` wait (`whenFull: "block"`) or fail with
 *   `WriteAheadLogFullError` (`"fail"`).
 * - A `LOCK` file holding the process id makes the directory one producer's:
 *   another producer, in this process or another live one, fails with
 *   `WriteAheadLogLockedError`. A lock left by a dead process is taken over.
 */
import { Data, type Duration } from "effect"

/**
 * When appended records reach the disk (fsync):
 * - `"put"`: before `offer` returns; concurrent callers share one fsync
 *   (group commit). Accepted records survive a crash of the process and of
 *   the machine (power loss).
 * - `"interval"`: every `fsyncInterval`. Accepted records survive a crash of
 *   the process (they are in the operating system's page cache once
 *   `offer` returns); a machine crash loses at most the last interval.
 * - `"none"`: left to the operating system. Survives a crash of the process
 *   only.
 */
export type Fsync = "put" | "interval" | "none"

/** Where the log lives, how large it may grow, and when it is synced to disk. */
export interface Options {
  /** The log's own directory, created if missing; one producer at a time. */
  readonly directory: string
  /** Segment bytes the log may hold before `put` waits or fails. Default 256 MiB. */
  readonly maxBytes?: number
  /** A segment is closed and a new one started beyond this size. Default 8 MiB. */
  readonly segmentBytes?: number
  /** What `put` and `offer` do when the log is full. Default `"block"`. */
  readonly whenFull?: "block" | "fail"
  /** Default `"put"`. */
  readonly fsync?: Fsync
  /** For `fsync: "interval"`. Default 100 ms. */
  readonly fsyncInterval?: Duration.DurationInput
}

/** Another producer holds the log's directory: give each producer (each stream, each process) its own. */
export class WriteAheadLogLockedError extends Data.TaggedError("WriteAheadLogLockedError")<{
  readonly directory: string
  /** The process holding it. */
  readonly pid: number
}> {
  override get message(): string {
    return `the write-ahead log in ${this.directory} is in use by process ${this.pid}${
      this.pid === process.pid ? " (this one: another producer)" : ""
    }: give each producer its own directory`
  }
}

/** The log holds `maxBytes` of records Kinesis has not acknowledged yet (with `whenFull: "fail"`): Kinesis is slower than the traffic; retry later. */
export class WriteAheadLogFullError extends Data.TaggedError("WriteAheadLogFullError")<{
  readonly directory: string
  readonly maxBytes: number
}> {
  override get message(): string {
    return `the write-ahead log in ${this.directory} is full (${this.maxBytes} bytes of records not yet acknowledged by Kinesis): retry later, or raise maxBytes`
  }
}

/** Reading or writing the log's files failed (a full or read-only disk, permissions): the record was not taken. */
export class WriteAheadLogIoError extends Data.TaggedError("WriteAheadLogIoError")<{
  readonly directory: string
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `could not ${this.operation} the write-ahead log in ${this.directory}: ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }`
  }
}

/** Why the log refused records at `put`. */
export type WriteAheadLogError = WriteAheadLogFullError | WriteAheadLogIoError
