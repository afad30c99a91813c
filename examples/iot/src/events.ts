/**
 * The IoT example's one event: a sensor reading, one UTF-8 JSON object per
 * Kinesis record, partitioned by device:
 *
 * ```json
 * { "type": "reading", "eventId": "d-7-000123", "deviceId": "d-7", "at": 1795694130123, "celsiusTenths": 215 }
 * ```
 *
 * Temperatures are integers (tenths of a degree), so sums are exact whatever
 * order the readings are folded in.
 */
import * as Decoder from "@eddy/core/Decoder"
import type * as Pipeline from "@eddy/core/Pipeline"
import { Schema } from "effect"

export const Reading = Schema.Struct({
  type: Schema.Literal("reading"),
  eventId: Schema.NonEmptyString,
  deviceId: Schema.NonEmptyString,
  /** When the device measured, epoch milliseconds. */
  at: Schema.Number,
  /** Degrees Celsius times ten: 215 is 21.5 °C. */
  celsiusTenths: Schema.Int
})
export type Reading = typeof Reading.Type

export const Readings: Pipeline.EventSource<Reading> = {
  name: "iot",
  decoder: Decoder.json(Reading),
  eventId: (reading) => reading.eventId,
  eventTime: (reading) => reading.at
}

/** The bytes of one reading on the stream. */
export const encode = (reading: Reading): Uint8Array => new TextEncoder().encode(JSON.stringify(reading))
