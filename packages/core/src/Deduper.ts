import { Context, Data, Duration, Effect, Layer } from "effect"
import { sha256Hex } from "./internal/sha256"

/**
 * A claim on an event id by the source record that carries it. Claims are
 * idempotent for the same owner: a redelivered record finds its own claim and
 * proceeds (the store's watermark makes the write itself idempotent), while a
 * producer duplicate, a different record with the same event id and payload,
 * is refused. This is what keeps a failed write from being lost on redelivery.
 */
export interface Claim {
  readonly eventId: string
  /** The claiming record, as `positionId(shardId, position)`. */
  readonly owner: string
  /**
   * The sha-256 of the record's data (`payloadHashOf`), kept with the claim: a later record
   * with the same event id and another payload is a `Conflict`, not a
   * duplicate. Absent: not compared.
   */
  readonly payloadHash?: string
}

/** The event id is held by another record whose payload differs: one id was reused for two events. */
export interface Conflict {
  readonly _tag: "Conflict"
  /** The holder's payload hash. */
  readonly payloadHash: string
}

/**
 * `true` when the owner holds the claim (first seen, an expired claim taken
 * over, or its own earlier claim); `false` for a duplicate (the same payload,
 * or a holder that kept no hash); a `Conflict` for a reused id.
 */
export type ClaimResult = boolean | Conflict

/** The answer to a claim whose event id is held with another payload (its hash). */
export const conflict = (payloadHash: string): Conflict => ({ _tag: "Conflict", payloadHash })

/**
 * The sha-256 of a record's data in hex: the payload hash of its claim. Plain
 * TypeScript, so core runs anywhere; on Node, `crypto.hash("sha256", data,
 * "hex")` gives the same digest several times faster (see `Processor.Options.payloadHash`).
 */
export const payloadHashOf = (data: Uint8Array): string => sha256Hex(data)

/** The answer to `claim` when `held` already holds its event id (and has not expired): the rule every backend follows. */
export const decide = (held: { readonly owner: string; readonly payloadHash?: string | undefined }, claim: Claim): ClaimResult => {
  if (held.owner === claim.owner) return true
  if (held.payloadHash === undefined || claim.payloadHash === undefined || held.payloadHash === claim.payloadHash) return false
  return conflict(held.payloadHash)
}

/** The backend could not answer; never treated as "first seen". Retryable. */
export class DeduperError extends Data.TaggedError("DeduperError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The deployment's fault (a missing table, access denied, bad credentials):
 * not retried, the records stay unacknowledged and the deployment-fault
 * alarm is raised. `message` says what to fix.
 */
export class DeduperMisconfiguredError extends Data.TaggedError("DeduperMisconfiguredError")<{
  readonly message: string
  /** The backend's name for it, e.g. `ResourceNotFoundException`. */
  readonly code: string
  readonly cause?: unknown
}> {}

/** What a claim call can fail with. */
export type ClaimError = DeduperError | DeduperMisconfiguredError

/** Event-id claims: which record owns an event id, so a producer duplicate is refused and a redelivery is not. */
export class Deduper extends Context.Tag("@eddy/core/Deduper")<Deduper, {
  /** Results align with `claims`; claims of one id in one call are decided in call order. */
  readonly claim: (claims: ReadonlyArray<Claim>) => Effect.Effect<ReadonlyArray<ClaimResult>, ClaimError>
  /**
   * Gives up the claims whose records wrote nothing (dead-lettered or held
   * back), each only while its owner still holds it, so a redelivery or a
   * re-drive of the event claims it afresh rather than being refused.
   */
  readonly release: (claims: ReadonlyArray<Claim>) => Effect.Effect<void, ClaimError>
}>() {}

/** Options of the in-memory deduper. */
export interface MemoryOptions {
  /** How long a claim is remembered. */
  readonly retention?: Duration.DurationInput
}

/** In-memory dedup with retention, measured on the Effect clock (so `TestClock` drives it); expired claims are dropped, so it holds one retention's claims at most. */
export const makeMemory = (options: MemoryOptions = {}) =>
  Effect.sync(() => {
    const retentionMs = Duration.toMillis(options.retention ?? Duration.days(1))
    const claims = new Map<string, { owner: string; payloadHash: string | undefined; expiresAt: number }>()
    // Claims are added in the order they expire (one retention, a clock that never goes back), so the expired ones come first.
    const forgetExpired = (now: number) => {
      for (const [eventId, held] of claims) {
        if (held.expiresAt > now) return
        claims.delete(eventId)
      }
    }
    return Deduper.of({
      claim: (batch) =>
        Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => {
          forgetExpired(now)
          return batch.map((claim) => {
            const held = claims.get(claim.eventId)
            if (held !== undefined) return decide(held, claim)
            claims.set(claim.eventId, { owner: claim.owner, payloadHash: claim.payloadHash, expiresAt: now + retentionMs })
            return true
          })
        }),
      release: (batch) =>
        Effect.sync(() => {
          for (const { eventId, owner } of batch) if (claims.get(eventId)?.owner === owner) claims.delete(eventId)
        })
    })
  })

/** The in-memory deduper as a layer (see `makeMemory`). */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<Deduper> => Layer.effect(Deduper, makeMemory(options))
