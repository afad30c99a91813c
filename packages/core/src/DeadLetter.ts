import { Context, Data, Effect, Layer, Ref } from "effect"

/** A record that cannot be processed, with everything needed to inspect or replay it. */
export interface DeadLetterEntry {
  /** The error's tag, e.g. `InvalidEventError`. */
  readonly error: string
  /** What is wrong, naming the field and the rule where there is one. */
  readonly reason: string
  readonly payload: Uint8Array
  readonly partitionKey: string
  readonly shardId: string
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
  readonly arrivalTime: number
  /** The pipeline that refused it, when it decoded but a pipeline failed on it. */
  readonly pipeline?: string
  /** Event source (stream ARN or name), when the driver knows it. */
  readonly source?: string
}

/** An entry's fields but its payload, as read back from a sink (`source` and `pipeline` may be written as absent). */
export type DeadLetterFields = Omit<DeadLetterEntry, "payload" | "pipeline" | "source"> & {
  readonly pipeline?: string | undefined
  readonly source?: string | undefined
}

/**
 * The entry's fields but its payload, in the order sinks write them; `source`
 * and `pipeline` only where present. Sinks encode these beside the payload.
 */
export const fieldsOf = (entry: DeadLetterFields): Omit<DeadLetterEntry, "payload"> => ({
  error: entry.error,
  reason: entry.reason,
  ...(entry.source !== undefined ? { source: entry.source } : {}),
  ...(entry.pipeline !== undefined ? { pipeline: entry.pipeline } : {}),
  shardId: entry.shardId,
  sequenceNumber: entry.sequenceNumber,
  subSequenceNumber: entry.subSequenceNumber,
  partitionKey: entry.partitionKey,
  arrivalTime: entry.arrivalTime
})

/** The sink could not take the entries for now. Retryable. */
export class DeadLetterError extends Data.TaggedError("DeadLetterError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The deployment's fault (a missing queue or stream, access denied, a KMS
 * key): not retried; the records stay unacknowledged and the deployment-fault
 * alarm is raised. `message` says what to fix.
 */
export class DeadLetterMisconfiguredError extends Data.TaggedError("DeadLetterMisconfiguredError")<{
  readonly message: string
  /** The sink's name for it, e.g. `QueueDoesNotExist`. */
  readonly code: string
  readonly cause?: unknown
}> {}

/** What sending dead letters can fail with. */
export type SendError = DeadLetterError | DeadLetterMisconfiguredError

/** Where poison records go, with their payload, reason and position. */
export class DeadLetter extends Context.Tag("@eddy/core/DeadLetter")<DeadLetter, {
  readonly send: (entries: ReadonlyArray<DeadLetterEntry>) => Effect.Effect<void, SendError>
}>() {}

/** Keeps dead letters in memory; `entries` reads what was sent. */
export class MemoryDeadLetters extends Context.Tag("@eddy/core/MemoryDeadLetters")<MemoryDeadLetters, {
  readonly entries: Effect.Effect<ReadonlyArray<DeadLetterEntry>>
}>() {}

/** Dead letters kept in memory: `DeadLetter` to send them, `MemoryDeadLetters` to read them. */
export const layerMemory: Layer.Layer<DeadLetter | MemoryDeadLetters> = Layer.effectContext(
  Effect.map(Ref.make<ReadonlyArray<DeadLetterEntry>>([]), (ref) =>
    Context.make(DeadLetter, { send: (entries) => Ref.update(ref, (all) => [...all, ...entries]) }).pipe(
      Context.add(MemoryDeadLetters, { entries: Ref.get(ref) })
    )
  )
)
