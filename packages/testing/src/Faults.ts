import { Effect, Layer } from "effect"
import * as Deduper from "@eddy/core/Deduper"
import * as Store from "@eddy/core/Store"

/**
 * A fault injected into one call of a wrapped Store or Deduper, for tests that
 * prove nothing is lost or counted twice whatever fails where.
 */
export type Fault =
  /** The call fails before touching anything. */
  | { readonly _tag: "Fail" }
  /** The first `done` items are written, then the call fails: a lost acknowledgement. */
  | { readonly _tag: "FailAfter"; readonly done: number }
  /** The first `done` items are written, then the fiber is interrupted: a process killed mid-write. */
  | { readonly _tag: "Crash"; readonly done: number }
  /** Everything is written except the items at `rejected`, which report a retryable error. */
  | { readonly _tag: "Reject"; readonly rejected: ReadonlyArray<number> }
  /** The deployment refuses the call before it touches anything (access denied, a missing table). */
  | { readonly _tag: "Misconfigured" }

/** Decides the fault for the n-th call (0-based), if any. */
export type FaultPlan = (call: number) => Fault | undefined

const unavailable = (what: string) => new Store.StoreUnavailableError({ message: `injected fault: ${what}` })
const denied = { code: "AccessDeniedException", message: "injected fault: access denied; grant the role access" }

/** Wraps the Store in context; `apply` calls follow the plan, reads are untouched. */
export const store = (plan: FaultPlan): Layer.Layer<Store.Store, never, Store.Store> =>
  Layer.effect(
    Store.Store,
    Effect.map(Store.Store, (inner) => {
      let calls = 0
      return Store.Store.of({
        ...(inner.orderings === undefined ? {} : { orderings: inner.orderings }),
        getMany: inner.getMany,
        apply: (writes) =>
          Effect.suspend(() => {
            const fault = plan(calls++)
            if (fault === undefined) return inner.apply(writes)
            switch (fault._tag) {
              case "Fail":
                return Effect.fail(unavailable("store call failed"))
              case "Misconfigured":
                return Effect.fail(new Store.StoreMisconfiguredError(denied))
              case "FailAfter":
                return Effect.zipRight(inner.apply(writes.slice(0, fault.done)), Effect.fail(unavailable("acknowledgement lost")))
              case "Crash":
                return Effect.zipRight(inner.apply(writes.slice(0, fault.done)), Effect.interrupt)
              case "Reject": {
                const rejected = new Set(fault.rejected)
                const kept = writes.filter((_, i) => !rejected.has(i))
                return Effect.map(inner.apply(kept), (results) => {
                  let k = 0
                  return writes.map((_, i) => (rejected.has(i) ? unavailable(`write ${i} rejected`) : results[k++]))
                })
              }
            }
          })
      })
    })
  )

/** Wraps the Deduper in context; `claim` calls follow the plan (`Reject` fails the call); `release` is untouched. */
export const deduper = (plan: FaultPlan): Layer.Layer<Deduper.Deduper, never, Deduper.Deduper> =>
  Layer.effect(
    Deduper.Deduper,
    Effect.map(Deduper.Deduper, (inner) => {
      let calls = 0
      const failed = new Deduper.DeduperError({ message: "injected fault: dedup call failed" })
      return Deduper.Deduper.of({
        release: inner.release,
        claim: (claims) =>
          Effect.suspend(() => {
            const fault = plan(calls++)
            if (fault === undefined) return inner.claim(claims)
            switch (fault._tag) {
              case "Fail":
              case "Reject":
                return Effect.fail(failed)
              case "Misconfigured":
                return Effect.fail(new Deduper.DeduperMisconfiguredError(denied))
              case "FailAfter":
                return Effect.zipRight(inner.claim(claims.slice(0, fault.done)), Effect.fail(failed))
              case "Crash":
                return Effect.zipRight(inner.claim(claims.slice(0, fault.done)), Effect.interrupt)
            }
          })
      })
    })
  )
