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

const credentialNames = new Set([
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignature",
  "InvalidClientTokenId",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "ExpiredToken",
  "ExpiredTokenException",
  "CredentialsProviderError"
])

/**
 * What to fix when DynamoDB refuses a request on `table` as sent: a fault of
 * the deployment (its tables, role or credentials), or of eddy's own request,
 * never of a record. `actions` are the IAM actions the caller needs.
 */
export const remedy = (failure: SdkFailure, table: string, actions: string): string => {
  if (failure.name === "ResourceNotFoundException") return `table ${table} does not exist: create it with Tables.ensure or cloudformation.yaml`
  if (failure.name === "AccessDeniedException") return `${failure.message}: grant ${actions} on table ${table} to this process's role`
  if (credentialNames.has(failure.name)) return `${failure.message}: the AWS credentials are missing, expired or not valid in this region; check the role and AWS_REGION`
  return `${failure.message}: DynamoDB refused the request as eddy built it; check that ${table} was created by Tables.ensure (key schema and attributes)`
}
