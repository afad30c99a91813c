/** Reads one device's statistics for one minute back from the store. */
import type { Pipeline } from "@eddy/core/Pipeline"
import * as Store from "@eddy/core/Store"
import { Effect, Option } from "effect"
import { maximum, minimum, readings, total } from "./pipelines"

export interface Summary {
  readonly readings: number
  /** Degrees Celsius. */
  readonly min: number
  readonly max: number
  readonly average: number
}

/**
 * The statistics of `deviceId` in the minute `bucket` (e.g. `2026-11-21T09:15Z`,
 * see `Window.bucketIdAt`), or none when it sent nothing then.
 */
export const summary = (deviceId: string, bucket: string): Effect.Effect<Option.Option<Summary>, Store.StoreError, Store.Store> =>
  Effect.gen(function*() {
    const get = (pipeline: Pipeline<any, number>) => Store.get(pipeline.aggregate, { pipeline: pipeline.name, key: deviceId, bucket })
    const count = yield* get(readings)
    if (Option.isNone(count)) return Option.none()
    const [min, max, sum] = yield* Effect.all([get(minimum), get(maximum), get(total)])
    return Option.some({
      readings: count.value,
      min: Option.getOrThrow(min) / 10,
      max: Option.getOrThrow(max) / 10,
      average: Option.getOrThrow(sum) / count.value / 10
    })
  })
