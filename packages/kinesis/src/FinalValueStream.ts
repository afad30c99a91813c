/**
 * A final-value sink putting each final value to a Kinesis stream through the
 * `Producer`, as one JSON object (`FinalValue.toJson`) partitioned by its
 * `id`, so the deliveries of one value land on one shard in order and a
 * consumer deduplicates on `id`:
 *
 * ```ts
 * FinalValueStream.layer.pipe(Layer.provide(Producer.layer({ streamName: "finals" })), Layer.provide(Kinesis.layerConfig()))
 * ```
 */
import * as FinalValue from "@eddy/core/FinalValue"
import { Effect, Either, Layer } from "effect"
import { Producer } from "./Producer"

const encoder = new TextEncoder()

/** Puts every final value and waits for its acknowledgement; a record Kinesis refused fails the send, and the values are sent again. */
export const layer: Layer.Layer<FinalValue.Sink, never, Producer> = Layer.effect(
  FinalValue.Sink,
  Effect.map(Producer, (producer) => ({
    send: (finals) =>
      producer.putAll(finals.map((f) => ({ data: encoder.encode(JSON.stringify(FinalValue.toJson(f))), partitionKey: f.id.slice(0, 256) }))).pipe(
        Effect.flatMap((results) => {
          const failed = results.find(Either.isLeft)
          return failed === undefined ? Effect.void : Effect.fail(failed.left)
        }),
        Effect.mapError((e) =>
          new FinalValue.FinalValueSinkError({ message: `final values not put to ${producer.streamName} (${e.message}); they are sent again at the next check`, cause: e })
        )
      )
  }))
)
