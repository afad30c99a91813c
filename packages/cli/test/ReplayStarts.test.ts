/** Where a replay starts each shard, and how `--from` is read. */
import type * as Shards from "@eddy/kinesis/Shards"
import { StartPosition } from "@eddy/kinesis/ShardReader"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import * as Replay from "../src/Replay"

const { parseFrom } = Replay

const shard = (shardId: string, parents: ReadonlyArray<string> = []): Shards.Shard => ({
  shardId,
  parents,
  hashKeyRange: { start: 0n, end: 1n },
  startingSequenceNumber: "1",
  closed: false
})

// 0 split into 2 and 3; 3 and 1 merged into 4.
const shards: Shards.ShardMap = new Map([
  ["s0", shard("s0")],
  ["s1", shard("s1")],
  ["s2", shard("s2", ["s0"])],
  ["s3", shard("s3", ["s0"])],
  ["s4", shard("s4", ["s3", "s1"])]
])

describe("replay starts", () => {
  it("starts named shards at their position, passes over their ancestors and starts the others at the trim horizon", () => {
    const from = Either.getOrThrow(parseFrom(["s4:42", "s2:7"]))
    const starts = Effect.runSync(Replay.startsOf(from, shards))
    expect(Object.fromEntries(starts)).toEqual({
      s0: "skip",
      s1: "skip",
      s2: StartPosition.AtSequenceNumber({ sequenceNumber: "7" }),
      s3: "skip",
      s4: StartPosition.AtSequenceNumber({ sequenceNumber: "42" })
    })
    const others = Effect.runSync(Replay.startsOf(Either.getOrThrow(parseFrom(["s3:5"])), shards))
    expect(others.get("s1")).toEqual(StartPosition.TrimHorizon())
    expect(others.get("s0")).toBe("skip")
    expect(others.get("s4")).toEqual(StartPosition.TrimHorizon())
  })

  it("reads --from as TRIM_HORIZON, a time or positions, and says what is wrong", () => {
    expect(parseFrom([])).toEqual(Either.right(Replay.From.TrimHorizon()))
    expect(parseFrom(["trim_horizon"])).toEqual(Either.right(Replay.From.TrimHorizon()))
    expect(parseFrom(["2026-11-21T10:00Z"])).toEqual(Either.right(Replay.From.AtTimestamp({ timestamp: Date.UTC(2026, 10, 21, 10) })))
    expect(Either.getLeft(parseFrom(["s1:1", "s1:2"]))).toEqual(expect.objectContaining({ value: expect.stringContaining("two positions for s1") }))
    expect(Either.getLeft(parseFrom(["s1:1", "2026-11-21"]))).toEqual(expect.objectContaining({ value: expect.stringContaining("repeat --from only with positions") }))
    const missing = Effect.runSync(Effect.flip(Replay.startsOf(Either.getOrThrow(parseFrom(["s9:1"])), shards)))
    expect(missing.message).toContain("the stream has no shard s9")
  })
})
