/**
 * What the IoT tests share: readings to publish, and the statistics folded
 * by hand, independently of the pipelines, the processor and the store.
 */
import * as Random from "@eddy/core/Random"
import * as Harness from "@eddy/testing/Harness"
import { encode, type Reading } from "../src/events"

export const streamName = "iot"

const firstMinute = Date.UTC(2026, 10, 21, 9, 0)

/** `count` readings of 10 devices over ten minutes, -20.0 to 40.0 °C. */
export const sampleReadings = (count: number, seed = 3): Array<Reading> => {
  const next = Random.seeded(seed)
  return Array.from({ length: count }, (_, i) => ({
    type: "reading" as const,
    eventId: `reading-${seed}-${i}`,
    deviceId: `device-${Random.between(next, 1, 10)}`,
    at: firstMinute + Math.floor(next() * 10 * 60_000),
    celsiusTenths: Random.between(next, -200, 400)
  }))
}

/** Records that are not readings: each must end in the dead-letter sink. */
export const poison: ReadonlyArray<Uint8Array> = [
  new TextEncoder().encode(JSON.stringify({ type: "reading", eventId: "warm", deviceId: "device-1", at: firstMinute, celsiusTenths: 21.5 })),
  new TextEncoder().encode(JSON.stringify({ type: "battery", eventId: "low", deviceId: "device-1", at: firstMinute }))
]

/** Publishes `readings` (then `retried` of them again, as a device's retries would) and `poison`. */
export const publish = (readings: ReadonlyArray<Reading>, retried: number) =>
  Harness.putAll(streamName, [
    ...[...readings, ...readings.slice(0, retried)].map((r) => ({ PartitionKey: r.deviceId, Data: encode(r) })),
    ...poison.map((data, i) => ({ PartitionKey: `poison-${i}`, Data: data }))
  ])

export interface Expected {
  readonly deviceId: string
  readonly bucket: string
  readonly readings: number
  readonly min: number
  readonly max: number
  readonly sum: number
}

/** Per device and minute (`2026-11-21T09:15Z`): count, min, max and sum of the tenths. */
export const expected = (readings: ReadonlyArray<Reading>): Array<Expected> => {
  const byId = new Map<string, { deviceId: string; bucket: string; readings: number; min: number; max: number; sum: number }>()
  for (const r of readings) {
    const bucket = `${new Date(r.at).toISOString().slice(0, 16)}Z`
    const id = `${r.deviceId} ${bucket}`
    const s = byId.get(id)
    if (s === undefined) byId.set(id, { deviceId: r.deviceId, bucket, readings: 1, min: r.celsiusTenths, max: r.celsiusTenths, sum: r.celsiusTenths })
    else {
      s.readings++
      s.min = Math.min(s.min, r.celsiusTenths)
      s.max = Math.max(s.max, r.celsiusTenths)
      s.sum += r.celsiusTenths
    }
  }
  return Array.from(byId.values())
}
