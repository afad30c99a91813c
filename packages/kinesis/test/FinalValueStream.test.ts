/** The final-value sink on kinesalite: each value one JSON record, partitioned by its id. */
import { describe, expect, it } from "@effect/vitest"
import * as FinalValue from "@eddy/core/FinalValue"
import { Kinesalite } from "@eddy/local"
import { Effect, Layer } from "effect"
import * as FinalValueStream from "../src/FinalValueStream"
import { layer as kinesisLayer } from "../src/Kinesis"
import * as Producer from "../src/Producer"
import { createStream, readAll } from "./support/Stream"

const KinesisLocal = Layer.unwrapScoped(Effect.map(Kinesalite.start(), ({ endpoint }) => kinesisLayer({ endpoint })))

const final = (key: string, value: number): FinalValue.FinalValue => ({
  id: `revenue/${key}/2026-11-21T09Z`,
  pipeline: "revenue",
  key,
  bucket: "2026-11-21T09Z",
  start: Date.UTC(2026, 10, 21, 9),
  end: Date.UTC(2026, 10, 21, 10),
  value,
  readable: value
})

describe("FinalValueStream", () => {
  it.scopedLive("puts each final value to the stream as JSON, keyed by its id", () =>
    Effect.gen(function*() {
      yield* createStream("finals", 2)
      const sink = yield* Effect.scoped(Effect.flatMap(Layer.build(FinalValueStream.layer.pipe(Layer.provide(Producer.layer({ streamName: "finals" })))), (context) =>
        Effect.flatMap(Effect.provide(FinalValue.Sink, context), (s) => s.send([final("a", 15), final("b", 11)]))))
      expect(sink).toBeUndefined()
      const stored = yield* readAll("finals")
      const decoder = new TextDecoder()
      expect(stored.map((r) => [r.partitionKey, JSON.parse(decoder.decode(r.data))]).sort()).toEqual([
        ["revenue/a/2026-11-21T09Z", { id: "revenue/a/2026-11-21T09Z", pipeline: "revenue", key: "a", bucket: "2026-11-21T09Z", start: "2026-11-21T09:00:00.000Z", end: "2026-11-21T10:00:00.000Z", value: 15 }],
        ["revenue/b/2026-11-21T09Z", { id: "revenue/b/2026-11-21T09Z", pipeline: "revenue", key: "b", bucket: "2026-11-21T09Z", start: "2026-11-21T09:00:00.000Z", end: "2026-11-21T10:00:00.000Z", value: 11 }]
      ])
    }).pipe(Effect.provide(KinesisLocal)), { timeout: 60_000 })
})
