import { Effect } from "effect"
import { type Lease, type LeaseTable, taken, updated } from "./LeaseTable"

/** An in-memory lease table with the same conditional semantics as the durable ones; for tests and single-process use. */
export const make: Effect.Effect<LeaseTable> = Effect.sync((): LeaseTable => {
  const leases = new Map<string, Lease>()
  let changes = 0
  return {
    name: "memory lease table",
    changes: Effect.sync(() => changes),
    touch: Effect.sync(() => void changes++),
    list: Effect.sync(() => Array.from(leases.values())),
    get: (leaseKey) => Effect.sync(() => leases.get(leaseKey)),
    create: (lease) =>
      Effect.sync(() => {
        if (leases.has(lease.leaseKey)) return false
        leases.set(lease.leaseKey, lease)
        return true
      }),
    take: (observed, owner) =>
      Effect.sync(() => {
        const stored = leases.get(observed.leaseKey)
        if (stored === undefined || stored.leaseCounter !== observed.leaseCounter) return false
        leases.set(stored.leaseKey, taken(stored, owner))
        return true
      }),
    update: (leaseKey, owner, leaseCounter, update) =>
      Effect.sync(() => {
        const stored = leases.get(leaseKey)
        if (stored === undefined || stored.leaseOwner !== owner || stored.leaseCounter !== leaseCounter) return false
        leases.set(leaseKey, updated(stored, update))
        return true
      }),
    remove: (leaseKey, leaseCounter) =>
      Effect.sync(() => {
        const stored = leases.get(leaseKey)
        if (stored === undefined || stored.leaseOwner !== undefined || stored.leaseCounter !== leaseCounter) return false
        return leases.delete(leaseKey)
      })
  }
})
