import { Data, Effect } from "effect"

/**
 * How a failed DynamoDB call can be acted on: a condition that did not hold
 * (the caller's business), a transient fault worth retrying later, or a request
 * that can never succeed as sent.
 */
export type FailureKind = "condition" | "transient" | "rejected"

export class SdkFailure extends Data.TaggedError("SdkFailure")<{
  readonly operation: string
  readonly kind: FailureKind
  /** The exception name, e.g. `ProvisionedThroughputExceededException`. */
  readonly name: string
  readonly message: string
  readonly cause: unknown
}> {}

const transientNames = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "InternalServerError",
  "InternalFailure",
  "ServiceUnavailable",
  "TransactionConflictException",
  "TransactionInProgressException",
  "ReplicatedWriteConflictException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "AbortError"
])
const transientCodes = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH"])

/** Classifies an AWS SDK exception by its `name`, HTTP status and network error code. */
export const classify = (operation: string, cause: unknown): SdkFailure => {
  const e = cause as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string; $retryable?: unknown }
  const name = e?.name ?? "Error"
  const message = `${operation}: ${name}: ${e?.message ?? String(cause)}`
  const status = e?.$metadata?.httpStatusCode
  const kind: FailureKind = name === "ConditionalCheckFailedException"
    ? "condition"
    : transientNames.has(name) || transientCodes.has(e?.code ?? "") || (status !== undefined && status >= 500) ||
        e?.$fault === "server" || e?.$retryable !== undefined
    ? "transient"
    : "rejected"
  return new SdkFailure({ operation, kind, name, message, cause })
}

/** One SDK call as an interruptible Effect: interruption aborts the request. */
export const call = <A>(operation: string, send: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, SdkFailure> =>
  Effect.tryPromise({ try: send, catch: (cause) => classify(operation, cause) })
