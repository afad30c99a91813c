/** What became of a source record; `Processor` re-exports these. */
import type * as DeadLetter from "../DeadLetter"
import type * as Deduper from "../Deduper"
import type * as Store from "../Store"

export type Outcome = Applied | Duplicate | DeadLettered | Blocked | Failed

/** Its aggregates are durably written (or it had nothing to aggregate). */
export interface Applied {
  readonly _tag: "Applied"
}

/** A producer duplicate: another record with the same event id holds the claim. */
export interface Duplicate {
  readonly _tag: "Duplicate"
}

/** Sent to the dead-letter sink; acknowledge it so it does not block its shard. */
export interface DeadLettered {
  readonly _tag: "DeadLettered"
  readonly error: string
  readonly reason: string
}

/**
 * Under the "block" poison policy (or the "block" `unknownVersion` policy, for
 * a record of an unknown `schemaVersion`): a poison record, or a record after
 * one in its shard that was held back. Not done; `error` and `reason` are the
 * poison's. The shard resumes at the poison until it is fixed.
 */
export interface Blocked {
  readonly _tag: "Blocked"
  readonly error: string
  readonly reason: string
}

/** Not done; the driver must redeliver it (and everything after it in its shard). */
export interface Failed {
  readonly _tag: "Failed"
  readonly error: ProcessError
}

export type ProcessError = Store.StoreError | Deduper.ClaimError | DeadLetter.SendError

/** A fault of the deployment, not of the record: never retried in the chunk, never dead-lettered; the alarm is raised. */
export type DeploymentFault = Store.StoreMisconfiguredError | Deduper.DeduperMisconfiguredError | DeadLetter.DeadLetterMisconfiguredError

export const isDeploymentFault = (e: ProcessError): e is DeploymentFault =>
  e._tag === "StoreMisconfiguredError" || e._tag === "DeduperMisconfiguredError" || e._tag === "DeadLetterMisconfiguredError"

/** How many records of a chunk ended each way. */
export interface Counts {
  readonly applied: number
  readonly duplicate: number
  readonly deadLettered: number
  readonly blocked: number
  readonly failed: number
}

export const applied: Applied = { _tag: "Applied" }
export const duplicate: Duplicate = { _tag: "Duplicate" }

export const countOf = (outcomes: ReadonlyArray<Outcome>): Counts => {
  let a = 0, d = 0, l = 0, b = 0, f = 0
  for (const o of outcomes) {
    switch (o._tag) {
      case "Applied":
        a++
        break
      case "Duplicate":
        d++
        break
      case "DeadLettered":
        l++
        break
      case "Blocked":
        b++
        break
      case "Failed":
        f++
    }
  }
  return { applied: a, duplicate: d, deadLettered: l, blocked: b, failed: f }
}
