import { Data, Duration } from "effect"

/**
 * Tumbling windows over *event time* (UTC). Each event falls in exactly one
 * bucket, named by a stable id that sorts chronologically:
 *
 * | window   | bucket id            | example             |
 * |----------|----------------------|---------------------|
 * | none     | `all`                | `all`               |
 * | minute   | `YYYY-MM-DDTHH:mmZ`  | `2026-11-21T10:15Z` |
 * | hour     | `YYYY-MM-DDTHHZ`     | `2026-11-21T10Z`    |
 * | day      | `YYYY-MM-DD`         | `2026-11-21`        |
 *
 * A windowed bucket expires `retention` after the bucket ends; stores use
 * that as the item's TTL.
 *
 * With an `allowedLateness`, a bucket closes that long after it ends, on the
 * stream's clock: a record whose arrival time in the stream (Kinesis'
 * `ApproximateArrivalTimestamp`) is after its event's bucket closed is late,
 * and the window's `late` policy says what becomes of it. The verdict depends
 * on the record alone, so a redelivery, a replay or the other driver reach the same one.
 */
export type Window = Unbounded | Tumbling

/** One bucket for all time, with the id `all`. */
export interface Unbounded {
  readonly _tag: "Unbounded"
}

/** Fixed, non-overlapping buckets of one unit, each kept for `retention` after it ends. */
export interface Tumbling {
  readonly _tag: "Tumbling"
  readonly unit: "minute" | "hour" | "day"
  readonly sizeMillis: number
  readonly retention: Duration.Duration
  /** How long after a bucket ends records may still arrive for it; `undefined`: any time (no lateness). */
  readonly allowedLateness: Duration.Duration | undefined
  /** What becomes of a late event (see `LatePolicy`). */
  readonly late: LatePolicy
}

/**
 * What becomes of an event that arrived after its bucket closed: "deadLetter"
 * (the default) leaves it out of that pipeline's bucket and sends the record
 * to the dead-letter sink with `LateEvent` and the reason (its other
 * pipelines still take it); "apply" adds it to its bucket anyway. Either way
 * it is counted in `eddy_late_events_total`.
 */
export type LatePolicy = "deadLetter" | "apply"

/** Options of a tumbling window. */
export interface TumblingOptions {
  /** How long a bucket is kept after it ends: its items' TTL. */
  readonly retention: Duration.DurationInput
  /** How long after a bucket ends its events may still arrive in the stream (shorter than `retention`). Default: no limit. */
  readonly allowedLateness?: Duration.DurationInput
  /** What becomes of a later event; default "deadLetter". */
  readonly late?: LatePolicy
}

/** A window that cannot work, such as one without a positive retention. */
export class WindowDefinitionError extends Data.TaggedError("WindowDefinitionError")<{ readonly message: string }> {}

/** No windowing: every event goes to the bucket `all`. */
export const none: Window = { _tag: "Unbounded" }

const tumbling = (unit: Tumbling["unit"], sizeMillis: number) => (options: TumblingOptions): Window => {
  const retention = Duration.decode(options.retention)
  if (!Duration.isFinite(retention) || Duration.toMillis(retention) <= 0) {
    throw new WindowDefinitionError({ message: `a ${unit} window needs a retention > 0 (got ${Duration.format(retention)}); it becomes the buckets' TTL` })
  }
  const allowedLateness = options.allowedLateness === undefined ? undefined : Duration.decode(options.allowedLateness)
  if (allowedLateness !== undefined && (!Duration.isFinite(allowedLateness) || Duration.greaterThanOrEqualTo(allowedLateness, retention))) {
    throw new WindowDefinitionError({
      message: `a ${unit} window's allowedLateness (${Duration.format(allowedLateness)}) must be finite and shorter than its retention (${Duration.format(retention)}): a bucket must not expire while it still takes events`
    })
  }
  return { _tag: "Tumbling", unit, sizeMillis, retention, allowedLateness, late: options.late ?? "deadLetter" }
}

/** Minute buckets, ids like `2026-11-21T09:05Z`. */
export const minute = tumbling("minute", 60_000)
/** Hour buckets, ids like `2026-11-21T09Z`. */
export const hour = tumbling("hour", 3_600_000)
/** Day buckets (UTC), ids like `2026-11-21`. */
export const day = tumbling("day", 86_400_000)

/** Id length of each unit within an ISO string `YYYY-MM-DDTHH:mm...`. */
const idLength = { minute: 16, hour: 13, day: 10 } as const

/** The id of the bucket that starts at `startMillis`. */
export const bucketIdAt = (window: Window, startMillis: number): string => {
  if (window._tag === "Unbounded") return "all"
  const iso = new Date(startMillis).toISOString().slice(0, idLength[window.unit])
  return window.unit === "day" ? iso : `${iso}Z`
}

/** The start of the bucket holding `eventMillis`, epoch milliseconds (0 for an unbounded window). */
export const bucketStart = (window: Window, eventMillis: number): number =>
  window._tag === "Unbounded" ? 0 : Math.floor(eventMillis / window.sizeMillis) * window.sizeMillis

/** Epoch seconds at which a bucket may be deleted, or undefined for unbounded windows. */
export const expiresAt = (window: Window, startMillis: number): number | undefined =>
  window._tag === "Unbounded" ? undefined : Math.ceil((startMillis + window.sizeMillis + Duration.toMillis(window.retention)) / 1000)

/** Epoch milliseconds after which an arrival is late for the bucket starting at `startMillis`; `undefined` without an allowed lateness. */
export const closesAt = (window: Window, startMillis: number): number | undefined =>
  window._tag === "Unbounded" || window.allowedLateness === undefined ? undefined : startMillis + window.sizeMillis + Duration.toMillis(window.allowedLateness)

/** The end of the bucket starting at `startMillis` (exclusive), epoch milliseconds; infinite for an unbounded window. */
export const bucketEnd = (window: Window, startMillis: number): number =>
  window._tag === "Unbounded" ? Number.POSITIVE_INFINITY : startMillis + window.sizeMillis

/** The start of the bucket named `id` (see `bucketIdAt`), epoch milliseconds; 0 for an unbounded window, NaN for an id of another unit. */
export const startOfBucket = (window: Window, id: string): number => {
  if (window._tag === "Unbounded") return 0
  const iso = window.unit === "day" ? `${id}T00:00Z` : window.unit === "hour" ? `${id.slice(0, -1)}:00Z` : id
  const start = Date.parse(iso)
  return bucketIdAt(window, start) === id ? start : Number.NaN
}

/**
 * A bucket: its id, when its items expire, in epoch seconds as a TTL
 * (`undefined`: never), and when it closes (see `closesAt`).
 */
export interface Bucket {
  readonly id: string
  readonly expiresAt: number | undefined
  readonly closesAt: number | undefined
}

/**
 * Maps event times to bucket ids, remembering the last few buckets: events of a
 * chunk mostly share a bucket, so this avoids formatting a date per record.
 */
export const bucketer = (window: Window): (eventMillis: number) => Bucket => {
  if (window._tag === "Unbounded") {
    const all: Bucket = { id: "all", expiresAt: undefined, closesAt: undefined }
    return () => all
  }
  const cache = new Map<number, Bucket>()
  return (eventMillis) => {
    const start = bucketStart(window, eventMillis)
    let bucket = cache.get(start)
    if (bucket === undefined) {
      if (cache.size >= 1024) cache.clear()
      bucket = { id: bucketIdAt(window, start), expiresAt: expiresAt(window, start), closesAt: closesAt(window, start) }
      cache.set(start, bucket)
    }
    return bucket
  }
}

/** The ids of the `count` buckets ending with the one containing `nowMillis`, oldest first. */
export const lastBuckets = (window: Window, nowMillis: number, count: number): ReadonlyArray<string> => {
  if (window._tag === "Unbounded") return ["all"]
  const last = bucketStart(window, nowMillis)
  const ids: Array<string> = []
  for (let i = count - 1; i >= 0; i--) ids.push(bucketIdAt(window, last - i * window.sizeMillis))
  return ids
}

/** Bucket ids covering `[fromMillis, toMillis]`, oldest first. */
export const bucketsBetween = (window: Window, fromMillis: number, toMillis: number): ReadonlyArray<string> => {
  if (window._tag === "Unbounded") return ["all"]
  const ids: Array<string> = []
  for (let t = bucketStart(window, fromMillis); t <= toMillis; t += window.sizeMillis) ids.push(bucketIdAt(window, t))
  return ids
}

/** The window in words, for help and logs. */
export const describe = (window: Window): string =>
  window._tag === "Unbounded"
    ? "all time"
    : `${unitLabel[window.unit]}, kept ${Duration.format(window.retention)}` +
      (window.allowedLateness === undefined ? "" : `, closed ${Duration.format(window.allowedLateness)} after it ends (late events: ${window.late})`)

const unitLabel = { minute: "per minute", hour: "hourly", day: "daily" } as const
