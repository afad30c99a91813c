import { Effect } from "effect"
import { Fifo } from "./fifo"

interface Waiter {
  next: number
  readonly count: number
  readonly size: (i: number) => number
  readonly admit: (i: number) => void
  readonly resume: (admitted: Effect.Effect<number>) => void
  cancelled: boolean
}

/**
 * The producer's bound: how many records and bytes it holds (queued, in
 * flight or awaiting a retry) until their outcome is known. Callers are
 * admitted first come first served; one that does not fit waits, admitting a
 * prefix of its records whenever room frees up, so a large `putAll` streams
 * in rather than waiting for the whole producer to drain. A single record
 * is always admitted into an empty producer, however large.
 */
export class Admission {
  records = 0
  bytes = 0
  private closed = false
  private readonly waiters = new Fifo<Waiter>()

  constructor(private readonly maxRecords: number, private readonly maxBytes: number) {}

  /**
   * Admits items `0 .. count - 1` in order, calling `admit(i)` for each as it
   * gets room. Succeeds with how many were admitted: `count`, or fewer when
   * the producer closed first. Interrupting it stops admitting; what was
   * admitted stays.
   */
  offer(count: number, size: (i: number) => number, admit: (i: number) => void): Effect.Effect<number> {
    return Effect.async<number>((resume) => {
      const waiter: Waiter = { next: 0, count, size, admit, resume, cancelled: false }
      if (this.closed) return resume(Effect.succeed(0))
      if (this.waiters.size === 0 && this.fill(waiter)) return resume(Effect.succeed(count))
      this.waiters.push(waiter)
      return Effect.sync(() => {
        waiter.cancelled = true
      })
    })
  }

  /** Holds records past the bound (those a write-ahead log hands back at start): later callers wait until they drain. */
  force(records: number, bytes: number): void {
    this.records += records
    this.bytes += bytes
  }

  /** Frees room for records whose outcome is known, admitting waiters in order. */
  release(records: number, bytes: number): void {
    this.records -= records
    this.bytes -= bytes
    for (let w = this.waiters.peek(); w !== undefined; w = this.waiters.peek()) {
      if (!w.cancelled && !this.fill(w)) return
      this.waiters.shift()
      if (!w.cancelled) w.resume(Effect.succeed(w.count))
    }
  }

  /** Refuses everything from now on; waiters resume with what they got admitted. */
  close(): void {
    this.closed = true
    for (const w of this.waiters.takeAll()) {
      if (!w.cancelled) w.resume(Effect.succeed(w.next))
    }
  }

  private fill(w: Waiter): boolean {
    while (w.next < w.count) {
      const size = w.size(w.next)
      if (this.records > 0 && (this.records >= this.maxRecords || this.bytes + size > this.maxBytes)) return false
      this.records++
      this.bytes += size
      w.admit(w.next++)
    }
    return true
  }
}
