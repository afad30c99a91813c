/**
 * The `KINESIS_INSERT_RATE_LIMIT` format and the token bucket that paces the
 * producer (its pacing over time is tested with the producer, on the TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, FastCheck as fc } from "effect"
import * as RateLimit from "../src/RateLimit"
import { TokenBucket } from "../src/TokenBucket"

const spaces = fc.constantFrom("", " ", "  ")

describe("RateLimit.parse", () => {
  it.prop(
    "reads every <records>/<s|m|h>, with or without spaces, and formats it back",
    [fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom("s", "m", "h"), spaces, spaces],
    ([records, per, before, after]) => {
      const parsed = RateLimit.parse(`${before}${records}${after}/${after}${per}${before}`)
      expect(parsed).toEqual(Either.right({ records, per }))
      expect(RateLimit.format(Either.getOrThrow(parsed))).toBe(`${records}/${per}`)
    }
  )

  it("refuses anything else, naming the format", () => {
    for (const input of ["", "100", "/m", "100/", "0/s", "-1/s", "1.5/s", "1e3/s", "100/d", "100/min", "100 per s", "s/100", "9007199254740993/s"]) {
      const parsed = RateLimit.parse(input)
      expect(Either.isLeft(parsed)).toBe(true)
      const error = Either.getLeft(parsed).pipe((o) => o._tag === "Some" ? o.value : undefined)!
      expect(error._tag).toBe("InvalidRateLimitError")
      expect(error.message).toContain(`"<records>/<s|m|h>"`)
      expect(error.message).toContain(JSON.stringify(input))
    }
  })

  it("gives each unit its period", () => {
    expect(RateLimit.periodMillis({ records: 1, per: "s" })).toBe(1_000)
    expect(RateLimit.periodMillis({ records: 1, per: "m" })).toBe(60_000)
    expect(RateLimit.periodMillis({ records: 1, per: "h" })).toBe(3_600_000)
  })
})

describe("RateLimit.config", () => {
  const read = (env: Record<string, string>) =>
    RateLimit.config("KINESIS_INSERT_RATE_LIMIT").pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it.effect("reads KINESIS_INSERT_RATE_LIMIT", () =>
    Effect.gen(function*() {
      expect(yield* read({ KINESIS_INSERT_RATE_LIMIT: "100/m" })).toEqual({ records: 100, per: "m" })
    }))

  it.effect("fails with a config error naming the variable and the format", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(read({ KINESIS_INSERT_RATE_LIMIT: "lots" }))
      expect(error).toMatchObject({ _op: "InvalidData", path: ["KINESIS_INSERT_RATE_LIMIT"] })
      expect(String(error)).toContain(`"<records>/<s|m|h>"`)
    }))

  it.effect("is missing data when unset, so it can be optional", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(read({}))
      expect(error._op).toBe("MissingData")
    }))
})

describe("TokenBucket", () => {
  it("starts full, refills at its rate up to its capacity", () => {
    const bucket = new TokenBucket(10, 1_000, 0)
    expect(bucket.canTake(10, 0)).toBe(true)
    bucket.take(10)
    expect(bucket.canTake(1, 0)).toBe(false)
    expect(bucket.readyAt(1, 0)).toBe(100)
    expect(bucket.canTake(1, 99)).toBe(false)
    expect(bucket.canTake(1, 100)).toBe(true)
    expect(bucket.readyAt(5, 100)).toBe(500)
    // Never more than the capacity, however long it idles.
    expect(bucket.canTake(10, 60_000)).toBe(true)
    expect(bucket.canTake(11, 60_000)).toBe(true)
    bucket.take(11)
    expect(bucket.canTake(1, 60_000)).toBe(false)
    expect(bucket.readyAt(1, 60_000)).toBe(60_200)
  })

  it("lets a request larger than the bucket through when full, into debt", () => {
    const bucket = new TokenBucket(1_000, 1_000, 0)
    expect(bucket.canTake(5_000, 0)).toBe(true)
    bucket.take(5_000)
    // 4,000 of debt and one more byte take 4.001 seconds to earn.
    expect(bucket.readyAt(1, 0)).toBe(4_001)
  })

  it("takeUpTo hands out whole tokens as they are there, never into debt", () => {
    const bucket = new TokenBucket(100, 60_000, 0)
    expect(bucket.takeUpTo(150, 0)).toBe(100)
    expect(bucket.takeUpTo(1, 0)).toBe(0)
    expect(bucket.readyAt(1, 0)).toBe(600)
    expect(bucket.takeUpTo(5, 599)).toBe(0)
    expect(bucket.takeUpTo(5, 1_800)).toBe(3)
    expect(bucket.takeUpTo(5, 1_800)).toBe(0)
  })

  it("drain spends what is left, as when Kinesis reports the shard over its limit", () => {
    const bucket = new TokenBucket(100, 1_000, 0)
    bucket.drain(0)
    expect(bucket.canTake(1, 0)).toBe(false)
    expect(bucket.readyAt(100, 0)).toBe(1_000)
  })
})
