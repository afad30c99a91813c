/**
 * The lateness step: per pipeline, which records arrived after the bucket of
 * their event closed (`Window.closesAt`). It reads only each record's arrival
 * time and event bucket, so every delivery of a record gets the same verdict.
 */
import { type Chunk, deadLettersOf, type DeadLettersToSend, type Plan } from "./chunk"

/** A record's share of one pipeline that arrived after its bucket closed. */
export interface Late {
  readonly record: number
  readonly pipeline: number
  readonly bucket: string
  readonly closesAt: number
}

/** What the step found in one chunk. */
export interface Lateness {
  /** Late shares per pipeline (aligned with the plan's pipelines), each record counted once per pipeline. */
  readonly counts: Array<number>
  /** The late shares of pipelines whose policy is "deadLetter": left out of the writes, to be dead-lettered. */
  readonly deadLetters: Array<Late>
}

/**
 * Marks the late pairs of the records that write (`owned`). Under "deadLetter"
 * they are left out of grouping (`pairLate`); under "apply" they are only counted.
 */
export const classify = (plan: Plan, chunk: Chunk): Lateness => {
  const counts = plan.pipelines.map(() => 0)
  const deadLetters: Array<Late> = []
  const { owned, pairBucket, pairPipeline, pairRecord, records } = chunk
  let lastRecord = -1
  let lastPipeline = -1
  for (let e = 0; e < pairRecord.length; e++) {
    const closesAt = pairBucket[e]!.closesAt
    if (closesAt === undefined) continue
    const i = pairRecord[e]!
    if (owned[i] !== 1 || records[i]!.arrivalTime <= closesAt) continue
    const p = pairPipeline[e]!
    const window = plan.pipelines[p]!.window
    if (window._tag !== "Tumbling") continue
    if (window.late === "deadLetter") (chunk.pairLate ??= new Uint8Array(pairRecord.length))[e] = 1
    // A record's pairs of one pipeline are consecutive and share a bucket.
    if (i === lastRecord && p === lastPipeline) continue
    lastRecord = i
    lastPipeline = p
    counts[p]!++
    if (window.late === "deadLetter") deadLetters.push({ record: i, pipeline: p, bucket: pairBucket[e]!.id, closesAt })
  }
  return { counts, deadLetters }
}

/**
 * The dead letters of the late shares whose records were otherwise applied.
 * As with poison, one after a failed record of its shard waits for the
 * redelivery (taking that failure as its outcome), so it is not sent twice.
 */
export const deadLettersToSend = (plan: Plan, chunk: Chunk, late: ReadonlyArray<Late>, source: string | undefined): DeadLettersToSend =>
  deadLettersOf(chunk, late, "Applied", (l, r) => {
    const pipeline = plan.pipelines[l.pipeline]!.name
    return {
      error: "LateEvent",
      reason: `pipeline ${pipeline} did not apply this event: it arrived at ${new Date(r.arrivalTime).toISOString()}, ` +
        `after its bucket ${l.bucket} closed at ${new Date(l.closesAt).toISOString()} (the window's allowedLateness)`,
      pipeline
    }
  }, source)
