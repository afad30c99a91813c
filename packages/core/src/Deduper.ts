import { Context, Data, Duration, Effect, Layer } from "effect"

/**
 * A claim on an event id by the source record that carries it. Claims are
 * idempotent for the same owner: a redelivered record finds its own claim and
 * proceeds (the store's watermark makes the write itself idempotent), while a
 * producer duplicate, a different record with the same event id, is refused.
 * This is what keeps a failed write from being lost on redelivery.
 */
export interface Claim {
  readonly eventId: string
  /** The claiming record, as `positionId(shardId, position)`. */
  readonly owner: string
}

/** The backend could not answer; never treated as "first seen". Retryable. */
export class DeduperError extends Data.TaggedError("DeduperError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Event-id claims: which record owns an event id, so a producer duplicate is refused and a redelivery is not. */
export class Deduper extends Context.Tag("@eddy/core/Deduper")<Deduper, {
  /** For each claim: `true` when the owner holds it (first seen, or its own earlier claim), `false` for a duplicate. */
  readonly claim: (claims: ReadonlyArray<Claim>) => Effect.Effect<ReadonlyArray<boolean>, DeduperError>
}>() {}

/** Options of the in-memory deduper. */
export interface MemoryOptions {
  /** How long a claim is remembered. */
  readonly retention?: Duration.DurationInput
}

/** In-memory dedup with retention, measured on the Effect clock (so `TestClock` drives it). */
export const makeMemory = (options: MemoryOptions = {}) =>
  Effect.sync(() => {
    const retentionMs = Duration.toMillis(options.retention ?? Duration.days(1))
    const claims = new Map<string, { owner: string; expiresAt: number }>()
    return Deduper.of({
      claim: (batch) =>
        Effect.map(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
          batch.map(({ eventId, owner }) => {
            const held = claims.get(eventId)
            if (held !== undefined && held.expiresAt > now) return held.owner === owner
            claims.set(eventId, { owner, expiresAt: now + retentionMs })
            return true
          })
        )
    })
  })

/** The in-memory deduper as a layer (see `makeMemory`). */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<Deduper> => Layer.effect(Deduper, makeMemory(options))
