/**
 * The write-ahead log's files: append-only segments of framed records and
 * acknowledgements, written with synchronous `node:fs` calls so an append is
 * one `write` per `put` call and keeps the producer's hot path free of
 * Effects; fsyncs run off the event loop (see `WriteAheadLog` for the
 * format and the guarantees).
 *
 * Frame: u32 payload length, u32 CRC-32 of the payload, payload (all little
 * endian). Payload: kind 1, a record: u48 sequence, u16 partition key bytes,
 * the key (UTF-8), u16 explicit hash key bytes, the key (ASCII digits), the
 * data; kind 2, acknowledgements: u32 count, then that many u48 sequences.
 */
import { Deferred, Duration, Effect, Exit, FiberId, Schedule, type Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { crc32 } from "node:zlib"
import {
  type Fsync,
  type Options,
  WriteAheadLogFullError,
  WriteAheadLogIoError,
  WriteAheadLogLockedError
} from "../WriteAheadLog"
import type { Entry } from "./batcher"
import { Fifo } from "./fifo"
import { lastAtOrBelow } from "./search"

const HEADER = 8
const RECORD = 1
const ACKS = 2
const SEQ = 6
const RECORD_FIXED = 1 + SEQ + 2 + 2
const SEGMENT = /^(\d{16})\.wal$/
const LOCK = "LOCK"

/** A record read back from the log, not acknowledged before the last run ended. */
export interface Recovered {
  readonly seq: number
  readonly partitionKey: string
  readonly explicitHashKey?: string
  readonly data: Uint8Array
}

interface Segment {
  readonly first: number
  readonly file: string
  bytes: number
  /** Records in it not acknowledged yet. */
  live: number
}

interface Waiter {
  readonly entries: ReadonlyArray<Entry>
  readonly bytes: number
  readonly resume: (done: Effect.Effect<void, WriteAheadLogIoError>) => void
  cancelled: boolean
}

const segmentFirst = (segment: Segment): number => segment.first

const segmentFile = (first: number) => `${String(first).padStart(16, "0")}.wal`

/** What one entry takes in a segment. */
const frameBytes = (e: Entry) => HEADER + RECORD_FIXED + (e.explicitHashKey?.length ?? 0) + e.size

/** The directories this process holds, so a second producer here is refused even though the lock's pid is alive. */
const held = new Set<string>()

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Takes the directory's lock, or returns the pid of the live process holding it. */
const lock = (directory: string): number | undefined => {
  const file = path.join(directory, LOCK)
  if (held.has(directory)) return process.pid
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, "wx")
      fs.writeSync(fd, String(process.pid))
      fs.closeSync(fd)
      held.add(directory)
      return undefined
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      const pid = Number.parseInt(fs.readFileSync(file, "utf8"), 10)
      // A lock naming this process but not held by it is a previous life's (a container's pid 1, say).
      if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) return pid
      fs.rmSync(file, { force: true })
    }
  }
  throw new Error(`could not take the lock file ${file}`)
}

/** The valid frames of one segment: its records, the sequences it acknowledges, and where the valid part ends. */
const parse = (buf: Buffer) => {
  const records: Array<Recovered> = []
  const acks: Array<number> = []
  let off = 0
  while (off + HEADER <= buf.length) {
    const length = buf.readUInt32LE(off)
    const end = off + HEADER + length
    if (length === 0 || end > buf.length) break
    const payload = buf.subarray(off + HEADER, end)
    if (crc32(payload) !== buf.readUInt32LE(off + 4)) break
    if (payload[0] === RECORD && length >= RECORD_FIXED) {
      const seq = payload.readUIntLE(1, SEQ)
      const keyBytes = payload.readUInt16LE(1 + SEQ)
      let p = 1 + SEQ + 2
      const partitionKey = payload.toString("utf8", p, p += keyBytes)
      const hashBytes = payload.readUInt16LE(p)
      p += 2
      const explicitHashKey = hashBytes === 0 ? undefined : payload.toString("latin1", p, p += hashBytes)
      const data = payload.subarray(p)
      records.push(explicitHashKey === undefined ? { seq, partitionKey, data } : { seq, partitionKey, explicitHashKey, data })
    } else if (payload[0] === ACKS && length >= 5 && length === 5 + payload.readUInt32LE(1) * SEQ) {
      for (let p = 5; p < length; p += SEQ) acks.push(payload.readUIntLE(p, SEQ))
    } else {
      break
    }
    off = end
  }
  return { records, acks, valid: off }
}

export interface Settings {
  readonly directory: string
  readonly maxBytes: number
  readonly segmentBytes: number
  readonly whenFull: "block" | "fail"
  readonly fsync: Fsync
  readonly fsyncInterval: Duration.Duration
}

export const settingsOf = (options: Options): Settings => ({
  directory: path.resolve(options.directory),
  maxBytes: options.maxBytes ?? 256 * 1024 * 1024,
  segmentBytes: options.segmentBytes ?? 8 * 1024 * 1024,
  whenFull: options.whenFull ?? "block",
  fsync: options.fsync ?? "put",
  fsyncInterval: Duration.decode(options.fsyncInterval ?? "100 millis")
})

/** One producer's open log. Not safe to share: the lock makes it the directory's only writer. */
export class Log {
  /** Segment bytes on disk, acknowledged or not. */
  bytes = 0
  /** Records not acknowledged yet, all segments. */
  live = 0
  private segments: Array<Segment> = []
  private active!: Segment
  private fd = -1
  /** Writes made, and how many of them an fsync covers. */
  private written = 0
  private synced = 0
  private syncing = false
  private closed = false
  /** Old segments' descriptors, closed once the fsync in progress is done. */
  private retired: Array<number> = []
  /** Awaited by appends waiting for the next fsync (`fsync: "put"`). */
  private nextSync: Deferred.Deferred<void, WriteAheadLogIoError> | undefined
  private readonly wake = Effect.unsafeMakeLatch(false)
  private readonly waiters = new Fifo<Waiter>()

  constructor(readonly settings: Settings, private nextSeq: number) {}

  /** Opens the directory: locks it, reads its segments (truncating a torn tail) and starts a fresh segment. */
  static open(settings: Settings): { readonly log: Log; readonly recovered: Array<Recovered>; readonly truncated: number } {
    const { directory } = settings
    fs.mkdirSync(directory, { recursive: true })
    const pid = lock(directory)
    if (pid !== undefined) throw new WriteAheadLogLockedError({ directory, pid })
    try {
      const files = fs.readdirSync(directory).filter((f) => SEGMENT.test(f)).sort()
      const acked = new Set<number>()
      const found: Array<{ segment: Segment; records: Array<Recovered> }> = []
      let maxSeq = -1
      let truncated = 0
      for (const name of files) {
        const file = path.join(directory, name)
        const buf = fs.readFileSync(file)
        const { acks, records, valid } = parse(buf)
        if (valid < buf.length) {
          // A write the crash cut short: everything before it is intact.
          fs.truncateSync(file, valid)
          truncated += buf.length - valid
        }
        for (const seq of acks) acked.add(seq)
        for (const r of records) maxSeq = Math.max(maxSeq, r.seq)
        for (const seq of acks) maxSeq = Math.max(maxSeq, seq)
        maxSeq = Math.max(maxSeq, Number(SEGMENT.exec(name)![1]))
        found.push({ segment: { first: Number(SEGMENT.exec(name)![1]), file, bytes: valid, live: 0 }, records })
      }
      const log = new Log(settings, maxSeq + 1)
      const recovered: Array<Recovered> = []
      for (const { records, segment } of found) {
        for (const r of records) {
          if (acked.has(r.seq)) continue
          segment.live++
          recovered.push(r)
        }
        if (segment.live === 0) {
          fs.rmSync(segment.file, { force: true })
        } else {
          log.segments.push(segment)
          log.bytes += segment.bytes
          log.live += segment.live
        }
      }
      log.startSegment()
      return { log, recovered, truncated }
    } catch (e) {
      fs.rmSync(path.join(directory, LOCK), { force: true })
      held.delete(directory)
      throw e
    }
  }

  /**
   * Appends the entries in one write and sets their `logSeq`; waits (or
   * fails, per `whenFull`) while the log is full. A single call is always
   * taken by a log holding nothing unacknowledged, however large.
   */
  append(entries: ReadonlyArray<Entry>): Effect.Effect<void, WriteAheadLogFullError | WriteAheadLogIoError> {
    return Effect.suspend((): Effect.Effect<void, WriteAheadLogFullError | WriteAheadLogIoError> => {
      // The producer has closed too and refuses them: nothing to keep.
      if (this.closed) return Effect.void
      let bytes = 0
      for (let i = 0; i < entries.length; i++) bytes += frameBytes(entries[i]!)
      if (this.waiters.size === 0 && this.fits(bytes)) return this.write(entries, bytes)
      if (this.settings.whenFull === "fail") {
        return Effect.fail(new WriteAheadLogFullError({ directory: this.settings.directory, maxBytes: this.settings.maxBytes }))
      }
      return Effect.async<void, WriteAheadLogIoError>((resume) => {
        const waiter: Waiter = { entries, bytes, resume, cancelled: false }
        this.waiters.push(waiter)
        return Effect.sync(() => {
          waiter.cancelled = true
        })
      })
    })
  }

  /** Waits until what was appended so far is on disk, when `fsync` is `"put"`. */
  get durable(): Effect.Effect<void, WriteAheadLogIoError> {
    return Effect.suspend(() => {
      if (this.settings.fsync !== "put" || this.synced >= this.written) return Effect.void
      // A round already under way may have started before this write: wait for the next one.
      if (this.nextSync === undefined) {
        this.nextSync = Deferred.unsafeMake(FiberId.none)
        this.wake.unsafeOpen()
      }
      return Deferred.await(this.nextSync)
    })
  }

  /** Records are done (written, or given to the failure sink): notes it, and deletes segments left with none. */
  acknowledge(seqs: ReadonlyArray<number>): void {
    if (seqs.length === 0) return
    for (const seq of seqs) {
      const segment = this.segmentOf(seq)
      segment.live--
      this.live--
    }
    const frame = Buffer.allocUnsafe(HEADER + 5 + seqs.length * SEQ)
    frame[HEADER] = ACKS
    frame.writeUInt32LE(seqs.length, HEADER + 1)
    for (let i = 0; i < seqs.length; i++) frame.writeUIntLE(seqs[i]!, HEADER + 5 + i * SEQ, SEQ)
    frame.writeUInt32LE(frame.length - HEADER, 0)
    frame.writeUInt32LE(crc32(frame.subarray(HEADER)), 4)
    try {
      this.writeFrame(frame)
    } catch {
      // A lost acknowledgement only means the record is sent again after a restart.
    }
    this.compact()
  }

  /** The fiber that runs the fsyncs: on demand (`"put"`) or every interval (`"interval"`). */
  get syncer(): Effect.Effect<void> {
    const round = Effect.suspend(() => {
      const waiting = this.nextSync
      this.nextSync = undefined
      const target = this.written
      if (this.synced >= target) {
        if (waiting !== undefined) Deferred.unsafeDone(waiting, Exit.void)
        return Effect.void
      }
      this.syncing = true
      const fd = this.fd
      return Effect.async<void, WriteAheadLogIoError>((resume) => {
        fs.fsync(fd, (err) => resume(err ? Effect.fail(this.ioError("fsync", err)) : Effect.void))
      }).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            this.syncing = false
            if (Exit.isSuccess(exit)) this.synced = Math.max(this.synced, target)
            for (const old of this.retired.splice(0)) fs.closeSync(old)
            if (waiting !== undefined) Deferred.unsafeDone(waiting, exit)
          })
        )
      )
    })
    switch (this.settings.fsync) {
      case "put":
        return Effect.forever(Effect.zipRight(Effect.zipRight(this.wake.await, Effect.sync(() => this.wake.unsafeClose())), round))
      case "interval":
        return Effect.repeat(round, Schedule.spaced(this.settings.fsyncInterval)).pipe(Effect.asVoid)
      case "none":
        return Effect.void
    }
  }

  /** Flushes and closes the active segment and releases the lock. */
  close(): void {
    this.closed = true
    try {
      if (this.settings.fsync !== "none") fs.fsyncSync(this.fd)
    } finally {
      fs.closeSync(this.fd)
      for (const old of this.retired.splice(0)) fs.closeSync(old)
      for (const w of this.waiters.takeAll()) if (!w.cancelled) w.resume(Effect.fail(this.ioError("append to", new Error("the producer closed"))))
      if (this.live === 0 && this.segments.length === 1) fs.rmSync(this.active.file, { force: true })
      fs.rmSync(path.join(this.settings.directory, LOCK), { force: true })
      held.delete(this.settings.directory)
    }
  }

  private fits(bytes: number): boolean {
    return this.live === 0 || this.bytes + bytes <= this.settings.maxBytes
  }

  private write(entries: ReadonlyArray<Entry>, bytes: number): Effect.Effect<void, WriteAheadLogIoError> {
    try {
      // Nothing unacknowledged is held: drop what the log still keeps before writing past the bound.
      if (this.live === 0 && this.active.bytes > 0 && this.bytes + bytes > this.settings.maxBytes) this.roll()
      else if (this.active.bytes > 0 && this.active.bytes + bytes > this.settings.segmentBytes) this.roll()
      const buf = Buffer.allocUnsafe(bytes)
      let off = 0
      const first = this.nextSeq
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!
        const start = off
        const hash = e.explicitHashKey ?? ""
        off += HEADER
        buf[off] = RECORD
        buf.writeUIntLE(first + i, off + 1, SEQ)
        const keyBytes = e.size - e.data.byteLength
        buf.writeUInt16LE(keyBytes, off + 1 + SEQ)
        off += 1 + SEQ + 2
        off += buf.write(e.partitionKey, off, keyBytes, "utf8")
        buf.writeUInt16LE(hash.length, off)
        off += 2
        off += buf.write(hash, off, hash.length, "latin1")
        buf.set(e.data, off)
        off += e.data.byteLength
        buf.writeUInt32LE(off - start - HEADER, start)
        buf.writeUInt32LE(crc32(buf.subarray(start + HEADER, off)), start + 4)
      }
      this.writeFrame(buf)
      for (let i = 0; i < entries.length; i++) entries[i]!.logSeq = first + i
      this.nextSeq = first + entries.length
      this.active.live += entries.length
      this.live += entries.length
      return Effect.void
    } catch (e) {
      return Effect.fail(this.ioError("append to", e))
    }
  }

  /** Writes a whole frame (or frames) at the active segment's end; a partial write is cut off again. */
  private writeFrame(buf: Buffer): void {
    const at = this.active.bytes
    try {
      for (let off = 0; off < buf.length;) off += fs.writeSync(this.fd, buf, off, buf.length - off, at + off)
    } catch (e) {
      try {
        fs.ftruncateSync(this.fd, at)
      } catch {
        // The next open truncates the torn frame.
      }
      throw e
    }
    this.active.bytes += buf.length
    this.bytes += buf.length
    this.written++
  }

  private segmentOf(seq: number): Segment {
    return this.segments[lastAtOrBelow(this.segments, segmentFirst, seq)]!
  }

  /** Deletes every segment whose records are all acknowledged; rolls the active one first when that frees room for a waiter. */
  private compact(): void {
    if (this.active.live === 0 && this.active.bytes > 0 && (this.waiters.size > 0 || this.active.bytes >= this.settings.segmentBytes)) {
      try {
        this.roll()
      } catch {
        // Rolled at the next append instead.
      }
    }
    const kept: Array<Segment> = []
    let freed = false
    for (const s of this.segments) {
      if (s.live > 0 || s === this.active) {
        kept.push(s)
        continue
      }
      fs.rmSync(s.file, { force: true })
      this.bytes -= s.bytes
      freed = true
    }
    this.segments = kept
    if (freed) this.admitWaiters()
  }

  private admitWaiters(): void {
    for (let w = this.waiters.peek(); w !== undefined; w = this.waiters.peek()) {
      if (!w.cancelled && !this.fits(w.bytes)) return
      this.waiters.shift()
      if (!w.cancelled) w.resume(this.write(w.entries, w.bytes))
    }
  }

  /** Closes the active segment (on disk first, unless `fsync: "none"`) and starts the next. */
  private roll(): void {
    if (this.settings.fsync !== "none") {
      fs.fsyncSync(this.fd)
      this.synced = this.written
    }
    if (this.syncing) this.retired.push(this.fd)
    else fs.closeSync(this.fd)
    // Sequences need not be dense, but segment names must grow.
    if (this.nextSeq === this.active.first) this.nextSeq++
    this.startSegment()
    this.compact()
  }

  private startSegment(): void {
    const segment: Segment = { first: this.nextSeq, file: path.join(this.settings.directory, segmentFile(this.nextSeq)), bytes: 0, live: 0 }
    this.fd = fs.openSync(segment.file, "wx")
    if (this.settings.fsync !== "none") {
      // The new file's name reaches the disk with the directory.
      const dir = fs.openSync(this.settings.directory, "r")
      try {
        fs.fsyncSync(dir)
      } finally {
        fs.closeSync(dir)
      }
    }
    this.segments.push(segment)
    this.active = segment
  }

  private ioError(operation: string, cause: unknown) {
    return new WriteAheadLogIoError({ directory: this.settings.directory, operation, cause })
  }
}

/** Opens the log for the scope: recovery on acquire, fsyncs in a background fiber, flushed and unlocked on release. */
export const open = (
  options: Options
): Effect.Effect<{ readonly log: Log; readonly recovered: ReadonlyArray<Recovered> }, WriteAheadLogLockedError | WriteAheadLogIoError, Scope.Scope> => {
  const settings = settingsOf(options)
  return Effect.acquireRelease(
    Effect.try({
      try: () => Log.open(settings),
      catch: (e) => e instanceof WriteAheadLogLockedError ? e : new WriteAheadLogIoError({ directory: settings.directory, operation: "open", cause: e })
    }),
    ({ log }) => Effect.sync(() => log.close()).pipe(Effect.catchAllDefect((e) => Effect.logError(`closing the write-ahead log in ${settings.directory} failed`, e)))
  ).pipe(
    Effect.tap(({ recovered, truncated }) =>
      recovered.length === 0 && truncated === 0 ? Effect.void : Effect.logInfo(
        `the write-ahead log in ${settings.directory} holds ${recovered.length} record(s) not acknowledged before the last stop; sending them again`
          + (truncated > 0 ? ` (${truncated} byte(s) of a torn last write were cut off)` : "")
      )),
    Effect.tap(({ log }) => Effect.forkScoped(log.syncer)),
    Effect.map(({ log, recovered }) => ({ log, recovered }))
  )
}
