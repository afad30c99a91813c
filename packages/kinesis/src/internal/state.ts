/**
 * The mutable state one producer's steps share: the batcher and admission
 * bound, the latches that wake the dispatcher and signal an empty producer,
 * and the counters of calls in flight and flushes waiting.
 */
import { type Duration, Effect, type FiberSet, type Metric, type Schedule } from "effect"
import type { KinesisApi } from "../Kinesis"
import type { FailedRecord, RetryCause } from "../ProducerError"
import type { Admission } from "./admission"
import type { Batcher } from "./batcher"
import type { Log } from "./writeAheadLog"

/** The producer's metrics, tagged with its stream. */
export interface Meters {
  readonly sent: Metric.Metric.Counter<number>
  readonly failed: Metric.Metric.Counter<number>
  readonly retried: Metric.Metric.Counter<number>
  readonly throttled: Metric.Metric.Counter<number>
  readonly calls: Metric.Metric.Counter<number>
  readonly latency: Metric.Metric<any, Duration.Duration, any>
  readonly depth: Metric.Metric.Gauge<number>
}

export interface Settings {
  readonly streamName: string
  readonly kinesis: KinesisApi
  /** Milliseconds a batch may wait to fill. */
  readonly linger: number
  readonly maxInFlight: number
  readonly schedule: Schedule.Schedule<unknown, RetryCause>
  /** Never fails: a failing user sink falls back to logging. */
  readonly sink: (failures: ReadonlyArray<FailedRecord>) => Effect.Effect<void>
  readonly meters: Meters
}

export class State {
  /** Opened whenever the dispatcher has something new to look at. */
  readonly wake = Effect.unsafeMakeLatch(false)
  /** Open while the producer holds no record. */
  readonly drained = Effect.unsafeMakeLatch(true)
  flushing = 0
  inFlight = 0
  /** A record landed on another shard than the map said: list the shards again once the batcher is empty. */
  stale = false

  constructor(
    readonly settings: Settings,
    readonly batcher: Batcher,
    readonly admission: Admission,
    readonly fibers: FiberSet.FiberSet,
    /** The write-ahead log records are appended to before they are admitted, if the producer has one. */
    readonly log: Log | undefined
  ) {}
}
