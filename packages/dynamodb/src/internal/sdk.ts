import * as AwsSdkError from "@eddy/aws/AwsSdkError"
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
  "RequestTimeoutException"
])
/** Beyond `AwsSdkError.isTransientFault`: an endpoint that cannot be found or reached for now. */
const transientCodes = new Set(["ENOTFOUND", "EHOSTUNREACH"])

/** Classifies an AWS SDK exception by its `name`, HTTP status and network error code. */
export const classify = (operation: string, cause: unknown): SdkFailure => {
  const sdk = AwsSdkError.fieldsOf(operation, cause)
  const kind: FailureKind = sdk.name === "ConditionalCheckFailedException"
    ? "condition"
    : transientNames.has(sdk.name) || transientCodes.has(sdk.code ?? "") || sdk.retryable || AwsSdkError.isTransientFault(sdk)
    ? "transient"
    : "rejected"
  return new SdkFailure({ operation, kind, name: sdk.name, message: sdk.message, cause })
}

/** One SDK call as an interruptible Effect: interruption aborts the request. */
export const call = <A>(operation: string, send: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, SdkFailure> =>
  Effect.tryPromise({ try: send, catch: (cause) => classify(operation, cause) })
