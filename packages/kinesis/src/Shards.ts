/**
 * Shard discovery and lineage. Kinesis lists every shard still within the
 * retention period, closed parents included; a reader must finish a parent
 * before it starts the children, or records of one partition key come out of
 * order across a reshard.
 */
import type { Shard as SdkShard } from "@aws-sdk/client-kinesis"
import { type Duration, Effect, type Schedule } from "effect"
import { Kinesis, type KinesisError } from "./Kinesis"
import { readCall } from "./internal/readCall"
import * as StreamId from "./StreamId"

/** A shard: its id, parents, hash key range and whether it is closed. */
export interface Shard {
  readonly shardId: string
  /** The shard this one was split from, or the first of the two it was merged from. */
  readonly parentShardId?: string
  /** The second parent of a merged shard. */
  readonly adjacentParentShardId?: string
  /** Both parents, present ones only: a shard starts once all of these reached their end. */
  readonly parents: ReadonlyArray<string>
  /** Inclusive range of the 128-bit MD5 hash keys this shard owns. */
  readonly hashKeyRange: { readonly start: bigint; readonly end: bigint }
  readonly startingSequenceNumber: string
  /** Set once the shard is closed (split or merged away): no record is written after it. */
  readonly endingSequenceNumber?: string
  readonly closed: boolean
}

/** The shards of one stream by id, in the order ListShards returned them (parents before children). */
export type ShardMap = ReadonlyMap<string, Shard>

/** A `Shard` from the SDK's shard description. */
export const fromSdk = (s: SdkShard): Shard => {
  const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined && p !== "")
  const ending = s.SequenceNumberRange?.EndingSequenceNumber
  return {
    shardId: s.ShardId!,
    ...(s.ParentShardId ? { parentShardId: s.ParentShardId } : {}),
    ...(s.AdjacentParentShardId ? { adjacentParentShardId: s.AdjacentParentShardId } : {}),
    parents,
    hashKeyRange: { start: BigInt(s.HashKeyRange!.StartingHashKey!), end: BigInt(s.HashKeyRange!.EndingHashKey!) },
    startingSequenceNumber: s.SequenceNumberRange!.StartingSequenceNumber!,
    ...(ending ? { endingSequenceNumber: ending } : {}),
    closed: ending !== undefined && ending !== ""
  }
}

/** Options of listing shards. */
export interface ListOptions {
  /** Page size of each ListShards call (1..10,000; Kinesis' default is 1,000). */
  readonly pageSize?: number
  /** Retries throttled or unavailable ListShards calls (default: exponential from 100 ms, capped at 5 s, jittered, 10 retries). */
  readonly retry?: Schedule.Schedule<unknown, KinesisError>
  /** Longest wait for one ListShards answer before it is retried (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput
}

/**
 * Every shard of the stream, following `NextToken` across pages. Kinesis
 * refuses `StreamName` (or `StreamARN`) together with `NextToken`, so only
 * the first page names the stream.
 */
export const list = (stream: StreamId.Input, options: ListOptions = {}): Effect.Effect<ShardMap, KinesisError, Kinesis> =>
  Effect.gen(function*() {
    const kinesis = yield* Kinesis
    const pageSize = options.pageSize !== undefined ? { MaxResults: options.pageSize } : {}
    const shards = new Map<string, Shard>()
    let nextToken: string | undefined
    do {
      const page = yield* readCall(
        "listShards",
        kinesis.listShards(nextToken ? { NextToken: nextToken, ...pageSize } : { ...StreamId.sdkParams(StreamId.of(stream)), ...pageSize }),
        options
      )
      for (const s of page.Shards ?? []) shards.set(s.ShardId!, fromSdk(s))
      nextToken = page.NextToken
    } while (nextToken)
    return shards
  })

/**
 * Shards that may start now: not finished themselves, and every parent either
 * finished or gone from the map (trimmed by retention). `isFinished` is the
 * caller's knowledge, e.g. a SHARD_END checkpoint in a lease table.
 */
export const ready = (shards: ShardMap, isFinished: (shardId: string) => boolean): ReadonlyArray<Shard> => {
  const out: Array<Shard> = []
  for (const shard of shards.values()) {
    if (isFinished(shard.shardId)) continue
    if (shard.parents.every((p) => !shards.has(p) || isFinished(p))) out.push(shard)
  }
  return out
}
