import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Window from "@eddy/core/Window"
import { Readings } from "./events"

// Every statistic is kept per device per minute: the same key and window, another monoid.
const perMinute = Window.minute({ retention: "7 days" })

export const minimum = Pipeline.make({
  name: "temperature_min",
  source: Readings,
  events: ["reading"],
  key: (reading) => reading.deviceId,
  value: (reading) => reading.celsiusTenths,
  aggregate: Monoid.min,
  window: perMinute
})

export const maximum = Pipeline.make({
  name: "temperature_max",
  source: Readings,
  events: ["reading"],
  key: (reading) => reading.deviceId,
  value: (reading) => reading.celsiusTenths,
  aggregate: Monoid.max,
  window: perMinute
})

/** With `readings`, the average: a sum and a count combine exactly, an average of averages would not. */
export const total = Pipeline.make({
  name: "temperature_sum",
  source: Readings,
  events: ["reading"],
  key: (reading) => reading.deviceId,
  value: (reading) => reading.celsiusTenths,
  aggregate: Monoid.sum,
  window: perMinute
})

export const readings = Pipeline.make({
  name: "readings",
  source: Readings,
  events: ["reading"],
  key: (reading) => reading.deviceId,
  value: () => 1,
  aggregate: Monoid.count,
  window: perMinute
})

/** What both entries run: `lambda.ts` and `service.ts`. */
export const pipelines = [minimum, maximum, total, readings]
