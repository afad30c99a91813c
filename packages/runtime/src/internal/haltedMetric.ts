/**
 * The halted shards as a CloudWatch metric, for the alarm on them:
 * `ShardsHalted` (EMF, dimension `stream`) for each stream the worker reads,
 * written on every change of its count and again every `interval` while it
 * is above 0, so that the alarm sees data for as long as a shard is halted.
 * A count back at 0 is written once: no data is no halted shard.
 */
import { Clock, type Duration, Effect, Schedule, Stream } from "effect"
import type * as Emf from "../Emf"

/** What the metric is written from and to. */
export interface Options {
  /** The halted shards of each stream, then every change (`Readiness.Tracker.halted`). */
  readonly halted: Stream.Stream<ReadonlyMap<string, number>>
  /** The names of the streams the worker reads. */
  readonly streams: ReadonlyArray<string>
  readonly namespace: string
  /** How often a count above 0 is written again. */
  readonly interval: Duration.DurationInput
  readonly writer: Emf.Writer["Type"]
  /** Fields for CloudWatch Logs Insights (the worker id); not metrics. */
  readonly properties: Readonly<Record<string, string>>
}

/** One `ShardsHalted` document of `stream`. */
const document = (options: Options, stream: string, halted: number, timestamp: number): Emf.Document => ({
  namespace: options.namespace,
  dimensions: { stream },
  properties: options.properties,
  timestamp,
  metrics: [{ name: "ShardsHalted", unit: "Count", value: halted }]
})

const write = (options: Options, stream: string, halted: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => options.writer.write([document(options, stream, halted, now)]))

/**
 * Once for 0; for more, now and every interval until the count changes (the
 * stream switches to the next count). At a fixed rate, not spaced: a drift
 * would leave an alarm period without data now and then, which the alarm takes
 * for no halted shard.
 */
const writeWhile = (options: Options, stream: string) => (halted: number): Effect.Effect<void> =>
  halted === 0 ? write(options, stream, halted) : Effect.repeat(write(options, stream, halted), Schedule.fixed(options.interval))

/** The counts of `stream`, each change once. */
const countsOf = (options: Options, stream: string) =>
  options.halted.pipe(Stream.map((counts) => counts.get(stream) ?? 0), Stream.changes)

/** Writes the metric of every stream until interrupted. */
export const run = (options: Options): Effect.Effect<void> =>
  Effect.forEach(options.streams, (stream) =>
    countsOf(options, stream).pipe(
      Stream.flatMap((halted) => Stream.fromEffect(writeWhile(options, stream)(halted)), { switch: true }),
      Stream.runDrain
    ), { concurrency: "unbounded", discard: true })
