import { DeduperError } from "@eddy/core/Deduper"
import { LeaseStoreError } from "@eddy/core/Leases"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Redis } from "ioredis"
import * as RedisClient from "../src/RedisClient"
import * as RedisDeduper from "../src/RedisDeduper"
import * as RedisLeases from "../src/RedisLeases"
import * as RedisServer from "./support/RedisServer"

/** Waits for the client's automatic reconnection; until then commands fail fast. */
const ready = (client: Redis) =>
  Effect.async<void>((resume) => {
    if (client.status === "ready") return resume(Effect.void)
    client.once("ready", () => resume(Effect.void))
  })

describe("Redis backends across a server restart", () => {
  it.scopedLive("fail while the server is down, reconnect after it restarts, and claim nothing twice", () =>
    Effect.gen(function*() {
      // Persisted with appendfsync always: everything acknowledged survives the crash.
      const server = yield* RedisServer.start({ persist: true })
      const client = yield* RedisClient.make({ url: server.url })
      const [dedup, leases] = yield* Effect.all([
        RedisDeduper.make({ namespace: "dedup:orders" }),
        RedisLeases.make({ namespace: "orders-analytics" })
      ]).pipe(Effect.provideService(RedisClient.RedisClient, client))

      expect(yield* dedup.claim([{ eventId: "e1", owner: "s/1/0" }, { eventId: "e2", owner: "s/2/0" }])).toEqual([true, true])
      yield* leases.createLeases([{ leaseKey: "shardId-1" }, { leaseKey: "shardId-2" }])
      const w = yield* leases.worker("w")
      const held = yield* w.round
      expect(held).toHaveLength(2)
      yield* w.checkpoint(held[0]!, { sequenceNumber: "100", subSequenceNumber: 0 })

      yield* server.kill
      // Never fail-open: while the server is away, claims are errors, not "first seen".
      expect(yield* Effect.flip(dedup.claim([{ eventId: "e3", owner: "s/3/0" }]))).toBeInstanceOf(DeduperError)
      expect(yield* Effect.flip(w.checkpoint(held[0]!, { sequenceNumber: "200", subSequenceNumber: 0 }))).toBeInstanceOf(LeaseStoreError)
      expect(yield* Effect.flip(w.round)).toBeInstanceOf(LeaseStoreError)

      yield* server.restart
      // The same client reconnects by itself (and reloads its scripts).
      yield* ready(client)
      expect(
        yield* dedup.claim([
          { eventId: "e1", owner: "s/1/0" }, // the owner's redelivery: still its claim
          { eventId: "e2", owner: "s/9/0" }, // a producer duplicate: refused
          { eventId: "e3", owner: "s/3/0" } // never claimed before the crash
        ])
      ).toEqual([true, false, true])
      // The worker still holds both leases, renews them, and its checkpoints move.
      expect((yield* w.round).map((l) => l.leaseKey).sort()).toEqual(["shardId-1", "shardId-2"])
      yield* w.checkpoint(held[0]!, { sequenceNumber: "200", subSequenceNumber: 0 })
      const stored = yield* leases.list
      expect(stored.find((l) => l.leaseKey === held[0]!.leaseKey)).toMatchObject({ leaseOwner: "w", checkpoint: { sequenceNumber: "200" } })
      // A second worker gets its fair share by stealing one lease, and no lease is held twice.
      const other = yield* leases.worker("other")
      const [stolen] = yield* other.round
      // The old holder learns of it at its next renewal, or (a lease it has just checkpointed) when its next checkpoint is refused.
      const mine = held.find((l) => l.leaseKey === stolen!.leaseKey)!
      expect(yield* Effect.flip(w.checkpoint(mine, { sequenceNumber: "300", subSequenceNumber: 0 }))).toMatchObject({ _tag: "LeaseLostError" })
      expect((yield* w.round).map((l) => l.leaseKey)).toEqual(held.map((l) => l.leaseKey).filter((k) => k !== stolen!.leaseKey))
    }))

  it.scopedLive("a server that restarts without persistence forgets claims: that is why the dedup server must persist", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.start({ persist: false })
      const client = yield* RedisClient.make({ url: server.url })
      const dedup = yield* RedisDeduper.make({ namespace: "dedup" }).pipe(Effect.provideService(RedisClient.RedisClient, client))
      expect(yield* dedup.claim([{ eventId: "e1", owner: "s/1/0" }])).toEqual([true])
      yield* server.kill
      yield* server.restart
      yield* ready(client)
      expect(yield* dedup.claim([{ eventId: "e1", owner: "s/9/0" }])).toEqual([true])
    }))
})
