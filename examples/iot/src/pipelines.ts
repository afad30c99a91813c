import * as Monoid from "@eddy/core/Monoid"
import * as Pipeline from "@eddy/core/Pipeline"
import * as Window from "@eddy/core/Window"
import { Readings } from "./events"

const perMinute = Window.minute({ retention: "7 days" })

/** A statistic of each device's temperature per minute: every one has the same key, value and window, another monoid. */
const temperature = (name: string, aggregate: Monoid.Monoid<number>) =>
  Pipeline.make({
    name,
    source: Readings,
    events: ["reading"],
    key: (reading) => reading.deviceId,
    value: (reading) => reading.celsiusTenths,
    aggregate,
    window: perMinute
  })

export const minimum = temperature("temperature_min", Monoid.min)
export const maximum = temperature("temperature_max", Monoid.max)
/** With `readings`, the average: a sum and a count combine exactly, an average of averages would not. */
export const total = temperature("temperature_sum", Monoid.sum)

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
