import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Window from "../src/Window"

const t = (iso: string) => Date.parse(iso)

describe("Window", () => {
  it("names buckets with stable, documented ids", () => {
    const at = t("2026-11-21T10:15:30.123Z")
    const hour = Window.hour({ retention: "90 days" })
    expect(Window.bucketIdAt(Window.none, 0)).toBe("all")
    expect(Window.bucketIdAt(Window.minute({ retention: "1 hour" }), Window.bucketStart(Window.minute({ retention: "1 hour" }), at))).toBe("2026-11-21T10:15Z")
    expect(Window.bucketIdAt(hour, Window.bucketStart(hour, at))).toBe("2026-11-21T10Z")
    const day = Window.day({ retention: "400 days" })
    expect(Window.bucketIdAt(day, Window.bucketStart(day, at))).toBe("2026-11-21")
  })

  it("expires a bucket its retention after the bucket ends", () => {
    const hour = Window.hour({ retention: "1 day" })
    const start = t("2026-11-21T10:00:00Z")
    expect(Window.expiresAt(hour, start)).toBe((t("2026-11-21T11:00:00Z") + 86_400_000) / 1000)
    expect(Window.expiresAt(Window.none, start)).toBeUndefined()
  })

  it("rejects a retention that is not positive", () => {
    expect(() => Window.hour({ retention: 0 })).toThrow(/retention > 0/)
    expect(() => Window.day({ retention: "-1 days" as never })).toThrow()
  })

  it.prop("a bucket contains exactly the times between its start and the next", [fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom("minute" as const, "hour" as const, "day" as const)], ([time, unit]) => {
    const window = Window[unit]({ retention: "1 day" })
    const start = Window.bucketStart(window, time)
    const bucket = Window.bucketer(window)(time)
    expect(start <= time && time < start + (window as Window.Tumbling).sizeMillis).toBe(true)
    expect(bucket.id).toBe(Window.bucketIdAt(window, start))
    // Ids sort chronologically, so range scans and lexical order agree.
    expect(Window.bucketIdAt(window, start) < Window.bucketIdAt(window, start + (window as Window.Tumbling).sizeMillis)).toBe(true)
  })

  it("lists the last N buckets and the buckets of a range, oldest first", () => {
    const hour = Window.hour({ retention: "1 day" })
    expect(Window.lastBuckets(hour, t("2026-11-21T10:15:00Z"), 3)).toEqual(["2026-11-21T08Z", "2026-11-21T09Z", "2026-11-21T10Z"])
    expect(Window.bucketsBetween(hour, t("2026-11-21T23:59:00Z"), t("2026-11-22T01:00:00Z"))).toEqual(["2026-11-21T23Z", "2026-11-22T00Z", "2026-11-22T01Z"])
  })
})
