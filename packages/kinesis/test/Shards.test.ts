import { describe, expect, it } from "@effect/vitest"
import type { ListShardsInput, ListShardsOutput, Shard as SdkShard } from "@aws-sdk/client-kinesis"
import { Effect, FastCheck as fc, Schedule } from "effect"
import { Kinesis, type KinesisApi, type KinesisError, KinesisRequestError, KinesisThrottledError } from "../src/Kinesis"
import * as Shards from "../src/Shards"

const MAX_HASH = 2n ** 128n - 1n

/** Applies splits and merges the way Kinesis does: parents close, children cover their hash ranges. */
const reshard = (initial: number, actions: ReadonlyArray<readonly [boolean, number]>): ReadonlyArray<SdkShard> => {
  const shards: Array<SdkShard> = []
  const add = (start: bigint, end: bigint, parent?: string, adjacent?: string) =>
    shards.push({
      ShardId: `shardId-${String(shards.length).padStart(12, "0")}`,
      ...(parent ? { ParentShardId: parent } : {}),
      ...(adjacent ? { AdjacentParentShardId: adjacent } : {}),
      HashKeyRange: { StartingHashKey: start.toString(), EndingHashKey: end.toString() },
      SequenceNumberRange: { StartingSequenceNumber: String(shards.length) }
    })
  const width = (MAX_HASH + 1n) / BigInt(initial)
  for (let i = 0n; i < BigInt(initial); i++) add(i * width, i === BigInt(initial) - 1n ? MAX_HASH : (i + 1n) * width - 1n)
  const close = (s: SdkShard) => (s.SequenceNumberRange!.EndingSequenceNumber = "9")
  const range = (s: SdkShard) => [BigInt(s.HashKeyRange!.StartingHashKey!), BigInt(s.HashKeyRange!.EndingHashKey!)] as const
  for (const [split, pick] of actions) {
    const open = shards.filter((s) => !s.SequenceNumberRange!.EndingSequenceNumber).sort((a, b) => (range(a)[0] < range(b)[0] ? -1 : 1))
    if (split || open.length === 1) {
      const s = open[pick % open.length]!
      const [start, end] = range(s)
      if (end - start < 2n) continue
      const middle = (start + end) / 2n
      close(s)
      add(start, middle - 1n, s.ShardId)
      add(middle, end, s.ShardId)
    } else {
      const i = pick % (open.length - 1)
      const [left, right] = [open[i]!, open[i + 1]!]
      close(left)
      close(right)
      add(range(left)[0], range(right)[1], left.ShardId, right.ShardId)
    }
  }
  return shards
}

const toMap = (shards: ReadonlyArray<SdkShard>): Shards.ShardMap => new Map(shards.map((s) => [s.ShardId!, Shards.fromSdk(s)]))

describe("Shards", () => {
  it("reads parents, hash key range and whether a shard is closed", () => {
    const shards = reshard(2, [[false, 0]])
    const map = toMap(shards)
    const merged = map.get("shardId-000000000002")!
    expect(merged).toMatchObject({
      parentShardId: "shardId-000000000000",
      adjacentParentShardId: "shardId-000000000001",
      parents: ["shardId-000000000000", "shardId-000000000001"],
      hashKeyRange: { start: 0n, end: MAX_HASH },
      closed: false
    })
    expect(merged.endingSequenceNumber).toBeUndefined()
    expect(map.get("shardId-000000000000")).toMatchObject({ parents: [], closed: true, endingSequenceNumber: "9" })
  })

  it("starts a child only once all its parents are finished, and never waits for a trimmed parent", () => {
    const map = toMap(reshard(2, [[true, 0], [false, 1]]))
    // 0 -> 2, 3; 3 + 1 -> 4
    const ids = (shards: ReadonlyArray<Shards.Shard>) => shards.map((s) => s.shardId.slice(-1))
    const done = (...finished: Array<string>) => (id: string) => finished.includes(id.slice(-1))
    expect(ids(Shards.ready(map, done()))).toEqual(["0", "1"])
    expect(ids(Shards.ready(map, done("0")))).toEqual(["1", "2", "3"])
    expect(ids(Shards.ready(map, done("0", "3")))).toEqual(["1", "2"])
    expect(ids(Shards.ready(map, done("0", "1", "3")))).toEqual(["2", "4"])
    const trimmed = new Map([...map].filter(([id]) => !id.endsWith("0")))
    expect(ids(Shards.ready(trimmed, done()))).toEqual(["1", "2", "3"])
  })

  it.prop(
    "over any history of splits and merges, every shard starts, each after all its parents finished",
    {
      initial: fc.integer({ min: 1, max: 4 }),
      actions: fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 15 }),
      order: fc.array(fc.nat(), { minLength: 40, maxLength: 40 })
    },
    ({ actions, initial, order }) => {
      const map = toMap(reshard(initial, actions))
      const finished = new Set<string>()
      const running: Array<string> = []
      const started = new Set<string>()
      for (let step = 0; finished.size < map.size; step++) {
        for (const shard of Shards.ready(map, (id) => finished.has(id))) {
          if (started.has(shard.shardId)) continue
          for (const parent of shard.parents) expect(finished.has(parent)).toBe(true)
          started.add(shard.shardId)
          running.push(shard.shardId)
        }
        // Without a running shard nothing could ever finish: lineage would be stuck.
        expect(running.length).toBeGreaterThan(0)
        const [done] = running.splice(order[step % order.length]! % running.length, 1)
        finished.add(done!)
      }
      expect(started.size).toBe(map.size)
    }
  )

  it.effect("lists every page, naming the stream only on the first (Kinesis refuses it with NextToken)", () => {
    const shards = reshard(3, [[true, 0], [true, 1], [false, 0]])
    const requests: Array<ListShardsInput> = []
    let throttledOnce = false
    const api = {
      listShards: (input: ListShardsInput) =>
        Effect.suspend((): Effect.Effect<ListShardsOutput, KinesisError> => {
          requests.push(input)
          if (!throttledOnce && input.NextToken === "2") {
            throttledOnce = true
            return Effect.fail(new KinesisThrottledError({ operation: "listShards", message: "Rate exceeded" }))
          }
          if ((input.StreamName === undefined) === (input.NextToken === undefined)) {
            return Effect.fail(new KinesisRequestError({ operation: "listShards", message: "NextToken and StreamName cannot be provided together" }))
          }
          const from = Number(input.NextToken ?? 0)
          const to = from + (input.MaxResults ?? 1000)
          return Effect.succeed({ Shards: shards.slice(from, to), ...(to < shards.length ? { NextToken: String(to) } : {}) })
        })
    } as unknown as KinesisApi
    return Effect.gen(function*() {
      const map = yield* Shards.list("s", { pageSize: 2, retry: Schedule.recurs(3) })
      expect([...map.keys()]).toEqual(shards.map((s) => s.ShardId))
      expect(requests.map((r) => [r.StreamName, r.NextToken])).toEqual([
        ["s", undefined],
        [undefined, "2"],
        [undefined, "2"],
        [undefined, "4"],
        [undefined, "6"]
      ])
    }).pipe(Effect.provideService(Kinesis, api))
  })
})
