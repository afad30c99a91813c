/**
 * Start-up checks for what cannot fix itself: the stream does not exist, a
 * table is missing or has another key schema, access is denied, the endpoint
 * cannot be reached (after a bounded retry). Each failed check says what to
 * fix; `run` runs every check and fails once, with every problem, so the
 * process exits non-zero with one message instead of retrying forever.
 */
import * as Backoff from "@eddy/core/Backoff"
import * as AwsSdkError from "@eddy/aws/AwsSdkError"
import { Kinesis, type KinesisError } from "@eddy/kinesis/Kinesis"
import * as StreamId from "@eddy/kinesis/StreamId"
import { Data, Effect, type Schedule } from "effect"

/** A permanent misconfiguration found at start; `message` says what is wrong and what to fix. */
export class PreflightError extends Data.TaggedError("PreflightError")<{
  readonly problems: ReadonlyArray<string>
  readonly message: string
}> {}

/** One check's finding: permanent (fix the configuration), or transient (retried, then reported as unreachable). */
export class CheckFailed extends Data.TaggedError("CheckFailed")<{
  readonly problem: string
  readonly transient: boolean
}> {}

/** A start-up check: succeeds, or fails with what to fix. */
export type Check = Effect.Effect<void, CheckFailed>

/**
 * How long a check keeps trying an endpoint that does not answer before it
 * reports it unreachable: from 200 ms, at most 2 s apart, 6 retries (about 8 s).
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Backoff.exponential({ base: "200 millis", cap: "2 seconds", times: 6 })

/** Retries the transient failures of `check` on `retry`; what is still transient then is reported as such. */
export const retrying = <R>(check: Effect.Effect<void, CheckFailed, R>, retry: Schedule.Schedule<unknown, unknown> = defaultRetry): Effect.Effect<void, CheckFailed, R> =>
  Effect.retry(check, { schedule: retry, while: (e) => e.transient })

const accessDenied = new Set(["AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "NotAuthorized"])

/** Classifies an AWS SDK failure of `operation` on `what` (e.g. `table aggregates`): permanent unless the SDK says it is a fault on the way. */
export const fromSdkFailure = (operation: string, what: string, variable: string, cause: unknown): CheckFailed => {
  const sdk = AwsSdkError.fieldsOf(operation, cause)
  if (accessDenied.has(sdk.name)) {
    return new CheckFailed({ transient: false, problem: `${operation} on ${what} was denied (${sdk.name}): grant the task or function role ${operation} on it, or check the credentials` })
  }
  if (AwsSdkError.isTransientFault(sdk) || sdk.name === "TimeoutError") {
    return new CheckFailed({ transient: true, problem: `${operation} on ${what} did not get through (${sdk.message}): check ${variable} and the network path to it` })
  }
  return new CheckFailed({ transient: false, problem: `${operation} on ${what} failed: ${sdk.message}` })
}

/** The Kinesis stream exists (DescribeStreamSummary) and is readable. */
export const stream = (id: StreamId.Input, variable = "the Kinesis endpoint (AWS_ENDPOINT_URL_KINESIS) and region"): Effect.Effect<void, CheckFailed, Kinesis> => {
  const stream = StreamId.of(id)
  const streamName = stream.arn ?? stream.name
  return Effect.flatMap(Kinesis, (kinesis) =>
    kinesis.describeStreamSummary(StreamId.sdkParams(stream)).pipe(
      Effect.asVoid,
      Effect.mapError((e: KinesisError): CheckFailed => {
        switch (e._tag) {
          case "KinesisNotFoundError":
            return new CheckFailed({
              transient: false,
              problem: `the Kinesis stream ${streamName} does not exist in this account and region: check the stream names (EDDY_STREAMS or EDDY_STREAM_NAME) and the region`
            })
          case "KinesisThrottledError":
          case "KinesisResourceInUseError":
            return new CheckFailed({ transient: true, problem: `the Kinesis stream ${streamName} is busy: ${e.message}` })
          case "KinesisUnavailableError":
            return new CheckFailed({ transient: true, problem: `Kinesis is unreachable (${e.message}): check ${variable} and the network path to it` })
          default:
            return fromSdkFailure("DescribeStreamSummary", `the Kinesis stream ${streamName}`, variable, e.cause ?? e)
        }
      })
    ))
}

/** Runs every check (concurrently), each retried while transient; fails once with every problem. */
export const run = <R>(
  checks: ReadonlyArray<Effect.Effect<void, CheckFailed, R>>,
  retry: Schedule.Schedule<unknown, unknown> = defaultRetry
): Effect.Effect<void, PreflightError, R> =>
  Effect.gen(function*() {
    const results = yield* Effect.forEach(checks, (check) => Effect.flip(retrying(check, retry)).pipe(Effect.option), { concurrency: "unbounded" })
    const problems = results.flatMap((r) => (r._tag === "Some" ? [r.value.problem] : []))
    if (problems.length === 0) return
    const message = problems.length === 1
      ? `cannot start: ${problems[0]}`
      : `cannot start (${problems.length} problems):\n${problems.map((p) => `  - ${p}`).join("\n")}`
    return yield* Effect.fail(new PreflightError({ problems, message }))
  })
