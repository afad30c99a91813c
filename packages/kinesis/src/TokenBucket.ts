/**
 * A token bucket on a caller-supplied clock (milliseconds): plain synchronous
 * state, so pacing runs inside a batching loop and follows the Effect `Clock`
 * (`TestClock` in tests). It starts full and refills continuously at
 * `capacity` per `periodMillis`, never above `capacity`: a burst of
 * `capacity`, then the long-run rate (the `RateLimit`
 * semantics, and Kinesis's per-shard write limits).
 *
 * Two ways to spend: `canTake` + `take` for a cost that must go whole (a
 * record's bytes; a cost larger than the bucket runs it into debt), and
 * `takeUpTo` for whole tokens handed out as they are there.
 */

/** Absorbs float error, so a wake-up at `readyAt` always finds its tokens. */
const EPSILON = 1e-6

/** A token bucket: how long to wait before taking some tokens at a rate. */
export class TokenBucket {
  private tokens: number

  constructor(readonly capacity: number, readonly periodMillis: number, private updatedAt: number) {
    this.tokens = capacity
  }

  private refill(now: number): void {
    if (now <= this.updatedAt) return
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) * this.capacity) / this.periodMillis)
    this.updatedAt = now
  }

  /**
   * Whether `n` tokens may be taken now. A request larger than the bucket
   * waits for a full bucket and then runs it into debt, so a big record is
   * slowed, never starved.
   */
  canTake(n: number, now: number): boolean {
    this.refill(now)
    return this.tokens + EPSILON >= Math.min(n, this.capacity)
  }

  /** Spends `n` tokens, into debt if there are fewer; ask `canTake` first. */
  take(n: number): void {
    this.tokens -= n
  }

  /** Takes up to `wanted` whole tokens now; returns how many it took (0 when none is there). */
  takeUpTo(wanted: number, now: number): number {
    this.refill(now)
    const taken = Math.max(0, Math.min(wanted, Math.floor(this.tokens + EPSILON)))
    this.tokens -= taken
    return taken
  }

  /** The earliest time at which `canTake(n)` holds: `now` when it holds already. */
  readyAt(n: number, now: number): number {
    this.refill(now)
    const missing = Math.min(n, this.capacity) - this.tokens - EPSILON
    return missing <= 0 ? now : now + Math.max(1, Math.ceil((missing * this.periodMillis) / this.capacity))
  }

  /** Kinesis said the shard is over its limit: spend what we thought was left. */
  drain(now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.tokens, 0)
  }
}
