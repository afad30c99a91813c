import { describe, expect, type Vitest } from "@effect/vitest"
import { type Context, Duration, Effect, type Scope } from "effect"
import * as Leases from "@eddy/core/Leases"

/** A lease backend under test: every backend must pass the same behavioural suite. */
export interface LeasesBackend {
  readonly name: string
  /** `it.scoped` on the test clock, `it.scopedLive` for backends on real time. */
  readonly it: Vitest.Tester<Scope.Scope>
  /** Leases over a fresh, empty table. */
  readonly make: (options: Leases.Options) => Effect.Effect<Context.Tag.Service<typeof Leases.Leases>, unknown, Scope.Scope>
  /** Lets time pass: `TestClock.adjust` on the test clock, a sleep on real time. */
  readonly elapse: (duration: Duration.Duration) => Effect.Effect<void>
  /** Failover time for the expiry test: short on real time. */
  readonly failoverTime: Duration.DurationInput
}

/** `n` shard ids. */
export const shards = (n: number): ReadonlyArray<string> => Array.from({ length: n }, (_, i) => `shardId-${String(i).padStart(12, "0")}`)

const at = (sequenceNumber: string) => ({ sequenceNumber, subSequenceNumber: 0 })

/** Leases held per owner in the table. */
const owners = (leases: ReadonlyArray<Leases.Lease>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const l of leases) if (l.leaseOwner !== undefined) counts.set(l.leaseOwner, (counts.get(l.leaseOwner) ?? 0) + 1)
  return counts
}

const byKey = (leases: ReadonlyArray<Leases.Lease>, key: string): Leases.Lease => {
  const lease = leases.find((l) => l.leaseKey === key)
  if (lease === undefined) throw new Error(`no lease ${key}`)
  return lease
}

const keys = (leases: ReadonlyArray<Leases.Lease>) => leases.map((l) => l.leaseKey).sort()

/**
 * One round of each worker, one after the other. Rounds of real workers are
 * not in phase; run in lockstep, a steal would race the victim's renewal (and
 * lose, safely) every time.
 */
const roundAll = (workers: ReadonlyArray<Leases.LeaseWorker>) => Effect.forEach(workers, (w) => w.round, { discard: true })

/** Each worker's held leases match the table, and no lease is held twice. */
const expectConsistent = (leases: Context.Tag.Service<typeof Leases.Leases>, workers: ReadonlyArray<Leases.LeaseWorker>) =>
  Effect.gen(function*() {
    const table = yield* leases.list
    const held = yield* Effect.all(workers.map((w) => w.held))
    const all = held.flatMap(keys)
    expect(new Set(all).size).toBe(all.length)
    for (const [i, w] of workers.entries()) expect(keys(held[i]!)).toEqual(keys(table.filter((l) => l.leaseOwner === w.workerId)))
  })

/** Runs rounds until every worker holds `share` leases, or dies after `maxRounds`. */
const converge = (
  leases: Context.Tag.Service<typeof Leases.Leases>,
  workers: ReadonlyArray<Leases.LeaseWorker>,
  share: number,
  maxRounds: number
) =>
  Effect.gen(function*() {
    for (let round = 1; round <= maxRounds; round++) {
      yield* roundAll(workers)
      const counts = owners(yield* leases.list)
      if (workers.every((w) => counts.get(w.workerId) === share)) return
    }
    return yield* Effect.dieMessage(`no ${share}-each balance after ${maxRounds} rounds: ${JSON.stringify([...owners(yield* leases.list)])}`)
  })

/** The lease service's shared tests, for a lease table backend. */
export const leasesSuite = (backend: LeasesBackend) =>
  describe(`Leases (${backend.name})`, () => {
    const { it } = backend

    /** Leases over `n` shards, all taken by worker a in its first round; worker b has run no round yet. */
    const heldByA = (n: number) =>
      Effect.gen(function*() {
        const leases = yield* backend.make({})
        yield* leases.createLeases(shards(n).map((leaseKey) => ({ leaseKey })))
        const a = yield* leases.worker("a")
        const b = yield* leases.worker("b")
        const held = yield* a.round
        expect(held).toHaveLength(n)
        return { leases, a, b, held }
      })

    it("creates leases once, parents first, with KCL's attributes", () =>
      Effect.gen(function*() {
        const leases = yield* backend.make({})
        yield* leases.createLeases([{ leaseKey: "child", parentShardIds: ["parent"] }, { leaseKey: "parent" }])
        const created = yield* leases.list
        expect(keys(created)).toEqual(["child", "parent"])
        expect(byKey(created, "child")).toEqual({
          leaseKey: "child",
          leaseOwner: undefined,
          leaseCounter: 0,
          checkpoint: Leases.TRIM_HORIZON,
          ownerSwitchesSinceCheckpoint: 0,
          parentShardIds: ["parent"]
        })
        const w = yield* leases.worker("w")
        expect(keys(yield* w.round)).toEqual(["parent"])
        yield* leases.createLeases([{ leaseKey: "parent", checkpoint: Leases.LATEST }, { leaseKey: "other" }])
        const again = yield* leases.list
        expect(keys(again)).toEqual(["child", "other", "parent"])
        expect(byKey(again, "parent")).toMatchObject({ leaseOwner: "w", leaseCounter: 1, checkpoint: Leases.TRIM_HORIZON })
      }))

    it("three workers on twelve shards converge to 4/4/4 and stay there", () =>
      Effect.gen(function*() {
        const leases = yield* backend.make({})
        yield* leases.createLeases(shards(12).map((leaseKey) => ({ leaseKey })))
        const workers = yield* Effect.all(["a", "b", "c"].map((id) => leases.worker(id)))
        // All start at once and race for the free leases: each lease goes to exactly one of them.
        yield* Effect.all(workers.map((w) => w.round), { concurrency: "unbounded" })
        yield* expectConsistent(leases, workers)
        expect([...owners(yield* leases.list).values()].reduce((a, b) => a + b)).toBe(12)
        yield* converge(leases, workers, 4, 20)
        for (let i = 0; i < 3; i++) yield* roundAll(workers)
        expect([...owners(yield* leases.list).values()]).toEqual([4, 4, 4])
        yield* expectConsistent(leases, workers)
      }))

    it("takes a killed worker's leases within about two failover times; its checkpoints are refused", () =>
      Effect.gen(function*() {
        const leases = yield* backend.make({ failoverTime: backend.failoverTime })
        yield* leases.createLeases(shards(12).map((leaseKey) => ({ leaseKey })))
        const [a, b, c] = yield* Effect.all(["a", "b", "c"].map((id) => leases.worker(id)))
        yield* converge(leases, [a!, b!, c!], 4, 20)
        const orphaned = yield* c!.held
        // c is killed: it neither renews nor releases. Survivors run a round every heartbeat.
        const twoFailoverRounds = Math.floor(2 * Duration.toMillis(leases.failoverTime) / Duration.toMillis(leases.heartbeatInterval))
        let rounds = 0
        while (rounds < 2 * twoFailoverRounds) {
          yield* backend.elapse(leases.heartbeatInterval)
          yield* roundAll([a!, b!])
          rounds++
          const counts = owners(yield* leases.list)
          if ((counts.get("a") ?? 0) + (counts.get("b") ?? 0) === 12) break
        }
        expect(rounds).toBeLessThanOrEqual(twoFailoverRounds + 1)
        yield* expectConsistent(leases, [a!, b!])
        const table = yield* leases.list
        expect(owners(table).get("c")).toBeUndefined()
        for (const l of orphaned) expect(byKey(table, l.leaseKey).ownerSwitchesSinceCheckpoint).toBe(l.ownerSwitchesSinceCheckpoint + 1)
        const refused = yield* Effect.flip(c!.checkpoint(orphaned[0]!, at("42")))
        expect(refused).toBeInstanceOf(Leases.LeaseLostError)
        expect(byKey(yield* leases.list, orphaned[0]!.leaseKey).checkpoint).toEqual(Leases.TRIM_HORIZON)
      }))

    it("refuses a zombie's checkpoint after its lease was stolen, and checkpoints from an earlier tenure", () =>
      Effect.gen(function*() {
        const { a, b, held: first, leases } = yield* heldByA(2)
        for (const l of first) yield* a.checkpoint(l, at("100"))
        // b has fewer than its fair share and nothing is free: it steals one lease from a.
        const [stolen] = yield* b.round
        const zombie = first.find((l) => l.leaseKey === stolen!.leaseKey)!
        const refused = yield* Effect.flip(a.checkpoint(zombie, at("200")))
        expect(refused).toEqual(new Leases.LeaseLostError({ leaseKey: zombie.leaseKey, workerId: "a", message: refused.message }))
        expect(byKey(yield* leases.list, zombie.leaseKey)).toMatchObject({
          leaseOwner: "b",
          checkpoint: at("100"),
          ownerSwitchesSinceCheckpoint: 1
        })
        yield* b.checkpoint(stolen!, at("300"))
        expect(byKey(yield* leases.list, zombie.leaseKey)).toMatchObject({ checkpoint: at("300"), ownerSwitchesSinceCheckpoint: 0 })
        expect(keys(yield* a.round)).toEqual(keys(first.filter((l) => l.leaseKey !== zombie.leaseKey)))
        // b gives it back; a takes it again in a new tenure, and the old tenure's checkpoint is still refused.
        yield* b.release(zombie.leaseKey)
        const retaken = (yield* a.round).find((l) => l.leaseKey === zombie.leaseKey)!
        expect(retaken.concurrencyToken).not.toBe(zombie.concurrencyToken)
        expect(yield* Effect.flip(a.checkpoint(zombie, at("400")))).toBeInstanceOf(Leases.LeaseLostError)
        yield* a.checkpoint(retaken, at("400"))
        expect(byKey(yield* leases.list, zombie.leaseKey)).toMatchObject({ leaseOwner: "a", checkpoint: at("400") })
      }))

    it("a released lease is taken at once by another worker", () =>
      Effect.gen(function*() {
        const { a, b, held: before, leases } = yield* heldByA(12)
        yield* a.releaseAll
        expect(yield* a.held).toEqual([])
        const released = yield* leases.list
        expect(owners(released).size).toBe(0)
        for (const l of released) expect(l.leaseCounter).toBe(2)
        expect(yield* Effect.flip(a.checkpoint(before[0]!, at("1")))).toBeInstanceOf(Leases.LeaseLostError)
        expect(yield* b.round).toHaveLength(12)
        const table = yield* leases.list
        expect(owners(table).get("b")).toBe(12)
        // A lease that had no owner did not switch owners.
        for (const l of table) expect(l.ownerSwitchesSinceCheckpoint).toBe(0)
      }))

    it("writes a held lease's arrival clock with its next checkpoint or renewal, only forward, and shows it to other workers", () =>
      Effect.gen(function*() {
        const { a, b, held, leases } = yield* heldByA(2)
        const [first, second] = [...held].sort((x, y) => x.leaseKey.localeCompare(y.leaseKey))
        expect(yield* b.view, "nothing listed yet").toBeUndefined()
        yield* a.advance(first!.leaseKey, 1_000)
        expect(byKey(yield* leases.list, first!.leaseKey).processedUpTo, "noted, not written on its own").toBeUndefined()
        yield* a.checkpoint(first!, at("10"))
        expect(byKey(yield* leases.list, first!.leaseKey)).toMatchObject({ checkpoint: at("10"), processedUpTo: 1_000 })
        // Behind the stored clock: ignored, the checkpoint still moves.
        yield* a.advance(first!.leaseKey, 500)
        yield* a.checkpoint(first!, at("11"))
        expect(byKey(yield* leases.list, first!.leaseKey)).toMatchObject({ checkpoint: at("11"), processedUpTo: 1_000 })
        // A renewal carries it too.
        yield* a.advance(second!.leaseKey, 2_000)
        yield* backend.elapse(leases.heartbeatInterval)
        yield* a.round
        expect(byKey(yield* leases.list, second!.leaseKey).processedUpTo).toBe(2_000)
        expect((yield* a.view)?.find((l) => l.leaseKey === second!.leaseKey)?.processedUpTo).toBe(2_000)
        // Another worker sees the clocks from its own listing; a worker taking the lease keeps the clock.
        yield* b.round
        const seen = (yield* b.view) ?? []
        expect(seen.map((l) => [l.leaseKey, l.processedUpTo]).sort()).toEqual([[first!.leaseKey, 1_000], [second!.leaseKey, 2_000]])
        yield* a.releaseAll
        yield* b.round
        yield* b.advance(first!.leaseKey, 1_500)
        yield* b.checkpoint((yield* b.held).find((l) => l.leaseKey === first!.leaseKey)!, at("12"))
        expect(byKey(yield* leases.list, first!.leaseKey)).toMatchObject({ leaseOwner: "b", processedUpTo: 1_500 })
      }))

    it("takes a child's lease only after all its parents are checkpointed at SHARD_END", () =>
      Effect.gen(function*() {
        const leases = yield* backend.make({})
        yield* leases.createLeases([
          { leaseKey: "split-1", parentShardIds: ["parent"] },
          { leaseKey: "split-2", parentShardIds: ["parent"] },
          { leaseKey: "parent" },
          { leaseKey: "left" },
          { leaseKey: "right" },
          { leaseKey: "merged", parentShardIds: ["left", "right"] },
          // A parent without a lease (trimmed and cleaned up) blocks nothing, as in KCL.
          { leaseKey: "orphan", parentShardIds: ["trimmed"] }
        ])
        const w = yield* leases.worker("w")
        const heldKeys = Effect.map(w.round, keys)
        expect(yield* heldKeys).toEqual(["left", "orphan", "parent", "right"])
        const held = yield* w.held
        const lease = (key: string) => held.find((l) => l.leaseKey === key)!
        yield* w.checkpoint(lease("parent"), at("5"))
        expect(yield* heldKeys).toEqual(["left", "orphan", "parent", "right"])
        yield* w.checkpoint(lease("parent"), Leases.SHARD_END)
        expect(byKey(yield* leases.list, "parent")).toMatchObject({ leaseOwner: undefined, checkpoint: Leases.SHARD_END })
        expect(yield* heldKeys).toEqual(["left", "orphan", "right", "split-1", "split-2"])
        yield* w.checkpoint(lease("left"), Leases.SHARD_END)
        expect(yield* heldKeys).toEqual(["orphan", "right", "split-1", "split-2"])
        yield* w.checkpoint(lease("right"), Leases.SHARD_END)
        expect(yield* heldKeys).toEqual(["merged", "orphan", "split-1", "split-2"])
        // Finished leases are never taken again.
        const other = yield* leases.worker("other")
        yield* other.round
        for (const l of yield* leases.list) {
          if (Leases.isShardEnd(l.checkpoint)) expect(l.leaseOwner).toBeUndefined()
        }
      }))
  })
