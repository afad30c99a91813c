import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Deduper from "../src/Deduper"

describe("in-memory Deduper", () => {
  it.effect("holds a claim for its retention: the owner may claim again, another owner is refused, another payload is a conflict", () =>
    Effect.gen(function*() {
      const dedup = yield* Deduper.makeMemory({ retention: "1 hour" })
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/1/0", payloadHash: "aa" }])).toEqual([true])
      yield* TestClock.adjust("59 minutes")
      expect(yield* dedup.claim([
        { eventId: "e", owner: "s/1/0", payloadHash: "aa" },
        { eventId: "e", owner: "s/2/0", payloadHash: "aa" },
        { eventId: "e", owner: "s/3/0", payloadHash: "bb" }
      ])).toEqual([true, false, Deduper.conflict("aa")])
    }))

  it.effect("forgets the claims whose retention is over and keeps those claimed after them", () =>
    Effect.gen(function*() {
      const dedup = yield* Deduper.makeMemory({ retention: "1 hour" })
      yield* dedup.claim([{ eventId: "early", owner: "s/1/0" }])
      yield* TestClock.adjust("30 minutes")
      yield* dedup.claim([{ eventId: "late", owner: "s/2/0" }])
      yield* TestClock.adjust("31 minutes")
      // "early" is free for a new owner; "late" is still held.
      expect(yield* dedup.claim([{ eventId: "early", owner: "t/1/0" }, { eventId: "late", owner: "t/2/0" }])).toEqual([true, false])
      yield* TestClock.adjust("30 minutes")
      // The re-claim of "early" started a retention of its own; "late" has expired.
      expect(yield* dedup.claim([{ eventId: "early", owner: "u/1/0" }, { eventId: "late", owner: "u/2/0" }])).toEqual([false, true])
    }))

  it.effect("a released claim is free again, and only its owner can release it", () =>
    Effect.gen(function*() {
      const dedup = yield* Deduper.makeMemory()
      yield* dedup.claim([{ eventId: "e", owner: "s/1/0" }])
      yield* dedup.release([{ eventId: "e", owner: "s/2/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0" }])).toEqual([false])
      yield* dedup.release([{ eventId: "e", owner: "s/1/0" }])
      expect(yield* dedup.claim([{ eventId: "e", owner: "s/2/0" }])).toEqual([true])
    }))
})
