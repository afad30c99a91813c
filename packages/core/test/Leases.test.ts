import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import * as LeaseTableMemory from "../src/LeaseTableMemory"
import * as Leases from "../src/Leases"
import { leasesSuite, shards } from "@eddy/testing/LeasesSuite"

leasesSuite({
  name: "memory",
  it: it.scoped,
  make: (options) => Effect.flatMap(LeaseTableMemory.make, (table) => Leases.make(table, options)),
  elapse: TestClock.adjust,
  failoverTime: Duration.seconds(10)
})

/** A memory table whose writes can be made to fail, after or before they apply. */
const faultyTable = Effect.map(LeaseTableMemory.make, (table) => {
  const faults = { down: false, loseNextUpdateResponse: false }
  const storeError = new Leases.LeaseStoreError({ message: "injected" })
  const guard = <A>(op: Effect.Effect<A, Leases.LeaseStoreError>) => Effect.suspend(() => faults.down ? Effect.fail(storeError) : op)
  const faulty: Leases.LeaseTable = {
    name: table.name,
    changes: guard(table.changes),
    touch: guard(table.touch),
    remove: (key, counter) => guard(table.remove(key, counter)),
    list: guard(table.list),
    get: (key) => guard(table.get(key)),
    create: (lease) => guard(table.create(lease)),
    take: (observed, owner) => guard(table.take(observed, owner)),
    update: (key, owner, counter, update) =>
      guard(Effect.flatMap(table.update(key, owner, counter, update), (ok) => {
        if (!faults.loseNextUpdateResponse) return Effect.succeed(ok)
        faults.loseNextUpdateResponse = false
        return Effect.fail(storeError)
      }))
  }
  return { table: faulty, faults }
})

/** One lease `s` with a failover time of 3 s, and workers `a` (which took it in its first round) and `b`. */
const oneLeaseTwoWorkers = Effect.gen(function*() {
  const leases = yield* Effect.flatMap(LeaseTableMemory.make, (t) => Leases.make(t, { failoverTime: "3 seconds" }))
  yield* leases.createLeases([{ leaseKey: "s" }])
  const a = yield* leases.worker("a")
  const b = yield* leases.worker("b")
  yield* a.round
  return { a, b, leases }
})

describe("Leases (memory, timing and faults)", () => {
  it.effect("takes an unrenewed lease exactly when its counter stood still for the failover time", () =>
    Effect.gen(function*() {
      const { a, b } = yield* oneLeaseTwoWorkers
      expect(yield* b.round).toEqual([]) // b first sees the counter here
      yield* TestClock.adjust("2999 millis")
      expect(yield* b.round).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect((yield* b.round).map((l) => l.leaseKey)).toEqual(["s"])
      expect(yield* a.round).toEqual([])
    }))

  it.effect("a renewing worker keeps its lease however much time passes", () =>
    Effect.gen(function*() {
      const { a, b, leases } = yield* oneLeaseTwoWorkers
      // One lease, two workers: a holds its fair share, so b may only take it once it expires.
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust(leases.heartbeatInterval)
        yield* a.round
        expect(yield* b.round).toEqual([])
      }
      expect(yield* a.held).toHaveLength(1)
    }))

  it.effect("recognises its own write when the response was lost, on the retry", () =>
    Effect.gen(function*() {
      const { faults, table } = yield* faultyTable
      const leases = yield* Leases.make(table)
      yield* leases.createLeases([{ leaseKey: "s" }])
      const w = yield* leases.worker("w")
      const [lease] = yield* w.round
      faults.loseNextUpdateResponse = true
      const position = { sequenceNumber: "7", subSequenceNumber: 0 }
      expect((yield* Effect.flip(w.checkpoint(lease!, position)))._tag).toBe("LeaseStoreError")
      yield* w.checkpoint(lease!, position)
      // A renewal whose response was lost is followed by a checkpoint on the counter it left.
      // (A heartbeat later: a lease checkpointed less than a heartbeat ago needs no renewal.)
      yield* TestClock.adjust(leases.heartbeatInterval)
      faults.loseNextUpdateResponse = true
      expect((yield* Effect.flip(w.round))._tag).toBe("LeaseStoreError")
      const next = { sequenceNumber: "8", subSequenceNumber: 0 }
      yield* w.checkpoint(lease!, next)
      const [stored] = yield* leases.list
      expect(stored).toMatchObject({ leaseOwner: "w", checkpoint: next, leaseCounter: 4 })
      expect(yield* w.held).toHaveLength(1)
    }))

  it.effect("a worker cut off from the store stops claiming its leases after the failover time", () =>
    Effect.gen(function*() {
      const { faults, table } = yield* faultyTable
      const leases = yield* Leases.make(table, { failoverTime: "3 seconds" })
      yield* leases.createLeases(shards(3).map((leaseKey) => ({ leaseKey })))
      const w = yield* leases.worker("w")
      const held = yield* w.round
      faults.down = true
      yield* TestClock.adjust("2 seconds")
      expect(yield* Effect.flip(w.round)).toBeInstanceOf(Leases.LeaseStoreError)
      expect(yield* w.held).toHaveLength(3)
      yield* TestClock.adjust("1 second")
      expect(yield* Effect.flip(w.round)).toBeInstanceOf(Leases.LeaseStoreError)
      expect(yield* w.held).toEqual([])
      faults.down = false
      expect(yield* Effect.flip(w.checkpoint(held[0]!, Leases.SHARD_END))).toBeInstanceOf(Leases.LeaseLostError)
    }))

  it.effect("a scoped worker releases its leases when its scope closes", () =>
    Effect.gen(function*() {
      const leases = yield* Leases.Leases
      yield* leases.createLeases(shards(3).map((leaseKey) => ({ leaseKey })))
      const held = yield* Effect.scoped(Effect.flatMap(Leases.worker("w"), (w) => w.round))
      expect(held).toHaveLength(3)
      for (const l of yield* leases.list) expect(l).toMatchObject({ leaseOwner: undefined, leaseCounter: 2 })
    }).pipe(Effect.provide(Leases.layerMemory())))
})
