import * as Backoff from "@eddy/core/Backoff"
import { Duration, Effect, Schedule } from "effect"
import { isRetryable, type KinesisError, KinesisUnavailableError } from "../Kinesis"

/**
 * Default retry for read-side calls (ListShards, GetShardIterator,
 * GetRecords): exponential from 100 ms, capped at 5 s, jittered, at most 10
 * retries (about half a minute).
 */
export const readRetry: Schedule.Schedule<unknown, KinesisError> = Backoff.exponential({ base: "100 millis", cap: "5 seconds", times: 10 })

/**
 * One read-side call with a deadline per attempt and a retry schedule. The
 * deadline aborts the request: a call that hangs would otherwise stall its
 * shard silently (the SDK's own request timeout only logs a warning). Only
 * errors that retrying can fix are retried, whatever the schedule.
 */
export const readCall = <A, R>(
  operation: string,
  call: Effect.Effect<A, KinesisError, R>,
  options: {
    readonly retry?: Schedule.Schedule<unknown, KinesisError> | undefined
    readonly requestTimeout?: Duration.DurationInput | undefined
  }
): Effect.Effect<A, KinesisError, R> => {
  const timeout = Duration.decode(options.requestTimeout ?? "30 seconds")
  return call.pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new KinesisUnavailableError({ operation, message: `${operation}: no answer within ${Duration.format(timeout)}` })
    }),
    Effect.retry({ schedule: options.retry ?? readRetry, while: isRetryable })
  )
}
