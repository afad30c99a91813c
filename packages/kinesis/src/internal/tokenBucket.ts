/**
 * A token bucket on a caller-supplied clock (milliseconds), so pacing runs
 * synchronously inside the batching loop and follows the Effect `Clock`
 * (`TestClock` in tests). It starts full: a burst of `capacity`, then
 * `capacity` per `periodMillis`.
 */
export class TokenBucket {
  private tokens: number
  private readonly perMilli: number

  constructor(readonly capacity: number, periodMillis: number, private updatedAt: number) {
    this.tokens = capacity
    this.perMilli = capacity / periodMillis
  }

  private refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.perMilli)
      this.updatedAt = now
    }
  }

  /**
   * Whether `n` tokens may be taken now. A request larger than the bucket
   * waits for a full bucket and then runs it into debt, so a big record is
   * slowed, never starved.
   */
  canTake(n: number, now: number): boolean {
    this.refill(now)
    // The tolerance absorbs float error, so a wake-up at `readyAt` always succeeds.
    return this.tokens + 1e-6 >= Math.min(n, this.capacity)
  }

  take(n: number): void {
    this.tokens -= n
  }

  /** The earliest time at which `canTake(n)` holds. */
  readyAt(n: number, now: number): number {
    this.refill(now)
    const missing = Math.min(n, this.capacity) - this.tokens
    return missing <= 0 ? now : now + Math.max(1, Math.ceil(missing / this.perMilli))
  }

  /** Kinesis said the shard is over its limit: spend what we thought was left. */
  drain(now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.tokens, 0)
  }
}
