/**
 * What an AWS SDK v3 exception, or the Node network error beneath it, says
 * about itself, read from its fields (`name`, `code`, `$metadata`, `$fault`,
 * `$retryable`), never from its message. Plain data, so core stays free of
 * AWS imports: each client package maps these to its own tagged errors.
 */

export interface Fields {
  /** The exception's name, e.g. `ProvisionedThroughputExceededException`; `Error` when it has none. */
  readonly name: string
  /** Node's network error code, e.g. `ECONNRESET`. */
  readonly code: string | undefined
  readonly httpStatus: number | undefined
  /** The SDK's `$fault`: `client` or `server`. */
  readonly fault: string | undefined
  /** The SDK marked it retryable (`$retryable`). */
  readonly retryable: boolean
  /** `<operation>: <name>: <message>`, for our errors' messages. */
  readonly message: string
}

/** The fields of an SDK failure (`name`, HTTP status, message, request id) for messages and error mapping. */
export const fieldsOf = (operation: string, cause: unknown): Fields => {
  const e = cause as
    | { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string; $retryable?: unknown }
    | undefined
  const name = e?.name ?? "Error"
  return {
    name,
    code: e?.code,
    httpStatus: e?.$metadata?.httpStatusCode,
    fault: e?.$fault,
    retryable: e?.$retryable !== undefined,
    message: `${operation}: ${name}: ${e?.message ?? String(cause)}`
  }
}

const transientNetwork = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "TimeoutError", "AbortError"])

/**
 * A fault on the way or on AWS's side rather than in the request: a 5xx, a
 * server fault, a dropped connection or a timeout. Retrying later may succeed.
 */
export const isTransientFault = (fields: Fields): boolean =>
  (fields.httpStatus !== undefined && fields.httpStatus >= 500) || fields.fault === "server" || transientNetwork.has(fields.name) ||
  transientNetwork.has(fields.code ?? "")
