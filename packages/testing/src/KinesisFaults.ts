/**
 * Fault injection for tests: wraps a real `Kinesis` service and, following a
 * plan, throttles or fails chosen calls, rejects chosen records inside a
 * PutRecords that otherwise succeeds, expires iterators, or holds calls until
 * released. Random choices come from the plan's seed, so a failing run can be
 * replayed; every call and every injected fault is counted.
 */
import type { PutRecordsOutput, PutRecordsRequestEntry, PutRecordsResultEntry } from "@aws-sdk/client-kinesis"
import { Context, Effect, Layer } from "effect"
import { PCGRandom } from "effect/Utils"
import {
  Kinesis,
  type KinesisApi,
  type KinesisError,
  KinesisExpiredIteratorError,
  KinesisThrottledError,
  KinesisUnavailableError,
  type Operation
} from "@eddy/kinesis/Kinesis"

/**
 * Which calls of an operation a fault hits, numbered from 1 per operation. A
 * call is hit when any of the given criteria picks it.
 */
export interface CallPick {
  /** Calls n, 2n, 3n, ... */
  readonly every?: number
  /** Exactly these calls. */
  readonly calls?: ReadonlyArray<number>
  /** Each call with this probability, drawn from the seeded generator. */
  readonly probability?: number
}

/** A fault injected into matching Kinesis calls. */
export interface CallFault extends CallPick {
  /** The operations it applies to; all of them when absent. */
  readonly operations?: ReadonlyArray<Operation>
}

/** The per-record error codes a successful PutRecords can carry. */
export type RejectCode = "ProvisionedThroughputExceededException" | "InternalFailure"

/** A fault injected into matching records of PutRecords calls. */
export interface RecordFault {
  /** Each record with this probability, drawn from the seeded generator. */
  readonly probability?: number
  /** Chosen records: `call` is the PutRecords call (from 1), `index` the record's position in it. */
  readonly select?: (record: PutRecordsRequestEntry, at: { readonly call: number; readonly index: number }) => boolean
  /** Codes to reject with, one drawn per record; both by default. */
  readonly errorCodes?: ReadonlyArray<RejectCode>
}

/** The faults to inject. */
export interface Plan {
  /** Seed of the generator behind every `probability`; the same seed replays the same faults. */
  readonly seed?: number
  /** Fail the picked calls with `KinesisThrottledError`, without calling Kinesis. */
  readonly throttle?: CallFault
  /** Fail the picked calls, without calling Kinesis, with `error` (a `KinesisUnavailableError` by default). */
  readonly fail?: CallFault & { readonly error?: (operation: Operation, call: number) => KinesisError }
  /** Reject records inside PutRecords calls; the rejected ones are not written. */
  readonly rejectRecords?: RecordFault
  /** Fail the picked GetRecords calls with `KinesisExpiredIteratorError`. */
  readonly expireIterators?: CallPick
}

/** How many faults were injected. */
export interface Counts {
  /** Calls made per operation, injected failures included. */
  readonly calls: Readonly<Record<Operation, number>>
  readonly throttled: number
  readonly failed: number
  readonly rejectedRecords: number
  readonly expiredIterators: number
}

/** A record the faults rejected. */
export interface RejectedRecord {
  readonly call: number
  readonly index: number
  readonly record: PutRecordsRequestEntry
  readonly errorCode: RejectCode
}

/** Controls the injected faults. */
export interface FaultsApi {
  readonly counts: Effect.Effect<Counts>
  /** Every record rejected so far, in the order of rejection. */
  readonly rejected: Effect.Effect<ReadonlyArray<RejectedRecord>>
  /** Holds every later call of `operation` (counted, not yet sent) until `unblock`. */
  readonly block: (operation: Operation) => Effect.Effect<void>
  readonly unblock: (operation: Operation) => Effect.Effect<void>
}

/** The fault injector around `Kinesis`. */
export class KinesisFaults extends Context.Tag("@eddy/testing/KinesisFaults")<KinesisFaults, FaultsApi>() {}

/** Wraps `real`: the returned `kinesis` injects the plan's faults, `faults` counts them. */
export const make = (
  real: KinesisApi,
  plan: Plan
): Effect.Effect<{ readonly kinesis: KinesisApi; readonly faults: FaultsApi }> => Effect.sync(() => wrap(real, plan))

const wrap = (real: KinesisApi, plan: Plan) => {
  const operations = Object.keys(real) as Array<Operation>
  const random = new PCGRandom(plan.seed ?? 0)
  const calls = Object.fromEntries(operations.map((op) => [op, 0])) as Record<Operation, number>
  const stats = { throttled: 0, failed: 0, rejectedRecords: 0, expiredIterators: 0 }
  const rejected: Array<RejectedRecord> = []
  const gates = new Map(operations.map((op) => [op, Effect.unsafeMakeLatch(true)]))

  const picks = (pick: CallPick | undefined, call: number): boolean =>
    pick !== undefined &&
    ((pick.every !== undefined && call % pick.every === 0) ||
      (pick.calls?.includes(call) ?? false) ||
      (pick.probability !== undefined && random.number() < pick.probability))

  const hits = (fault: CallFault | undefined, operation: Operation, call: number): boolean =>
    fault !== undefined && (fault.operations === undefined || fault.operations.includes(operation)) && picks(fault, call)

  const putRecords = (input: Parameters<KinesisApi["putRecords"]>[0], call: number): ReturnType<KinesisApi["putRecords"]> => {
    const fault = plan.rejectRecords
    const records = input.Records ?? []
    if (fault === undefined) return real.putRecords(input)
    const codes = fault.errorCodes ?? ["ProvisionedThroughputExceededException", "InternalFailure"]
    const verdicts: Array<RejectCode | undefined> = records.map((record, index) =>
      (fault.probability !== undefined && random.number() < fault.probability) || (fault.select?.(record, { call, index }) ?? false)
        ? codes[random.integer(codes.length)]!
        : undefined
    )
    const accepted = records.filter((_, i) => verdicts[i] === undefined)
    verdicts.forEach((errorCode, index) => {
      if (errorCode !== undefined) rejected.push({ call, index, record: records[index]!, errorCode })
    })
    stats.rejectedRecords += records.length - accepted.length
    const written: Effect.Effect<PutRecordsOutput, KinesisError> = accepted.length === 0
      ? Effect.succeed({ Records: [], FailedRecordCount: 0 })
      : real.putRecords({ ...input, Records: accepted })
    return Effect.map(written, (output) => {
      // Merge the real results back into the caller's order.
      const results = output.Records ?? []
      let next = 0
      const merged: Array<PutRecordsResultEntry> = verdicts.map((errorCode) =>
        errorCode === undefined
          ? results[next++]!
          : { ErrorCode: errorCode, ErrorMessage: `${errorCode} (injected by KinesisFaults)` }
      )
      return {
        ...output,
        Records: merged,
        FailedRecordCount: (output.FailedRecordCount ?? 0) + records.length - accepted.length
      }
    })
  }

  const kinesis: Record<string, unknown> = {}
  for (const operation of operations) {
    kinesis[operation] = (input: never) =>
      Effect.suspend(() => {
        const call = ++calls[operation]
        return Effect.zipRight(
          gates.get(operation)!.await,
          Effect.suspend((): Effect.Effect<unknown, KinesisError> => {
            if (hits(plan.fail, operation, call)) {
              stats.failed++
              return Effect.fail(
                plan.fail?.error?.(operation, call) ??
                  new KinesisUnavailableError({ operation, message: `${operation}: call ${call} failed (injected by KinesisFaults)` })
              )
            }
            if (hits(plan.throttle, operation, call)) {
              stats.throttled++
              return Effect.fail(
                new KinesisThrottledError({ operation, message: `${operation}: call ${call} throttled (injected by KinesisFaults)` })
              )
            }
            if (operation === "getRecords" && picks(plan.expireIterators, call)) {
              stats.expiredIterators++
              return Effect.fail(
                new KinesisExpiredIteratorError({ operation, message: `${operation}: iterator expired (injected by KinesisFaults)` })
              )
            }
            if (operation === "putRecords") return putRecords(input, call)
            return (real[operation] as (input: never) => Effect.Effect<unknown, KinesisError>)(input)
          })
        )
      })
  }

  const faults: FaultsApi = {
    counts: Effect.sync(() => ({ calls: { ...calls }, ...stats })),
    rejected: Effect.sync(() => [...rejected]),
    block: (operation) => Effect.sync(() => gates.get(operation)!.unsafeClose()),
    unblock: (operation) => gates.get(operation)!.open
  }
  return { kinesis: kinesis as KinesisApi, faults }
}

/** Replaces the `Kinesis` service it is given with the faulty one, and provides `KinesisFaults` to inspect it. */
export const layer = (plan: Plan): Layer.Layer<Kinesis | KinesisFaults, never, Kinesis> =>
  Layer.effectContext(
    Effect.map(Effect.flatMap(Kinesis, (real) => make(real, plan)), ({ faults, kinesis }) =>
      Context.make(Kinesis, kinesis).pipe(Context.add(KinesisFaults, faults)))
  )
