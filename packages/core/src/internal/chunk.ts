/**
 * The synchronous steps of processing one chunk: a single decode-and-emit
 * pass, then claim results, poison, grouping and folded writes over the
 * chunk's columns. The Processor runs them around its three service calls.
 */
import { Either } from "effect"
import type * as DeadLetter from "../DeadLetter"
import type * as Deduper from "../Deduper"
import type * as Pipeline from "../Pipeline"
import { comparePosition, positionId, type SourceRecord } from "../SourceRecord"
import * as Store from "../Store"
import * as Window from "../Window"
import { applied, type Blocked, duplicate, type Outcome } from "./outcome"

/** What becomes of a poison record: dead-lettered and acknowledged, or blocking its shard. */
export type PoisonPolicy = "deadLetter" | "block"

/** The pipelines of one processor, with what the pass needs of them computed once. */
export interface Plan {
  readonly pipelines: ReadonlyArray<Pipeline.Pipeline>
  readonly source: Pipeline.EventSource<any>
  readonly bucketers: ReadonlyArray<(eventMillis: number) => Window.Bucket>
  readonly eventTypes: ReadonlySet<string>
  readonly policy: PoisonPolicy
  /** For records of a `schemaVersion` the decoder does not know: "block" holds their shard even when `policy` dead-letters. */
  readonly unknownVersion: PoisonPolicy
  readonly payloadHash: (data: Uint8Array) => string
}

export const plan = (
  pipelines: ReadonlyArray<Pipeline.Pipeline>,
  policy: PoisonPolicy,
  payloadHash: (data: Uint8Array) => string,
  unknownVersion: PoisonPolicy = policy
): Plan => ({
  pipelines,
  source: pipelines[0]!.source,
  bucketers: pipelines.map((p) => Window.bucketer(p.window)),
  eventTypes: new Set(pipelines.flatMap((p) => [...p.events])),
  policy,
  unknownVersion,
  payloadHash
})

/** A record that can never be applied as it is. */
export interface Poison {
  readonly record: number
  readonly error: string
  readonly reason: string
  readonly pipeline?: string
}

/** One chunk in flight: its records, their outcomes so far, and the columns the steps pass on. */
export interface Chunk {
  readonly records: ReadonlyArray<SourceRecord>
  /** The shard id as watermarks and dedup owners see it: scoped by stream. */
  readonly scopeOf: (shardId: string) => string
  readonly outcomes: Array<Outcome>
  /** 1 for a record whose pairs are written: it holds its claim and is neither poison nor blocked. */
  readonly owned: Uint8Array
  /** 1 for a record that holds its claim. */
  readonly held: Uint8Array
  /** 1 for a record some write of which landed (or may have: a retryable failure). */
  readonly landed: Uint8Array
  readonly claims: Array<Deduper.Claim>
  /** The record of each claim. */
  readonly claimed: Array<number>
  /** Records dead-lettered (or blocked) because their event id is held with another payload. */
  conflicts: number
  // The emitted pairs, column-wise.
  readonly pairRecord: Array<number>
  readonly pairPipeline: Array<number>
  readonly pairKey: Array<string>
  readonly pairValue: Array<unknown>
  readonly pairBucket: Array<Window.Bucket>
  /** 1 for a pair left out of its bucket as late (see `internal/lateness`); unset when none is. */
  pairLate?: Uint8Array
  readonly pipelineFailures: Array<{ readonly record: number; readonly pipeline: number; readonly message: string }>
  readonly poison: Array<Poison>
  /** Under "block": the first poison record of each shard that has one. */
  readonly blockedAt: Map<string, number>
}

/**
 * Decodes, drops in-chunk duplicates and emits pairs in one pass. Only the
 * small pairs outlive the pass, not the decoded events, so the events die
 * young and garbage collection stays cheap. Under "block", the records after
 * an unreadable or undecodable one in its shard are not even decoded.
 */
export const decode = (plan: Plan, records: ReadonlyArray<SourceRecord>, scopeOf: (shardId: string) => string): Chunk => {
  const { bucketers, eventTypes, pipelines, source } = plan
  const n = records.length
  const chunk: Chunk = {
    records,
    scopeOf,
    outcomes: new Array(n).fill(applied),
    owned: new Uint8Array(n),
    held: new Uint8Array(n),
    landed: new Uint8Array(n),
    claims: [],
    claimed: [],
    conflicts: 0,
    pairRecord: [],
    pairPipeline: [],
    pairKey: [],
    pairValue: [],
    pairBucket: [],
    pipelineFailures: [],
    poison: [],
    blockedAt: new Map()
  }
  const { blockedAt, claimed, claims, pairBucket, pairKey, pairPipeline, pairRecord, pairValue, poison } = chunk
  const blocking = plan.policy === "block"
  const blockingUnknown = plan.unknownVersion === "block"
  // The claim of each event id's first record in the chunk.
  const firstByEventId = new Map<string, number>()
  // What `collect` appends a pair for: the record and pipeline being run, the bucket once known.
  let record = 0
  let event: unknown
  let pipelineIndex = 0
  let time: number | undefined
  let bucket: Window.Bucket | undefined
  const collect = (key: string, value: unknown) => {
    bucket ??= bucketers[pipelineIndex]!(time ??= source.eventTime(event))
    pairRecord.push(record)
    pairPipeline.push(pipelineIndex)
    pairKey.push(key)
    pairValue.push(value)
    pairBucket.push(bucket)
  }
  for (let i = 0; i < n; i++) {
    const r = records[i]!
    if (blockedAt.size > 0 && blockedAt.has(r.shardId)) continue
    if (r.unreadable !== undefined) {
      poison.push({ record: i, error: r.unreadable.error, reason: r.unreadable.reason })
      if (blocking) blockedAt.set(r.shardId, i)
      continue
    }
    const decoded = source.decoder.decode(r.data)
    if (Either.isLeft(decoded)) {
      poison.push({ record: i, error: decoded.left._tag, reason: decoded.left.message })
      if (blocking || (blockingUnknown && decoded.left._tag === "UnknownSchemaVersionError")) blockedAt.set(r.shardId, i)
      continue
    }
    const decodedEvent = decoded.right
    if (!eventTypes.has(decodedEvent.type)) continue
    event = decodedEvent
    const eventId = source.eventId(decodedEvent)
    const payloadHash = plan.payloadHash(r.data)
    const first = firstByEventId.get(eventId)
    if (first !== undefined) {
      const held = claims[first]!.payloadHash!
      if (held === payloadHash) chunk.outcomes[i] = duplicate
      else {
        poison.push(conflictPoison(i, eventId, held, payloadHash))
        chunk.conflicts++
        if (blocking) blockedAt.set(r.shardId, i)
      }
      continue
    }
    firstByEventId.set(eventId, claims.length)
    claims.push({ eventId, owner: positionId(scopeOf(r.shardId), r), payloadHash })
    claimed.push(i)
    record = i
    time = undefined
    for (let p = 0; p < pipelines.length; p++) {
      const pipeline = pipelines[p]!
      if (!pipeline.events.has(decodedEvent.type)) continue
      pipelineIndex = p
      bucket = undefined
      try {
        pipeline.run(decodedEvent, collect)
      } catch (cause) {
        // The pairs it emitted before it threw are left out with the whole record (`poisonPipelineFailures`).
        chunk.pipelineFailures.push({ record: i, pipeline: p, message: cause instanceof Error ? cause.message : String(cause) })
      }
    }
  }
  return chunk
}

const conflictPoison = (record: number, eventId: string, held: string, payloadHash: string): Poison => ({
  record,
  error: "EventIdConflict",
  reason: `event id ${JSON.stringify(eventId)} was first seen with payload sha-256 ${held}; this record's payload has sha-256 ${payloadHash}: ` +
    "one event id was reused for another event"
})

/** Marks the poison that blocks its shard from `record` on, under "block". */
const blockAt = (plan: Plan, chunk: Chunk, record: number): void => {
  if (plan.policy !== "block") return
  const shardId = chunk.records[record]!.shardId
  const at = chunk.blockedAt.get(shardId)
  if (at === undefined || record < at) chunk.blockedAt.set(shardId, record)
}

/**
 * Marks who holds its claim; a failed claim call fails every claimed record.
 * A reused event id with another payload is poison, never a silent duplicate.
 */
export const settleClaims = (plan: Plan, chunk: Chunk, result: Either.Either<ReadonlyArray<Deduper.ClaimResult>, Deduper.ClaimError>): void => {
  const { claimed, claims, held, outcomes, owned } = chunk
  for (let c = 0; c < claimed.length; c++) {
    const i = claimed[c]!
    if (Either.isLeft(result)) {
      outcomes[i] = { _tag: "Failed", error: result.left }
      continue
    }
    const answer = result.right[c]!
    if (answer === true) {
      owned[i] = 1
      held[i] = 1
    } else if (answer === false) outcomes[i] = duplicate
    else {
      chunk.poison.push(conflictPoison(i, claims[c]!.eventId, answer.payloadHash, claims[c]!.payloadHash!))
      chunk.conflicts++
      blockAt(plan, chunk, i)
    }
  }
}

/**
 * The events a pipeline threw on become poison, once the record holds its
 * claim (a duplicate's failure does not matter). Nothing of such a record is
 * written, for the other pipelines neither: its claim can then be given up,
 * and its re-drive, once the pipeline is fixed, is applied whole.
 */
export const poisonPipelineFailures = (plan: Plan, chunk: Chunk): void => {
  for (const f of chunk.pipelineFailures) {
    if (chunk.owned[f.record] !== 1) continue
    chunk.owned[f.record] = 0
    const name = plan.pipelines[f.pipeline]!.name
    chunk.poison.push({ record: f.record, error: "PipelineFailure", reason: `pipeline ${name} failed on this event: ${f.message}`, pipeline: name })
    blockAt(plan, chunk, f.record)
  }
}

/**
 * Under "deadLetter", marks the poison found so far dead-lettered (the send
 * comes last). Under "block", holds back each blocked shard from its first
 * poison record on: nothing of those records is written, so no watermark
 * moves past the poison and its redelivery, once fixed, is applied. A record
 * of an unknown `schemaVersion` blocks its shard so under either policy when
 * `unknownVersion` is "block" (the poison before it is dead-lettered then).
 */
export const settlePoison = (plan: Plan, chunk: Chunk): void => {
  const { blockedAt, outcomes, owned, poison, records } = chunk
  if (plan.policy === "deadLetter") {
    for (const p of poison) outcomes[p.record] = { _tag: "DeadLettered", error: p.error, reason: p.reason }
  }
  if (blockedAt.size === 0) return
  const blocks = new Map<string, Blocked>()
  for (const p of poison) {
    const shardId = records[p.record]!.shardId
    if (blockedAt.get(shardId) === p.record && !blocks.has(shardId)) blocks.set(shardId, { _tag: "Blocked", error: p.error, reason: p.reason })
  }
  for (let i = 0; i < records.length; i++) {
    const shardId = records[i]!.shardId
    const at = blockedAt.get(shardId)
    if (at === undefined || i < at) continue
    owned[i] = 0
    // A claim that failed or lost stays as it is: it is not written either way.
    if (i === at || outcomes[i]!._tag === "Applied") outcomes[i] = blocks.get(shardId)!
  }
}

/** Everything one chunk writes for one `(pipeline, key, bucket, shard)`. */
export interface Group {
  readonly pipeline: number
  readonly key: string
  readonly bucket: string
  readonly shardId: string
  readonly expiresAt: number | undefined
  readonly contributions: Array<Store.Contribution>
  /** Its records, in chunk order. */
  readonly records: Array<number>
  ordered: boolean
}

/**
 * Groups the owned pairs per (pipeline, bucket, shard, key). Buckets are
 * cached objects, so the lookups hash identities and short keys, not joined strings.
 */
export const group = (plan: Plan, chunk: Chunk): Array<Group> => {
  const { owned, pairBucket, pairKey, pairLate, pairPipeline, pairRecord, pairValue, records, scopeOf } = chunk
  const groups: Array<Group> = []
  // Per pipeline, its groups by bucket, shard and key, and those of the bucket and shard of its last pair: a
  // pipeline's consecutive pairs mostly share them, even where several pipelines' pairs interleave.
  const cursors = plan.pipelines.map(() => ({
    byBucket: new Map<Window.Bucket, Map<string, Map<string, Group>>>(),
    bucket: undefined as Window.Bucket | undefined,
    shardId: "",
    keys: new Map<string, Group>()
  }))
  for (let e = 0; e < pairRecord.length; e++) {
    const i = pairRecord[e]!
    if (owned[i] !== 1 || (pairLate !== undefined && pairLate[e] === 1)) continue
    const r = records[i]!
    const p = pairPipeline[e]!
    const key = pairKey[e]!
    const bucket = pairBucket[e]!
    const cursor = cursors[p]!
    if (bucket !== cursor.bucket || r.shardId !== cursor.shardId) {
      let shards = cursor.byBucket.get(bucket)
      if (shards === undefined) cursor.byBucket.set(bucket, shards = new Map())
      let keys = shards.get(r.shardId)
      if (keys === undefined) shards.set(r.shardId, keys = new Map())
      cursor.bucket = bucket
      cursor.shardId = r.shardId
      cursor.keys = keys
    }
    const { keys } = cursor
    let g = keys.get(key)
    if (g === undefined) {
      g = { pipeline: p, key, bucket: bucket.id, shardId: scopeOf(r.shardId), expiresAt: bucket.expiresAt, contributions: [], records: [], ordered: true }
      keys.set(key, g)
      groups.push(g)
    }
    const last = g.contributions[g.contributions.length - 1]
    if (last !== undefined && comparePosition(last.position, r) > 0) g.ordered = false
    g.contributions.push({ position: r, value: pairValue[e] })
    if (g.records[g.records.length - 1] !== i) g.records.push(i)
  }
  return groups
}

/** One folded write per group, its contributions in shard order. */
export const foldedWrites = (plan: Plan, groups: ReadonlyArray<Group>, ordering: Store.Ordering = "shard"): Array<Store.DeltaWrite> =>
  groups.map((g): Store.DeltaWrite => {
    const pipeline = plan.pipelines[g.pipeline]!
    const monoid = pipeline.aggregate
    if (!g.ordered) g.contributions.sort((a, b) => comparePosition(a.position, b.position))
    return {
      pipeline: pipeline.name,
      key: g.key,
      bucket: g.bucket,
      monoid,
      shardId: g.shardId,
      delta: monoid.combineAll(g.contributions.map((c) => c.value)),
      contributions: g.contributions,
      expiresAt: g.expiresAt,
      ...(ordering === "shard" ? {} : { ordering })
    }
  })

/** Folded writes issued, per pipeline. */
export const writesPerPipeline = (plan: Plan, groups: ReadonlyArray<Group>): Array<number> => {
  const writes: Array<number> = plan.pipelines.map(() => 0)
  for (const g of groups) writes[g.pipeline]!++
  return writes
}

/**
 * A retryable failure leaves the record for redelivery, and so does a fault
 * of the deployment (a missing table, access denied): the record is valid and
 * must wait, unacknowledged, until the deployment is fixed. A rejected write
 * (the record's fault) can never succeed: its records become poison, unless
 * another of their writes needs the redelivery anyway. Blocking one needs no
 * hold-back of the records after it: a group is exactly a watermark's scope,
 * and none of it was written.
 */
export const settleWrites = (plan: Plan, chunk: Chunk, groups: ReadonlyArray<Group>, errors: ReadonlyArray<Store.StoreError | undefined>): void => {
  const { landed, outcomes } = chunk
  const rejected: Array<number> = []
  for (let w = 0; w < groups.length; w++) {
    const error = errors[w]
    // A retryable failure may have landed (a lost reply); a refusal did not.
    if (error === undefined || Store.isRetryable(error)) for (const i of groups[w]!.records) landed[i] = 1
    if (error === undefined) continue
    if (error._tag === "StoreRejectedError") rejected.push(w)
    else for (const i of groups[w]!.records) outcomes[i] = { _tag: "Failed", error }
  }
  for (const w of rejected) {
    const g = groups[w]!
    const error = errors[w]!
    const name = plan.pipelines[g.pipeline]!.name
    const rejectedReason = `pipeline ${name} cannot store key ${JSON.stringify(g.key)} in bucket ${g.bucket}: ${error.message}`
    for (const i of g.records) {
      if (outcomes[i]!._tag !== "Applied") continue
      // Its claim is kept: the writes that landed must not land twice.
      const reason = landed[i] === 1 ? `${rejectedReason}; its other writes were applied, so a re-drive of it is a duplicate` : rejectedReason
      if (plan.policy === "block") outcomes[i] = { _tag: "Blocked", error: error._tag, reason }
      else {
        chunk.poison.push({ record: i, error: error._tag, reason, pipeline: name })
        outcomes[i] = { _tag: "DeadLettered", error: error._tag, reason }
      }
    }
  }
}

/**
 * A record read again (after a restart, say) whose every write the store had
 * already applied is a duplicate, not applied twice: the store skipped it.
 */
export const settleAlreadyApplied = (chunk: Chunk, groups: ReadonlyArray<Group>, results: ReadonlyArray<Store.WriteResult>): void => {
  const { outcomes, records } = chunk
  // Per record: 1 once a write skipped it, 2 once a write applied it now (which wins).
  const seen = new Uint8Array(records.length)
  for (let w = 0; w < groups.length; w++) {
    const result = results[w]
    if (result !== undefined && result._tag !== "AlreadyApplied") continue
    const skipped = result === undefined ? undefined : Store.skippedBy(result)
    for (const i of groups[w]!.records) {
      seen[i] = skipped !== undefined && skipped(records[i]!) ? Math.max(seen[i]!, 1) : 2
    }
  }
  for (let i = 0; i < records.length; i++) if (seen[i] === 1 && outcomes[i]!._tag === "Applied") outcomes[i] = duplicate
}

/**
 * The claims to give up: of the records that hold one and wrote nothing, now
 * dead-lettered (`sending`) or blocked. A re-drive of the event, or a
 * redelivery that comes after a producer duplicate took the id, then claims
 * it afresh: a claim is never a reason to skip a write that did not happen.
 */
export const claimsToRelease = (chunk: Chunk, sending: ReadonlyArray<number>): { readonly claims: Array<Deduper.Claim>; readonly records: Array<number> } => {
  const { claimed, claims, held, landed, outcomes } = chunk
  const releasing = new Uint8Array(chunk.records.length)
  for (const i of sending) releasing[i] = 1
  const out: Array<Deduper.Claim> = []
  const records: Array<number> = []
  for (let c = 0; c < claimed.length; c++) {
    const i = claimed[c]!
    if (held[i] !== 1 || landed[i] === 1) continue
    if (releasing[i] === 1 || outcomes[i]!._tag === "Blocked") {
      out.push(claims[c]!)
      records.push(i)
    }
  }
  return { claims: out, records }
}

/**
 * Whether a record waits for a failed record before it on its shard: such a
 * record takes that failure's outcome (it is redelivered with it), so a dead
 * letter is never sent past a record that is not done.
 */
export const failedBefore = (chunk: Chunk): (record: number) => boolean => {
  const { outcomes, records } = chunk
  const firstFailure = new Map<string, number>()
  for (let i = 0; i < records.length; i++) {
    if (outcomes[i]!._tag === "Failed" && !firstFailure.has(records[i]!.shardId)) firstFailure.set(records[i]!.shardId, i)
  }
  return (record) => {
    const blockedBy = firstFailure.get(records[record]!.shardId)
    if (blockedBy === undefined || blockedBy >= record) return false
    outcomes[record] = outcomes[blockedBy]!
    return true
  }
}

/** Dead letters to send, and the records they are of. */
export interface DeadLettersToSend {
  readonly entries: Array<DeadLetter.DeadLetterEntry>
  readonly records: Array<number>
}

/**
 * The dead letters of `items` whose records settled as `settled`, each with
 * what `describe` says is wrong. A shard is redelivered from its first failed
 * record, so an item after that one waits for the redelivery (taking that
 * failure as its outcome): sending it now would put it in the sink twice.
 */
export const deadLettersOf = <T extends { readonly record: number }>(
  chunk: Chunk,
  items: ReadonlyArray<T>,
  settled: Outcome["_tag"],
  describe: (item: T, record: SourceRecord) => Omit<Poison, "record">,
  source: string | undefined
): DeadLettersToSend => {
  const { outcomes, records } = chunk
  const entries: Array<DeadLetter.DeadLetterEntry> = []
  const sent: Array<number> = []
  if (items.length === 0) return { entries, records: sent }
  const heldBack = failedBefore(chunk)
  for (const item of items) {
    const i = item.record
    if (outcomes[i]!._tag !== settled || heldBack(i)) continue
    const r = records[i]!
    const { error, pipeline, reason } = describe(item, r)
    entries.push({
      error,
      reason,
      payload: r.data,
      partitionKey: r.partitionKey,
      shardId: r.shardId,
      sequenceNumber: r.sequenceNumber,
      subSequenceNumber: r.subSequenceNumber,
      arrivalTime: r.arrivalTime,
      ...(pipeline !== undefined ? { pipeline } : {}),
      ...(source !== undefined ? { source } : {})
    })
    sent.push(i)
  }
  return { entries, records: sent }
}

/** The dead letters of the poison records to send now (see `deadLettersOf`). */
export const deadLettersToSend = (chunk: Chunk, source: string | undefined): DeadLettersToSend =>
  deadLettersOf(chunk, chunk.poison, "DeadLettered", (p) => p, source)
