/**
 * The one shape of retry schedule eddy uses: exponential from `base`, jittered,
 * each delay capped at `cap`, bounded by `times` retries (unbounded when
 * omitted, for loops that must keep trying until they are stopped).
 */
import { Duration, Schedule } from "effect"

/** Options of `exponential`. */
export interface Options {
  /** The first delay. */
  readonly base: Duration.DurationInput
  /** No single delay is longer than this. */
  readonly cap: Duration.DurationInput
  /** At most this many retries; unbounded when omitted. */
  readonly times?: number
  /**
   * `"full"` draws each delay from 0 to its exponential value (AWS's "full
   * jitter", best for many clients contending for one limit); the default
   * draws from 80% to 120% of it.
   */
  readonly jitter?: "full" | "proportional"
}

/** Exponential backoff from `base`, jittered, each wait at most `cap`, `times` retries. */
export const exponential = (options: Options): Schedule.Schedule<unknown, unknown> => {
  const cap = Duration.decode(options.cap)
  const capped = Schedule.modifyDelay((_, delay: Duration.Duration) => Duration.min(delay, cap))
  // Full jitter draws below the cap; proportional jitter is capped after it, so no delay exceeds the cap.
  const jittered = options.jitter === "full"
    ? Schedule.exponential(options.base).pipe(capped, Schedule.jitteredWith({ min: 0, max: 1 }))
    : Schedule.exponential(options.base).pipe(Schedule.jittered, capped)
  return options.times === undefined ? jittered : Schedule.intersect(jittered, Schedule.recurs(options.times))
}
