import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Emf from "../src/Emf"

const document: Emf.Document = {
  namespace: "eddy",
  dimensions: { stream: "orders", pipeline: "revenue_by_product_hourly" },
  metrics: [
    { name: "StoreWrites", unit: "Count", value: 12 },
    { name: "BatchDuration", unit: "Milliseconds", value: 35.5 }
  ],
  properties: { awsRequestId: "req-1" },
  timestamp: 1_795_000_000_000
}

describe("Emf", () => {
  it("renders one JSON line in the embedded metric format", () => {
    const line = Emf.render(document)
    expect(line).not.toContain("\n")
    expect(JSON.parse(line)).toEqual({
      _aws: {
        Timestamp: 1_795_000_000_000,
        CloudWatchMetrics: [{
          Namespace: "eddy",
          Dimensions: [["stream", "pipeline"]],
          Metrics: [{ Name: "StoreWrites", Unit: "Count" }, { Name: "BatchDuration", Unit: "Milliseconds" }]
        }]
      },
      stream: "orders",
      pipeline: "revenue_by_product_hourly",
      awsRequestId: "req-1",
      StoreWrites: 12,
      BatchDuration: 35.5
    })
  })

  it("refuses documents CloudWatch would drop", () => {
    const metric = (name: string, value = 1): Emf.MetricValue => ({ name, unit: "Count", value })
    expect(() => Emf.render({ ...document, metrics: Array.from({ length: 101 }, (_, i) => metric(`m${i}`)) })).toThrow(/at most 100 metrics/)
    expect(() => Emf.render({ ...document, metrics: [metric("stream")] })).toThrow(/collides/)
    expect(() => Emf.render({ ...document, metrics: [metric("Age", Number.NaN)] })).toThrow(/finite/)
  })

  it.effect("the memory writer keeps the rendered lines", () =>
    Effect.gen(function*() {
      const memory = yield* Emf.MemoryWriter
      const writer = yield* Emf.Writer
      yield* writer.write([document, { ...document, dimensions: {} }])
      const lines = yield* memory.lines
      expect(lines.map((l) => JSON.parse(l)._aws.CloudWatchMetrics[0].Dimensions)).toEqual([[["stream", "pipeline"]], [[]]])
    }).pipe(Effect.provide(Emf.layerMemory)))
})
