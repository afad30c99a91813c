/**
 * A token bucket: holds at most `capacity` tokens and refills continuously at
 * `capacity` per `periodMillis`, so a burst of `capacity` is allowed at once
 * and the long-run rate is the limit (the `KINESIS_INSERT_RATE_LIMIT`
 * semantics). Plain synchronous state; the caller passes the time in.
 */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(readonly capacity: number, readonly periodMillis: number, now: number) {
    this.tokens = capacity
    this.updatedAt = now
  }

  /** Takes up to `wanted` whole tokens now; returns how many it took. */
  take(wanted: number, now: number): number {
    this.refill(now)
    // The epsilon keeps float drift from turning a whole token into 0.9999.
    const taken = Math.min(wanted, Math.floor(this.tokens + 1e-9))
    this.tokens -= taken
    return taken
  }

  /** Milliseconds until the next whole token; 0 when one is there now. */
  waitMillis(now: number): number {
    this.refill(now)
    return this.tokens + 1e-9 >= 1 ? 0 : Math.ceil(((1 - this.tokens) * this.periodMillis) / this.capacity)
  }

  private refill(now: number): void {
    if (now <= this.updatedAt) return
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) * this.capacity) / this.periodMillis)
    this.updatedAt = now
  }
}
